// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";
import {TestToken} from "../../src/tokens/TestToken.sol";
import {PriceFeed} from "../../src/oracles/PriceFeed.sol";
import {VaultOptions} from "../../src/vault/VaultOptions.sol";
import {OptionToken} from "../../src/vault/OptionToken.sol";

/// @dev Shared fixture: USDC (6 dec), WETH, an 8-decimal ETH/USD PriceFeed at 3000, VaultOptions with a 1 h max
///      oracle age and the default UB table; writer and liquidator funded with USDC.
abstract contract VaultBase is Test {
    uint64 internal constant T0 = 1_700_000_000;
    TestToken internal usdc;
    TestToken internal weth;
    PriceFeed internal feed;
    VaultOptions internal vo;
    address internal writer = makeAddr("writer");
    address internal liquidator = makeAddr("liquidator");
    address internal holder = makeAddr("holder");

    function setUp() public virtual {
        vm.warp(T0);
        usdc = new TestToken("USD Coin", "USDC", 6);
        weth = new TestToken("Wrapped Ether", "WETH", 18);
        feed = new PriceFeed("ETH / USD", 8, address(this));
        feed.updateAnswer(3000e8);
        vo = new VaultOptions(usdc, address(this), 3600);
        vo.setOracle(address(weth), feed);
        address[2] memory users = [writer, liquidator];
        for (uint256 i; i < users.length; ++i) {
            usdc.mint(users[i], 1_000_000e6);
            vm.prank(users[i]);
            usdc.approve(address(vo), type(uint256).max);
        }
    }

    function _series(uint256 strike, uint64 expiry, bool isPut) internal returns (uint256 id, OptionToken token) {
        address t;
        (id, t) = vo.createSeries(address(weth), strike, expiry, isPut);
        token = OptionToken(t);
    }

    /// @dev Writer opens a vault, deposits `col` USDC units and mints `amount` options of `seriesId`.
    function _writerVault(uint256 seriesId, uint256 col, uint256 amount) internal returns (uint256 vaultId) {
        vm.startPrank(writer);
        vaultId = vo.openVault();
        vo.deposit(vaultId, col);
        vo.mint(vaultId, seriesId, amount);
        vm.stopPrank();
    }

    /// @dev Push a feed answer (8 decimals) at the current time, returning its round id.
    function _price(int256 answer) internal returns (uint80) {
        return feed.updateAnswer(answer);
    }
}
