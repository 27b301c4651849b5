"""The engine: collectors (chain streams) → book → strategies → guards → executors (lanes), plus the store and bus.

Why this shape: strategies are pure and cheap, so each bot simply re-decides from current state every interval
— and at once when a collector reports an oracle update, position change or reorg on one of its chains (coalesced);
idempotency keys (journal) make repeated decisions harmless. Everything that can fail is isolated: one bad
event (account) is logged as an alert and skipped, one crashing strategy tick is an alert and the next tick runs,
a stuck bot is restarted by the watchdog. A lagging collector (`Lagged`) rebuilds its chain's part of the book
from a full re-read instead of silently missing changes. Adapter-specific work (building call data, re-reading
accounts) sits behind the small `CallBuilder` / `Resyncer` protocols so the wiring is in one place.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol, TypeVar

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from loguru import logger

from bots.book_feed import BookFeed
from bots.bus import Bus
from bots.config import Config, ReloadDiff, reload_config
from bots.guards import GuardContext, SequencerStatus, evaluate, next_reference, quote_id
from bots.journal import Intent, IntentState, Journal
from bots.store import RiskSnapshot, Store
from bots.strategies.intents import ActionIntent, Decision
from chains.events import Freshness, Lagged, NewHead, OracleUpdate, PositionChanged, Reorg
from chains.evm.lane import ActionRequest
from chains.model import OracleQuote
from chains.stream import EventStream, Subscription

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class CallSpec:
    to: str
    data: str = "0x"
    value: int = 0
    gas_limit: int | None = None


class CallBuilder(Protocol):
    """Adapter side: the protocol call that carries out an intent (chains/protocols implement it)."""

    def build(self, intent: ActionIntent) -> CallSpec: ...


class Executor(Protocol):
    """A sending lane (chains.evm.lane.EvmLane satisfies it)."""

    async def submit(self, request: ActionRequest) -> Intent: ...


class Resyncer(Protocol):
    """Adapter side: a full re-read of every watched account on a chain (after lag or a reorg)."""

    async def accounts(self, chain: str) -> Sequence[PositionChanged]: ...


StateSource = Callable[[datetime], Awaitable[Any]]
DecideFn = Callable[[Any, Mapping[str, Any]], Decision]


@dataclass
class BotSpec:
    """One bot: where its state comes from and its pure decision function."""

    name: str
    decide: DecideFn
    source: StateSource
    interval_s: float | None = None  # default: [bots.<name>] interval_s
    chains: frozenset[str] = frozenset()  # chains whose oracle / position / reorg events tick this bot at once


@dataclass
class BotHealth:
    name: str
    running: bool = False
    ticks: int = 0
    errors: int = 0
    restarts: int = 0
    last_ok: datetime | None = None
    last_error: str = ""
    tick_started: float | None = None  # loop time of the tick in progress (watchdog)


@dataclass(frozen=True, slots=True)
class TickReport:
    bot: str
    sent: tuple[str, ...] = ()
    dry_run: tuple[str, ...] = ()
    blocked: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()
    skipped: int = 0


@dataclass
class GuardState:
    """Mutable world view the guards judge; `snapshot()` freezes it for one tick."""

    quotes: dict[tuple[str, str, str], OracleQuote] = field(default_factory=dict)
    previous: dict[tuple[str, str, str], OracleQuote] = field(default_factory=dict)  # jump-guard references
    pending: dict[tuple[str, str, str], OracleQuote] = field(default_factory=dict)  # jumps awaiting confirmation
    sequencers: dict[str, SequencerStatus] = field(default_factory=dict)
    gas_spends: dict[str, list[tuple[datetime, Decimal]]] = field(default_factory=dict)
    faults: dict[str, dict[str, str]] = field(default_factory=dict)  # chain → feed → why it is unusable
    kill_file: Path | None = None
    max_jump: Decimal | None = None

    def observe(self, quote: OracleQuote) -> None:
        """The reading becomes current; the jump reference moves only to plausible (or confirmed) readings."""
        qid = quote_id(quote)
        current = self.quotes.get(qid)
        if current is not None and quote.publish_time < current.publish_time:
            return  # a late sighting of an older round (a lagging watcher) never replaces the newer one
        if self.max_jump is None:
            if qid in self.quotes:
                self.previous[qid] = self.quotes[qid]
        else:
            ref, pend = next_reference(self.previous.get(qid), self.pending.get(qid), quote, self.max_jump)
            if ref is not None:
                self.previous[qid] = ref
            if pend is None:
                self.pending.pop(qid, None)
            else:
                self.pending[qid] = pend
        self.quotes[qid] = quote

    def spend(self, chain: str, at: datetime, amount: Decimal) -> None:
        spends = self.gas_spends.setdefault(chain, [])
        spends.append((at, amount))
        cutoff = at - timedelta(hours=1)
        self.gas_spends[chain] = [s for s in spends if s[0] > cutoff]

    def snapshot(self, now: datetime) -> GuardContext:
        return GuardContext(now, tuple(self.quotes.values()), dict(self.previous), dict(self.sequencers),
                            {c: tuple(s) for c, s in self.gas_spends.items()},
                            self.kill_file is not None and self.kill_file.exists(),
                            {c: tuple(sorted(f.items())) for c, f in self.faults.items() if f})


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Engine:
    def __init__(self, config: Config, store: Store, journal: Journal, bots: Sequence[BotSpec], *,
                 executors: Mapping[str, Executor] | None = None, builder: CallBuilder | None = None,
                 bus: Bus | None = None, streams: Sequence[EventStream] = (), book: BookFeed | None = None,
                 resyncer: Resyncer | None = None, clock: Callable[[], datetime] = _utcnow,
                 queue_size: int = 1000, watchdog_s: float = 1.0, stall_s: float = 30.0,
                 config_path: Path | None = None,
                 risk_extras: Callable[[datetime], Awaitable[Mapping[str, Mapping[str, Any]]]] | None = None) -> None:
        self.config = config
        self.store, self.journal, self.bus = store, journal, bus
        self.bots = {b.name: b for b in bots}
        self.executors = dict(executors or {})
        self.builder = builder
        self.streams = list(streams)
        self.book = book
        self.resyncer = resyncer
        self.clock = clock
        self.queue_size = queue_size
        self.watchdog_s, self.stall_s = watchdog_s, stall_s
        self.config_path = config_path
        self.risk_extras = risk_extras  # margins, worst scenario, distance to liquidation per entity
        self.guards = GuardState(kill_file=config.guards.kill_switch_file, max_jump=config.guards.max_price_jump)
        self.degraded: dict[str, str] = {}  # component (bus, store, log) → why it is degraded now
        self.store_slow_s = 2.0  # a journal write waiting longer than this (locked database) is a degradation
        self.log_status: Callable[[], str | None] | None = None  # why the log sink fails now, None when fine
        self._bus_seen_up = False
        self.health = {name: BotHealth(name) for name in self.bots}
        self.last_action: dict[str, datetime] = {}  # target → last time an intent went out (cooldowns)
        self.lag_resyncs: dict[str, int] = {}
        self.heads: dict[str, int] = {}
        # intent key / "<failed>:key" / "<tick>:bot" → last fault alerted for it (no alert storms)
        self._alerted: dict[str, str | tuple[str, ...]] = {}  # guard failures: intent key → failure codes
        self._bot_tasks: dict[str, asyncio.Task[None]] = {}
        self._wake: dict[str, asyncio.Event] = {}  # set = one tick pending (coalesced event triggers)
        self.event_ticks: dict[str, int] = {name: 0 for name in self.bots}  # triggers accepted per bot
        self._tasks: list[asyncio.Task[None]] = []
        self._subs: list[Subscription] = []
        self.scheduler: AsyncIOScheduler | None = None

    # ------------------------------------------------------------------ lifecycle
    async def start(self, *, risk_interval_s: float = 10.0, resync_interval_s: float = 300.0,
                    reload_interval_s: float = 2.0) -> None:
        for stream in self.streams:
            sub = stream.subscribe(self.queue_size)
            self._subs.append(sub)
            self._tasks.append(asyncio.create_task(self._collect(sub), name=f"collect-{stream.chain}"))
        for name in self.bots:
            self.start_bot(name)
        self._tasks.append(asyncio.create_task(self._watchdog(), name="watchdog"))
        self.scheduler = AsyncIOScheduler(timezone="UTC", job_defaults={
            "coalesce": True, "max_instances": 1, "misfire_grace_time": 30})
        self.scheduler.add_job(self.snapshot_risk, IntervalTrigger(seconds=risk_interval_s), id="risk-snapshots")
        self.scheduler.add_job(self.resync_all, IntervalTrigger(seconds=resync_interval_s), id="full-resync")
        if self.config_path is not None:
            self._config_mtime = self.config_path.stat().st_mtime
            self.scheduler.add_job(self._maybe_reload, IntervalTrigger(seconds=reload_interval_s),
                                   id="config-reload")
        self.scheduler.start()

    async def stop(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
            self.scheduler = None
        for name in list(self._bot_tasks):
            await self.stop_bot(name)
        for sub in self._subs:
            sub.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks, self._subs = [], []

    def start_bot(self, name: str) -> None:
        if name in self._bot_tasks and not self._bot_tasks[name].done():
            return
        cfg = self.config.bots.get(name)
        if cfg is not None and not cfg.enabled:
            logger.info("bot {} disabled in config", name)
            return
        self.health[name].running = True
        self._wake.setdefault(name, asyncio.Event())
        self._bot_tasks[name] = asyncio.create_task(self._bot_loop(name), name=f"bot-{name}")

    async def stop_bot(self, name: str) -> None:
        task = self._bot_tasks.pop(name, None)
        self.health[name].running = False
        self.health[name].tick_started = None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def schedule_expiry(self, at: datetime, bot: str = "settlement", delay_s: float = 5.0) -> str:
        """Tick `bot` shortly after an expiry (settlement prices land around it)."""
        if self.scheduler is None:
            raise RuntimeError("engine not started")
        job_id = f"expiry-{bot}-{at.isoformat()}"
        self.scheduler.add_job(self.tick, DateTrigger(run_date=at + timedelta(seconds=delay_s)), args=[bot],
                               id=job_id, replace_existing=True)
        return job_id

    # ------------------------------------------------------------------ bots
    def _interval(self, name: str) -> float:
        spec = self.bots[name]
        if spec.interval_s is not None:
            return spec.interval_s
        cfg = self.config.bots.get(name)
        return cfg.interval_s if cfg is not None else 1.0

    def _event_ticks_on(self, name: str) -> bool:
        cfg = self.config.bots.get(name)
        per_bot = cfg.event_ticks if cfg is not None else None
        return self.config.event_ticks if per_bot is None else per_bot

    def trigger(self, name: str) -> bool:
        """Ask for a tick of `name` now. Coalesced: a tick in progress plus at most one pending, however many
        events arrive; the interval tick stays as the safety net. False when the bot is not running."""
        wake = self._wake.get(name)
        if wake is None or name not in self._bot_tasks:
            return False
        wake.set()
        self.event_ticks[name] = self.event_ticks.get(name, 0) + 1
        return True

    def trigger_chain(self, event: object) -> list[str]:
        """Oracle updates, position changes and reorgs on a chain tick the bots reading that chain (those with
        `event_ticks` on); returns the bots woken."""
        if not isinstance(event, OracleUpdate | PositionChanged | Reorg):
            return []
        return [n for n, spec in self.bots.items()
                if event.chain in spec.chains and self._event_ticks_on(n) and self.trigger(n)]

    async def _bot_loop(self, name: str) -> None:
        wake = self._wake.setdefault(name, asyncio.Event())
        while True:
            wake.clear()  # events from here on ask for the next tick
            await self.tick(name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=self._interval(name))

    async def tick(self, name: str) -> TickReport:
        """One decision round of one bot; never raises (errors become alerts and health counters)."""
        h = self.health[name]
        spec = self.bots[name]
        h.tick_started = asyncio.get_running_loop().time()
        try:
            now = self.clock()
            state = await spec.source(now)
            cfg = self.config.bots.get(name)
            decision = spec.decide(state, cfg.protocols if cfg is not None else {})
            report = await self._execute(name, decision, now)
            h.ticks += 1
            h.last_ok = now
            self._alerted.pop(f"<tick>:{name}", None)  # a recurrence after a good tick is a new fault
            return report
        except Exception as exc:  # isolation: this bot's tick failed, nothing else is affected
            h.errors += 1
            h.last_error = f"{type(exc).__name__}: {exc}"
            logger.opt(exception=exc).error("bot {} tick failed", name)
            await self._alert_once(f"<tick>:{name}", f"bot:{name}", f"tick failed: {h.last_error}", level="error")
            return TickReport(name, failed=("<tick>",))
        finally:
            h.tick_started = None

    async def _execute(self, bot: str, decision: Decision, now: datetime) -> TickReport:
        ctx = self.guards.snapshot(now)
        sent: list[str] = []
        dry: list[str] = []
        blocked: list[str] = []
        failed: list[str] = []
        for intent in decision.intents:
            try:
                verdict = evaluate(intent, ctx, self.config.guards)
                if not verdict.ok:
                    blocked.append(intent.key)
                    text = "; ".join(verdict.reasons)
                    if self._alerted.get(intent.key) != verdict.codes:  # codes: stable while ages tick on
                        self._alerted[intent.key] = verdict.codes
                        await self.alert(f"guard:{verdict.guard}", f"{intent.kind} {intent.target} blocked: {text}",
                                         chain=intent.chain, key=intent.key)
                    continue
                self._alerted.pop(intent.key, None)
                if self.config.dry_run:
                    await self._record_dry_run(bot, intent)
                    dry.append(intent.key)
                else:
                    await self._send(bot, intent)
                    sent.append(intent.key)
                    logger.bind(chain=intent.chain, key=intent.key).info(
                        "{} {} handed to the lane: {}", intent.kind, intent.target, "; ".join(intent.reasons)[:300])
                self.last_action[intent.target] = now
                await self._track_claim(bot, intent, dry_run=self.config.dry_run)
                self._publish_action(bot, intent, dry_run=self.config.dry_run)
            except Exception as exc:  # isolation per intent / account
                failed.append(intent.key)
                logger.opt(exception=exc).error("intent {} failed", intent.key)
                await self._alert_once(f"<failed>:{intent.key}", f"bot:{bot}",
                                       f"{intent.kind} {intent.target} failed: {type(exc).__name__}: {exc}",
                                       level="error", chain=intent.chain, key=intent.key)
        return TickReport(bot, tuple(sent), tuple(dry), tuple(blocked), tuple(failed), len(decision.skipped))

    def _signer(self, bot: str) -> str:
        cfg = self.config.bots.get(bot)
        return (cfg.signer if cfg is not None else None) or "default"

    async def _record_dry_run(self, bot: str, intent: ActionIntent) -> None:
        """Everything but the send: the journal row exists (same key) and is closed as a dry run."""
        row, created = await self.journal.create_intent(
            intent.key, chain=intent.chain, signer=f"dry-run:{self._signer(bot)}", bot=bot, kind=intent.kind,
            protocol=intent.protocol, target=intent.target, reason="dry_run: " + "; ".join(intent.reasons)[:900])
        if created:
            await self.journal.transition(row.id or 0, IntentState.ABANDONED, "dry_run: not sent")

    async def _send(self, bot: str, intent: ActionIntent) -> None:
        executor = self.executors.get(intent.chain)
        if executor is None:
            raise LookupError(f"no sending lane for chain {intent.chain!r}")
        if self.builder is None:
            raise LookupError("no call builder configured")
        spec = self.builder.build(intent)
        # the lane journals before it sends: when the database is locked this waits, and nothing goes out
        # without its journal row
        await self._timed_store(f"journal row {intent.key}", executor.submit(ActionRequest(
            key=intent.key, to=spec.to, data=spec.data, value=spec.value, urgency=intent.urgency,
            budget_max_fee=self._fee_cap(bot, intent), gas_limit=spec.gas_limit, bot=bot, kind=intent.kind,
            protocol=intent.protocol, target=intent.target)))
        self.guards.spend(intent.chain, self.clock(), intent.gas_cost_native)

    async def _track_claim(self, bot: str, intent: ActionIntent, dry_run: bool) -> None:
        """Claims, disputes and settlements are followed in the claims table from the moment they are decided."""
        prefix = "dry-run:" if dry_run else ""
        if intent.kind == "submit_claim":
            p = intent.params
            await self.store.upsert_claim(intent.key, chain=intent.chain, protocol=intent.protocol,
                                          evidence=str(p.get("evidence", "")), loss_usd=str(p.get("loss_usd", "0")),
                                          status=prefix + "submitted", filed_by=bot,
                                          source_chain=str(p.get("evidence", "")).split(":", 1)[0])
        elif intent.kind in ("dispute", "settle_claim"):
            status = {"dispute": "disputing", "settle_claim": "settling"}[intent.kind]
            await self.store.upsert_claim(str(intent.params.get("claim_id", intent.target)), chain=intent.chain,
                                          protocol=intent.protocol, status=prefix + status)

    def _fee_cap(self, bot: str, intent: ActionIntent) -> int | None:
        """`max_gas_gwei` of the bot's protocol section bounds the lane's fee bumps (wei per gas)."""
        cfg = self.config.bots.get(bot)
        params = cfg.protocols.get(intent.protocol) if cfg is not None else None
        cap = getattr(params, "max_gas_gwei", None)
        return None if cap is None else int(cap * 10**9)

    def _publish_action(self, bot: str, intent: ActionIntent, dry_run: bool) -> None:
        if self.bus is None:
            return
        self.bus.action(bot, {"key": intent.key, "kind": intent.kind, "chain": intent.chain,
                              "protocol": intent.protocol, "target": intent.target, "dry_run": dry_run,
                              "expected_profit_usd": intent.expected_profit_usd,
                              "notional_usd": intent.notional_usd, "reasons": list(intent.reasons)})

    async def _alert_once(self, dedup: str, source: str, message: str, level: str = "warning",
                          chain: str = "", key: str = "") -> None:
        """Alert unless the same fault (same text) was already alerted for `dedup` (an intent key or a bot's tick):
        a fault repeated every tick is one alert row, not one per tick."""
        if self._alerted.get(dedup) == message:
            return
        self._alerted[dedup] = message
        await self.alert(source, message, level=level, chain=chain, key=key)

    async def alert(self, source: str, message: str, level: str = "warning", chain: str = "", key: str = "") -> None:
        """Alert row in the store and a message on `rtrm/alerts`; a failing store never hides the alert log."""
        logger.bind(source=source, chain=chain).warning("alert: {}", message)
        with contextlib.suppress(Exception):
            await self.store.record_alert(source, message, level=level, chain=chain, key=key)
        if self.bus is not None:
            self.bus.alert({"source": source, "level": level, "chain": chain, "key": key, "message": message,
                            "at": self.clock()})

    async def _timed_store(self, what: str, op: Awaitable[T]) -> T:
        """A database write that waits longer than `store_slow_s` (a locked SQLite file, a slow server) marks the
        store degraded — once; the next quick write marks it recovered. The write itself is never skipped."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        result = await op
        waited = loop.time() - started
        await self.set_degraded("store", f"{what} waited {waited:.1f}s for the database (locked or slow)"
                                if waited > self.store_slow_s else None)
        return result

    async def set_degraded(self, component: str, why: str | None) -> None:
        """A degraded component (bus, store, log) is alerted once when it degrades and once when it recovers;
        the engine keeps acting meanwhile."""
        if why is not None and component not in self.degraded:
            self.degraded[component] = why
            await self.alert(f"degraded:{component}", f"{component} degraded: {why}")
        elif why is None and component in self.degraded:
            was = self.degraded.pop(component)
            await self.alert(f"degraded:{component}", f"{component} recovered (was: {was})", level="info")

    async def observe_oracle_faults(self, chain: str, faults: Sequence[tuple[str, str]]) -> None:
        """Feeds read on `chain` this round that gave no usable price (answer <= 0, reverted): they block every
        action on the chain (guards) and are alerted once per fault; an info alert closes it on recovery."""
        now = dict(faults)
        before = self.guards.faults.get(chain, {})
        for feed, why in now.items():
            if feed not in before:
                await self.alert("oracle:fault", f"oracle fault {feed}@{chain}: {why}; no action on {chain}",
                                 chain=chain)
        for feed in before.keys() - now.keys():
            await self.alert("oracle:fault", f"oracle {feed}@{chain} healthy again", level="info", chain=chain)
        self.guards.faults[chain] = now

    async def _check_components(self) -> None:
        """Degradations the engine notices itself: the MQTT bus lost its broker, the log sink cannot write."""
        if self.bus is not None:
            up = self.bus.connected
            self._bus_seen_up = self._bus_seen_up or up
            if self._bus_seen_up:
                await self.set_degraded("bus", None if up else
                                        f"MQTT broker unreachable; {self.bus.stats().buffered} messages buffered")
        if self.log_status is not None:
            await self.set_degraded("log", self.log_status())

    # ------------------------------------------------------------------ watchdog and health
    async def _watchdog(self) -> None:
        while True:
            await asyncio.sleep(self.watchdog_s)
            try:
                await self._check_components()
            except Exception as exc:  # a failing check never stops the watchdog
                logger.warning("component check failed: {}", exc)
            now = asyncio.get_running_loop().time()
            for name, h in self.health.items():
                task = self._bot_tasks.get(name)
                if not h.running or task is None:
                    continue
                stalled = h.tick_started is not None and now - h.tick_started > self.stall_s
                if task.done() or stalled:
                    why = "stalled" if stalled else "stopped unexpectedly"
                    await self.alert(f"bot:{name}", f"watchdog: bot {why}; restarting", level="error")
                    await self.stop_bot(name)
                    h.restarts += 1
                    self.start_bot(name)

    def health_report(self) -> dict[str, dict[str, Any]]:
        """Per bot: running, healthy (ticked within 3 intervals), counters, last error."""
        now = self.clock()
        out: dict[str, dict[str, Any]] = {}
        for name, h in self.health.items():
            fresh = h.last_ok is not None and (now - h.last_ok).total_seconds() <= 3 * self._interval(name) + 1
            out[name] = {"running": h.running, "healthy": h.running and fresh, "ticks": h.ticks,
                         "errors": h.errors, "restarts": h.restarts, "last_error": h.last_error}
        return out

    # ------------------------------------------------------------------ collectors
    async def _collect(self, sub: Subscription) -> None:
        async for event in sub:
            try:
                await self.on_event(event)
                self.trigger_chain(event)  # only collector events: a bot's own reads never re-trigger it
            except Exception as exc:  # isolation: one bad event/account never stops the collector
                detail = getattr(getattr(event, "account", None), "account_id", "")
                logger.opt(exception=exc).error("event {} failed", type(event).__name__)
                await self.alert("collector", f"{type(event).__name__} {detail} on {sub.chain} skipped: "
                                              f"{type(exc).__name__}: {exc}", chain=sub.chain)

    async def on_event(self, event: object) -> None:
        if isinstance(event, PositionChanged):
            if self.book is not None:
                self.book.apply(event)
        elif isinstance(event, OracleUpdate):
            if event.quote is not None:
                q = event.quote
                self.guards.observe(q)
                if self.book is not None and q.price > 0:
                    self.book.tick(q)
                await self._timed_store(f"quote {q.source.value}:{q.asset.value}@{q.chain}", self.store.record_quote(q))
                if self.bus is not None:
                    self.bus.oracle(q.chain, {"source": q.source.value, "asset": q.asset.value, "price": q.price,
                                              "confidence": q.confidence, "publish_time": q.publish_time,
                                              "block": q.block})
        elif isinstance(event, NewHead):
            self.heads[event.chain] = event.number
            age = max((self.clock() - datetime.fromtimestamp(event.timestamp, UTC)).total_seconds(), 0.0)
            await self.store.record_chain_health(event.chain, event.number, age, True)
        elif isinstance(event, Freshness):
            await self.store.record_chain_health(event.chain, self.heads.get(event.chain, 0), event.head_age_s,
                                                 event.healthy, event.endpoint)
        elif isinstance(event, Lagged):
            self.lag_resyncs[event.chain] = self.lag_resyncs.get(event.chain, 0) + 1
            logger.warning("collector for {} lagged ({} events dropped); resyncing from a full read",
                           event.chain, event.missed)
            await self.resync(event.chain)
        elif isinstance(event, Reorg):
            await self.resync(event.chain)

    async def resync(self, chain: str) -> int:
        """Rebuild the chain's part of the book from a full re-read; returns the accounts applied."""
        if self.resyncer is None or self.book is None:
            return 0
        snapshot = await self.resyncer.accounts(chain)
        self.book.drop_chain(chain)
        n = 0
        for ev in snapshot:
            try:
                self.book.apply(ev)
                n += 1
            except Exception as exc:
                await self.alert("resync", f"account {ev.account.account_id} on {chain} skipped: {exc}", chain=chain)
        return n

    async def resync_all(self) -> None:
        for chain in self.config.chains:
            await self.resync(chain)

    # ------------------------------------------------------------------ risk snapshots and reload
    async def snapshot_risk(self) -> list[RiskSnapshot]:
        now = self.clock()
        figures: dict[str, dict[str, Any]] = {}
        if self.book is not None:
            figures = {e: dict(f) for e, f in self.book.entity_risk(now).items()}
        if self.risk_extras is not None:
            for entity, extra in (await self.risk_extras(now)).items():
                figures.setdefault(entity, {}).update(extra)
        rows = [RiskSnapshot.model_validate({"entity": e, **f}) for e, f in sorted(figures.items())]
        if rows:
            await self.store.record_risk(rows)
        if self.bus is not None:
            for r in rows:
                self.bus.risk(r.entity, r.model_dump(mode="json", exclude={"id"}))
        return rows

    async def apply_reload(self, new: Config, diff: ReloadDiff) -> None:
        """Strategy parameters take effect now; every change (and what needs a restart) goes to the audit."""
        self.config = new
        self.guards.max_jump = new.guards.max_price_jump
        await self.store.record_config_changes([(c.path, c.old, c.new) for c in diff.changes])
        if diff.restart_needed:
            await self.store.record_config_changes([(p, "", "") for p in diff.restart_needed], applied=False)
            await self.alert("config", "changed fields need a restart: " + ", ".join(diff.restart_needed))

    async def _maybe_reload(self) -> None:
        assert self.config_path is not None
        mtime = self.config_path.stat().st_mtime
        if mtime == self._config_mtime:
            return
        self._config_mtime = mtime
        try:
            new, diff = reload_config(self.config_path, self.config)
        except Exception as exc:
            await self.alert("config", f"reload rejected, keeping the running config: {exc}")
            return
        if not diff.empty:
            await self.apply_reload(new, diff)
