// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {VaultBase} from "./VaultBase.sol";
import {VaultOptions} from "../../src/vault/VaultOptions.sol";
import {VaultConfig} from "../../src/vault/VaultConfig.sol";
import {OptionToken} from "../../src/vault/OptionToken.sol";
import {NakedMargin} from "../../src/vault/NakedMargin.sol";

contract VaultMarginTest is VaultBase {
    event UpperBoundSet(uint256[] taus, uint256[] values);

    // ---------------------------------------------------------------- per-option formulas (1e18 USD)

    function test_putMarginHandComputed() public view {
        // K=3000, S=3000, τ=10 d → bucket 14 d, UB 0.2370. s·S = 0.75·3000 = 2250.
        // 0.2370·min(3000, 2250) + max(3000 − 2250, 0) = 533.25 + 750 = 1283.25
        assertEq(vo.marginPerOption(true, 3000e18, 3000e18, 10 days), 1283.25e18);
        // K=2000, S=3000, τ=7 d exactly → bucket 7 d (smallest τ' >= τ), UB 0.1678. s·S = 2250 > K.
        // 0.1678·2000 + 0 = 335.6
        assertEq(vo.marginPerOption(true, 2000e18, 3000e18, 7 days), 335.6e18);
        // K=3000, S=2800, τ=20 d → bucket 28 d, UB 0.3326. s·S = 2100.
        // 0.3326·2100 + (3000 − 2100) = 698.46 + 900 = 1598.46
        assertEq(vo.marginPerOption(true, 3000e18, 2800e18, 20 days), 1598.46e18);
        // τ = 7 d + 1 s → bucket 14 d, UB 0.2370: K=2000, S=3000 → 0.237·2000 = 474
        assertEq(vo.marginPerOption(true, 2000e18, 3000e18, 7 days + 1), 474e18);
    }

    function test_callMarginHandComputed() public view {
        // K=3500, S=3000, τ=30 d → bucket 42 d, UB 0.4032. S/s = 3000/0.75 = 4000.
        // 0.4032·min(3500, 4000) + max(4000 − 3500, 0) = 1411.2 + 500 = 1911.2
        assertEq(vo.marginPerOption(false, 3500e18, 3000e18, 30 days), 1911.2e18);
        // K=5000, S=3000, τ=56 d → bucket 56 d, UB 0.4603. S/s = 4000 < K.
        // 0.4603·4000 + 0 = 1841.2
        assertEq(vo.marginPerOption(false, 5000e18, 3000e18, 56 days), 1841.2e18);
        // K=3000, S=3000, τ=1 d → bucket 7 d, UB 0.1678. 0.1678·3000 + (4000 − 3000) = 503.4 + 1000 = 1503.4
        assertEq(vo.marginPerOption(false, 3000e18, 3000e18, 1 days), 1503.4e18);
        // K=4000, S=3600, τ=40 d → bucket 42 d, UB 0.4032. S/s = 4800. 0.4032·4000 + 800 = 1612.8 + 800 = 2412.8
        assertEq(vo.marginPerOption(false, 4000e18, 3600e18, 40 days), 2412.8e18);
    }

    function test_callUpShockRoundsUp() public view {
        // S = 1 wei: S/s = 1/0.75 = 1.33 wei → rounded up to 2 wei; K = 1 wei: UB·1 → rounded up to 1 wei
        // → 1 + (2 − 1) = 2 wei. Floor rounding everywhere would give 0 + 0 = 0.
        assertEq(vo.marginPerOption(false, 1, 1, 1 days), 2);
    }

    function test_revertsBeyondLastBucket() public {
        vm.expectRevert(abi.encodeWithSelector(VaultConfig.TimeToExpiryBeyondTable.selector, 56 days + 1, 56 days));
        vo.marginPerOption(true, 3000e18, 3000e18, 56 days + 1);
    }

    // ---------------------------------------------------------------- vault requirement (USDC units)

    function test_vaultRequirementAndWithdrawLimit() public {
        (uint256 sid,) = _series(3000e18, T0 + 10 days, true);
        // 2 puts (2e8 units) at 1283.25 USD each → 2566.5 USDC = 2_566_500_000 units
        assertEq(vo.requirementFor(sid, 2e8, 3000e18, 10 days), 2_566_500_000);
        vm.startPrank(writer);
        uint256 v = vo.openVault();
        vo.deposit(v, 2_566_500_000 - 1);
        vm.expectRevert(
            abi.encodeWithSelector(VaultOptions.VaultUndercollateralized.selector, v, 2_566_500_000 - 1, 2_566_500_000)
        );
        vo.mint(v, sid, 2e8);
        vo.deposit(v, 1);
        vo.mint(v, sid, 2e8);
        assertEq(vo.requirement(v), 2_566_500_000);
        assertEq(vo.headroom(v), 0);
        assertFalse(vo.isLiquidatable(v));
        vm.expectRevert(
            abi.encodeWithSelector(VaultOptions.VaultUndercollateralized.selector, v, 2_566_499_999, 2_566_500_000)
        );
        vo.withdraw(v, 1);
        // burning half the short halves the requirement and frees the other half
        vo.burn(v, 1e8);
        assertEq(vo.requirement(v), 1_283_250_000);
        vo.withdraw(v, 1_283_250_000);
        assertEq(vo.headroom(v), 0);
        vm.stopPrank();
        assertEq(usdc.balanceOf(address(vo)), 1_283_250_000);
    }

    function test_requirementTracksSpotAndTime() public {
        (uint256 sid,) = _series(3000e18, T0 + 10 days, true);
        uint256 v = _writerVault(sid, 5000e6, 1e8);
        assertEq(vo.requirement(v), 1_283_250_000); // 14 d bucket, S=3000 (above)
        vm.warp(T0 + 4 days); // τ = 6 d → 7 d bucket UB 0.1678: 0.1678·2250 + 750 = 377.55 + 750 = 1127.55
        _price(3000e8);
        assertEq(vo.requirement(v), 1_127_550_000);
        _price(2000e8); // s·S = 1500: 0.1678·1500 + 1500 = 251.7 + 1500 = 1751.7
        assertEq(vo.requirement(v), 1_751_700_000);
    }

    function test_mintBeyondTableReverts() public {
        (uint256 sid,) = _series(3000e18, T0 + 60 days, true);
        vm.startPrank(writer);
        uint256 v = vo.openVault();
        vo.deposit(v, 10_000e6);
        vm.expectRevert(abi.encodeWithSelector(VaultConfig.TimeToExpiryBeyondTable.selector, 60 days, 56 days));
        vo.mint(v, sid, 1e8);
        vm.stopPrank();
    }

    // ---------------------------------------------------------------- oracle health

    function test_staleOracleReverts() public {
        (uint256 sid,) = _series(3000e18, T0 + 10 days, true);
        uint256 v = _writerVault(sid, 5000e6, 1e8);
        vm.warp(T0 + 3600);
        vo.requirement(v); // exactly max age: still accepted
        vm.warp(T0 + 3601);
        uint80 rid = uint80(feed.latestRound());
        vm.expectRevert(abi.encodeWithSelector(VaultConfig.StaleOraclePrice.selector, address(feed), rid, T0, 3600));
        vo.requirement(v);
        vm.prank(writer);
        vm.expectRevert(abi.encodeWithSelector(VaultConfig.StaleOraclePrice.selector, address(feed), rid, T0, 3600));
        vo.mint(v, sid, 1);
    }

    function test_zeroAndNegativeOracleReverts() public {
        (uint256 sid,) = _series(3000e18, T0 + 10 days, true);
        uint256 v = _writerVault(sid, 5000e6, 1e8);
        uint80 r0 = _price(0);
        vm.expectRevert(abi.encodeWithSelector(VaultConfig.InvalidOraclePrice.selector, address(feed), r0, int256(0)));
        vo.requirement(v);
        uint80 rn = _price(-1);
        vm.expectRevert(abi.encodeWithSelector(VaultConfig.InvalidOraclePrice.selector, address(feed), rn, int256(-1)));
        vo.isLiquidatable(v);
        vm.prank(writer);
        vm.expectRevert(abi.encodeWithSelector(VaultConfig.InvalidOraclePrice.selector, address(feed), rn, int256(-1)));
        vo.withdraw(v, 1);
    }

    function test_missingOracleReverts() public {
        vm.expectRevert(abi.encodeWithSelector(VaultConfig.OracleNotSet.selector, address(usdc)));
        vo.createSeries(address(usdc), 1e18, T0 + 1 days, true);
    }

    // ---------------------------------------------------------------- governance

    function test_upperBoundTableGovernance() public {
        uint256[] memory taus = new uint256[](2);
        uint256[] memory vals = new uint256[](2);
        (taus[0], taus[1]) = (1 days, 30 days);
        (vals[0], vals[1]) = (0.1e18, 0.5e18);
        vm.expectEmit(false, false, false, true);
        emit UpperBoundSet(taus, vals);
        vo.setUpperBoundTable(taus, vals);
        assertEq(vo.upperBound(1 days), 0.1e18);
        assertEq(vo.upperBound(1 days + 1), 0.5e18);
        vm.expectRevert(abi.encodeWithSelector(VaultConfig.TimeToExpiryBeyondTable.selector, 30 days + 1, 30 days));
        vo.upperBound(30 days + 1);

        (taus[0], taus[1]) = (30 days, 30 days);
        vm.expectRevert(
            abi.encodeWithSelector(VaultConfig.BadUpperBoundTable.selector, "taus not strictly increasing from > 0")
        );
        vo.setUpperBoundTable(taus, vals);
        vm.prank(writer);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, writer));
        vo.setUpperBoundTable(taus, vals);
    }

    function test_defaultTable() public view {
        (uint256[] memory taus, uint256[] memory vals) = vo.upperBoundTable();
        assertEq(taus.length, 5);
        assertEq(taus[4], 56 days);
        assertEq(vals[0], 0.1678e18);
        assertEq(vals[4], 0.4603e18);
    }

    function test_seriesCreation() public {
        (uint256 sid, OptionToken tok) = _series(3000e18, T0 + 10 days, true);
        assertEq(sid, 1);
        assertEq(tok.decimals(), 8);
        assertEq(tok.symbol(), "oWETH-3000-P-1700864000");
        assertEq(tok.strike(), 3000e18);
        assertTrue(tok.isPut());
        assertEq(vo.seriesIdOf(address(weth), 3000e18, T0 + 10 days, true), 1);
        vm.expectRevert(abi.encodeWithSelector(VaultOptions.SeriesExists.selector, 1));
        vo.createSeries(address(weth), 3000e18, T0 + 10 days, true);
        vm.expectRevert(abi.encodeWithSelector(OptionToken.OnlyController.selector, address(this)));
        tok.mint(address(this), 1);
    }

    // ---------------------------------------------------------------- fuzz: monotonicity

    /// forge-config: default.fuzz.runs = 128
    function testFuzz_requirementMonotoneInSpot(uint128 s1, uint128 s2, uint64 strikeRaw, uint32 tauRaw) public view {
        uint256 lo = bound(uint256(s1), 1e15, 1e24);
        uint256 hi = bound(uint256(s2), lo, 1e24);
        uint256 strike = bound(uint256(strikeRaw), 1e15, 1e24);
        uint256 tau = bound(uint256(tauRaw), 1, 56 days);
        // puts: a higher spot never raises the requirement; calls: never lowers it
        assertGe(vo.marginPerOption(true, strike, lo, tau), vo.marginPerOption(true, strike, hi, tau));
        assertLe(vo.marginPerOption(false, strike, lo, tau), vo.marginPerOption(false, strike, hi, tau));
    }

    /// forge-config: default.fuzz.runs = 48
    function testFuzz_moreCollateralNeverLowersHeadroom(uint64 extra, uint32 spotRaw, bool isPut) public {
        (uint256 sid,) = _series(3000e18, T0 + 20 days, isPut);
        uint256 v = _writerVault(sid, 3000e6, 1e8);
        _price(int256(bound(uint256(spotRaw), 100e8, 10_000e8)));
        int256 before = vo.headroom(v);
        uint256 add = bound(uint256(extra), 1, 100_000e6);
        vm.prank(writer);
        vo.deposit(v, add);
        assertEq(vo.headroom(v), before + int256(add));
        assertGt(vo.headroom(v), before);
    }

    /// forge-config: default.fuzz.runs = 256
    function testFuzz_auctionPriceRisesToEndAndNeverExceedsIt(
        uint96 cash,
        uint96 spot,
        uint96 endPrice,
        uint16 t1,
        uint16 t2
    ) public pure {
        (uint256 a, uint256 b) = t1 <= t2 ? (uint256(t1), uint256(t2)) : (uint256(t2), uint256(t1));
        uint256 p1 = NakedMargin.auctionPrice(cash, spot, endPrice, a);
        uint256 p2 = NakedMargin.auctionPrice(cash, spot, endPrice, b);
        assertLe(p1, p2); // non-decreasing in elapsed time
        assertLe(p2, endPrice); // never above collateral/short
        assertEq(NakedMargin.auctionPrice(cash, spot, endPrice, 3600 + uint256(t2)), endPrice);
    }
}
