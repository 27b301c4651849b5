// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {UniswapFixture} from "../uniswap/UniswapFixture.sol";
import {StubPriceFeed, StubVolFeed} from "./FeedStubs.sol";
import {OptionAMM} from "../../src/amm/OptionAMM.sol";
import {AmmPricing} from "../../src/amm/AmmPricing.sol";
import {AggregatorV3Interface} from "../../src/interfaces/AggregatorV3Interface.sol";
import {IVolFeed} from "../../src/interfaces/IVolFeed.sol";
import {ISwapRouter} from "../../src/uniswap/ISwapRouter.sol";
import {IQuoterV2} from "../../src/uniswap/IQuoterV2.sol";

/// @dev Reference values were computed in Python with mpmath (40 digits), Black-76 undiscounted:
///      F = 3000, tau = 30/365, call K = 3200.
contract OptionAMMTest is UniswapFixture {
    OptionAMM internal amm;
    StubPriceFeed internal feed;
    StubVolFeed internal vol;
    uint64 internal expiry;
    uint256 internal callId; // K = 3200 call
    uint256 internal putId; // K = 2800 put

    address internal admin = makeAddr("admin");
    address internal hedger = makeAddr("hedger");
    address internal lp = makeAddr("lp");
    address internal alice = makeAddr("alice");

    // 10 · Black76(call, 3000, 3200, 30/365, 0.6142) = 1318.910907436630104 USD
    uint256 internal constant REF_BUY10_PREMIUM_USDC = 1_318_910_908; // rounded up
    // Black76(call, 3000, 3200, 30/365, 0.6): price, delta, gamma, vega (per contract)
    uint256 internal constant REF_MARK = 127.211122786036295309e18;
    int256 internal constant REF_DELTA = 0.386220031874209513e18;
    int256 internal constant REF_GAMMA = 0.000741419195029834e18;
    int256 internal constant REF_VEGA = 329.068245465296443061e18;

    function setUp() public {
        vm.warp(1_800_000_000);
        _deployTokens();
        _deployUniswap();
        _seedPool(3_000e18, 10_000e18, 30_000_000e6);
        feed = new StubPriceFeed(3_000e8);
        vol = new StubVolFeed();
        expiry = uint64(block.timestamp + 30 days);
        vol.setVol(address(weth), expiry, 0.6e18, 3_000e18);
        amm = new OptionAMM(
            IERC20(address(usdc)),
            IERC20(address(weth)),
            AggregatorV3Interface(address(feed)),
            IVolFeed(address(vol)),
            router,
            FEE,
            _params(),
            admin
        );
        vm.startPrank(admin);
        amm.grantRole(amm.HEDGER_ROLE(), hedger);
        callId = amm.listSeries(3_200e18, expiry, true);
        putId = amm.listSeries(2_800e18, expiry, false);
        vm.stopPrank();
        usdc.mint(lp, 1_000_000e6);
        vm.startPrank(lp);
        usdc.approve(address(amm), type(uint256).max);
        amm.deposit(1_000_000e6, lp);
        vm.stopPrank();
        usdc.mint(alice, 10_000_000e6);
        vm.prank(alice);
        usdc.approve(address(amm), type(uint256).max);
    }

    function _params() internal pure returns (OptionAMM.Params memory) {
        return OptionAMM.Params({
            feeRate: 0.003e18,
            kInv: 0.2e18,
            exposureCap: 1_000e18,
            spreadBase: 0.01e18,
            spreadSlope: 0.1e18,
            maxUtilisation: 0.9e18,
            minVol: 0.01e18,
            deltaHardLimit: 5e18,
            priceHeartbeat: 3600
        });
    }

    function _buy(uint256 id, uint256 amount) internal returns (uint256) {
        vm.prank(alice);
        return amm.buy(id, amount, type(uint256).max);
    }

    // ---------------------------------------------------------------- pricing

    function test_firstDepositMintsOneSharePerUsd() public view {
        assertEq(amm.balanceOf(lp), 1_000_000e18);
        assertEq(amm.nav(), 1_000_000e18);
        assertEq(amm.totalAssets(), 1_000_000e6);
    }

    function test_buyPremiumMatchesBlack76Reference() public {
        OptionAMM.Quote memory q = amm.quote(callId, 10e18, true);
        // iv = 0.6·(1 + 0.2·10/1000) + (0.01 + 0.1·0.03) = 0.6012 + 0.013
        assertEq(q.utilisationAfter, 0.03e18, "u = 10*3000 / 1e6");
        assertEq(q.iv, 0.6142e18, "iv_trade");
        assertEq(q.ivSvi, 0.6e18);
        assertApproxEqAbs(q.premium, REF_BUY10_PREMIUM_USDC, 1, "premium vs mpmath Black-76");
        assertEq(q.fee, 90e6, "0.3% of 3000*10");
        vm.expectEmit(address(amm));
        emit OptionAMM.Trade(alice, callId, true, 10e18, q.premium, q.fee, q.iv, 3_000e18, 10e18);
        uint256 cost = _buy(callId, 10e18);
        assertEq(cost, q.premium + q.fee);
        assertEq(usdc.balanceOf(alice), 10_000_000e6 - cost);
        assertEq(amm.positionOf(callId, alice), 10e18);
        assertEq(amm.series(callId).openInterest, 10e18);
    }

    function test_navAndGreeksMatchReference() public {
        uint256 cost = _buy(callId, 10e18);
        int256 expectedNav = int256((1_000_000e6 + cost) * 1e12) - int256(10 * REF_MARK);
        assertApproxEqRel(amm.nav(), expectedNav, 1e9, "nav");
        (int256 d, int256 g, int256 v) = amm.netGreeks();
        assertApproxEqRel(d, -10 * REF_DELTA, 1e9, "delta");
        assertApproxEqRel(g, -10 * REF_GAMMA, 1e9, "gamma");
        assertApproxEqRel(v, -10 * REF_VEGA, 1e9, "vega");
        assertEq(amm.netDelta(), d);
    }

    function test_buyQuoteAboveSellQuote() public {
        _buy(callId, 10e18);
        OptionAMM.Quote memory b = amm.quote(callId, 1e18, true);
        OptionAMM.Quote memory s = amm.quote(callId, 1e18, false);
        assertGt(b.iv, s.iv, "buy vol > sell vol");
        assertGt(b.premium, s.premium, "buy premium > sell premium");
        assertGt(b.premium + b.fee, s.premium - s.fee, "cost > proceeds");
        // round trip loses money for the trader
        uint256 before = usdc.balanceOf(alice);
        uint256 cost = _buy(callId, 1e18);
        vm.prank(alice);
        uint256 proceeds = amm.sell(callId, 1e18, 0);
        assertLt(proceeds, cost);
        assertEq(usdc.balanceOf(alice), before - cost + proceeds);
    }

    function test_utilisationSpreadIncreases() public {
        uint256 lastIv;
        uint256 lastU;
        for (uint256 i; i < 4; ++i) {
            OptionAMM.Quote memory q = amm.quote(putId, 1e18, true);
            assertGt(q.iv, lastIv, "iv rises with utilisation and inventory");
            assertGt(q.utilisationAfter, lastU, "utilisation rises");
            lastIv = q.iv;
            lastU = q.utilisationAfter;
            _buy(putId, 50e18);
        }
        // the spread term alone rises with utilisation (inventory fixed)
        uint256 lo = AmmPricing.tradeVol(0.6e18, 10e18, 1_000e18, 0.2e18, 0.01e18, 0.1e18, 0.1e18, 0.01e18, true);
        uint256 hi = AmmPricing.tradeVol(0.6e18, 10e18, 1_000e18, 0.2e18, 0.01e18, 0.1e18, 0.5e18, 0.01e18, true);
        assertEq(hi - lo, 0.04e18);
    }

    function testFuzz_tradeVolMonotone(uint256 ivSvi, uint256 oi, uint256 u1, uint256 u2) public pure {
        ivSvi = bound(ivSvi, 0.05e18, 3e18);
        oi = bound(oi, 0, 1_000e18);
        u1 = bound(u1, 0, 1e18);
        u2 = bound(u2, u1, 1e18);
        uint256 b1 = AmmPricing.tradeVol(ivSvi, oi, 1_000e18, 0.2e18, 0.01e18, 0.1e18, u1, 0.01e18, true);
        uint256 b2 = AmmPricing.tradeVol(ivSvi, oi, 1_000e18, 0.2e18, 0.01e18, 0.1e18, u2, 0.01e18, true);
        uint256 s1 = AmmPricing.tradeVol(ivSvi, oi, 1_000e18, 0.2e18, 0.01e18, 0.1e18, u1, 0.01e18, false);
        uint256 s2 = AmmPricing.tradeVol(ivSvi, oi, 1_000e18, 0.2e18, 0.01e18, 0.1e18, u2, 0.01e18, false);
        assertGe(b2, b1);
        assertLe(s2, s1);
        assertGt(b1, s1);
    }

    function test_tradeLimitsRevert() public {
        OptionAMM.Quote memory q = amm.quote(callId, 10e18, true);
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(OptionAMM.SlippageExceeded.selector, q.premium + q.fee, q.premium + q.fee - 1)
        );
        amm.buy(callId, 10e18, q.premium + q.fee - 1);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(OptionAMM.ExposureCapExceeded.selector, 1_001e18, 1_000e18));
        amm.buy(callId, 1_001e18, type(uint256).max);
        // 301 calls: notional 903k on 1M assets = 0.903 > 0.9
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(OptionAMM.UtilisationTooHigh.selector, 0.903e18, 0.9e18));
        amm.buy(callId, 301e18, type(uint256).max);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(OptionAMM.InsufficientPosition.selector, 0, 1e18));
        amm.sell(callId, 1e18, 0);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(OptionAMM.UnknownSeries.selector, 7));
        amm.buy(7, 1e18, type(uint256).max);
        vm.prank(alice);
        vm.expectRevert(OptionAMM.ZeroAmount.selector);
        amm.buy(callId, 0, type(uint256).max);
    }

    function test_secondDepositMintsAtNav() public {
        _buy(callId, 10e18);
        int256 navWad = amm.nav();
        uint256 assets = amm.totalAssets();
        assertEq(assets, uint256(navWad) / 1e12);
        address lp2 = makeAddr("lp2");
        usdc.mint(lp2, 100_000e6);
        vm.startPrank(lp2);
        usdc.approve(address(amm), 100_000e6);
        uint256 shares = amm.deposit(100_000e6, lp2);
        vm.stopPrank();
        // ERC4626 with a 12-decimal offset: shares = assets · (supply + 1e12) / (totalAssets + 1), rounded down
        assertEq(shares, 100_000e6 * (1_000_000e18 + 1e12) / (assets + 1));
        assertLt(shares, 100_000e18, "NAV per share rose: premiums above mark");
    }

    function test_tradeRejectsStaleVol() public {
        vm.warp(block.timestamp + 3601);
        feed.set(3_000e8); // price fresh, vol stale
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(OptionAMM.VolStale.selector, callId, 1_800_000_000, 3600));
        amm.buy(callId, 1e18, type(uint256).max);
    }

    function test_tradeRejectsStaleData() public {
        vm.warp(block.timestamp + 3601);
        vol.setVol(address(weth), expiry, 0.6e18, 3_000e18); // vol fresh, price stale
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(OptionAMM.PriceStale.selector, 1_800_000_000, 3600));
        amm.buy(callId, 1e18, type(uint256).max);
    }

    // ---------------------------------------------------------------- hedging on the real Uniswap V3 pool

    function test_rebalanceBuysAndSellsWethIntoBand() public {
        _buy(callId, 100e18); // pool short 100 calls: delta ≈ −38.6
        int256 before = amm.netDelta();
        assertApproxEqRel(before, -100 * REF_DELTA, 1e9);
        uint256 cashBefore = usdc.balanceOf(address(amm));
        (uint256 quotedIn,,,) = quoter.quoteExactOutputSingle(
            IQuoterV2.QuoteExactOutputSingleParams(address(usdc), address(weth), uint256(-before), FEE, 0)
        );
        vm.expectEmit(address(amm));
        emit OptionAMM.Rebalanced(before, 0, address(usdc), address(weth), quotedIn, uint256(-before), 3_000e18);
        vm.prank(hedger);
        int256 afterDelta = amm.rebalance(1e18, 50);
        assertLe(afterDelta < 0 ? -afterDelta : afterDelta, 1e18, "inside band");
        assertEq(weth.balanceOf(address(amm)), uint256(-before), "bought exactly -delta");
        uint256 spent = cashBefore - usdc.balanceOf(address(amm));
        assertLe(spent * 1e12 * 10_000, uint256(-before) * 3_000 * 10_050, "max input from oracle price");
        assertGt(spent * 1e12, uint256(-before) * 3_000, "paid the pool fee");
        // trader sells most calls back: delta turns positive, pool sells WETH through exactInput
        vm.prank(alice);
        amm.sell(callId, 80e18, 0);
        int256 pos = amm.netDelta();
        assertGt(pos, 1e18);
        uint256 wethBefore = weth.balanceOf(address(amm));
        uint256 usdcBefore = usdc.balanceOf(address(amm));
        (uint256 quotedOut,,,) = quoter.quoteExactInputSingle(
            IQuoterV2.QuoteExactInputSingleParams(address(weth), address(usdc), uint256(pos), FEE, 0)
        );
        vm.expectEmit(address(amm));
        emit OptionAMM.Rebalanced(pos, 0, address(weth), address(usdc), uint256(pos), quotedOut, 3_000e18);
        vm.prank(hedger);
        afterDelta = amm.rebalance(1e18, 50);
        assertEq(afterDelta, 0, "sold exactly delta");
        uint256 sold = wethBefore - weth.balanceOf(address(amm));
        assertEq(sold, uint256(pos));
        uint256 received = usdc.balanceOf(address(amm)) - usdcBefore;
        assertGe(received * 1e12 * 10_000, sold * 3_000 * (10_000 - 50), "min output from oracle price");
    }

    function test_rebalanceRespectsMaxSlippage() public {
        _buy(callId, 100e18);
        // 0 bps: the 5 bps pool fee alone makes WETH cost more than the oracle value
        vm.prank(hedger);
        vm.expectRevert(bytes("Too much requested"));
        amm.rebalance(1e18, 0);
        // move the Uniswap price 2% above the oracle: 50 bps is too tight, 300 bps passes
        _pushUniswapPriceUp(600e18);
        vm.prank(hedger);
        vm.expectRevert(bytes("Too much requested"));
        amm.rebalance(1e18, 50);
        vm.prank(hedger);
        amm.rebalance(1e18, 300);
        // sell side: after the calls are sold back the pool must sell WETH; with the pool price below
        // the oracle the minimum output binds
        vm.prank(alice);
        amm.sell(callId, 100e18, 0);
        _pushUniswapPriceDown(1_200e18);
        vm.prank(hedger);
        vm.expectRevert(bytes("Too little received"));
        amm.rebalance(1e18, 50);
    }

    function test_rebalanceGuards() public {
        vm.prank(hedger);
        vm.expectRevert(abi.encodeWithSelector(OptionAMM.DeltaWithinBand.selector, int256(0), 1e18));
        amm.rebalance(1e18, 50);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, alice, amm.HEDGER_ROLE())
        );
        vm.prank(alice);
        amm.rebalance(1e18, 50);
        _buy(putId, 10e18); // short puts: positive delta, no WETH to sell
        int256 d = amm.netDelta();
        vm.prank(hedger);
        vm.expectRevert(abi.encodeWithSelector(OptionAMM.NothingToSell.selector, d));
        amm.rebalance(1e18, 50);
        vm.prank(hedger);
        vm.expectRevert(abi.encodeWithSelector(OptionAMM.SlippageBpsTooLarge.selector, 10_001));
        amm.rebalance(1e18, 10_001);
    }

    function _pushUniswapPriceUp(uint256 usdcAmountWad) internal {
        address whale = makeAddr("whale");
        uint256 amt = usdcAmountWad * 1e6 / 1e18 * 1_000; // e.g. 600e18 -> 600k USDC
        usdc.mint(whale, amt);
        vm.startPrank(whale);
        usdc.approve(address(router), amt);
        router.exactInputSingle(
            ISwapRouter.ExactInputSingleParams(address(usdc), address(weth), FEE, whale, block.timestamp, amt, 0, 0)
        );
        vm.stopPrank();
    }

    function _pushUniswapPriceDown(uint256 wethAmount) internal {
        address whale = makeAddr("whale2");
        weth.mint(whale, wethAmount);
        vm.startPrank(whale);
        weth.approve(address(router), wethAmount);
        router.exactInputSingle(
            ISwapRouter.ExactInputSingleParams(
                address(weth), address(usdc), FEE, whale, block.timestamp, wethAmount, 0, 0
            )
        );
        vm.stopPrank();
    }

    // ---------------------------------------------------------------- LP withdrawals

    function test_withdrawBlockedWhenPriceStale() public {
        vm.warp(block.timestamp + 2 hours);
        vm.prank(lp);
        vm.expectRevert(abi.encodeWithSelector(OptionAMM.PriceStale.selector, 1_800_000_000, 3600));
        amm.withdraw(1_000e6, lp, lp);
        assertFalse(amm.navFresh());
        feed.set(3_000e8);
        assertTrue(amm.navFresh());
        vm.prank(lp);
        amm.withdraw(1_000e6, lp, lp);
        assertEq(usdc.balanceOf(lp), 1_000e6);
    }

    function test_withdrawBlockedWhenVolStale() public {
        _buy(callId, 1e18);
        vm.warp(block.timestamp + 2 hours);
        feed.set(3_000e8); // price fresh, vol slice 2 h old (heartbeat 1 h)
        vm.prank(lp);
        vm.expectRevert(abi.encodeWithSelector(OptionAMM.VolStale.selector, callId, 1_800_000_000, 3600));
        amm.redeem(1_000e18, lp, lp);
        assertFalse(amm.navFresh());
    }

    function test_withdrawBlockedWhenDeltaOutsideLimit() public {
        _buy(callId, 100e18);
        int256 d = amm.netDelta();
        vm.prank(lp);
        vm.expectRevert(abi.encodeWithSelector(OptionAMM.DeltaOutsideLimit.selector, d, 5e18));
        amm.withdraw(1_000e6, lp, lp);
        vm.prank(hedger);
        amm.rebalance(1e18, 50);
        uint256 shares = amm.previewWithdraw(1_000e6);
        vm.prank(lp);
        amm.withdraw(1_000e6, lp, lp);
        assertEq(usdc.balanceOf(lp), 1_000e6);
        assertEq(amm.balanceOf(lp), 1_000_000e18 - shares);
    }

    // ---------------------------------------------------------------- settlement

    /// forge-config: default.fuzz.runs = 64
    function testFuzz_roundTripNeverProfits(uint256 amount, bool isCall) public {
        amount = bound(amount, 1e12, 250e18);
        uint256 id = isCall ? callId : putId;
        uint256 before = usdc.balanceOf(alice);
        int256 navBefore = amm.nav();
        _buy(id, amount);
        vm.prank(alice);
        amm.sell(id, amount, 0);
        assertLe(usdc.balanceOf(alice), before, "trader cannot profit from an instant round trip");
        assertGe(amm.nav(), navBefore, "pool NAV does not fall");
        assertEq(amm.series(id).openInterest, 0);
    }

    function test_expiredUnsettledSeriesMarkedAtIntrinsic() public {
        _buy(callId, 10e18);
        _buy(putId, 5e18);
        vm.warp(expiry);
        feed.set(3_500e8);
        uint256 cash = usdc.balanceOf(address(amm));
        // call 3200 pays 300, put 2800 pays 0; call delta at expiry is 1 (ITM), put delta 0
        assertEq(amm.nav(), int256(cash * 1e12) - 10 * 300e18);
        assertEq(amm.netDelta(), -10e18);
        (, int256 g, int256 v) = amm.netGreeks();
        assertEq(g, 0);
        assertEq(v, 0);
        assertTrue(amm.navFresh(), "expired series need no vol");
    }

    function test_settleAndClaimAtFeedPrice() public {
        _buy(callId, 10e18);
        _buy(putId, 5e18);
        vm.warp(expiry);
        vm.expectRevert(
            abi.encodeWithSelector(
                OptionAMM.SettlementRoundBeforeExpiry.selector, feed.roundId(), 1_800_000_000, expiry
            )
        );
        amm.settleSeries(callId);
        feed.set(3_500e8);
        uint80 rid = feed.roundId();
        vm.expectEmit(address(amm));
        emit OptionAMM.SeriesSettled(callId, rid, 3_500e18, 300e18, 10e18);
        amm.settleSeries(callId);
        amm.settleSeries(putId);
        assertEq(amm.series(putId).payoff, 0);
        vm.expectRevert(abi.encodeWithSelector(OptionAMM.SeriesAlreadySettled.selector, callId));
        amm.settleSeries(callId);
        int256 navBefore = amm.nav();
        uint256 bal = usdc.balanceOf(alice);
        vm.prank(alice);
        uint256 paid = amm.claim(callId);
        assertEq(paid, 3_000e6, "10 * (3500 - 3200)");
        assertEq(usdc.balanceOf(alice), bal + 3_000e6);
        assertEq(amm.nav(), navBefore, "claim moves cash and liability together");
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(OptionAMM.SeriesExpired.selector, callId, expiry));
        amm.buy(callId, 1e18, type(uint256).max);
    }

    function test_adminGuards() public {
        OptionAMM.Params memory p = _params();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, alice, bytes32(0))
        );
        vm.prank(alice);
        amm.setParams(p);
        p.exposureCap = 0;
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(OptionAMM.InvalidParams.selector, "exposureCap == 0"));
        amm.setParams(p);
        p = _params();
        p.spreadBase = 0.02e18;
        vm.expectEmit(address(amm));
        emit OptionAMM.ParamsUpdated(p);
        vm.prank(admin);
        amm.setParams(p);
        assertEq(amm.params().spreadBase, 0.02e18);
    }

    function test_listSeriesValidation() public {
        vm.startPrank(admin);
        vm.expectRevert(abi.encodeWithSelector(OptionAMM.InvalidSeries.selector, "duplicate"));
        amm.listSeries(3_200e18, expiry, true);
        vm.expectRevert(abi.encodeWithSelector(OptionAMM.InvalidSeries.selector, "expiry in the past"));
        amm.listSeries(3_200e18, uint64(block.timestamp), true);
        vm.stopPrank();
    }
}
