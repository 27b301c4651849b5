// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";
import {VolFeed} from "../../src/oracles/VolFeed.sol";
import {SviSlice} from "../../src/interfaces/IVolFeed.sol";
import {
    SviMath,
    SviBNegative,
    SviRhoOutOfRange,
    SviSigmaNotPositive,
    SviMinVarianceNegative,
    SviZeroTau
} from "../../src/lib/SviMath.sol";

contract VolFeedTest is Test {
    VolFeed feed;
    address constant WETH = address(0xE7);
    address constant WBTC = address(0xB7);
    uint64 constant T0 = 1_700_000_000;

    event SliceUpdated(
        address indexed underlying,
        uint64 indexed expiry,
        int256 a,
        int256 b,
        int256 rho,
        int256 m,
        int256 sigma,
        uint256 forward,
        uint64 updatedAt
    );

    function setUp() public {
        vm.warp(T0);
        feed = new VolFeed(address(this), 3600);
    }

    function _set(address u, uint64 exp, int256 a, int256 b, int256 rho, int256 m, int256 sigma, uint256 fwd) internal {
        feed.setSlice(u, exp, a, b, rho, m, sigma, fwd);
    }

    function test_validityRevertsNameTheCondition() public {
        uint64 exp = T0 + 30 days;
        vm.expectRevert(abi.encodeWithSelector(SviBNegative.selector, int256(-1)));
        _set(WETH, exp, 0.04e18, -1, 0, 0, 0.2e18, 3000e18);

        vm.expectRevert(abi.encodeWithSelector(SviRhoOutOfRange.selector, int256(1e18)));
        _set(WETH, exp, 0.04e18, 0.4e18, 1e18, 0, 0.2e18, 3000e18);
        vm.expectRevert(abi.encodeWithSelector(SviRhoOutOfRange.selector, int256(-1e18)));
        _set(WETH, exp, 0.04e18, 0.4e18, -1e18, 0, 0.2e18, 3000e18);

        vm.expectRevert(abi.encodeWithSelector(SviSigmaNotPositive.selector, int256(0)));
        _set(WETH, exp, 0.04e18, 0.4e18, 0, 0, 0, 3000e18);

        // a + b·sigma·sqrt(1 − rho²) = −0.05 + 0.4·0.2·0.8 = −0.05 + 0.064 = 0.014 ≥ 0 → accepted
        _set(WETH, exp, -0.05e18, 0.4e18, 0.6e18, 0, 0.2e18, 3000e18);
        // −0.07 + 0.064 = −0.006 < 0 → SviMinVarianceNegative(−0.006e18)
        vm.expectRevert(abi.encodeWithSelector(SviMinVarianceNegative.selector, int256(-0.006e18)));
        _set(WETH, exp, -0.07e18, 0.4e18, 0.6e18, 0, 0.2e18, 3000e18);
    }

    function test_validityBoundaryIsAccepted() public {
        // rho = 0: minimum variance a + b·sigma = −0.08 + 0.4·0.2 = 0 exactly → valid (>= 0)
        _set(WETH, T0 + 1 days, -0.08e18, 0.4e18, 0, 0, 0.2e18, 3000e18);
        // b = 0 is allowed (flat total variance a)
        _set(WETH, T0 + 2 days, 0.04e18, 0, 0, 0, 0.2e18, 3000e18);
        assertEq(feed.totalVariance(WETH, T0 + 2 days, 5000e18), 0.04e18);
        // w at k = m on the zero-min slice: a + b·sigma = 0
        assertEq(feed.totalVariance(WETH, T0 + 1 days, 3000e18), 0);
    }

    function test_otherInputReverts() public {
        vm.expectRevert(abi.encodeWithSelector(VolFeed.ExpiryNotInFuture.selector, T0, T0));
        _set(WETH, T0, 0.04e18, 0.4e18, 0, 0, 0.2e18, 3000e18);
        vm.expectRevert(VolFeed.ZeroForward.selector);
        _set(WETH, T0 + 1, 0.04e18, 0.4e18, 0, 0, 0.2e18, 0);
        vm.expectRevert(abi.encodeWithSelector(VolFeed.UnknownSlice.selector, WETH, T0 + 5));
        feed.getSlice(WETH, T0 + 5);
        vm.prank(makeAddr("stranger"));
        vm.expectRevert();
        _set(WETH, T0 + 1, 0.04e18, 0.4e18, 0, 0, 0.2e18, 3000e18);
    }

    function test_storesSliceEmitsEventAndListsExpiries() public {
        uint64 e1 = T0 + 7 days;
        uint64 e2 = T0 + 30 days;
        vm.expectEmit(true, true, false, true);
        emit SliceUpdated(WETH, e1, 0.01e18, 0.1e18, -0.7e18, 0.05e18, 0.1e18, 3000e18, T0);
        _set(WETH, e1, 0.01e18, 0.1e18, -0.7e18, 0.05e18, 0.1e18, 3000e18);
        _set(WETH, e2, 0.04e18, 0.4e18, -0.3e18, 0, 0.2e18, 3010e18);
        vm.warp(T0 + 10);
        _set(WETH, e1, 0.02e18, 0.1e18, -0.7e18, 0.05e18, 0.1e18, 3001e18); // overwrite: no duplicate expiry
        _set(WBTC, e2, 0.04e18, 0.4e18, -0.3e18, 0, 0.2e18, 60000e18);

        uint64[] memory ex = feed.expiries(WETH);
        assertEq(ex.length, 2);
        assertEq(ex[0], e1);
        assertEq(ex[1], e2);
        address[] memory us = feed.underlyings();
        assertEq(us.length, 2);
        assertEq(us[0], WETH);
        assertEq(us[1], WBTC);

        SviSlice memory s = feed.getSlice(WETH, e1);
        assertEq(s.a, 0.02e18);
        assertEq(s.rho, -0.7e18);
        assertEq(s.forward, 3001e18);
        assertEq(s.updatedAt, T0 + 10);
        assertEq(feed.heartbeat(), 3600);
    }

    // Reference values: mpmath at 50 digits of w = a + b·(rho·(k−m) + sqrt((k−m)² + sigma²)), k = ln(K/F),
    // vol = sqrt(w / (τ_s / 31_536_000)), inputs exactly the decimals below, truncated to 1e18:
    //   from mpmath import mp, mpf, log, sqrt; mp.dps = 50
    //   k = log(K/F); d = k - m; w = a + b*(rho*d + sqrt(d*d + s*s)); v = sqrt(w / (tau/(365*86400)))
    // The float64 evaluation of the same formula (math.log/math.sqrt) differs from these by < 1.2e-16 relative,
    // so a 1e-12 relative match against them is a 1e-12 match against float64.
    function test_impliedVolMatchesMpmathReference() public {
        uint64 e;
        // 1) a=.04 b=.4 rho=-.3 m=0 s=.2 F=3000 K=2700 τ=30 d → w=0.143065239968059114, vol=1.319328270855306335
        e = T0 + 30 days;
        _set(WETH, e, 0.04e18, 0.4e18, -0.3e18, 0, 0.2e18, 3000e18);
        assertApproxEqRel(feed.totalVariance(WETH, e, 2700e18), 143065239968059114, 1e6);
        assertApproxEqRel(feed.impliedVol(WETH, e, 2700e18), 1319328270855306335, 1e6);
        // 2) a=.01 b=.1 rho=-.7 m=.05 s=.1 F=60000 K=90000 τ=7 d → w=0.022043780334033221, vol=1.072112722080107581
        e = T0 + 7 days;
        _set(WBTC, e, 0.01e18, 0.1e18, -0.7e18, 0.05e18, 0.1e18, 60000e18);
        assertApproxEqRel(feed.totalVariance(WBTC, e, 90000e18), 22043780334033221, 1e6);
        assertApproxEqRel(feed.impliedVol(WBTC, e, 90000e18), 1072112722080107581, 1e6);
        // 3) a=-.002 b=.05 rho=.5 m=-.1 s=.3 F=K=3000 τ=90 d → w=0.016311388300841896, vol=0.257199808402539926
        e = T0 + 90 days;
        _set(WETH, e, -0.002e18, 0.05e18, 0.5e18, -0.1e18, 0.3e18, 3000e18);
        assertApproxEqRel(feed.totalVariance(WETH, e, 3000e18), 16311388300841896, 1e6);
        assertApproxEqRel(feed.impliedVol(WETH, e, 3000e18), 257199808402539926, 1e6);
        // 4) a=.02 b=.25 rho=-.4 m=.02 s=.15 F=3000 K=6000 τ=1 d → w=0.125099595208559365, vol=6.757318421616978121
        e = T0 + 1 days;
        _set(WETH, e, 0.02e18, 0.25e18, -0.4e18, 0.02e18, 0.15e18, 3000e18);
        assertApproxEqRel(feed.totalVariance(WETH, e, 6000e18), 125099595208559365, 1e6);
        assertApproxEqRel(feed.impliedVol(WETH, e, 6000e18), 6757318421616978121, 1e6);
        // 5) a=.03 b=.3 rho=.2 m=-.05 s=.25 F=3000 K=1500 τ=14 d → w=0.198419494186433865, vol=2.274440517986917418
        e = T0 + 14 days;
        _set(WETH, e, 0.03e18, 0.3e18, 0.2e18, -0.05e18, 0.25e18, 3000e18);
        assertApproxEqRel(feed.totalVariance(WETH, e, 1500e18), 198419494186433865, 1e6);
        assertApproxEqRel(feed.impliedVol(WETH, e, 1500e18), 2274440517986917418, 1e6);
    }

    function test_impliedVolUsesRemainingTimeAndRevertsAtExpiry() public {
        uint64 e = T0 + 30 days;
        _set(WETH, e, 0.04e18, 0.4e18, -0.3e18, 0, 0.2e18, 3000e18);
        uint256 v30 = feed.impliedVol(WETH, e, 2700e18);
        vm.warp(T0 + 15 days + 15 days / 2); // τ = 7.5 d = 30 d / 4 → vol doubles
        assertApproxEqRel(feed.impliedVol(WETH, e, 2700e18), 2 * v30, 1e6);
        vm.warp(e);
        vm.expectRevert(SviZeroTau.selector);
        feed.impliedVol(WETH, e, 2700e18);
    }

    /// forge-config: default.fuzz.runs = 200
    function testFuzz_varianceNeverBelowSliceMinimum(int64 kRaw, uint32 rhoRaw, uint32 sigmaRaw) public pure {
        int256 k = int256(kRaw) % 3e18; // |k| < 3
        int256 rho = int256(uint256(rhoRaw) % 1.98e18) - 0.99e18;
        int256 sigma = int256(uint256(sigmaRaw) % 1e18) + 1e15;
        int256 a = 0.01e18;
        int256 b = 0.3e18;
        int256 minVar = SviMath.minVariance(a, b, rho, sigma);
        uint256 w = SviMath.totalVariance(a, b, rho, 0, sigma, k);
        assertGe(int256(w) + 2, minVar); // 2 wei of rounding slack
    }
}
