"""PortfolioMargin Dutch-auction maths (Lyra v2 mainnet parameters), pure and vectorised.

Signs follow the margin mirror: MM <= 0 is a requirement, MtM is the account's mark-to-market value.
Times are seconds since the auction started.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ._arrays import F64, MarginInputError


@dataclass(frozen=True)
class AuctionParams:
    start_discount: float = 0.95
    fast_end_discount: float = 0.70
    fast_seconds: float = 15 * 60.0  # 0.95 → 0.70
    slow_seconds: float = 12 * 3600.0  # 0.70 → 0
    buffer: float = 0.15  # BM = MM + buffer·(MM − MtM)
    insolvent_seconds: float = 60 * 60.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.fast_end_discount <= self.start_discount <= 1.0:
            raise MarginInputError("AuctionParams: need 0 <= fast_end_discount <= start_discount <= 1")
        if self.fast_seconds <= 0 or self.slow_seconds <= 0 or self.insolvent_seconds <= 0:
            raise MarginInputError("AuctionParams: durations must be > 0")


_DEFAULT = AuctionParams()


def _f(x: ArrayLike) -> F64:
    return np.asarray(x, dtype=np.float64)


def discount(t: ArrayLike, params: AuctionParams = _DEFAULT) -> F64:
    """Solvent-auction discount d(t): 0.95 → 0.70 over 15 min, then → 0 over 12 h, then 0."""
    tt = np.maximum(_f(t), 0.0)
    p = params
    fast = (
        p.start_discount
        - (p.start_discount - p.fast_end_discount) * np.minimum(tt, p.fast_seconds) / p.fast_seconds
    )
    slow_t = np.clip(tt - p.fast_seconds, 0.0, p.slow_seconds)
    slow = p.fast_end_discount * (1.0 - slow_t / p.slow_seconds)
    return np.where(tt <= p.fast_seconds, fast, slow)


def buffer_margin(mm: ArrayLike, mtm: ArrayLike, params: AuctionParams = _DEFAULT) -> F64:
    """BM = MM + 0.15·(MM − MtM); the auction ends once BM >= 0."""
    m = _f(mm)
    return m + params.buffer * (m - _f(mtm))


def max_fraction(mm: ArrayLike, mtm: ArrayLike, d: ArrayLike, params: AuctionParams = _DEFAULT) -> F64:
    """Largest fraction a solvent-auction bid may take: f = BM / (BM − MtM·d), clipped to [0, 1].

    Taking f of every position and of the cash while paying f·MtM·d into the account leaves
    BM' = (1 − f)·BM + f·MtM·d = 0 (margin is linear in the account's size). Accounts with BM >= 0
    are not in auction: 0; when BM − MtM·d >= 0 no fraction restores BM: 1 (as the contract).
    """
    bm = buffer_margin(mm, mtm, params)
    denom = bm - _f(mtm) * _f(d)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where(denom >= 0.0, 1.0, bm / denom)
    return np.where(bm >= 0.0, 0.0, np.clip(f, 0.0, 1.0))


def max_bid_fraction(
    mm: ArrayLike,
    mtm: ArrayLike,
    d: ArrayLike,
    insolvent: ArrayLike = False,
    params: AuctionParams = _DEFAULT,
) -> F64:
    """What the contract's ``maxBidFraction`` view returns for a running auction: 1 in an insolvent auction;
    in a solvent one ``max_fraction``, except 0 once MtM <= 0.

    Why not just ``max_fraction``: a solvent auction whose MtM fell to <= 0 is stale (``bid`` reverts
    AuctionModeStale until ``startAuction`` converts it to an insolvent one), while the bare formula would
    still offer a fraction there.
    """
    solvent = np.where(_f(mtm) > 0.0, max_fraction(mm, mtm, d, params), 0.0)
    return np.where(np.asarray(insolvent, dtype=bool), 1.0, solvent)


def bid_price(fraction: ArrayLike, mtm: ArrayLike, d: ArrayLike) -> F64:
    """What a solvent-auction bidder pays for ``fraction`` of the account: p·MtM·d (0 if MtM <= 0)."""
    return np.maximum(_f(fraction) * _f(mtm) * _f(d), 0.0)


def insolvent_payout(
    fraction: ArrayLike, mm: ArrayLike, mtm: ArrayLike, t: ArrayLike, params: AuctionParams = _DEFAULT
) -> F64:
    """Security-module payment to the bidder taking ``fraction`` of an insolvent account (MtM <= 0).

    p·(|MtM| + (|MM| − |MtM|)·min(t, 60 min)/60 min): starts by covering the negative equity and rises to
    the full margin hole over the insolvent-auction window.
    """
    tt = np.clip(_f(t), 0.0, params.insolvent_seconds)
    a_mtm = np.abs(_f(mtm))
    extra = np.maximum(np.abs(_f(mm)) - a_mtm, 0.0)
    return _f(fraction) * (a_mtm + extra * tt / params.insolvent_seconds)


def bidder_profit(
    fraction: ArrayLike,
    cash: ArrayLike,
    own_position_value: ArrayLike,
    mm: ArrayLike,
    mtm: ArrayLike,
    t: ArrayLike,
    params: AuctionParams = _DEFAULT,
) -> F64:
    """Expected profit of a bid taking ``fraction`` of an account at auction time ``t``.

    ``own_position_value`` is the bidder's valuation of ALL the account's positions (Σ a·own mark); the
    bidder gets ``fraction`` of them and of ``cash``. Solvent auction (MtM > 0): pays p·MtM·d(t).
    Insolvent (MtM <= 0): is paid the security-module payout instead.
    """
    p = _f(fraction)
    received = p * (_f(cash) + _f(own_position_value))
    m = _f(mtm)
    paid = np.where(m > 0.0, bid_price(p, m, discount(t, params)), -insolvent_payout(p, mm, m, t, params))
    return received - paid
