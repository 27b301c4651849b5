// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title AmmPricing
/// @notice The OptionAMM's trade-vol rule as a pure function, so it can be unit-tested and mirrored exactly
///         by the Python risk core. All values 1e18 fixed point; every division rounds down.
///
///         iv_mid   = iv_svi · (1 + kInv · OI' / cap)
///         spread   = spreadBase + spreadSlope · u'
///         iv_buy   = iv_mid + spread
///         iv_sell  = max(iv_mid − spread, minVol)
///
///         OI' is the traders' open interest in the series AFTER the trade (the pool is short OI'), cap the
///         per-series exposure cap, u' the pool utilisation AFTER the trade (see OptionAMM.utilisation).
///         Evaluated in integers as: mid = ivSvi·(1e18 + kInv·OI'/cap)/1e18, spread = base + slope·u'/1e18.
library AmmPricing {
    uint256 private constant WAD = 1e18;

    /// @notice Trade implied vol for a buy (`isBuy`) or sell of the series, per the formula above.
    function tradeVol(
        uint256 ivSvi,
        uint256 oiAfter,
        uint256 cap,
        uint256 kInv,
        uint256 spreadBase,
        uint256 spreadSlope,
        uint256 utilisationAfter,
        uint256 minVol,
        bool isBuy
    ) internal pure returns (uint256) {
        uint256 mid = ivSvi * (WAD + kInv * oiAfter / cap) / WAD;
        uint256 spread = spreadBase + spreadSlope * utilisationAfter / WAD;
        if (isBuy) return mid + spread;
        return mid > spread + minVol ? mid - spread : minVol;
    }

    /// @notice a/b in 1e18, rounded down; 0/0 = 0 and x/0 = type(uint256).max (fully utilised, no assets).
    function ratio(uint256 a, uint256 b) internal pure returns (uint256) {
        if (b == 0) return a == 0 ? 0 : type(uint256).max;
        return a * WAD / b;
    }
}
