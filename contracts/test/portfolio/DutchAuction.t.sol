// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {PortfolioBase} from "./PortfolioBase.sol";
import {DutchAuction} from "../../src/portfolio/DutchAuction.sol";
import {PortfolioMargin} from "../../src/portfolio/PortfolioMargin.sol";
import {MarginMath} from "../../src/portfolio/MarginMath.sol";

/// @notice Lyra v2 Dutch auction on PortfolioMargin: schedule, solvent bids, insolvent bids with the security module.
contract DutchAuctionTest is PortfolioBase {
    uint256 internal a; // alice's account: 200 USDC + short 1 C2000 (exp 1) sold at 150
    uint256 internal kb; // keeper's bidding account, 10 000 USDC
    uint256 internal sid;

    function setUp() public override {
        super.setUp();
        a = _account(alice, 200e6);
        _trade(a, EXP1, 2000e18, true, -1e18, 150e18);
        sid = _series(EXP1, 2000e18, true);
        kb = _account(keeper, 10_000e6);
    }

    /// @dev Vol 60 % → 80 %: MM < 0 < MtM (solvent).
    function _makeSolventUnderwater() internal {
        _refresh(2000e8, 2010e18, 2020e18, 0.8e18);
        (int256 m, int256 t) = pm.getMarginAndMarkToMarket(a);
        assertLt(m, 0, "MM < 0");
        assertGt(t, 0, "MtM > 0");
    }

    /// @dev Spot and forward 2000 → 3000: MtM ≤ 0 (insolvent).
    function _makeInsolvent() internal {
        _refresh(3000e8, 3000e18, 3000e18, 0.6e18);
        (, int256 t) = pm.getMarginAndMarkToMarket(a);
        assertLe(t, 0, "MtM <= 0");
    }

    function test_discountSchedule() public {
        _makeSolventUnderwater();
        pm.startAuction(a);
        DutchAuction.Auction memory au = pm.getAuction(a);
        assertTrue(au.active);
        assertFalse(au.insolvent);
        assertEq(au.startTime, block.timestamp);
        assertEq(pm.currentDiscount(a), 0.95e18, "t=0");
        vm.warp(T0 + 450);
        assertEq(pm.currentDiscount(a), 0.825e18, "t=7.5 min");
        vm.warp(T0 + 900);
        assertEq(pm.currentDiscount(a), 0.7e18, "t=15 min");
        vm.warp(T0 + 900 + 6 hours);
        assertEq(pm.currentDiscount(a), 0.35e18, "mid of the 12 h leg");
        vm.warp(T0 + 900 + 12 hours);
        assertEq(pm.currentDiscount(a), 0, "end");
        vm.warp(T0 + 900 + 13 hours);
        assertEq(pm.currentDiscount(a), 0, "after end");
    }

    function test_startAuctionEmitsAndCannotRepeat() public {
        _makeSolventUnderwater();
        (int256 m, int256 t) = pm.getMarginAndMarkToMarket(a);
        vm.expectEmit(address(pm));
        emit DutchAuction.AuctionStarted(a, m, t, true, block.timestamp);
        pm.startAuction(a);
        vm.expectRevert(abi.encodeWithSelector(DutchAuction.AuctionActive.selector, a));
        pm.startAuction(a);
    }

    function test_bidAtMaxFractionRestoresBuffer() public {
        _makeSolventUnderwater();
        pm.startAuction(a);
        vm.warp(T0 + 300);
        _refresh(2000e8, 2010e18, 2020e18, 0.8e18);
        (int256 m, int256 t) = pm.getMarginAndMarkToMarket(a);
        int256 bm = pm.getBufferMargin(a);
        assertEq(bm, m + MarginMath.mulDown(m - t, 0.15e18));
        uint256 d = pm.currentDiscount(a);
        assertEq(d, uint256(0.95e18) - uint256(0.25e18) * 300 / 900);
        uint256 f = pm.maxBidFraction(a);
        // f = BM / (BM − MtM·d), in (0, 1)
        assertApproxEqRel(f, uint256(bm * 1e18 / (bm - t * int256(d) / 1e18)), 1e6);
        int256 quoted = pm.bidPrice(a, f);
        assertEq(quoted, int256(MarginMath.solventBidPrice(f, t, d)));
        int256 aliceCash = pm.cashOf(a);
        int256 keeperCash = pm.cashOf(kb);

        vm.prank(keeper);
        int256 paid = pm.bid(a, kb, f, uint256(quoted));
        assertEq(paid, quoted);
        // Bidder took f of the short call and f of the cash, and paid f·MtM·d.
        assertEq(pm.positionOf(kb, sid), -int256(f));
        assertEq(pm.positionOf(a, sid), -1e18 + int256(f));
        int256 cashTaken = aliceCash * int256(f) / 1e18;
        assertEq(pm.cashOf(kb), keeperCash + cashTaken - paid);
        assertEq(pm.cashOf(a), aliceCash - cashTaken + paid);
        // Buffer margin restored to ~0 and the auction ended.
        int256 bmAfter = pm.getBufferMargin(a);
        assertApproxEqAbs(bmAfter, 0, 1e12, "BM ~ 0");
        assertFalse(pm.getAuction(a).active, "terminated");
        (int256 mAfter,) = pm.getMarginAndMarkToMarket(a);
        assertGt(mAfter, 0, "MM > 0 after restoring the buffer");
    }

    function test_bidPriceLimitAndFractionCap() public {
        _makeSolventUnderwater();
        pm.startAuction(a);
        uint256 f = pm.maxBidFraction(a) / 2;
        int256 quoted = pm.bidPrice(a, f);
        vm.prank(keeper);
        vm.expectRevert(abi.encodeWithSelector(DutchAuction.PriceLimit.selector, quoted, uint256(quoted) - 1));
        pm.bid(a, kb, f, uint256(quoted) - 1);
        uint256 fMax = pm.maxBidFraction(a);
        vm.prank(keeper);
        vm.expectRevert(abi.encodeWithSelector(DutchAuction.InvalidFraction.selector, fMax + 1, fMax));
        pm.bid(a, kb, fMax + 1, type(uint256).max);
        // A partial bid leaves the auction running.
        vm.prank(keeper);
        pm.bid(a, kb, f, uint256(quoted));
        assertTrue(pm.getAuction(a).active);
        assertLt(pm.getBufferMargin(a), 0);
    }

    function test_underAuctionAccountIsFrozen() public {
        _makeSolventUnderwater();
        pm.startAuction(a);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(PortfolioMargin.UnderAuction.selector, a));
        pm.withdraw(a, 1e6, alice);
        vm.prank(matcher);
        vm.expectRevert(abi.encodeWithSelector(PortfolioMargin.UnderAuction.selector, a));
        pm.trade(a, mm, sid, 1e18, 0);
    }

    function test_terminateWhenRecovered() public {
        _makeSolventUnderwater();
        pm.startAuction(a);
        vm.expectPartialRevert(DutchAuction.AuctionNotOver.selector);
        pm.terminateAuction(a);
        _refresh(2000e8, 2010e18, 2020e18, 0.6e18); // vol back: BM ≥ 0
        assertGe(pm.getBufferMargin(a), 0);
        pm.terminateAuction(a);
        assertFalse(pm.getAuction(a).active);
    }

    function test_insolventPayoutScheduleAndSecurityModule() public {
        _makeInsolvent();
        pm.startAuction(a);
        assertTrue(pm.getAuction(a).insolvent);
        assertEq(pm.maxBidFraction(a), 1e18);
        assertEq(pm.currentDiscount(a), 0);
        uint256 p = 0.25e18;
        uint256[4] memory minutes_ = [uint256(0), 30, 60, 90];
        for (uint256 i; i < 4; ++i) {
            vm.warp(T0 + minutes_[i] * 60);
            _refresh(3000e8, 3000e18, 3000e18, 0.6e18);
            (int256 m, int256 t) = pm.getMarginAndMarkToMarket(a);
            uint256 absMm = uint256(-m);
            uint256 absMtm = uint256(-t);
            uint256 expected;
            if (i == 0) expected = absMtm * p / 1e18; // t = 0: |MtM|
            else if (i == 1) expected = (absMtm + (absMm - absMtm) / 2) * p / 1e18; // halfway
            else expected = absMm * p / 1e18; // ≥ 60 min: |MM|
            assertApproxEqAbs(pm.bidPrice(a, p), -int256(expected), 1, "payout schedule");
        }
        // At 90 min: pool empty → revert; fund it, then take everything.
        int256 quote = pm.bidPrice(a, 1e18);
        uint256 payout = uint256(-quote);
        vm.prank(keeper);
        vm.expectRevert(abi.encodeWithSelector(DutchAuction.SecurityModuleShort.selector, payout, 0));
        pm.bid(a, kb, 1e18, payout);
        vm.prank(bob);
        pm.fundSecurityModule(2000e6);
        assertEq(pm.securityModuleBalance(), 2000e18);
        // Front-running guard: demanding more than the payout reverts.
        vm.prank(keeper);
        vm.expectRevert(abi.encodeWithSelector(DutchAuction.PriceLimit.selector, quote, payout + 1));
        pm.bid(a, kb, 1e18, payout + 1);
        int256 keeperCash = pm.cashOf(kb);
        int256 aliceCash = pm.cashOf(a);
        vm.prank(keeper);
        assertEq(pm.bid(a, kb, 1e18, payout), quote);
        assertEq(pm.securityModuleBalance(), 2000e18 - payout);
        assertEq(pm.cashOf(kb), keeperCash + aliceCash + int256(payout));
        assertEq(pm.positionOf(kb, sid), -1e18);
        assertEq(pm.heldSeries(a).length, 0);
        assertEq(pm.cashOf(a), 0);
        assertFalse(pm.getAuction(a).active, "ends when MM >= 0");
    }

    function test_solventAuctionConvertsToInsolvent() public {
        _makeSolventUnderwater();
        pm.startAuction(a);
        vm.warp(T0 + 600);
        _makeInsolvent();
        (, int256 t) = pm.getMarginAndMarkToMarket(a);
        vm.prank(keeper);
        vm.expectRevert(abi.encodeWithSelector(DutchAuction.AuctionModeStale.selector, a, t));
        pm.bid(a, kb, 1e17, type(uint256).max);
        pm.startAuction(a);
        DutchAuction.Auction memory au = pm.getAuction(a);
        assertTrue(au.insolvent);
        assertEq(au.startTime, T0 + 600);
    }

    function test_bidderMustStayHealthy() public {
        _makeInsolvent();
        pm.startAuction(a);
        vm.prank(bob);
        pm.fundSecurityModule(2000e6);
        uint256 poor = _account(keeper, 0);
        vm.prank(keeper);
        vm.expectPartialRevert(DutchAuction.InsufficientMargin.selector);
        pm.bid(a, poor, 1e18, 0);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(DutchAuction.SelfBid.selector, a));
        pm.bid(a, a, 1e18, 0);
    }

    /// forge-config: default.fuzz.runs = 16
    function testFuzz_maxBidRestoresBuffer(uint256 vol, uint256 elapsed) public {
        vol = bound(vol, 0.7e18, 1.2e18);
        elapsed = bound(elapsed, 0, 13 hours);
        _refresh(2000e8, 2010e18, 2020e18, vol);
        (int256 m, int256 t) = pm.getMarginAndMarkToMarket(a);
        vm.assume(m < 0 && t > 0);
        pm.startAuction(a);
        vm.warp(T0 + elapsed);
        _refresh(2000e8, 2010e18, 2020e18, vol);
        (, t) = pm.getMarginAndMarkToMarket(a);
        vm.assume(t > 0);
        uint256 f = pm.maxBidFraction(a);
        vm.prank(keeper);
        pm.bid(a, kb, f, type(uint256).max);
        assertApproxEqAbs(pm.getBufferMargin(a), 0, 1e12, "BM ~ 0 after a max bid");
        assertFalse(pm.getAuction(a).active, "terminated");
    }
}
