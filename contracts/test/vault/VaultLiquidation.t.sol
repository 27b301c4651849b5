// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {VaultBase} from "./VaultBase.sol";
import {VaultOptions} from "../../src/vault/VaultOptions.sol";
import {OptionToken} from "../../src/vault/OptionToken.sol";

/// @dev Scenario: 1 put K=3000 expiring T0+10 d, vault collateral 1300 USDC. At S=3000 the requirement is
///      0.237·2250 + 750 = 1283.25 (safe). Round R2 = 2990 at T0+60: 0.237·2242.5 + 757.5 = 1288.9725 (safe).
///      Round R3 = 2500 at T0+120: 0.237·1875 + 1125 = 1569.375 > 1300 (unsafe) → the auction starts at T0+120.
///      Auction from R3 (P = 2500): cash = 500, start = 500 − 5 %·2500 = 375, end = 1300/1 = 1300 USD per option.
contract VaultLiquidationTest is VaultBase {
    uint256 sid;
    OptionToken tok;
    uint256 vault;
    uint80 r1;
    uint80 r2;
    uint80 r3;
    uint256 constant START = T0 + 120;

    event VaultLiquidated(
        uint256 indexed vaultId, address indexed liquidator, uint256 amount, uint256 collateralPaid, uint80 roundId
    );

    function setUp() public override {
        super.setUp();
        r1 = uint80(feed.latestRound());
        (sid, tok) = _series(3000e18, T0 + 10 days, true);
        vault = _writerVault(sid, 1300e6, 1e8);
        vm.warp(T0 + 60);
        r2 = _price(2990e8);
        assertFalse(vo.isLiquidatable(vault));
        vm.warp(START);
        r3 = _price(2500e8);
    }

    function _action(VaultOptions.ActionType kind, uint256 vaultId, uint256 amount, uint80 roundId)
        internal
        view
        returns (VaultOptions.Action memory)
    {
        return VaultOptions.Action({kind: kind, vaultId: vaultId, seriesId: sid, amount: amount, roundId: roundId});
    }

    function test_becomesLiquidatable() public view {
        assertTrue(vo.isLiquidatable(vault));
        assertEq(vo.requirement(vault), 1_569_375_000);
        assertEq(vo.headroom(vault), 1300e6 - 1_569_375_000);
    }

    function test_auctionPriceSchedule() public {
        // t = 0: start = 375
        assertEq(vo.auctionPrice(vault, r3), 375e18);
        // t = 30 min: 375 + (1300 − 375)·1800/3600 = 375 + 462.5 = 837.5
        vm.warp(START + 30 minutes);
        assertEq(vo.auctionPrice(vault, r3), 837.5e18);
        // t = 60 min: end price = collateral/short = 1300 (spot age is exactly the 1 h max: still fresh)
        vm.warp(START + 60 minutes);
        assertEq(vo.auctionPrice(vault, r3), 1300e18);
        // t = 90 min (fresh round at the same price): capped at 1300
        vm.warp(START + 90 minutes);
        uint80 r4 = _price(2500e8);
        assertEq(vo.auctionPrice(vault, r3), 1300e18);
        // the later round is not the first unsafe one
        vm.expectRevert(abi.encodeWithSelector(VaultOptions.NotFirstUnsafeRound.selector, r4, r3));
        vo.auctionPrice(vault, r4);
    }

    function test_auctionUsesTheRoundPriceNotTheCurrentSpot() public {
        vm.warp(START + 30 minutes);
        _price(2400e8); // current spot moves; the auction still prices off R3 = 2500
        // with P = 2500: 375 + (1300 − 375)/2 = 837.5 (with S = 2400 it would be 480 + 820/2 = 890)
        assertEq(vo.auctionPrice(vault, r3), 837.5e18);
        // but the vault must be unsafe at the current spot: a recovery to 3000 stops the auction
        _price(3000e8);
        vm.expectRevert(
            abi.encodeWithSelector(VaultOptions.VaultNotLiquidatable.selector, vault, 1300e6, 1_283_250_000)
        );
        vo.auctionPrice(vault, r3);
    }

    function test_roundChecks() public {
        // R1 is not after the vault's last update (both at T0): Opyn's rule
        vm.expectRevert(abi.encodeWithSelector(VaultOptions.RoundBeforeVaultUpdate.selector, r1, T0, T0));
        vo.auctionPrice(vault, r1);
        // R2's price left the vault safe: requirement 1288.9725 USDC <= 1300
        vm.expectRevert(
            abi.encodeWithSelector(VaultOptions.RoundDidNotMakeVaultUnsafe.selector, r2, 1_288_972_500, 1300e6)
        );
        vo.auctionPrice(vault, r2);
        // an owner action after R3 restarts the clock: R3 is now before the vault's last update
        vm.warp(START + 10);
        vm.prank(writer);
        vo.deposit(vault, 1);
        vm.expectRevert(abi.encodeWithSelector(VaultOptions.RoundBeforeVaultUpdate.selector, r3, START, START + 10));
        vo.auctionPrice(vault, r3);
    }

    function test_safeVaultIsNotLiquidatable() public {
        vm.prank(writer);
        vo.deposit(vault, 300e6); // 1600 >= 1569.375
        assertFalse(vo.isLiquidatable(vault));
        vm.expectRevert(
            abi.encodeWithSelector(VaultOptions.VaultNotLiquidatable.selector, vault, 1600e6, 1_569_375_000)
        );
        vm.prank(liquidator);
        vo.liquidate(vault, 1, r3);
    }

    function test_mintAndLiquidateInOneCall() public {
        vm.warp(START + 30 minutes); // price 837.5 per option
        VaultOptions.Action[] memory acts = new VaultOptions.Action[](4);
        acts[0] = _action(VaultOptions.ActionType.OpenVault, 0, 0, 0);
        acts[1] = _action(VaultOptions.ActionType.Deposit, 0, 2000e6, 0); // own vault needs 0.5·1569.375 = 784.6875
        acts[2] = _action(VaultOptions.ActionType.Mint, 0, 0.5e8, 0);
        acts[3] = _action(VaultOptions.ActionType.Liquidate, vault, 0.5e8, r3);
        uint256 balBefore = usdc.balanceOf(liquidator);
        // paid = 0.5 · 837.5 = 418.75 USDC
        vm.expectEmit(true, true, false, true);
        emit VaultLiquidated(vault, liquidator, 0.5e8, 418_750_000, r3);
        vm.prank(liquidator);
        uint256 own = vo.operate(acts);

        assertEq(usdc.balanceOf(liquidator), balBefore - 2000e6 + 418_750_000);
        assertEq(tok.balanceOf(liquidator), 0);
        VaultOptions.Vault memory w = vo.getVault(vault);
        assertEq(w.shortAmount, 0.5e8);
        assertEq(w.collateral, 1300e6 - 418_750_000); // 881.25 >= 0.5·1569.375 = 784.6875: safe again
        assertFalse(vo.isLiquidatable(vault));
        VaultOptions.Vault memory mine = vo.getVault(own);
        assertEq(mine.owner, liquidator);
        assertEq(mine.shortAmount, 0.5e8);
        assertEq(mine.collateral, 2000e6);
    }

    function test_fullLiquidationAtEndPriceTakesAllCollateral() public {
        vm.warp(START + 60 minutes);
        vm.prank(writer);
        tok.transfer(liquidator, 1e8);
        vm.prank(liquidator);
        uint256 paid = vo.liquidate(vault, 1e8, r3);
        assertEq(paid, 1300e6);
        VaultOptions.Vault memory w = vo.getVault(vault);
        assertEq(w.collateral, 0);
        assertEq(w.shortAmount, 0);
        assertEq(vo.requirement(vault), 0);
    }

    function test_liquidatorNeedsTokens() public {
        vm.prank(liquidator);
        vm.expectRevert(); // ERC20InsufficientBalance on burn
        vo.liquidate(vault, 1e8, r3);
    }

    function test_batchLeavingOwnVaultUnsafeReverts() public {
        VaultOptions.Action[] memory acts = new VaultOptions.Action[](3);
        acts[0] = _action(VaultOptions.ActionType.OpenVault, 0, 0, 0);
        acts[1] = _action(VaultOptions.ActionType.Deposit, 0, 100e6, 0);
        acts[2] = _action(VaultOptions.ActionType.Mint, 0, 1e8, 0);
        vm.prank(liquidator);
        vm.expectRevert(abi.encodeWithSelector(VaultOptions.VaultUndercollateralized.selector, 2, 100e6, 1_569_375_000));
        vo.operate(acts);

        VaultOptions.Action[] memory bad = new VaultOptions.Action[](1);
        bad[0] = _action(VaultOptions.ActionType.Deposit, 0, 1, 0);
        vm.expectRevert(VaultOptions.NoVaultOpenedInBatch.selector);
        vo.operate(bad);
    }

    function test_noLiquidationAfterExpiry() public {
        vm.warp(T0 + 10 days);
        _price(2500e8);
        assertFalse(vo.isLiquidatable(vault));
        vm.expectRevert(abi.encodeWithSelector(VaultOptions.SeriesExpired.selector, sid, T0 + 10 days));
        vo.auctionPrice(vault, r3);
    }

    function test_onlyOwnerManagesVault() public {
        vm.prank(liquidator);
        vm.expectRevert(abi.encodeWithSelector(VaultOptions.NotVaultOwner.selector, vault, liquidator));
        vo.withdraw(vault, 1);
    }

    /// forge-config: default.fuzz.runs = 32
    function testFuzz_liquidationNeverLowersCollateralPerShort(uint32 amountRaw, uint16 waitRaw) public {
        vm.warp(START + bound(uint256(waitRaw), 0, 3600));
        uint256 amount = bound(uint256(amountRaw), 1, 1e8);
        vm.prank(writer);
        tok.transfer(liquidator, amount);
        VaultOptions.Vault memory b = vo.getVault(vault);
        vm.prank(liquidator);
        uint256 paid = vo.liquidate(vault, amount, r3);
        VaultOptions.Vault memory a = vo.getVault(vault);
        assertEq(a.collateral, b.collateral - paid);
        assertEq(a.shortAmount, b.shortAmount - amount);
        // collateral/short after >= before, i.e. a.c · b.s >= b.c · a.s (cross-multiplied, exact)
        assertGe(a.collateral * b.shortAmount, b.collateral * a.shortAmount);
    }
}
