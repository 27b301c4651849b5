// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title TestToken
/// @notice Devnet stand-in for USDC (6 decimals), WETH (18) and WBTC (8): a plain OpenZeppelin ERC20 whose
///         owner can mint, so the devnet and tests can fund wallets without a faucet contract.
contract TestToken is ERC20, Ownable {
    uint8 private immutable _decimals;

    /// @param name_ token name, e.g. "USD Coin"
    /// @param symbol_ token symbol, e.g. "USDC"
    /// @param decimals_ token decimals (6 for USDC, 18 for WETH, 8 for WBTC)
    constructor(string memory name_, string memory symbol_, uint8 decimals_) ERC20(name_, symbol_) Ownable(msg.sender) {
        _decimals = decimals_;
    }

    /// @inheritdoc ERC20
    function decimals() public view override returns (uint8) {
        return _decimals;
    }

    /// @notice Mint `amount` base units to `to` (owner only; devnet funding).
    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }
}
