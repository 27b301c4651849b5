"""Global guards every intent passes before it may be sent: pure verdict functions with reasons.

Why separate from strategies: a strategy answers "is this profitable?", a guard answers "is the world sane
enough to act at all?" (oracles fresh and plausible, L2 sequencer up past its grace period, gas budget left,
notional within limits, no kill switch). A failed guard means no action *and* an alert, never a silent skip.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from types import MappingProxyType

from bots.config import GuardsConfig
from bots.strategies.intents import ActionIntent
from chains.model import OracleQuote, OracleSource


@dataclass(frozen=True, slots=True)
class Verdict:
    """`codes` name each failure stably ("oracle:stale:chainlink:ETH@ethereum"): reasons carry ages and counts
    that change every tick, so alerts are de-duplicated on the codes, never on the text."""

    ok: bool
    guard: str
    reasons: tuple[str, ...] = ()
    codes: tuple[str, ...] = ()


def _ok(guard: str, why: str) -> Verdict:
    return Verdict(True, guard, (why,))


def _no(guard: str, *why: str, code: str = "") -> Verdict:
    return Verdict(False, guard, why, (code or guard,))


def combine(verdicts: Iterable[Verdict]) -> Verdict:
    """All must pass; the combined reasons list only the failures when something failed."""
    vs = list(verdicts)
    failed = [v for v in vs if not v.ok]
    if failed:
        return Verdict(False, ",".join(dict.fromkeys(v.guard for v in failed)),
                       tuple(r for v in failed for r in v.reasons), tuple(c for v in failed for c in v.codes))
    return Verdict(True, "all", tuple(r for v in vs for r in v.reasons))


def check_oracle(quote: OracleQuote, now: datetime, max_age: timedelta, max_conf_ratio: Decimal,
                 previous: OracleQuote | None = None, max_jump: Decimal | None = None) -> Verdict:
    """Fresh, positive, tight enough (Pyth) and not an absurd jump from the previous reading."""
    feed = f"{quote.source}:{quote.asset}@{quote.chain}"
    name = f"oracle {feed}"
    if quote.price <= 0:
        return _no("oracle", f"{name}: price {quote.price} <= 0", code=f"oracle:nonpositive:{feed}")
    age = quote.age(now)
    if quote.stale(now, max_age):
        return _no("oracle", f"{name}: stale, age {age.total_seconds():.0f}s > max {max_age.total_seconds():.0f}s",
                   code=f"oracle:stale:{feed}")
    ratio = quote.confidence_ratio()
    if quote.source is OracleSource.PYTH and ratio is not None and ratio > max_conf_ratio:
        return _no("oracle", f"{name}: confidence {ratio:.4%} of price > max {max_conf_ratio:.4%}",
                   code=f"oracle:confidence:{feed}")
    if previous is not None and max_jump is not None and previous.price > 0:
        jump = abs(quote.price / previous.price - 1)
        if jump > max_jump:
            return _no("oracle", f"{name}: jump {jump:.2%} vs last accepted {previous.price} > max {max_jump:.2%}",
                       code=f"oracle:jump:{feed}")
    return _ok("oracle", f"{name}: ok, age {age.total_seconds():.0f}s")


def next_reference(reference: OracleQuote | None, pending: OracleQuote | None, quote: OracleQuote,
                   max_jump: Decimal) -> tuple[OracleQuote | None, OracleQuote | None]:
    """The jump guard's reference after a new reading: `(reference, pending)`.

    Why not simply "the previous reading": after an absurd print the next *healthy* reading is itself a big jump
    from it, so the keeper would stay blocked until yet another round. The reference is the last plausible
    reading instead; a reading beyond `max_jump` is held as `pending`, and becomes the reference only when the
    next reading confirms its level (within `max_jump` of it) — a real market move passes after one round.

    "Next" means a newer round (later `publish_time`), not a second sighting: the keeper sees one round from
    several paths (its own read at the head, the chain watcher's log at an older block), and the same absurd
    print seen twice is not a confirmation. A reading older than the reference or the pending one changes nothing.
    """
    if quote.price <= 0:
        return reference, pending
    if any(seen is not None and quote.publish_time < seen.publish_time for seen in (reference, pending)):
        return reference, pending  # a late sighting of an older round
    if pending is not None and quote.publish_time == pending.publish_time:
        return reference, pending  # the held round again: no confirmation
    if reference is None or reference.price <= 0 or abs(quote.price / reference.price - 1) <= max_jump:
        return quote, None
    if pending is not None and pending.price > 0 and abs(quote.price / pending.price - 1) <= max_jump:
        return quote, None
    return reference, quote


def check_feed_faults(chain: str, faults: Sequence[tuple[str, str]]) -> Verdict:
    """Feeds on the chain that could not be read as a price at all (answer <= 0, reverted read): no action."""
    if not faults:
        return _ok("oracle", f"{chain}: no oracle faults")
    return Verdict(False, "oracle", tuple(f"oracle fault {feed}@{chain}: {why}" for feed, why in faults),
                   tuple(f"oracle:fault:{feed}@{chain}" for feed, _ in faults))


@dataclass(frozen=True, slots=True)
class SequencerStatus:
    """Chainlink L2 sequencer uptime feed reading: answer 0 = up; `since` = startedAt of that status."""

    chain: str
    up: bool
    since: datetime


def check_sequencer(status: SequencerStatus | None, now: datetime, grace: timedelta) -> Verdict:
    """Down → no; up for less than the grace period → no (prices may still be catching up); else ok."""
    if status is None:
        return _ok("sequencer", "no sequencer feed on this chain")
    if not status.up:
        return _no("sequencer", f"{status.chain}: sequencer down since {status.since.isoformat()}",
                   code=f"sequencer:down:{status.chain}")
    up_for = now - status.since
    if up_for < grace:
        return _no("sequencer", f"{status.chain}: sequencer up for {up_for.total_seconds():.0f}s, "
                                f"within grace period {grace.total_seconds():.0f}s", code=f"sequencer:grace:{status.chain}")
    return _ok("sequencer", f"{status.chain}: sequencer up for {up_for.total_seconds():.0f}s")


def gas_spent_in_window(spends: Sequence[tuple[datetime, Decimal]], now: datetime,
                        window: timedelta = timedelta(hours=1)) -> Decimal:
    """Sum of fees paid within the rolling window ending at `now`."""
    return sum((amt for at, amt in spends if now - window < at <= now), Decimal(0))


def check_gas_budget(chain: str, spends: Sequence[tuple[datetime, Decimal]], cost: Decimal, now: datetime,
                     budget_per_hour: Decimal | None) -> Verdict:
    """Rolling one-hour budget per chain: what was spent plus this action's estimate must fit."""
    if budget_per_hour is None:
        return _ok("gas_budget", f"{chain}: no gas budget configured")
    spent = gas_spent_in_window(spends, now)
    if spent + cost > budget_per_hour:
        return _no("gas_budget", f"{chain}: spent {spent} + this {cost} > budget {budget_per_hour}/h")
    return _ok("gas_budget", f"{chain}: spent {spent} + this {cost} <= budget {budget_per_hour}/h")


def check_notional(notional_usd: Decimal, max_notional_usd: Decimal | None) -> Verdict:
    if max_notional_usd is not None and notional_usd > max_notional_usd:
        return _no("notional", f"notional ${notional_usd} > max per action ${max_notional_usd}")
    return _ok("notional", f"notional ${notional_usd} within limit")


def check_kill_switch(flag: bool, kill_file_present: bool) -> Verdict:
    if flag:
        return _no("kill_switch", "kill switch set in config ([guards] kill_switch = true)")
    if kill_file_present:
        return _no("kill_switch", "kill switch file present")
    return _ok("kill_switch", "kill switch off")


@dataclass(frozen=True, slots=True)
class GuardContext:
    """Everything the guards look at, captured once per tick by the engine (so the verdict is reproducible)."""

    now: datetime
    quotes: tuple[OracleQuote, ...] = ()  # latest per (source, asset, chain)
    previous: Mapping[tuple[str, str, str], OracleQuote] = field(default_factory=lambda: MappingProxyType({}))
    sequencers: Mapping[str, SequencerStatus] = field(default_factory=lambda: MappingProxyType({}))
    gas_spends: Mapping[str, tuple[tuple[datetime, Decimal], ...]] = field(
        default_factory=lambda: MappingProxyType({}))
    kill_file_present: bool = False
    faults: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=lambda: MappingProxyType({}))


