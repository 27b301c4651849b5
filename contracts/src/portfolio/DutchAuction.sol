// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {MarginEngine} from "./MarginEngine.sol";
import {MarginMath} from "./MarginMath.sol";

/// @title DutchAuction
/// @notice Lyra v2 DutchAuction for subaccounts with MM < 0, plus the security module that pays insolvent bids.
/// @dev Solvent (MtM > 0 at start): discount 0.95 → 0.70 over 15 min → 0 over 12 h; a bid of fraction p takes p of
///      every position and of the cash and pays p·MtM·d into the account; p ≤ BM/(BM − MtM·d); the auction ends
///      when BM ≥ −AUCTION_DUST. Insolvent (MtM ≤ 0 at start): the security module pays the bidder
///      p·(|MtM| + (|MM| − |MtM|)·min(t, 60 min)/60 min); ends when MM ≥ 0 (i.e. once everything was taken).
///      Deviations from Lyra: the security module is an internal USDC pool of this contract (no share token, no
///      socialised loss: a bid the pool cannot pay reverts); a solvent auction whose MtM fell to ≤ 0 is converted
///      by calling `startAuction` again (restarts the clock in insolvent mode); positions are split by truncation
///      toward zero, which leaves a few wei of rounding in the auctioned account, hence AUCTION_DUST.
abstract contract DutchAuction is MarginEngine {
    /// @notice Tolerance (1e18 USD = 1e-6 USD) on BM ≥ 0 for ending a solvent auction, absorbing wei rounding.
    int256 public constant AUCTION_DUST = 1e12;

    struct Auction {
        bool active;
        bool insolvent;
        uint64 startTime;
    }

    mapping(uint256 accountId => Auction) internal _auctions;
    /// @notice Security-module pool balance, 1e18 USD (funded in USDC 6 decimals × 1e12).
    uint256 public securityModuleBalance;

    event AuctionStarted(uint256 indexed accountId, int256 mm, int256 mtm, bool solvent, uint256 startTime);
    event AuctionBid(
        uint256 indexed accountId,
        uint256 indexed bidderAccountId,
        uint256 fraction,
        int256 bidPrice,
        uint256 discount,
        int256 mm,
        int256 mtm
    );
    event AuctionTerminated(uint256 indexed accountId, int256 mm, int256 mtm, int256 bm);
    event SecurityModuleFunded(address indexed from, uint256 amountUsdc, uint256 balance);
    event SecurityModulePaid(
        uint256 indexed accountId, uint256 indexed bidderAccountId, uint256 amount, uint256 balance
    );

    error AccountHealthy(uint256 accountId, int256 mm);
    error AuctionActive(uint256 accountId);
    error NoAuction(uint256 accountId);
    error AuctionNotOver(uint256 accountId, int256 mm, int256 bm);
    error AuctionModeStale(uint256 accountId, int256 mtm);
    error InvalidFraction(uint256 fraction, uint256 maxFraction);
    error PriceLimit(int256 bidPrice, uint256 limit);
    error SecurityModuleShort(uint256 payout, uint256 balance);
    error InsufficientMargin(uint256 accountId, int256 mm);
    error SelfBid(uint256 accountId);

    /// @notice Start an auction on an account with MM < 0 (anyone). Calling it again on a solvent auction whose
    ///         MtM has fallen to ≤ 0 converts it into an insolvent auction starting now.
    function startAuction(uint256 accountId) external {
        _requireAccount(accountId);
        (int256 mm, int256 mtm) = _margin(accountId);
        Auction memory a = _auctions[accountId];
        if (a.active && (a.insolvent || mtm > 0)) revert AuctionActive(accountId);
        if (mm >= 0) revert AccountHealthy(accountId, mm);
        _auctions[accountId] = Auction(true, mtm <= 0, uint64(block.timestamp));
        emit AuctionStarted(accountId, mm, mtm, mtm > 0, block.timestamp);
    }

    /// @notice Take `fraction` (1e18 = all) of the auctioned account into `bidderAccountId`.
    /// @param priceLimit solvent: the most the bidder pays (1e18 USD); insolvent: the least payout accepted.
    /// @return bidPrice_ signed 1e18 USD: > 0 paid by the bidder (solvent), < 0 paid to the bidder (insolvent).
    function bid(uint256 accountId, uint256 bidderAccountId, uint256 fraction, uint256 priceLimit)
        external
        returns (int256 bidPrice_)
    {
        _requireAuthorized(bidderAccountId);
        if (bidderAccountId == accountId) revert SelfBid(accountId);
        if (_auctions[bidderAccountId].active) revert AuctionActive(bidderAccountId);
        Auction memory a = _auctions[accountId];
        if (!a.active) revert NoAuction(accountId);
        (int256 mm, int256 mtm) = _margin(accountId);
        uint256 elapsed = block.timestamp - a.startTime;
        uint256 d;
        if (!a.insolvent) {
            if (mtm <= 0) revert AuctionModeStale(accountId, mtm);
            d = MarginMath.discount(elapsed);
            uint256 fMax = MarginMath.maxSolventFraction(MarginMath.bufferMargin(mm, mtm), mtm, d);
            if (fraction == 0 || fraction > fMax) revert InvalidFraction(fraction, fMax);
            uint256 cost = MarginMath.solventBidPrice(fraction, mtm, d);
            if (cost > priceLimit) revert PriceLimit(int256(cost), priceLimit);
            _transferFraction(accountId, bidderAccountId, fraction);
            _addCash(bidderAccountId, -int256(cost));
            _addCash(accountId, int256(cost));
            bidPrice_ = int256(cost);
        } else {
            if (fraction == 0 || fraction > 1e18) revert InvalidFraction(fraction, 1e18);
            uint256 payout = MarginMath.insolventPayout(fraction, mm, mtm, elapsed);
            if (payout < priceLimit) revert PriceLimit(-int256(payout), priceLimit);
            uint256 pool = securityModuleBalance;
            if (payout > pool) revert SecurityModuleShort(payout, pool);
            securityModuleBalance = pool - payout;
            _transferFraction(accountId, bidderAccountId, fraction);
            _addCash(bidderAccountId, int256(payout));
            bidPrice_ = -int256(payout);
            emit SecurityModulePaid(accountId, bidderAccountId, payout, pool - payout);
        }
        (int256 bidderMm,) = _margin(bidderAccountId);
        if (bidderMm < 0) revert InsufficientMargin(bidderAccountId, bidderMm);
        emit AuctionBid(accountId, bidderAccountId, fraction, bidPrice_, d, mm, mtm);
        _tryTerminate(accountId, a.insolvent);
    }

    /// @notice End an auction whose account recovered (solvent: BM ≥ −AUCTION_DUST; insolvent: MM ≥ 0). Anyone.
    function terminateAuction(uint256 accountId) external {
        Auction memory a = _auctions[accountId];
        if (!a.active) revert NoAuction(accountId);
        if (!_tryTerminate(accountId, a.insolvent)) {
            (int256 mm, int256 mtm) = _margin(accountId);
            revert AuctionNotOver(accountId, mm, MarginMath.bufferMargin(mm, mtm));
        }
    }

    /// @notice Add USDC (6 decimals) to the security-module pool (anyone; pulled with transferFrom).
    function fundSecurityModule(uint256 amountUsdc) external virtual;

    // ------------------------------------------------------------------ views

    /// @notice The auction record of `accountId` (active flag, mode, start time).
    function getAuction(uint256 accountId) external view returns (Auction memory) {
        return _auctions[accountId];
    }

    /// @notice Current solvent-auction discount (1e18); 0 when no solvent auction runs.
    function currentDiscount(uint256 accountId) public view returns (uint256) {
        Auction memory a = _auctions[accountId];
        if (!a.active || a.insolvent) return 0;
        return MarginMath.discount(block.timestamp - a.startTime);
    }

    /// @notice Largest fraction (1e18) a bid may take now: BM/(BM − MtM·d) (solvent) or 1 (insolvent).
    function maxBidFraction(uint256 accountId) external view returns (uint256) {
        Auction memory a = _auctions[accountId];
        if (!a.active) return 0;
        if (a.insolvent) return 1e18;
        (int256 mm, int256 mtm) = _margin(accountId);
        if (mtm <= 0) return 0;
        return MarginMath.maxSolventFraction(MarginMath.bufferMargin(mm, mtm), mtm, currentDiscount(accountId));
    }

    /// @notice Signed price of a bid for `fraction` now: > 0 bidder pays p·MtM·d; < 0 security module pays.
    function bidPrice(uint256 accountId, uint256 fraction) external view returns (int256) {
        Auction memory a = _auctions[accountId];
        if (!a.active) revert NoAuction(accountId);
        (int256 mm, int256 mtm) = _margin(accountId);
        if (a.insolvent) {
            return -int256(MarginMath.insolventPayout(fraction, mm, mtm, block.timestamp - a.startTime));
        }
        return int256(MarginMath.solventBidPrice(fraction, mtm, currentDiscount(accountId)));
    }

    /// @notice Buffer margin BM = MM + 0.15·(MM − MtM) of `accountId` (1e18 USD).
    function getBufferMargin(uint256 accountId) external view returns (int256) {
        _requireAccount(accountId);
        (int256 mm, int256 mtm) = _margin(accountId);
        return MarginMath.bufferMargin(mm, mtm);
    }

    // ------------------------------------------------------------------ internal

    function _underAuction(uint256 accountId) internal view returns (bool) {
        return _auctions[accountId].active;
    }

    function _tryTerminate(uint256 accountId, bool insolvent) private returns (bool) {
        (int256 mm, int256 mtm) = _margin(accountId);
        int256 bm = MarginMath.bufferMargin(mm, mtm);
        bool over = insolvent ? mm >= 0 : bm >= -AUCTION_DUST;
        if (over) {
            delete _auctions[accountId];
            emit AuctionTerminated(accountId, mm, mtm, bm);
        }
        return over;
    }

    /// @dev Moves `fraction` of every position and of the cash (truncated toward zero; all of it at 1e18).
    function _transferFraction(uint256 from, uint256 to, uint256 fraction) private {
        uint256[] memory ids = _held[from];
        for (uint256 i; i < ids.length; ++i) {
            uint256 id = ids[i];
            int256 amt = positionOf[from][id];
            int256 take = fraction == 1e18 ? amt : (amt * int256(fraction)) / 1e18;
            if (take == 0) continue;
            _setPosition(from, id, amt - take);
            _setPosition(to, id, positionOf[to][id] + take);
        }
        int256 cash = cashOf[from];
        int256 cashTake = fraction == 1e18 ? cash : (cash * int256(fraction)) / 1e18;
        _addCash(from, -cashTake);
        _addCash(to, cashTake);
    }
}
