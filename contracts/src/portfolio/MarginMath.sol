// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title MarginMath
/// @notice Pure formulas of the Lyra v2 StandardManager margin and DutchAuction, 1e18 fixed point, signed
///         (a value ≤ 0 is a requirement). The Python risk core mirrors exactly these formulas.
/// @dev Rounding: every signed product `mulDown` rounds toward −∞, so requirements (negative values) round
///      up in magnitude and credits round down. `mulUp` (toward +∞) is used for prices a bidder pays.
library MarginMath {
    int256 internal constant WAD = 1e18;

    // Lyra v2 StandardManager mainnet parameters.
    int256 internal constant SHORT_CALL_SPOT = 0.09e18; // short call: a·mark + 0.09·S·a
    int256 internal constant SHORT_PUT_SPOT = 0.09e18; // short put: a·mark + min(0.09·S·a, 0.09·a·mark)
    int256 internal constant SHORT_PUT_MARK = 0.09e18;
    int256 internal constant UNPAIRED_SCALE = 1.1e18; // net short calls: + 1.1·F·netCalls

    // Lyra v2 DutchAuction mainnet parameters.
    uint256 internal constant START_DISCOUNT = 0.95e18;
    uint256 internal constant FAST_END_DISCOUNT = 0.7e18;
    uint256 internal constant FAST_LENGTH = 15 minutes;
    uint256 internal constant SLOW_LENGTH = 12 hours;
    int256 internal constant BUFFER_RATIO = 0.15e18; // BM = MM + 0.15·(MM − MtM)
    uint256 internal constant INSOLVENT_LENGTH = 60 minutes;

    /// @notice x·y/1e18 rounded toward −∞.
    function mulDown(int256 x, int256 y) internal pure returns (int256 z) {
        int256 p = x * y;
        z = p / WAD;
        if (p % WAD != 0 && p < 0) z -= 1;
    }

    /// @notice x·y/1e18 rounded toward +∞.
    function mulUp(int256 x, int256 y) internal pure returns (int256 z) {
        int256 p = x * y;
        z = p / WAD;
        if (p % WAD != 0 && p > 0) z += 1;
    }

    /// @notice Isolated maintenance margin of one position (≤ 0; longs contribute 0).
    /// @param amount signed contracts (1e18), mark Black-76 mark (1e18 USD), spot S (1e18 USD).
    function isolatedMargin(int256 amount, bool isCall, uint256 mark, uint256 spot) internal pure returns (int256) {
        if (amount >= 0) return 0;
        int256 premium = mulDown(amount, int256(mark));
        int256 spotTerm = mulDown(amount, mulDown(int256(spot), SHORT_CALL_SPOT));
        if (isCall) return premium + spotTerm;
        int256 markTerm = mulDown(amount, mulDown(int256(mark), SHORT_PUT_MARK));
        return premium + (spotTerm < markTerm ? spotTerm : markTerm);
    }

    /// @notice Payoff per contract at settlement price `price` (1e18 USD).
    function payoff(bool isCall, uint256 strike, uint256 price) internal pure returns (uint256) {
        if (isCall) return price > strike ? price - strike : 0;
        return strike > price ? strike - price : 0;
    }

    /// @notice Max loss of one expiry: min over settlement prices {0} ∪ strikes of min(Σ a·payoff, 0),
    ///         plus 1.1·F·netCalls when the net call amount is negative (unbounded upside loss).
    function maxLoss(int256[] memory amounts, uint256[] memory strikes, bool[] memory isCall, uint256 forward)
        internal
        pure
        returns (int256 worst)
    {
        uint256 n = amounts.length;
        int256 netCalls;
        for (uint256 i; i <= n; ++i) {
            uint256 price = i == n ? 0 : strikes[i];
            int256 sum;
            for (uint256 j; j < n; ++j) {
                sum += mulDown(amounts[j], int256(payoff(isCall[j], strikes[j], price)));
            }
            if (sum < worst) worst = sum;
            if (i < n && isCall[i]) netCalls += amounts[i];
        }
        if (netCalls < 0) worst += mulDown(mulDown(netCalls, int256(forward)), UNPAIRED_SCALE);
    }

    /// @notice Solvent-auction discount (1e18) after `elapsed` seconds: 0.95 → 0.70 over 15 min, → 0 over 12 h.
    function discount(uint256 elapsed) internal pure returns (uint256) {
        if (elapsed < FAST_LENGTH) {
            return START_DISCOUNT - (START_DISCOUNT - FAST_END_DISCOUNT) * elapsed / FAST_LENGTH;
        }
        elapsed -= FAST_LENGTH;
        if (elapsed >= SLOW_LENGTH) return 0;
        return FAST_END_DISCOUNT - FAST_END_DISCOUNT * elapsed / SLOW_LENGTH;
    }

    /// @notice Buffer margin BM = MM + 0.15·(MM − MtM).
    function bufferMargin(int256 mm, int256 mtm) internal pure returns (int256) {
        return mm + mulDown(mm - mtm, BUFFER_RATIO);
    }

    /// @notice Largest fraction (1e18) a solvent bid may take: f = BM / (BM − MtM·d), capped to [0, 1].
    /// @dev After taking p of positions and cash and paying p·MtM·d in, BM' = (1 − p)·BM + p·MtM·d; f solves BM' = 0.
    function maxSolventFraction(int256 bm, int256 mtm, uint256 d) internal pure returns (uint256) {
        if (bm >= 0) return 0;
        int256 denom = bm - mulDown(mtm, int256(d));
        if (denom >= 0) return uint256(WAD);
        uint256 f = uint256((bm * WAD) / denom);
        return f > uint256(WAD) ? uint256(WAD) : f;
    }

    /// @notice Price a solvent bidder pays for `fraction`: p·MtM·d, rounded up.
    function solventBidPrice(uint256 fraction, int256 mtm, uint256 d) internal pure returns (uint256) {
        int256 v = mulUp(mulUp(mtm, int256(d)), int256(fraction));
        return v > 0 ? uint256(v) : 0;
    }

    /// @notice Security-module payout for an insolvent bid of `fraction` after `elapsed` seconds:
    ///         p·(|MtM| + (|MM| − |MtM|)·min(t, 60 min)/60 min), rounded down.
    function insolventPayout(uint256 fraction, int256 mm, int256 mtm, uint256 elapsed) internal pure returns (uint256) {
        uint256 absMm = mm < 0 ? uint256(-mm) : uint256(mm);
        uint256 absMtm = mtm < 0 ? uint256(-mtm) : uint256(mtm);
        uint256 t = elapsed < INSOLVENT_LENGTH ? elapsed : INSOLVENT_LENGTH;
        uint256 extra = absMm > absMtm ? (absMm - absMtm) * t / INSOLVENT_LENGTH : 0;
        return (absMtm + extra) * fraction / uint256(WAD);
    }
}
