// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {FixedPointMathLib as FPM} from "solady/utils/FixedPointMathLib.sol";

/// @title AmmGreeks
/// @notice Black-76 gamma and vega (undiscounted, on the forward) for the OptionAMM's `netGreeks()` view.
///         Prices and deltas come from `lib/Black76.sol`; this library only adds the two second-order
///         sensitivities that Black76 does not expose, from the same d1:
///           d1 = ln(F/K)/(σ√τ) + σ√τ/2,  φ(x) = exp(−x²/2)/√(2π)
///           gamma = φ(d1) / (F·σ√τ)     (1e18 = one unit of delta per 1 USD move of F, per 1 contract)
///           vega  = F·φ(d1)·√τ          (1e18 USD per 1.00 (=100 vol points) change of σ, per 1 contract)
///         Both are 0 when σ√τ == 0 (expired or zero vol). Rounded down at each step; relative error ~1e-15.
library AmmGreeks {
    uint256 private constant WAD = 1e18;
    /// @dev √(2π) in wad.
    uint256 private constant SQRT_2PI = 2506628274631000502;

    /// @notice (gamma, vega) of one contract; forward and strike 1e18 USD, tau in years (1e18), vol 1e18.
    function gammaVega(uint256 forward, uint256 strike, uint256 tau, uint256 vol)
        internal
        pure
        returns (uint256 gamma, uint256 vega)
    {
        if (tau == 0 || vol == 0 || forward == 0 || strike == 0) return (0, 0);
        uint256 sqrtTau = FPM.sqrtWad(tau);
        uint256 sst = FPM.mulWad(vol, sqrtTau);
        if (sst == 0) return (0, 0);
        int256 lnFk = FPM.lnWad(int256(FPM.divWad(forward, strike)));
        int256 d1 = (lnFk * int256(WAD)) / int256(sst) + int256(sst / 2);
        // φ(d1) = exp(−d1²/2) / √(2π); expWad returns 0 below ≈ −41.4, which is the right limit here.
        int256 half = (d1 * d1) / int256(2 * WAD);
        uint256 pdf = FPM.divWad(uint256(FPM.expWad(-half)), SQRT_2PI);
        gamma = FPM.divWad(FPM.divWad(pdf, forward), sst);
        vega = FPM.mulWad(FPM.mulWad(forward, pdf), sqrtTau);
    }
}
