// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {FixedPointMathLib as FPM} from "solady/utils/FixedPointMathLib.sol";

/// @title Black76
/// @notice Undiscounted Black-76 prices and forward deltas of European options, 1e18 fixed point.
/// @dev Follows the Black-76 formula used by Lyra v1/v2 (`BlackScholes` with r = 0 on a forward):
///        call = F·N(d1) − K·N(d2),  put = K·N(−d2) − F·N(−d1),
///        d1 = ln(F/K)/(σ√τ) + σ√τ/2,  d2 = d1 − σ√τ.
///      Deviation: the rate is 0 on-chain (prices are on the forward and are NOT discounted); callers that
///      need a discount factor apply it themselves.
///
///      Units: forward, strike and prices 1e18 USD; tau in years (1e18 = 365 days); vol 1e18 = 100 %;
///      deltas 1e18 (call in [0, 1e18], put in [−1e18, 0]), taken w.r.t. the forward.
///      Domain (else `Black76InputOutOfRange`): forward, strike ≤ 1e36 (1e18 USD); tau ≤ 100 years; vol ≤ 1000 %.
///
///      Normal CDF (method and error bound). For z ≥ 0 the upper tail Q(z) = 1 − N(z) is written as
///        Q(z) = t · exp(−z²/2 + g(t)),  t = 3/(3 + z),
///      where g is smooth on t ∈ [3/16, 1] (z ∈ [0, 13]) and is evaluated as a degree-24 Chebyshev series
///      (Clenshaw recurrence, 1e36 fixed point). The coefficients were fitted with mpmath at 60 digits
///      (regenerate: contracts/test/lib/gen_black76.py coefs);
///      the fit error of g is ≤ 2.9e-19 (absolute in the exponent, i.e. relative in Q). The exponential is
///      solady's `expWad` evaluated at the argument shifted by ln(1e18) so its result lands in 1e36 scale
///      (relative error ~1e-18 instead of 1 wei absolute). Measured against mpmath at 1500 points of [−13, 13]:
///      |error of N| ≤ 7.6e-19 absolute (far inside the 1e-12 required), relative error of the smaller tail
///      ≤ 1.7e-18 wherever it is ≥ 1e-18, and ≤ ~1 unit of 1e-36 below that. For z > 13, Q < 1.2e-38
///      is returned as 0. N(x) for x < 0 is Q(|x|) computed directly (no 1 − N cancellation).
///
///      Rounding (documented contract): the out-of-the-money option is computed from the formula with one
///      floor division (F·N1 − K·N2)/1e36, clamped at 0; the in-the-money one is derived from it by put-call
///      parity with exact integer arithmetic, so call − put == F − K holds EXACTLY and 0 ≤ call ≤ F,
///      0 ≤ put ≤ K. Inputs d1/d2 carry ~2e-18/(σ√τ) absolute error from lnWad. Measured against mpmath on
///      2000 pseudo-random devnet-range inputs (F 100–100k, K 0.5–2·F, τ 1 d–1 y, σ 20–200 %): relative error
///      ≤ 1.5e-15 for prices ≥ 1e-3 USD and < 1 wei absolute for smaller ones; the forge test asserts the
///      looser contract ≤ 1e-9 relative + 10 wei. Gas: ~12.7k per price, ~3.2k per cdf36 (optimizer 200).
///      At σ√τ == 0 (tau or vol zero) prices are intrinsic and the call delta is 1, 0.5 or 0 (F >, =, < K).
library Black76 {
    error Black76InputOutOfRange(uint256 forward, uint256 strike, uint256 tau, uint256 vol);

    uint256 internal constant WAD = 1e18;
    uint256 internal constant ONE36 = 1e36;
    uint256 internal constant MAX_PRICE = 1e36;
    uint256 internal constant MAX_TAU = 100e18;
    uint256 internal constant MAX_VOL = 10e18;
    /// @dev Beyond this |x| (wad) the tail Q is below 1.2e-38 and is returned as 0.
    int256 internal constant Z_MAX = 13e18;
    /// @dev ln(1e18) in wad: shifts expWad's output from 1e18 to 1e36 scale.
    int256 internal constant LN_1E18 = 41446531673892822312;

    /// @notice Black-76 price (1e18 USD) of a European call or put, undiscounted.
    function price(bool isCall, uint256 forward, uint256 strike, uint256 tau, uint256 vol)
        internal
        pure
        returns (uint256)
    {
        (uint256 c, uint256 p,) = _callPutDelta(forward, strike, tau, vol);
        return isCall ? c : p;
    }

    /// @notice Black-76 price and forward delta (1e18; call in [0, 1e18], put in [−1e18, 0]).
    function priceAndDelta(bool isCall, uint256 forward, uint256 strike, uint256 tau, uint256 vol)
        internal
        pure
        returns (uint256 optionPrice, int256 delta)
    {
        (uint256 c, uint256 p, int256 callDelta) = _callPutDelta(forward, strike, tau, vol);
        if (isCall) return (c, callDelta);
        return (p, callDelta - int256(WAD));
    }

    /// @notice Standard normal CDF N(x), x and result in wad (rounded down).
    function normCdf(int256 x) internal pure returns (uint256) {
        return cdf36(x) / WAD;
    }

    /// @notice Standard normal CDF N(x) with x in wad and the result in 1e36 scale (see the header for accuracy).
    function cdf36(int256 x) internal pure returns (uint256) {
        if (x >= 0) return ONE36 - upperTail36(uint256(x));
        return upperTail36(uint256(-x));
    }

    /// @notice Q(z) = 1 − N(z) for z ≥ 0 (wad), result in 1e36 scale; 0 for z > 13.
    function upperTail36(uint256 z) internal pure returns (uint256) {
        if (z > uint256(Z_MAX)) return 0;
        // t = 3/(3+z) in 1e36; y = (32·t − 19)/13 maps t ∈ [3/16, 1] onto [−1, 1].
        int256 t = int256(3e54 / (3e18 + z));
        int256 y = (32 * t - 19e36) / 13;
        int256 g = _chebyshev(y); // 1e36
        int256 zz = int256(z);
        int256 expo = g / 1e18 - (zz * zz) / 2e18 + LN_1E18; // wad
        uint256 e = uint256(FPM.expWad(expo)); // = (Q/t)·1e36
        uint256 q = (e * uint256(t)) / ONE36;
        return q > ONE36 / 2 ? ONE36 / 2 : q;
    }

    /// @dev Returns (call, put, callDelta). Put-call parity is exact: call − put == F − K.
    function _callPutDelta(uint256 forward, uint256 strike, uint256 tau, uint256 vol)
        private
        pure
        returns (uint256 c, uint256 p, int256 callDelta)
    {
        if (forward > MAX_PRICE || strike > MAX_PRICE || tau > MAX_TAU || vol > MAX_VOL) {
            revert Black76InputOutOfRange(forward, strike, tau, vol);
        }
        if (strike == 0) return (forward, 0, int256(WAD));
        if (forward == 0) return (0, strike, 0);
        uint256 s = FPM.mulWad(vol, FPM.sqrtWad(tau)); // σ√τ, wad
        if (s == 0) {
            if (forward > strike) return (forward - strike, 0, int256(WAD));
            if (forward < strike) return (0, strike - forward, 0);
            return (0, 0, int256(WAD / 2));
        }
        int256 lnFK = FPM.lnWad(int256(forward)) - FPM.lnWad(int256(strike));
        int256 d1 = (lnFK * 1e18) / int256(s) + int256(s / 2);
        int256 d2 = d1 - int256(s);
        if (forward < strike) {
            // Out-of-the-money call from the formula; put by parity.
            uint256 a = forward * cdf36(d1);
            uint256 b = strike * cdf36(d2);
            c = a > b ? (a - b) / ONE36 : 0;
            p = c + (strike - forward);
        } else {
            // Out-of-the-money (or at-the-money) put from the formula; call by parity.
            uint256 a = strike * cdf36(-d2);
            uint256 b = forward * cdf36(-d1);
            p = a > b ? (a - b) / ONE36 : 0;
            c = p + (forward - strike);
        }
        callDelta = int256(WAD) - int256(cdf36(-d1) / WAD);
    }

    /// @dev Clenshaw evaluation of Σ c_j T_j(y) (degree 24, unrolled), y and result in 1e36 scale.
    ///      |y| ≤ 1e36 and |b| < 1e38, so every product stays far below 2^255 (unchecked is safe).
    function _chebyshev(int256 y) private pure returns (int256) {
        unchecked {
            int256 y2 = 2 * y;
            int256 b2 = -4296141668209299145;
            int256 b1 = (y2 * b2) / 1e36 + (10548649618187840536);
            int256 b0;
            b0 = (y2 * b1) / 1e36 - b2 + (108320446454200459655);
            (b2, b1) = (b1, b0);
            b0 = (y2 * b1) / 1e36 - b2 + (-750751980367708297268);
            (b2, b1) = (b1, b0);
            b0 = (y2 * b1) / 1e36 - b2 + (-469800665182544081372);
            (b2, b1) = (b1, b0);
            b0 = (y2 * b1) / 1e36 - b2 + (22662564768971413661509);
            (b2, b1) = (b1, b0);
            b0 = (y2 * b1) / 1e36 - b2 + (-62740932421551690921584);
            (b2, b1) = (b1, b0);
            b0 = (y2 * b1) / 1e36 - b2 + (-390218772470583996467796);
            (b2, b1) = (b1, b0);
            b0 = (y2 * b1) / 1e36 - b2 + (2781764716013312088148098);
            (b2, b1) = (b1, b0);
            b0 = (y2 * b1) / 1e36 - b2 + (1623634137811086336268111);
            (b2, b1) = (b1, b0);
            b0 = (y2 * b1) / 1e36 - b2 + (-72908498905637308796239117);
            (b2, b1) = (b1, b0);
            b0 = (y2 * b1) / 1e36 - b2 + (153541648157422392682922031);
            (b2, b1) = (b1, b0);
            b0 = (y2 * b1) / 1e36 - b2 + (1383827042625941439730741736);
            (b2, b1) = (b1, b0);
            b0 = (y2 * b1) / 1e36 - b2 + (-7018875991741018426739278714);
            (b2, b1) = (b1, b0);
            b0 = (y2 * b1) / 1e36 - b2 + (-18203231876661681289700617673);
            (b2, b1) = (b1, b0);
            b0 = (y2 * b1) / 1e36 - b2 + (211786982669852485497327411221);
            (b2, b1) = (b1, b0);
            b0 = (y2 * b1) / 1e36 - b2 + (57946820589971199635626602847);
            (b2, b1) = (b1, b0);
            b0 = (y2 * b1) / 1e36 - b2 + (-5640529702676730839675489117284);
            (b2, b1) = (b1, b0);
            b0 = (y2 * b1) / 1e36 - b2 + (6801672267070646980886334850645);
            (b2, b1) = (b1, b0);
            b0 = (y2 * b1) / 1e36 - b2 + (157336998387074288267985514769683);
            (b2, b1) = (b1, b0);
            b0 = (y2 * b1) / 1e36 - b2 + (-353657795496197712467280250673728);
            (b2, b1) = (b1, b0);
            b0 = (y2 * b1) / 1e36 - b2 + (-5883169960886560969066596741039524);
            (b2, b1) = (b1, b0);
            b0 = (y2 * b1) / 1e36 - b2 + (13457277754308980350298344056213495);
            (b2, b1) = (b1, b0);
            b0 = (y2 * b1) / 1e36 - b2 + (567029447014749904487505643006925265);
            (b2, b1) = (b1, b0);
            return (y * b1) / 1e36 - b2 + (-1267555821693702483098024210134710729);
        }
    }
}
