// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {FixedPointMathLib as FPM} from "solady/utils/FixedPointMathLib.sol";

/// @title NakedMargin
/// @notice Pure formulas of VaultOptions (Opyn Gamma naked margin, cash-settled in USDC). Prices, strikes and
///         the upper bound UB are 1e18 fixed point; results are USD per option, 1e18.
/// @dev Rounding: every step of a *requirement* rounds in the direction that raises the requirement; every step
///      of a *payout* (auction price, settlement payoff to holders) rounds down. The Python risk core mirrors these
///      formulas in float64 and matches them to ~1e-9 relative.
library NakedMargin {
    /// @notice Opyn spot shock s: puts are margined at s·S, calls at S/s.
    uint256 internal constant SPOT_SHOCK = 0.75e18;
    /// @notice Opyn oracle deviation: the auction starts at cash value − 5 %·S.
    uint256 internal constant ORACLE_DEVIATION = 0.05e18;
    /// @notice Opyn auction length: the price reaches collateral/short after one hour.
    uint256 internal constant AUCTION_TIME = 3600;

    /// @notice Naked-margin requirement per short option (1e18 USD).
    /// @dev put:  UB·min(K, s·S) + max(K − s·S, 0), with s·S rounded down (the put requirement falls with s·S);
    ///      call: UB·min(K, S/s) + max(S/s − K, 0), with S/s rounded up (the call requirement rises with S/s);
    ///      UB·min(·) rounded up.
    function perOption(bool isPut, uint256 strike, uint256 spot, uint256 ub) internal pure returns (uint256) {
        if (isPut) {
            uint256 shocked = FPM.mulWad(spot, SPOT_SHOCK);
            return FPM.mulWadUp(ub, FPM.min(strike, shocked)) + FPM.zeroFloorSub(strike, shocked);
        }
        uint256 up = FPM.divWadUp(spot, SPOT_SHOCK);
        return FPM.mulWadUp(ub, FPM.min(strike, up)) + FPM.zeroFloorSub(up, strike);
    }

    /// @notice Intrinsic (cash) value per option at `price`: put max(K − P, 0), call max(P − K, 0).
    function cashValue(bool isPut, uint256 strike, uint256 price) internal pure returns (uint256) {
        return isPut ? FPM.zeroFloorSub(strike, price) : FPM.zeroFloorSub(price, strike);
    }

    /// @notice Dutch-auction price per option paid to a liquidator (1e18 USD), rounded down.
    /// @dev start = max(cash − 5 %·P, 0) (the 5 % deduction rounded up), end = collateral/short per option;
    ///      price = start + (end − start)·elapsed/3600, = end once elapsed >= 3600 s or when start >= end
    ///      (Opyn caps the interpolated price at the end price, which gives the same result).
    /// @param cash cash value per option at the round price P
    /// @param spot the round price P (1e18)
    /// @param endPrice collateral per short option (1e18 USD)
    /// @param elapsed seconds since the round that made the vault unsafe
    function auctionPrice(uint256 cash, uint256 spot, uint256 endPrice, uint256 elapsed)
        internal
        pure
        returns (uint256)
    {
        uint256 start = FPM.zeroFloorSub(cash, FPM.mulWadUp(spot, ORACLE_DEVIATION));
        if (elapsed >= AUCTION_TIME || start >= endPrice) return endPrice;
        return start + (endPrice - start) * elapsed / AUCTION_TIME;
    }
}
