"""The engine's live risk book: chain positions fed into `risk.book.PositionBook` account by account, and the
per-entity figures every risk snapshot records (dollar Greeks, value, worst house scenario, distance to
liquidation).

Why its own module: the engine schedules and routes; what a snapshot contains is risk work, tested on its own.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import numpy as np
from loguru import logger

from chains.events import PositionChanged
from chains.model import InstrumentKind, OracleQuote, Position
from risk.book import Position as BookPosition
from risk.book import PositionBook
from risk.book_margin import distance_to_liquidation, house_margin_of_book
from risk.book_value import Kind

_KIND = {InstrumentKind.OPTION: Kind.OPTION, InstrumentKind.PERP: Kind.PERP, InstrumentKind.SPOT: Kind.SPOT,
         InstrumentKind.CASH: Kind.CASH}


class BookFeed:
    """Feeds normalized chain positions into `risk.book.PositionBook` incrementally, account by account.

    Names (chains, protocols, wallets, entities, assets) get dense integer ids, as the book wants. A
    PositionChanged replaces that account's rows (stale ones removed), so applying the same full account state
    twice is harmless — which is what makes a resync after lag safe.
    """

    def __init__(self, now: float, vol: float = 0.6, entity_of: Mapping[str, str] | None = None) -> None:
        self.book = PositionBook(now)
        self.vol = vol
        self.entity_of = {k.lower(): v for k, v in (entity_of or {}).items()}
        self._ids: dict[str, dict[str, int]] = {k: {} for k in ("chain", "protocol", "wallet", "entity", "asset")}
        self._accounts: dict[tuple[str, str, str], set[str]] = {}
        self.book.tick(self._id("asset", "USD"), spot=1.0)

    def _id(self, kind: str, name: str) -> int:
        table = self._ids[kind]
        return table.setdefault(name, len(table))

    def names(self, kind: str) -> dict[int, str]:
        return {v: k for k, v in self._ids[kind].items()}

    def _row(self, p: Position) -> BookPosition:
        inst = p.instrument
        entity = p.entity or self.entity_of.get(p.owner.lower(), p.owner)
        return BookPosition(
            position_id=p.key, underlying=self._id("asset", inst.underlying.value), kind=_KIND[inst.kind],
            size=float(p.size), chain=self._id("chain", inst.chain), protocol=self._id("protocol", inst.protocol),
            wallet=self._id("wallet", p.owner.lower()), entity=self._id("entity", entity),
            is_call=inst.option_type is None or inst.option_type.value == "call",
            strike=float(inst.strike or 0), expiry=inst.expiry.timestamp() if inst.expiry else 0.0,
            multiplier=float(inst.multiplier), collateral_asset=self._id("asset", "USD") if p.collateral else -1,
            collateral_amount=float(p.collateral))

    def apply(self, ev: PositionChanged) -> int:
        """Replace one account's positions; validates every row first so a bad account changes nothing."""
        rows = [self._row(p) for p in ev.positions]
        acct = (ev.chain, ev.protocol, ev.account.account_id)
        new_keys = {p.key for p in ev.positions}
        for stale in self._accounts.get(acct, set()) - new_keys:
            self.book.remove(stale)
        self.book.upsert_positions(rows)  # one batch per account
        self._accounts[acct] = new_keys
        return len(rows)

    def drop_chain(self, chain: str) -> None:
        for acct in [a for a in self._accounts if a[0] == chain]:
            for key in self._accounts.pop(acct):
                self.book.remove(key)

    def tick(self, quote: OracleQuote) -> None:
        self.book.tick(self._id("asset", quote.asset.value), spot=float(quote.price), vol=self.vol)

    def positions_of(self, chain: str, protocol: str, account_id: str) -> set[str]:
        return set(self._accounts.get((chain, protocol, account_id), set()))

    def entity_risk(self, now: datetime) -> dict[str, dict[str, float]]:
        """Per entity: dollar Greeks and value summed over underlyings (the risk snapshot's core figures)."""
        self.book.refresh(now.timestamp())
        totals = self.book.aggregates().entity_totals()
        out: dict[str, dict[str, float]] = {}
        for eid, name in self.names("entity").items():
            if eid >= totals["delta"].shape[0]:
                continue  # id handed out to an account that failed validation: no rows
            out[name] = {"delta": float(totals["delta"][eid]), "gamma": float(totals["gamma"][eid]),
                         "vega": float(totals["vega"][eid]), "theta": float(totals["theta"][eid]),
                         "dollar_delta": float(totals["delta"][eid]), "value_usd": float(totals["value"][eid])}
        for name, extra in self.entity_stress().items():
            if name in out:
                out[name].update(extra)
        return out

    def entity_stress(self) -> dict[str, dict[str, Any]]:
        """Per entity: its worst house scenario (entity wallets netted) and the smallest ETH move, down or up,
        that takes one of its wallets below house MM — the figures a risk desk ranks entities by. Empty when
        the book has no priced rows; a failure here must never stop the Greeks snapshot, so it is logged."""
        if not self.book.active_rows().size:
            return {}
        try:
            hm, eh = house_margin_of_book(self.book)
            eth = self._ids["asset"].get("ETH")
            dist = distance_to_liquidation(self.book, eth) if eth is not None else None
        except (ValueError, ArithmeticError, IndexError) as exc:
            logger.warning("entity stress figures unavailable: {}: {}", type(exc).__name__, exc)
            return {}
        rows = self.book.active_rows()
        wallet, ent = self.book.col("wallet")[rows], self.book.col("entity")[rows]
        out: dict[str, dict[str, Any]] = {}
        for eid, name in self.names("entity").items():
            if eid >= eh.worst_id.shape[0] or not (ent == eid).any():
                continue
            extra: dict[str, Any] = {"worst_scenario": hm.scenarios.describe(int(eh.worst_id[eid])),
                                     "worst_loss_usd": max(0.0, -float(eh.worst_pnl[eid]))}
            if dist is not None:
                ws = np.unique(wallet[ent == eid])
                d = float(np.nanmin(np.minimum(dist.down[ws], dist.up[ws]))) if ws.size else math.inf
                extra["distance_to_liquidation"] = None if not math.isfinite(d) else d
            out[name] = extra
        return out
