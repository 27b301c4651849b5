// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {PortfolioAccounts} from "./PortfolioAccounts.sol";
import {MarginMath} from "./MarginMath.sol";
import {Black76} from "../lib/Black76.sol";

/// @title MarginEngine
/// @notice Lyra v2 StandardManager maintenance margin and mark-to-market of a subaccount.
/// @dev MM = cash + Σ_expiry max(Σ isolated, maxLoss); MtM = cash + Σ a·mark (see MarginMath for the terms).
///      Marks: Black-76 (undiscounted) at the SVI slice's forward and `impliedVol(underlying, expiry, strike)`,
///      tau = (expiry − now) / 365 days in 1e18. Spot from the underlying's AggregatorV3 feed.
///      Expired, unsettled series are valued at intrinsic against the stored settlement price (or the current
///      spot if none was fixed yet) in both MM and MtM, with no extra requirement.
abstract contract MarginEngine is PortfolioAccounts {
    uint256 internal constant YEAR = 365 days;

    /// @dev One position loaded into memory for evaluation.
    struct Pos {
        address underlying;
        uint64 expiry;
        bool isCall;
        uint256 strike;
        int256 amount;
    }

    /// @notice Maintenance margin and mark-to-market of `accountId`, both signed 1e18 USD.
    /// @dev Cash is stored in 1e18 USD (USDC 6-decimal amounts × 1e12), so no conversion happens here.
    function getMarginAndMarkToMarket(uint256 accountId) public view returns (int256 mm, int256 mtm) {
        _requireAccount(accountId);
        return _margin(accountId);
    }

    /// @notice Black-76 mark (1e18 USD per contract) of a live series at the current feeds.
    function markOf(uint256 seriesId) external view returns (uint256) {
        Series memory s = getSeries(seriesId);
        if (s.expiry <= block.timestamp) {
            return MarginMath.payoff(s.isCall, s.strike, _settlementOrSpot(s.underlying, s.expiry));
        }
        uint256 fwd = _forward(s.underlying, s.expiry);
        return _mark(s.underlying, s.expiry, s.isCall, s.strike, fwd);
    }

    function _margin(uint256 accountId) internal view returns (int256 mm, int256 mtm) {
        int256 cash = cashOf[accountId];
        Pos[] memory pos = _load(accountId);
        bool[] memory done = new bool[](pos.length);
        mm = cash;
        mtm = cash;
        for (uint256 i; i < pos.length; ++i) {
            if (done[i]) continue;
            (int256 mmPart, int256 mtmPart) = _expiryMargin(pos, done, i);
            mm += mmPart;
            mtm += mtmPart;
        }
    }

    function _load(uint256 accountId) internal view returns (Pos[] memory pos) {
        uint256[] storage held = _held[accountId];
        pos = new Pos[](held.length);
        for (uint256 i; i < pos.length; ++i) {
            uint256 id = held[i];
            Series storage s = _series[id];
            pos[i] = Pos(s.underlying, s.expiry, s.isCall, s.strike, positionOf[accountId][id]);
        }
    }

    /// @dev Margin and MtM of the (underlying, expiry) group starting at index `first`; marks the group done.
    function _expiryMargin(Pos[] memory pos, bool[] memory done, uint256 first)
        private
        view
        returns (int256 mmPart, int256 mtmPart)
    {
        address u = pos[first].underlying;
        uint64 expiry = pos[first].expiry;
        uint256 n;
        for (uint256 j = first; j < pos.length; ++j) {
            if (pos[j].underlying == u && pos[j].expiry == expiry) ++n;
        }
        int256[] memory amounts = new int256[](n);
        uint256[] memory strikes = new uint256[](n);
        bool[] memory calls = new bool[](n);
        uint256 k;
        for (uint256 j = first; j < pos.length; ++j) {
            if (pos[j].underlying != u || pos[j].expiry != expiry) continue;
            done[j] = true;
            amounts[k] = pos[j].amount;
            strikes[k] = pos[j].strike;
            calls[k] = pos[j].isCall;
            ++k;
        }
        if (expiry <= block.timestamp) {
            uint256 px = _settlementOrSpot(u, expiry);
            for (uint256 j; j < n; ++j) {
                mtmPart += MarginMath.mulDown(amounts[j], int256(MarginMath.payoff(calls[j], strikes[j], px)));
            }
            return (mtmPart, mtmPart);
        }
        (uint256 spot,) = _spot(u);
        uint256 fwd = _forward(u, expiry);
        int256 isolated;
        for (uint256 j; j < n; ++j) {
            uint256 mark = _mark(u, expiry, calls[j], strikes[j], fwd);
            mtmPart += MarginMath.mulDown(amounts[j], int256(mark));
            isolated += MarginMath.isolatedMargin(amounts[j], calls[j], mark, spot);
        }
        int256 ml = MarginMath.maxLoss(amounts, strikes, calls, fwd);
        mmPart = isolated > ml ? isolated : ml;
    }

    function _mark(address u, uint64 expiry, bool isCall, uint256 strike, uint256 fwd) internal view returns (uint256) {
        uint256 tau = (uint256(expiry) - block.timestamp) * 1e18 / YEAR;
        uint256 vol = volFeed.impliedVol(u, expiry, strike);
        return Black76.price(isCall, fwd, strike, tau, vol);
    }

    function _settlementOrSpot(address u, uint64 expiry) internal view returns (uint256 px) {
        px = settlementPrice[u][expiry];
        if (px == 0) (px,) = _spot(u);
    }
}
