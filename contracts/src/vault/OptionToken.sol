// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title OptionToken
/// @notice One ERC20 per VaultOptions series (Opyn's oToken): a cash-settled European option on `underlying`
///         at `strike` (1e18 USD) expiring at `expiry`, paid in the VaultOptions collateral (USDC).
/// @dev 8 decimals, as Opyn oTokens: 1e8 base units = one option on one unit of the underlying. Only the
///      VaultOptions contract that created the token (`controller`) mints and burns. Deviation from Opyn: plain
///      `new` deployment per series instead of minimal-proxy clones from a factory; no EIP-2612 permit.
contract OptionToken is ERC20 {
    /// @notice VaultOptions contract allowed to mint and burn.
    address public immutable controller;
    /// @notice Series id inside the controller.
    uint256 public immutable seriesId;
    /// @notice Underlying token whose USD price settles the option.
    address public immutable underlying;
    /// @notice Strike in 1e18 USD.
    uint256 public immutable strike;
    /// @notice Expiry (unix seconds).
    uint64 public immutable expiry;
    /// @notice True for a put, false for a call.
    bool public immutable isPut;

    /// @notice Caller is not the controller.
    error OnlyController(address caller);

    /// @dev Deployed by VaultOptions.createSeries.
    constructor(
        string memory name_,
        string memory symbol_,
        uint256 seriesId_,
        address underlying_,
        uint256 strike_,
        uint64 expiry_,
        bool isPut_
    ) ERC20(name_, symbol_) {
        controller = msg.sender;
        seriesId = seriesId_;
        underlying = underlying_;
        strike = strike_;
        expiry = expiry_;
        isPut = isPut_;
    }

    /// @notice 8 decimals, like Opyn oTokens.
    function decimals() public pure override returns (uint8) {
        return 8;
    }

    /// @notice Mint `amount` to `to` (controller only; a vault writing options).
    function mint(address to, uint256 amount) external {
        if (msg.sender != controller) revert OnlyController(msg.sender);
        _mint(to, amount);
    }

    /// @notice Burn `amount` from `from` (controller only; burns, liquidations and redemptions by `from`).
    function burn(address from, uint256 amount) external {
        if (msg.sender != controller) revert OnlyController(msg.sender);
        _burn(from, amount);
    }
}
