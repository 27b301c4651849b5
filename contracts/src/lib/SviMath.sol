// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {FixedPointMathLib as FPM} from "solady/utils/FixedPointMathLib.sol";

/// @notice b < 0 (raw-SVI requires b >= 0).
error SviBNegative(int256 b);
/// @notice |rho| >= 1 (raw-SVI requires -1 < rho < 1).
error SviRhoOutOfRange(int256 rho);
/// @notice sigma <= 0 (raw-SVI requires sigma > 0).
error SviSigmaNotPositive(int256 sigma);
/// @notice a + b·sigma·sqrt(1 − rho²) < 0: the slice's minimum total variance would be negative.
error SviMinVarianceNegative(int256 minVariance);
/// @notice strike or forward is zero (k = ln(K/F) undefined).
error SviZeroPrice(uint256 strike, uint256 forward);
/// @notice time to expiry is zero (vol = sqrt(w/τ) undefined).
error SviZeroTau();

/// @title SviMath
/// @notice Raw-SVI total variance and implied vol in 1e18 fixed point (convention of IVolFeed.sol):
///         w(k) = a + b·(rho·(k − m) + sqrt((k − m)² + sigma²)), k = ln(K/F), vol = sqrt(w / τ), τ in years of
///         365 days. All parameters, k, w and vol are 1e18-scaled.
/// @dev Precision (why each step is written this way): k uses solady lnWad on K·1e18/F (error ~1e-18 absolute);
///      the square root sqrt((k−m)² + sigma²) is taken on the exact 1e36-scaled integer so it loses nothing
///      to an intermediate wad rounding; vol = isqrt(w·YEAR·1e18/τ_seconds) keeps ~1e-18 absolute error. The result
///      agrees with a float64 evaluation to ~1e-12 relative over devnet ranges (tested against mpmath values).
///      A w that rounds below zero (only possible at the exact validity boundary) is clamped to 0.
library SviMath {
    int256 internal constant WAD = 1e18;
    uint256 internal constant YEAR = 365 days;

    /// @notice Reverts with the error naming the first violated raw-SVI validity condition.
    function validate(int256 a, int256 b, int256 rho, int256 sigma) internal pure {
        if (b < 0) revert SviBNegative(b);
        if (rho <= -WAD || rho >= WAD) revert SviRhoOutOfRange(rho);
        if (sigma <= 0) revert SviSigmaNotPositive(sigma);
        int256 minVar = minVariance(a, b, rho, sigma);
        if (minVar < 0) revert SviMinVarianceNegative(minVar);
    }

    /// @notice a + b·sigma·sqrt(1 − rho²), the minimum of w over k (1e18). Assumes |rho| < 1, b, sigma >= 0.
    function minVariance(int256 a, int256 b, int256 rho, int256 sigma) internal pure returns (int256) {
        // sqrt(1e36 − rho²) is sqrt(1 − rho²) in wad.
        int256 sq = int256(FPM.sqrt(uint256(WAD * WAD - rho * rho)));
        return a + FPM.sMulWad(FPM.sMulWad(b, sigma), sq);
    }

    /// @notice Log-moneyness k = ln(strike / forward) in wad; strike and forward in any common 1e18 unit.
    function logMoneyness(uint256 strike, uint256 forward) internal pure returns (int256) {
        if (strike == 0 || forward == 0) revert SviZeroPrice(strike, forward);
        return FPM.lnWad(int256(FPM.mulDiv(strike, 1e18, forward)));
    }

    /// @notice Total variance w(k) (wad), clamped at 0.
    function totalVariance(int256 a, int256 b, int256 rho, int256 m, int256 sigma, int256 k)
        internal
        pure
        returns (uint256)
    {
        int256 d = k - m;
        // sqrt of the 1e36-scaled sum gives the wad-scaled root exactly (rounded down once).
        int256 root = int256(FPM.sqrt(uint256(d * d + sigma * sigma)));
        int256 w = a + FPM.sMulWad(b, FPM.sMulWad(rho, d) + root);
        return w < 0 ? 0 : uint256(w);
    }

    /// @notice Implied vol (wad, 1e18 = 100 %) from total variance `w` (wad) and time to expiry in seconds.
    function volFromVariance(uint256 w, uint256 tauSeconds) internal pure returns (uint256) {
        if (tauSeconds == 0) revert SviZeroTau();
        // vol² (wad) = w·YEAR/τ; isqrt(vol²·1e18) is vol in wad.
        return FPM.sqrt(FPM.mulDiv(w * YEAR, 1e18, tauSeconds));
    }

    /// @notice Implied vol (wad) of a raw-SVI slice at `strike` for a forward `forward` and `tauSeconds` to expiry.
    function impliedVol(
        int256 a,
        int256 b,
        int256 rho,
        int256 m,
        int256 sigma,
        uint256 forward,
        uint256 strike,
        uint256 tauSeconds
    ) internal pure returns (uint256) {
        int256 k = logMoneyness(strike, forward);
        return volFromVariance(totalVariance(a, b, rho, m, sigma, k), tauSeconds);
    }
}
