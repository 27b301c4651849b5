// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {PortfolioBase} from "./PortfolioBase.sol";
import {PortfolioAccounts} from "../../src/portfolio/PortfolioAccounts.sol";
import {PortfolioMargin} from "../../src/portfolio/PortfolioMargin.sol";
import {DutchAuction} from "../../src/portfolio/DutchAuction.sol";

/// @notice Margin and mark-to-market against values computed independently in Python (mpmath Black-76 at
///         50 digits on the exact wad tau, and the StandardManager formulas in exact arithmetic;
///         regenerate with contracts/test/portfolio/gen_margin_refs.py):
///         see the constants' comments. Fixture: S = 2000, F(30 d) = 2010, F(60 d) = 2020, vol 60 %.
contract PortfolioMarginTest is PortfolioBase {
    /// @dev Tolerance 1e-12 relative on ~1e21-1e22 values.
    uint256 internal constant TOL = 1e10;

    function test_cashOnlyAccount() public {
        uint256 a = _account(alice, 1000e6);
        (int256 m, int256 t) = pm.getMarginAndMarkToMarket(a);
        assertEq(m, 1000e18);
        assertEq(t, 1000e18);
        assertEq(pm.cashOf(a), 1000e18, "6-decimal USDC credited as 1e18 USD");
    }

    function test_marksMatchReference() public {
        // mpmath: Black-76 F=2010, tau=82191780821917808e-18, vol 0.6.
        assertApproxEqAbs(pm.markOf(_series(EXP1, 2000e18, true)), 142479130200256602308, 1e6);
        assertApproxEqAbs(pm.markOf(_series(EXP1, 2200e18, true)), 68655977256951598990, 1e6);
        assertApproxEqAbs(pm.markOf(_series(EXP1, 1800e18, false)), 51452143519185530445, 1e6);
    }

    /// @dev Short 2 C2200 @50, short 3 P1800 @40 (exp 1), short 1 C2500 @30 (exp 2); cash 10000.
    ///      exp1: iso −1191.668385071459789 vs maxLoss −9822 → iso; exp2: iso −237.0631598457017695 vs −2222 → iso.
    function test_isolatedShortsTwoExpiries() public {
        uint256 a = _account(alice, 10_000e6);
        _trade(a, EXP1, 2200e18, true, -2e18, 50e18);
        _trade(a, EXP1, 1800e18, false, -3e18, 40e18);
        _trade(a, EXP2, 2500e18, true, -1e18, 30e18);
        (int256 m, int256 t) = pm.getMarginAndMarkToMarket(a);
        assertApproxEqAbs(m, 8821268455082838441198, TOL, "MM");
        assertApproxEqAbs(t, 9901268455082838441198, TOL, "MtM");
    }

    /// @dev Short C2000 @150, long C2200 @60, cash 1000: iso −322.479 < maxLoss −200 → MM = 1090 − 200.
    function test_callSpreadPairing() public {
        uint256 a = _account(alice, 1000e6);
        _trade(a, EXP1, 2000e18, true, -1e18, 150e18);
        _trade(a, EXP1, 2200e18, true, 1e18, 60e18);
        (int256 m, int256 t) = pm.getMarginAndMarkToMarket(a);
        assertEq(m, 890e18, "MM exactly cash + maxLoss");
        assertApproxEqAbs(t, 1016176847056694996682, TOL, "MtM");
    }

    /// @dev Short 10 C2000 @100, long 9 C2100 @80, cash 5000: maxLoss = −1000 + 1.1·2010·(−1) = −3211 beats
    ///      iso −3224.79 → MM = 5280 − 3211 = 2069.
    function test_nakedNetShortCallsUnpairedTerm() public {
        uint256 a = _account(alice, 5000e6);
        _trade(a, EXP1, 2000e18, true, -10e18, 100e18);
        _trade(a, EXP1, 2100e18, true, 9e18, 80e18);
        (int256 m, int256 t) = pm.getMarginAndMarkToMarket(a);
        assertEq(m, 2069e18, "MM");
        assertApproxEqAbs(t, 4758614800719442853553, TOL, "MtM");
    }

    function test_longOnlyHasNoMarginCredit() public {
        uint256 a = _account(alice, 1000e6);
        _trade(a, EXP1, 2000e18, true, 2e18, 100e18);
        (int256 m, int256 t) = pm.getMarginAndMarkToMarket(a);
        assertEq(m, 800e18);
        assertApproxEqAbs(t, 800e18 + 2 * 142479130200256602308, TOL);
    }

    function test_tradeRequiresBothApprovals() public {
        uint256 a = _account(alice, 1000e6);
        uint256 sid = _series(EXP1, 2000e18, true);
        vm.prank(alice);
        pm.setOperator(matcher, false);
        vm.prank(matcher);
        vm.expectRevert(abi.encodeWithSelector(PortfolioAccounts.NotAuthorized.selector, a, matcher));
        pm.trade(mm, a, sid, 1e18, 100e18);
        // Alice alone cannot move the market maker's account either.
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(PortfolioAccounts.NotAuthorized.selector, mm, alice));
        pm.trade(a, mm, sid, 1e18, 1e18);
    }

    function test_tradeRevertsWhenMarginInsufficient() public {
        uint256 a = _account(alice, 100e6);
        uint256 sid = _series(EXP1, 2000e18, true);
        vm.prank(matcher);
        vm.expectPartialRevert(DutchAuction.InsufficientMargin.selector);
        pm.trade(mm, a, sid, 1e18, 100e18);
    }

    function test_withdrawKeepsMarginNonNegative() public {
        uint256 a = _account(alice, 1000e6);
        _trade(a, EXP1, 2000e18, true, -1e18, 150e18);
        (int256 m,) = pm.getMarginAndMarkToMarket(a);
        uint256 free = uint256(m) / 1e12; // USDC units that keep MM ≥ 0
        vm.prank(alice);
        vm.expectPartialRevert(DutchAuction.InsufficientMargin.selector);
        pm.withdraw(a, free + 1, alice);
        uint256 before = usdc.balanceOf(alice);
        vm.prank(alice);
        pm.withdraw(a, free, alice);
        assertEq(usdc.balanceOf(alice) - before, free);
        (m,) = pm.getMarginAndMarkToMarket(a);
        assertGe(m, 0);
    }

    function test_staleOraclesRevert() public {
        uint256 a = _account(alice, 1000e6);
        _trade(a, EXP1, 2000e18, true, -1e18, 150e18);
        vm.warp(T0 + 2 hours); // spot heartbeat 1 h
        vm.expectRevert(abi.encodeWithSelector(PortfolioAccounts.StalePrice.selector, ETH, int256(2000e8), T0));
        pm.getMarginAndMarkToMarket(a);
        ethFeed.set(0, block.timestamp);
        vm.expectRevert(abi.encodeWithSelector(PortfolioAccounts.StalePrice.selector, ETH, int256(0), block.timestamp));
        pm.getMarginAndMarkToMarket(a);
        ethFeed.set(2000e8, block.timestamp);
        vm.warp(T0 + 2 days); // vol heartbeat 1 day
        ethFeed.set(2000e8, block.timestamp);
        vm.expectRevert(abi.encodeWithSelector(PortfolioAccounts.StaleVol.selector, ETH, EXP1, uint64(T0)));
        pm.getMarginAndMarkToMarket(a);
    }

    function test_settleExpiredAtFeedPrice() public {
        uint256 a = _account(alice, 1000e6);
        _trade(a, EXP1, 2000e18, true, -1e18, 150e18);
        uint256 sid = _series(EXP1, 2000e18, true);
        vm.expectRevert(abi.encodeWithSelector(PortfolioMargin.NotExpired.selector, sid, EXP1));
        pm.settleExpired(a, sid);
        vm.warp(EXP1 + 10);
        ethFeed.set(2150e8, block.timestamp);
        // Before settlement the dead series is valued at intrinsic against the spot.
        (int256 m, int256 t) = pm.getMarginAndMarkToMarket(a);
        assertEq(m, 1000e18);
        assertEq(t, 1000e18);
        pm.settleExpired(a, sid);
        assertEq(pm.settlementPrice(ETH, EXP1), 2150e18);
        assertEq(pm.cashOf(a), 1000e18);
        assertEq(pm.positionOf(a, sid), 0);
        assertEq(pm.heldSeries(a).length, 0);
        // The holder settles later at the same fixed price even if the spot moved.
        ethFeed.set(2500e8, block.timestamp);
        int256 before = pm.cashOf(mm);
        pm.settleExpired(mm, sid);
        assertEq(pm.cashOf(mm) - before, 150e18);
    }

    function test_startAuctionOnHealthyAccountReverts() public {
        uint256 a = _account(alice, 1000e6);
        vm.expectRevert(abi.encodeWithSelector(DutchAuction.AccountHealthy.selector, a, int256(1000e18)));
        pm.startAuction(a);
    }

    /// forge-config: default.fuzz.runs = 24
    function testFuzz_moreCollateralNeverLowersMargin(uint256 extra, uint256 strikeSeed, bool isCall) public {
        uint256 a = _account(alice, 5000e6);
        uint256 strike = 1500e18 + (strikeSeed % 11) * 100e18;
        _trade(a, EXP1, strike, isCall, -2e18, 80e18);
        (int256 m0, int256 t0) = pm.getMarginAndMarkToMarket(a);
        extra = bound(extra, 1, 1e12);
        vm.prank(keeper);
        pm.deposit(a, extra);
        (int256 m1, int256 t1) = pm.getMarginAndMarkToMarket(a);
        assertGe(m1, m0);
        assertEq(m1 - m0, int256(extra * 1e12));
        assertEq(t1 - t0, int256(extra * 1e12));
    }

    /// forge-config: default.fuzz.runs = 24
    function testFuzz_freeLongNeverLowersMargin(uint256 shortSeed, uint256 longSeed, bool shortCall, bool longCall)
        public
    {
        uint256 a = _account(alice, 5000e6);
        _trade(a, EXP1, 1500e18 + (shortSeed % 11) * 100e18, shortCall, -2e18, 80e18);
        (int256 m0,) = pm.getMarginAndMarkToMarket(a);
        _trade(a, EXP1, 1500e18 + (longSeed % 11) * 100e18, longCall, 1e18, 0);
        (int256 m1,) = pm.getMarginAndMarkToMarket(a);
        assertGe(m1, m0);
    }

    function test_tradeMovesCashRoundedUpAndEmits() public {
        uint256 a = _account(alice, 1000e6);
        uint256 sid = _series(EXP1, 2000e18, true);
        int256 mmCash = pm.cashOf(mm);
        // 0.3 contracts at 10.000000000000000001 → cash 3.0000000000000000003 rounds up to ...0001 wei.
        vm.expectEmit(address(pm));
        emit PortfolioMargin.Traded(sid, a, mm, 0.3e18, 10e18 + 1, 3e18 + 1);
        vm.prank(matcher);
        pm.trade(a, mm, sid, 0.3e18, 10e18 + 1);
        assertEq(pm.cashOf(a), 1000e18 - 3e18 - 1);
        assertEq(pm.cashOf(mm), mmCash + 3e18 + 1);
        assertEq(pm.positionOf(a, sid), 0.3e18);
        assertEq(pm.positionOf(mm, sid), -0.3e18);
    }

    function test_adminValidation() public {
        uint256 sid = _series(EXP1, 2000e18, true);
        vm.expectRevert(abi.encodeWithSelector(PortfolioAccounts.SeriesExists.selector, sid));
        pm.addSeries(ETH, EXP1, 2000e18, true);
        vm.expectRevert(abi.encodeWithSelector(PortfolioAccounts.InvalidSeries.selector, ETH, uint64(T0), 1e18));
        pm.addSeries(ETH, uint64(T0), 1e18, true);
        vm.expectRevert(abi.encodeWithSelector(PortfolioAccounts.UnknownUnderlying.selector, address(0xB7C)));
        pm.addSeries(address(0xB7C), EXP1, 1e18, true);
        vm.prank(alice);
        vm.expectPartialRevert(bytes4(keccak256("AccessControlUnauthorizedAccount(address,bytes32)")));
        pm.addSeries(ETH, EXP1, 2100e18, true);
        vm.expectRevert(abi.encodeWithSelector(PortfolioAccounts.UnknownSeries.selector, 999));
        pm.getSeries(999);
    }

    /// @dev 32 series (the cap) across two expiries: the 33rd reverts; logs the gas of a full margin evaluation.
    function test_positionCapAndMarginGas() public {
        uint256 a = _account(alice, 1_000_000e6);
        for (uint256 i; i < 32; ++i) {
            uint64 e = i < 16 ? EXP1 : EXP2;
            _trade(a, e, 1200e18 + (i % 16) * 100e18, i % 2 == 0, i % 3 == 0 ? int256(1e18) : -1e18, 10e18);
        }
        assertEq(pm.heldSeries(a).length, 32);
        uint256 sid = _series(EXP1, 5000e18, true);
        vm.prank(matcher);
        vm.expectRevert(abi.encodeWithSelector(PortfolioAccounts.TooManyPositions.selector, a));
        pm.trade(a, mm, sid, 1e18, 0);
        uint256 g = gasleft();
        (int256 m, int256 t) = pm.getMarginAndMarkToMarket(a);
        emit log_named_uint("gas: margin of a 32-position account", g - gasleft());
        assertLt(m, t);
    }
}
