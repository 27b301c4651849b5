"""House scenario margin and distance to liquidation for the whole cross-chain book (risk.margin.house).

The book is translated into a :class:`risk.margin.HouseBook`:

* options become Black-76 instruments on F = S·e^{(r−q)τ}, deduplicated by (underlying, call/put,
  strike, expiry) so an option held by many wallets is priced once per scenario, with the row's vol;
* spot and perp rows become zero-vol, τ = 0 calls with a tiny strike ε (worth exactly F − ε), so the
  house scenarios shock them like any other instrument; ε and the perps' entry prices go to cash;
* collateral and CASH rows are cash at today's prices (the house grid moves the option underlyings
  all together; shocking a stablecoin by 18 % would be wrong).

Rows without a market (unpriced) are left out and counted in ``excluded_rows``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from risk.book import PositionBook
from risk.book_value import Kind
from risk.margin import (
    Distance,
    DistanceRange,
    HouseBook,
    HouseMargin,
    HouseParams,
    house_distance,
    house_margin,
)
from risk.svi import SECONDS_PER_YEAR

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

_EPS_STRIKE = 1e-9  # relative to spot: the strike of the zero-strike call standing in for a linear row


def _dedupe(*keys: F64) -> tuple[I64, I64]:
    """Unique key tuples via one lexsort: (index of the first row of each group, group of every row)."""
    n = keys[0].shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    order = np.lexsort(keys[::-1])
    change = np.zeros(n, dtype=bool)
    change[0] = True
    for k in keys:
        ks = k[order]
        change[1:] |= ks[1:] != ks[:-1]
    group_sorted = np.cumsum(change) - 1
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = group_sorted
    return order[change].astype(np.int64), inverse


@dataclass(frozen=True)
class BookHouse:
    """The translated book plus what was left out; wallet ids index ``house.cash`` directly."""

    house: HouseBook
    excluded_rows: int


def to_house_book(book: PositionBook) -> BookHouse:
    rows = book.active_rows()
    priced = book.col("priced")[rows]
    excluded = int(np.count_nonzero(~priced))
    rows = rows[priced]
    kind = book.col("kind")[rows]
    wallet = book.col("wallet")[rows]
    n_wallets = int(book.col("wallet")[book.active_rows()].max(initial=-1)) + 1
    cash = np.zeros(max(n_wallets, 1))
    coll = book.collateral_value()[rows]
    np.add.at(cash, wallet, coll)
    is_cash = kind == Kind.CASH
    np.add.at(cash, wallet[is_cash], book.col("value")[rows[is_cash]])
    inst_rows = rows[~is_cash]
    k = kind[~is_cash]
    w = wallet[~is_cash]
    und = book.col("underlying")[inst_rows]
    spot = np.array([book.spot(int(u)) for u in range(book.n_assets)])[und]
    n = book.col("size")[inst_rows] * book.col("multiplier")[inst_rows]
    is_opt = k == Kind.OPTION
    tau = np.where(
        is_opt, np.maximum((book.col("expiry")[inst_rows] - book.now) / SECONDS_PER_YEAR, 0.0), 0.0
    )
    eps = _EPS_STRIKE * spot
    strike = np.where(is_opt, book.col("strike")[inst_rows], eps)
    is_call = np.where(is_opt, book.col("is_call")[inst_rows], True)
    vol = np.where(is_opt, book.col("iv")[inst_rows], 0.0)
    linear = ~is_opt
    # linear value n·(F − ε) + n·ε (− n·entry for perps) = n·S (− n·entry)
    entry = np.where(k == Kind.PERP, book.col("entry_price")[inst_rows], 0.0)
    np.add.at(cash, w[linear], (n * (eps - entry))[linear])
    expiry_key = np.where(is_opt, book.col("expiry")[inst_rows], -1.0)
    first, inverse = _dedupe(und.astype(np.float64), is_call.astype(np.float64), strike, expiry_key, vol)
    fwd = spot * np.exp((book.rate - book.carry_yield) * tau)
    hb = HouseBook.build(
        underlying=und[first],
        is_call=is_call[first],
        strike=strike[first],
        tau=tau[first],
        forward=fwd[first],
        vol=vol[first],
        wallet=w,
        instrument=inverse.reshape(-1),
        amount=n,
        cash=cash,
        rate=book.rate,
    )
    return BookHouse(hb, excluded)


@dataclass(frozen=True)
class EntityHouse:
    """Per entity (index = entity id): summed P&L under each house scenario, the worst one and its MM."""

    worst_id: I64
    worst_pnl: F64
    mm: F64


def house_margin_of_book(
    book: PositionBook, params: HouseParams | None = None
) -> tuple[HouseMargin, EntityHouse]:
    """House margin per wallet and per entity (an entity's wallets are netted scenario by scenario)."""
    bh = to_house_book(book)
    hm = house_margin(bh.house, params, keep_pnl=True)
    assert hm.pnl is not None
    p = params or HouseParams()
    rows = book.active_rows()
    wallet, ent = book.col("wallet")[rows], book.col("entity")[rows]
    ne = max(book.n_entities, 1)
    w2e = np.full(hm.pnl.shape[0], -1, dtype=np.int64)
    w2e[wallet] = ent
    has = w2e >= 0
    pnl_e = np.zeros((ne, hm.pnl.shape[1]))
    np.add.at(pnl_e, w2e[has], hm.pnl[has])
    worst = np.argmin(pnl_e, axis=1)
    worst_pnl = pnl_e[np.arange(ne), worst]
    return hm, EntityHouse(worst.astype(np.int64), worst_pnl, p.mm_factor * np.maximum(-worst_pnl, 0.0))


def distance_to_liquidation(
    book: PositionBook, underlying: int, params: HouseParams | None = None, rng: DistanceRange | None = None
) -> Distance:
    """Per wallet: the relative move of ``underlying`` (down and up, vol fixed) that makes house equity
    fall below house MM (risk.margin.house_distance on the translated book)."""
    return house_distance(to_house_book(book).house, params, underlying=underlying, rng=rng)


def wallet_worst(hm: HouseMargin, wallet: int) -> tuple[str, float]:
    """(description of the wallet's worst house scenario, its weighted P&L) for a solvency report."""
    if not 0 <= wallet < hm.worst_id.shape[0]:
        raise ValueError(f"wallet {wallet} is not in the house margin result (0..{hm.worst_id.shape[0] - 1})")
    return hm.scenarios.describe(int(hm.worst_id[wallet])), float(hm.worst_pnl[wallet])