def quote_id(q: OracleQuote) -> tuple[str, str, str]:
    return (q.source.value, q.asset.value, q.chain)


def evaluate(intent: ActionIntent, ctx: GuardContext, cfg: GuardsConfig) -> Verdict:
    """Every global guard for one intent; oracles checked are those read on the intent's chain."""
    verdicts = [check_kill_switch(cfg.kill_switch, ctx.kill_file_present),
                check_sequencer(ctx.sequencers.get(intent.chain), ctx.now, timedelta(seconds=cfg.sequencer_grace_s)),
                check_feed_faults(intent.chain, ctx.faults.get(intent.chain, ()))]
    for q in ctx.quotes:
        if q.chain != intent.chain:
            continue
        max_age = timedelta(seconds=dict(cfg.max_oracle_age_s).get(q.source.value, 3600.0))
        verdicts.append(check_oracle(q, ctx.now, max_age, cfg.pyth_max_conf_ratio, ctx.previous.get(quote_id(q)),
                                     cfg.max_price_jump))
    verdicts.append(check_gas_budget(intent.chain, ctx.gas_spends.get(intent.chain, ()), intent.gas_cost_native,
                                     ctx.now, cfg.gas_budget_native_per_hour.get(intent.chain)))
    verdicts.append(check_notional(intent.notional_usd, cfg.max_notional_usd))
    return combine(verdicts)
