"""Hedger: keep each target's delta inside the risk core's no-trade band, trading on the cheapest venue.

Targets are the keeper's own entity (all chains, inherited liquidation positions included) and OptionAMM pools.
The band comes from `risk.hedging` (Whalley–Wilmott or Zakamouline) with the cost λ of the cheapest configured
venue's quote, so an entity whose exposure sits on arbitrum may be hedged on base: a cross-chain hedge. A pool
is hedged by its own `rebalance` (on the pool's chain), bounded by the same band and the slippage limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Literal

from bots.config import HedgerParams
from bots.strategies.intents import ActionIntent, Decision, Skip, make_key
from bots.strategies.liquidator import usd
from chains.evm.fees import Urgency
from risk.hedging import (
    HedgeLimits,
    decide_hedge,
    venue_cost,
    whalley_wilmott_half_width,
    zakamouline_half_width,
)

BOT = "hedger"


@dataclass(frozen=True, slots=True)
class HedgeTarget:
    name: str  # entity name or pool id
    kind: Literal["entity", "pool"]
    protocol: str  # config section holding its parameters (e.g. option_amm, or "keeper")
    chain: str  # the pool's chain; for an entity, "" (it may hedge anywhere)
    asset: str
    delta: float  # net, underlying units, hedges included
    gamma: float
    spot: float
    vol: float = 0.6
    tau: float = 30 / 365
    version: str = ""  # book version / block the figures are from: part of the idempotency key
    # WETH the target holds per chain, i.e. what it can sell: the hedger buys to hedge short delta but never
    # shorts (a sell on a chain where it holds nothing would revert); None = not limited (tests, models)
    sellable: tuple[tuple[str, float], ...] | None = None


@dataclass(frozen=True, slots=True)
class VenueQuote:
    """A QuoterV2-style quote for trading the asset on one venue (both sides' prices for a reference size)."""

    venue: str  # protocol name in config (e.g. uniswap_base)
    chain: str
    asset: str
    mid: float
    buy_price: float
    sell_price: float
    fee_rate: float
    gas_usd: Decimal = Decimal(0)
    gas_native: Decimal = Decimal(0)

    def cost(self, side: int) -> float:
        return venue_cost(self.mid, self.buy_price if side > 0 else self.sell_price, self.fee_rate)


@dataclass(frozen=True, slots=True)
class HedgerState:
    now: datetime
    targets: tuple[HedgeTarget, ...]
    quotes: tuple[VenueQuote, ...]


def _half_width(t: HedgeTarget, cost: float, p: HedgerParams) -> float:
    if p.band == "zakamouline":
        return zakamouline_half_width(t.spot, t.gamma, cost, p.risk_aversion, t.vol, t.tau)
    return whalley_wilmott_half_width(t.spot, t.gamma, cost, p.risk_aversion, 0.0, t.tau)


def band_half_width(t: HedgeTarget, quotes: tuple[VenueQuote, ...], p: HedgerParams) -> float | None:
    """The no-trade band's half width (underlying units) the hedger holds `t` to, at the cheapest allowed
    venue's cost for trading back toward zero; None without a quote (reports draw it beside the delta)."""
    allowed = [q for q in quotes if q.asset == t.asset and (not p.venues or q.venue in p.venues)
               and (t.kind != "pool" or q.chain == t.chain)]
    if not allowed:
        return None
    side = -1 if t.delta > 0 else 1
    return _half_width(t, cheapest(tuple(allowed), side, t.delta).cost(side), p)


def cheapest(quotes: tuple[VenueQuote, ...], side: int, size: float) -> VenueQuote:
    """Lowest all-in cost: proportional cost on the trade's notional plus the venue chain's gas."""
    return min(quotes, key=lambda q: q.cost(side) * abs(size) * q.mid + float(q.gas_usd))


def decide_target(t: HedgeTarget, quotes: tuple[VenueQuote, ...], p: HedgerParams) -> ActionIntent | Skip:
    allowed = [q for q in quotes if q.asset == t.asset and (not p.venues or q.venue in p.venues)]
    if t.kind == "pool":  # a pool rebalances through its own configured venue on its own chain
        allowed = [q for q in allowed if q.chain == t.chain]
    if not allowed:
        return Skip(t.name, f"no quote for {t.asset} on configured venues {p.venues or 'any'}")
    side = -1 if t.delta > 0 else 1
    holdings = dict(t.sellable) if t.sellable is not None else None
    if side < 0 and holdings is not None:
        allowed = [q for q in allowed if holdings.get(q.chain, 0.0) > 0]
        if not allowed:
            return Skip(t.name, f"long delta {t.delta:.6g} but no {t.asset} held on a venue chain to sell "
                                "(the hedger does not short)")
    venue = cheapest(tuple(allowed), side, t.delta)
    cost = venue.cost(side)
    slip_bps = abs((venue.buy_price if side > 0 else venue.sell_price) / venue.mid - 1) * 10_000
    if slip_bps > p.max_slippage_bps:
        return Skip(t.name, f"quote slippage {slip_bps:.1f} bps on {venue.venue} > max {p.max_slippage_bps}")
    limits = HedgeLimits(float(p.min_trade_usd), float(p.max_trade_usd) if p.max_trade_usd else float("inf"))
    h = _half_width(t, cost, p)
    d = decide_hedge(t.delta, t.spot, h, p.policy, limits)
    if d.action == "hold":
        return Skip(t.name, "; ".join(d.reasons))
    size = d.trade_size
    reasons_extra: tuple[str, ...] = ()
    if size < 0 and holdings is not None and -size > holdings.get(venue.chain, 0.0):
        # shaved so float rounding can never ask for a wei more than the balance (the router reverts STF)
        size = -holdings[venue.chain] * (1 - 1e-9)
        reasons_extra = (f"sell capped at the {holdings[venue.chain]:.6g} {t.asset} held on {venue.chain}",)
        if abs(size) * t.spot < float(p.min_trade_usd):
            return Skip(t.name, f"{reasons_extra[0]}: below min_trade_usd {p.min_trade_usd}")
    limit_price = venue.mid * (1 + side * p.max_slippage_bps / 10_000)
    notional = usd(abs(size) * t.spot)
    kind = "rebalance" if t.kind == "pool" else "hedge"
    key = make_key(BOT, kind, t.name, venue.venue, t.version or "v0")
    reasons = (f"band {p.band}: λ {cost:.5f} on {venue.venue} ({venue.chain})", *d.reasons, *reasons_extra)
    expected = -(usd(abs(size) * t.spot * cost) + venue.gas_usd)  # hedging costs; it buys risk reduction
    return ActionIntent(BOT, kind, venue.chain, t.protocol if t.kind == "pool" else venue.venue, t.name, key,
                        expected, notional, venue.gas_native, Urgency.ROUTINE, reasons, MappingProxyType(
                            {"asset": t.asset, "size": size, "limit_price": limit_price,
                             "venue": venue.venue, "target_delta": t.delta + size}))


def decide(state: HedgerState, params: Mapping[str, HedgerParams]) -> Decision:
    intents: list[ActionIntent] = []
    skipped: list[Skip] = []
    for t in state.targets:
        p = params.get(t.protocol)
        if p is None or not p.enabled:
            skipped.append(Skip(t.name, f"no enabled [bots.hedger.protocols.{t.protocol}] section"))
            continue
        try:
            out = decide_target(t, state.quotes, p)
        except (ValueError, ArithmeticError) as exc:  # one target's bad figures (e.g. spot 0) never stop the others
            out = Skip(t.name, f"invalid input: {type(exc).__name__}: {exc}")
        if isinstance(out, ActionIntent):
            intents.append(out)
        else:
            skipped.append(out)
    return Decision(tuple(intents), tuple(skipped))
