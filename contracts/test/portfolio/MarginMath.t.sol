// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";
import {MarginMath} from "../../src/portfolio/MarginMath.sol";

/// @notice Hand-computed checks of the pure StandardManager / DutchAuction formulas.
contract MarginMathTest is Test {
    function test_isolatedTerms() public pure {
        // Short 2 calls, mark 100, S 2000: −200 − 0.09·2000·2 = −560.
        assertEq(MarginMath.isolatedMargin(-2e18, true, 100e18, 2000e18), -560e18);
        // Short put, mark 100, S 2000: −100 + min(−180, −9) = −280.
        assertEq(MarginMath.isolatedMargin(-1e18, false, 100e18, 2000e18), -280e18);
        // Long: 0.
        assertEq(MarginMath.isolatedMargin(5e18, true, 100e18, 2000e18), 0);
    }

    function test_maxLossHandComputed() public pure {
        int256[] memory amt = new int256[](3);
        uint256[] memory k = new uint256[](3);
        bool[] memory c = new bool[](3);
        // Short C1000 ×2, long C1100 ×1, long P900 ×1; F = 1000.
        (amt[0], k[0], c[0]) = (-2e18, 1000e18, true);
        (amt[1], k[1], c[1]) = (1e18, 1100e18, true);
        (amt[2], k[2], c[2]) = (1e18, 900e18, false);
        // payoffs: p=1000: 0; p=1100: −200; p=900: 0 (+0 put); p=0: +900 → min −200; netCalls −1 → −1.1·1000.
        assertEq(MarginMath.maxLoss(amt, k, c, 1000e18), -200e18 - 1100e18);
        // Only longs: no loss.
        amt[0] = 1e18;
        assertEq(MarginMath.maxLoss(amt, k, c, 1000e18), 0);
        // Short put alone loses K at p = 0.
        int256[] memory a1 = new int256[](1);
        uint256[] memory k1 = new uint256[](1);
        bool[] memory c1 = new bool[](1);
        (a1[0], k1[0], c1[0]) = (-3e18, 800e18, false);
        assertEq(MarginMath.maxLoss(a1, k1, c1, 1000e18), -2400e18);
    }

    function test_discountAndPayout() public pure {
        assertEq(MarginMath.discount(0), 0.95e18);
        assertEq(MarginMath.discount(450), 0.825e18);
        assertEq(MarginMath.discount(900), 0.7e18);
        assertEq(MarginMath.discount(900 + 21600), 0.35e18);
        assertEq(MarginMath.discount(900 + 43200), 0);
        // |MM| = 300, |MtM| = 100, p = 0.5.
        assertEq(MarginMath.insolventPayout(0.5e18, -300e18, -100e18, 0), 50e18);
        assertEq(MarginMath.insolventPayout(0.5e18, -300e18, -100e18, 1800), 100e18);
        assertEq(MarginMath.insolventPayout(0.5e18, -300e18, -100e18, 3600), 150e18);
        assertEq(MarginMath.insolventPayout(0.5e18, -300e18, -100e18, 5400), 150e18);
        assertEq(MarginMath.bufferMargin(-100e18, 200e18), -100e18 - 45e18);
    }

    function test_roundingDirections() public pure {
        assertEq(MarginMath.mulDown(-1, 1), -1, "toward -inf");
        assertEq(MarginMath.mulDown(1, 1), 0);
        assertEq(MarginMath.mulUp(1, 1), 1, "toward +inf");
        assertEq(MarginMath.mulUp(-1, 1), 0);
    }

    /// forge-config: default.fuzz.runs = 300
    function testFuzz_maxFractionRestoresBuffer(int256 bm, int256 mtm, uint256 d) public pure {
        bm = bound(bm, -1e27, -1e12);
        mtm = bound(mtm, 1e12, 1e27);
        d = bound(d, 0, 0.95e18);
        uint256 f = MarginMath.maxSolventFraction(bm, mtm, d);
        assertLe(f, 1e18);
        // BM' = (1 − f)·BM + f·MtM·d ≈ 0
        int256 after_ = bm - bm * int256(f) / 1e18 + int256(f) * (mtm * int256(d) / 1e18) / 1e18;
        assertApproxEqAbs(after_, 0, uint256(-bm) / 1e15 + 1e9);
        assertLe(after_, 1e9, "never overshoots beyond rounding");
    }
}
