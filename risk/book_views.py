"""Read-only views over a :class:`risk.book.PositionBook`: contagion, collateral exposure, wallet
balances, and the per-(wallet, protocol) margin table filled from the risk.margin mirrors.

Contagion convention ("if protocol X or chain Y fails, who loses what"): a failure is a total loss of
everything the entity has *claims* on there — the dollar value of its collateral plus the positive
mark-to-market of its positions.  Liabilities (negative values) are not netted against it: a failed
venue rarely forgives debts promptly, so netting would understate the loss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from risk.book import PositionBook
from risk.margin import PMMargin, VaultMargin

F64 = NDArray[np.float64]


@dataclass(frozen=True)
class Contagion:
    """Dollars each entity loses if a protocol (``by_protocol[entity, protocol]``) or a chain
    (``by_chain[entity, chain]``) fails; ids index the columns directly."""

    by_protocol: F64
    by_chain: F64

    def losers(self, *, protocol: int | None = None, chain: int | None = None) -> list[tuple[int, float]]:
        """(entity, loss) pairs with a positive loss for one failed protocol or chain, largest first."""
        if (protocol is None) == (chain is None):
            raise ValueError("losers: pass exactly one of protocol= or chain=")
        table, idx = (self.by_protocol, protocol) if protocol is not None else (self.by_chain, chain)
        assert idx is not None
        if idx < 0 or idx >= table.shape[1]:
            return []
        col = table[:, idx]
        order = np.argsort(-col, kind="stable")
        return [(int(e), float(col[e])) for e in order if col[e] > 0]


def _sum_by(index: NDArray[np.int64], weights: F64, size: int) -> F64:
    return np.bincount(index, weights, minlength=size).astype(np.float64)


def _claims(book: PositionBook) -> F64:
    """Per-row dollars lost on a venue failure: collateral value + positive position value."""
    value = book.col("value")
    return book.collateral_value() + np.where(book.col("active"), np.maximum(value, 0.0), 0.0)


def contagion(book: PositionBook) -> Contagion:
    claims = _claims(book)
    act = book.col("active")
    ent, prot, chain = book.col("entity"), book.col("protocol"), book.col("chain")
    ne = max(book.n_entities, 1)
    rows = np.flatnonzero(act)
    np_ = int(prot[rows].max()) + 1 if rows.size else 1
    nc = int(chain[rows].max()) + 1 if rows.size else 1
    by_p = _sum_by(ent[rows] * np_ + prot[rows], claims[rows], ne * np_).reshape(ne, np_)
    by_c = _sum_by(ent[rows] * nc + chain[rows], claims[rows], ne * nc).reshape(ne, nc)
    return Contagion(by_p, by_c)


@dataclass(frozen=True)
class CollateralExposure:
    """Collateral held across venues: ``amount[asset, protocol, chain]`` in asset units and ``value``
    in dollars; ``by_entity[entity, asset]`` is each entity's dollar collateral per asset."""

    amount: F64
    value: F64
    by_entity: F64


def collateral_exposure(book: PositionBook) -> CollateralExposure:
    rows = book.active_rows()
    asset = book.col("collateral_asset")[rows]
    keep = rows[asset >= 0]
    a = book.col("collateral_asset")[keep]
    p = book.col("protocol")[keep]
    c = book.col("chain")[keep]
    e = book.col("entity")[keep]
    amt = book.col("collateral_amount")[keep]
    val = book.collateral_value()[keep]
    na = book.n_assets
    np_ = int(p.max()) + 1 if keep.size else 1
    nc = int(c.max()) + 1 if keep.size else 1
    ne = max(book.n_entities, 1)
    flat = (a * np_ + p) * nc + c
    shape = (na, np_, nc)
    size = na * np_ * nc
    return CollateralExposure(
        amount=_sum_by(flat, amt, size).reshape(shape),
        value=_sum_by(flat, val, size).reshape(shape),
        by_entity=_sum_by(e * na + a, val, ne * na).reshape(ne, na),
    )


@dataclass(frozen=True)
class WalletBalance:
    """A wallet's dollar balance sheet from the book: assets = collateral + positive marks,
    liabilities = |negative marks|; per protocol as ``{protocol: (assets, liabilities)}``."""

    wallet: int
    assets: float
    liabilities: float
    by_protocol: dict[int, tuple[float, float]]
    unpriced_rows: int

    @property
    def equity(self) -> float:
        return self.assets - self.liabilities


def wallet_balance(book: PositionBook, wallet: int) -> WalletBalance:
    rows = book.rows_of_wallet(wallet)
    value = book.col("value")[rows]
    coll = book.collateral_value()[rows]
    prot = book.col("protocol")[rows]
    assets = coll + np.maximum(value, 0.0)
    liab = np.maximum(-value, 0.0)
    by_p = {int(p): (float(assets[prot == p].sum()), float(liab[prot == p].sum())) for p in np.unique(prot)}
    unpriced = int(np.count_nonzero(~book.col("priced")[rows]))
    return WalletBalance(wallet, float(assets.sum()), float(liab.sum()), by_p, unpriced)


@dataclass(frozen=True)
class MarginRecord:
    """One margin account's state from a protocol mirror (risk.margin) at a block/slot.

    ``equity`` is collateral + mark-to-market as the protocol counts it; ``maintenance`` the
    maintenance requirement (>= 0).  Free margin is ``equity − maintenance``; the account is
    liquidatable when it is negative."""

    wallet: int
    entity: int
    protocol: int
    equity: float
    maintenance: float
    block: int
    initial: float | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.equity) and math.isfinite(self.maintenance) and self.maintenance >= 0):
            raise ValueError(
                f"MarginRecord wallet {self.wallet} protocol {self.protocol}: equity must be finite and "
                f"maintenance finite and >= 0, got equity={self.equity!r} maintenance={self.maintenance!r}"
            )

    @property
    def free(self) -> float:
        return self.equity - self.maintenance

    @property
    def distance_to_liquidation(self) -> float:
        """Fraction of equity that can be lost before liquidation (free / equity); 0 when liquidatable
        or when there is no equity, +inf with no requirement."""
        if self.maintenance == 0.0:
            return math.inf
        if self.equity <= 0.0 or self.free <= 0.0:
            return 0.0
        return self.free / self.equity


class MarginTable:
    """Latest margin record per (wallet, protocol); aggregates margin used/free per entity and protocol."""

    def __init__(self) -> None:
        self._rec: dict[tuple[int, int], MarginRecord] = {}

    def put(self, rec: MarginRecord) -> None:
        key = (rec.wallet, rec.protocol)
        old = self._rec.get(key)
        if old is not None and old.block > rec.block:
            return  # a stale read never overwrites a newer one
        self._rec[key] = rec

    def for_wallet(self, wallet: int) -> list[MarginRecord]:
        return sorted((r for (w, _p), r in self._rec.items() if w == wallet), key=lambda r: r.protocol)

    def by_entity_protocol(self) -> dict[tuple[int, int], tuple[float, float, float]]:
        """{(entity, protocol): (used, free, min distance to liquidation)} over the entity's wallets."""
        out: dict[tuple[int, int], tuple[float, float, float]] = {}
        for r in self._rec.values():
            used, free, dist = out.get((r.entity, r.protocol), (0.0, 0.0, math.inf))
            out[(r.entity, r.protocol)] = (
                used + r.maintenance,
                free + r.free,
                min(dist, r.distance_to_liquidation),
            )
        return out


def margin_records(
    protocol: int,
    wallet: NDArray[np.int64],
    entity: NDArray[np.int64],
    equity: F64,
    maintenance: F64,
    block: int,
) -> tuple[list[MarginRecord], list[int]]:
    """Records for many accounts of one protocol; accounts whose margin is undefined (NaN from the
    mirror, see its reasons) are returned as skipped indices instead of records."""
    n = len(wallet)
    if not (len(entity) == len(equity) == len(maintenance) == n):
        raise ValueError("margin_records: wallet, entity, equity and maintenance must have equal length")
    ok = np.isfinite(equity) & np.isfinite(maintenance)
    recs = [
        MarginRecord(
            int(wallet[i]), int(entity[i]), protocol, float(equity[i]), max(float(maintenance[i]), 0.0), block
        )
        for i in np.flatnonzero(ok).tolist()
    ]
    return recs, np.flatnonzero(~ok).tolist()


def records_from_vaults(
    vm: VaultMargin, wallet: NDArray[np.int64], entity: NDArray[np.int64], protocol: int, block: int
) -> tuple[list[MarginRecord], list[int]]:
    """VaultOptions mirror → records: equity = collateral (= headroom + requirement), maintenance = requirement."""
    return margin_records(protocol, wallet, entity, vm.headroom + vm.requirement, vm.requirement, block)


def records_from_pm(
    pm: PMMargin, wallet: NDArray[np.int64], entity: NDArray[np.int64], protocol: int, block: int
) -> tuple[list[MarginRecord], list[int]]:
    """PortfolioMargin mirror → records: equity = MtM, maintenance = MtM − MM (MM < 0 = liquidatable)."""
    return margin_records(protocol, wallet, entity, pm.mtm, pm.mtm - pm.mm, block)
