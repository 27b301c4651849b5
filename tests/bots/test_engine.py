"""Engine tests with real SQLite (store + journal) and a real mosquitto.

Only the ADAPTER side is faked, in-process: the call builder, the sending lane (it journals like a lane but sends
nothing) and the resyncer. The full devnet end-to-end (real lanes on anvil) comes with the integration work.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bots.book_feed import BookFeed
from bots.broker import LocalBroker
from bots.bus import Bus, decode, subscribe
from bots.config import Config, parse_config
from bots.engine import BotSpec, CallSpec, Engine
from bots.journal import Intent, Journal
from bots.store import Alert, ConfigAudit, Store
from bots.strategies import liquidator
from bots.strategies.intents import ActionIntent, Decision
from bots.strategies.liquidator import GasView, LiquidatorState, PMCandidate
from chains.events import Lagged, OracleUpdate, PositionChanged, Reorg
from chains.evm.lane import ActionRequest
from chains.model import (
    AccountState,
    Instrument,
    InstrumentKind,
    OptionType,
    OracleQuote,
    OracleSource,
    Position,
    Underlying,
)
from chains.stream import EventStream
from tests.bots.test_bus import mosquitto  # noqa: F401  (fixture)

NOW = datetime.now(UTC).replace(microsecond=0)
CONFIG = """
dry_run = {dry}
[chains.arbitrum]
rpc_urls = ["http://127.0.0.1:1"]
chain_id = 42161
[signers.keeper]
env = "RTRM_KEEPER_KEY"
[protocols.portfolio_margin]
kind = "portfolio_margin"
chain = "arbitrum"
addresses = {{ PortfolioMargin = "0x00000000000000000000000000000000000000aa" }}
[guards]
max_notional_usd = "100000"
[bots.liquidator]
signer = "keeper"
interval_s = 0.05
[bots.liquidator.protocols.portfolio_margin]
min_profit_usd = "{min_profit}"
cooldown_s = 0
max_gas_gwei = "2.5"
"""


def config(dry: bool = True, min_profit: str = "10") -> Config:
    return parse_config(CONFIG.format(dry=str(dry).lower(), min_profit=min_profit))


class FakeLane:
    """Adapter-side fake: journals the request like EvmLane.submit, never touches a chain."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.requests: list[ActionRequest] = []

    async def submit(self, request: ActionRequest) -> Intent:
        self.requests.append(request)
        intent, _ = await self.journal.create_intent(request.key, chain="arbitrum", signer="0xkeeper",
                                                     bot=request.bot, kind=request.kind, protocol=request.protocol,
                                                     target=request.target, to_address=request.to)
        return intent


class FakeBuilder:
    def build(self, intent: ActionIntent) -> CallSpec:
        if intent.target.endswith("poison"):
            raise ValueError("cannot encode call for this account")
        return CallSpec(to="0x00000000000000000000000000000000000000aa", data="0x1234")


ACCOUNTS = (
    PMCandidate("arbitrum", "portfolio_margin", "acct-1", -100.0, 1000.0, 200.0, 900.0, auction_id="a1",
                auction_elapsed_s=900.0),
    PMCandidate("arbitrum", "portfolio_margin", "acct-2", -50.0, 0.0, 0.0, 0.0, episode="b5"),
    PMCandidate("arbitrum", "portfolio_margin", "acct-3", 10.0, 1000.0, 0.0, 0.0),
)


def liq_source(accounts: Sequence[PMCandidate] = ACCOUNTS) -> Any:
    async def source(now: datetime) -> LiquidatorState:
        return LiquidatorState(now, pm_accounts=tuple(accounts), gas={"arbitrum": GasView(Decimal("0.1"),
                                                                                         Decimal(3000))})
    return source


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[tuple[Journal, Store]]:
    journal = await Journal(str(tmp_path / "rtrm.db")).open()
    store = await Store(engine=journal.engine).open()
    yield journal, store
    await journal.close()


def make_engine(db: tuple[Journal, Store], cfg: Config, bus: Bus | None = None, **kw: Any) -> tuple[Engine, FakeLane]:
    journal, store = db
    lane = FakeLane(journal)
    bots = kw.pop("bots", [BotSpec("liquidator", liquidator.decide, liq_source())])
    return Engine(cfg, store, journal, bots, executors={"arbitrum": lane}, builder=FakeBuilder(), bus=bus,
                  **kw), lane


def fresh_quote(age_s: float = 5, price: str = "3000") -> OracleUpdate:
    return OracleUpdate("arbitrum", OracleQuote(OracleSource.CHAINLINK, Underlying.ETH, Decimal(price),
                                                datetime.now(UTC) - timedelta(seconds=age_s), "arbitrum", 1))


async def test_dry_run_records_the_same_intents_as_live_without_sending(
        db: tuple[Journal, Store], mosquitto: LocalBroker) -> None:  # noqa: F811
    bus = await Bus(mosquitto.url).start()
    dry_engine, dry_lane = make_engine(db, config(dry=True), bus)
    async with subscribe(mosquitto.url, ["rtrm/actions/#"]) as sub:
        report = await dry_engine.tick("liquidator")
        assert await bus.wait_flushed(5)
        msgs = []
        async for m in sub.messages:
            msgs.append(decode(m))
            if len(msgs) == 2:
                break
    await bus.stop()
    assert dry_lane.requests == []
    assert sorted(report.dry_run) == ["liquidator:arbitrum:portfolio_margin:acct-1:auction:a1:bid",
                                      "liquidator:arbitrum:portfolio_margin:acct-2:start:b5"]
    assert all(m["dry_run"] is True for m in msgs) and {m["key"] for m in msgs} == set(report.dry_run)
    journal, store = db
    rows = await store.actions()
    assert {r.key for r in rows} == set(report.dry_run)
    assert all(r.state == "abandoned" and r.reason == "dry_run: not sent" for r in rows)

    live_engine, live_lane = make_engine(db, config(dry=False))
    live = await live_engine.tick("liquidator")
    # same decisions, now sent (the journal keys already exist from the dry run: the lane keeps them idempotent)
    assert sorted(r.key for r in live_lane.requests) == sorted(report.dry_run) == sorted(live.sent)
    assert all(r.bot == "liquidator" and r.to.endswith("aa") for r in live_lane.requests)
    assert all(r.budget_max_fee == 2_500_000_000 for r in live_lane.requests)  # max_gas_gwei → lane fee cap


async def test_guard_failure_blocks_and_alerts_once_in_store_and_on_mqtt(
        db: tuple[Journal, Store], mosquitto: LocalBroker) -> None:  # noqa: F811
    bus = await Bus(mosquitto.url).start()
    engine, lane = make_engine(db, config(dry=False), bus)
    await engine.on_event(fresh_quote(age_s=7200))  # stale chainlink on arbitrum
    async with subscribe(mosquitto.url, ["rtrm/alerts"]) as sub:
        report = await engine.tick("liquidator")
        again = await engine.tick("liquidator")
        assert await bus.wait_flushed(5)
        first = decode(await asyncio.wait_for(anext(aiter(sub.messages)), 5))
    await bus.stop()
    assert lane.requests == [] and len(report.blocked) == 2 and len(again.blocked) == 2
    assert first["source"] == "guard:oracle" and "stale" in first["message"]
    _, store = db
    assert await store.count(Alert) == 2  # one per intent, not one per tick
    await engine.on_event(fresh_quote(age_s=1))
    ok = await engine.tick("liquidator")
    assert len(ok.sent) == 2 and len(lane.requests) == 2


async def test_one_crashing_bot_and_one_bad_intent_do_not_stop_others(db: tuple[Journal, Store]) -> None:
    def boom(state: object, params: object) -> Decision:
        raise RuntimeError("strategy bug")

    accounts = (*ACCOUNTS, replace(ACCOUNTS[1], account_id="acct-poison"))
    bots = [BotSpec("liquidator", liquidator.decide, liq_source(accounts)),
            BotSpec("hedger", boom, liq_source(), interval_s=0.05)]
    engine, lane = make_engine(db, config(dry=False), bots=bots)
    await engine.start()
    try:
        for _ in range(100):
            if engine.health["hedger"].errors >= 2 and engine.health["liquidator"].ticks >= 2:
                break
            await asyncio.sleep(0.05)
    finally:
        await engine.stop()
    h = engine.health_report()
    assert h["hedger"]["errors"] >= 2 and "strategy bug" in h["hedger"]["last_error"]
    assert h["liquidator"]["errors"] == 0 and h["liquidator"]["ticks"] >= 2
    keys = {r.key for r in lane.requests}
    assert "liquidator:arbitrum:portfolio_margin:acct-1:auction:a1:bid" in keys
    assert not any("poison" in k for k in keys)
    _, store = db
    messages = [a.message for a in await store.alerts(200)]
    assert any("acct-poison failed: ValueError" in m for m in messages)
    assert any("tick failed: RuntimeError: strategy bug" in m for m in messages)


async def test_watchdog_restarts_a_stalled_bot(db: tuple[Journal, Store]) -> None:
    calls = {"n": 0}

    async def hangs_once(now: datetime) -> LiquidatorState:
        calls["n"] += 1
        if calls["n"] == 1:
            await asyncio.sleep(3600)
        return LiquidatorState(now)

    engine, _ = make_engine(db, config(), bots=[BotSpec("liquidator", liquidator.decide, hangs_once)],
                            watchdog_s=0.05, stall_s=0.2)
    await engine.start()
    try:
        for _ in range(100):
            if engine.health["liquidator"].ticks >= 1:
                break
            await asyncio.sleep(0.05)
    finally:
        await engine.stop()
    assert engine.health["liquidator"].restarts >= 1 and engine.health["liquidator"].ticks >= 1
    assert engine.health_report()["liquidator"]["running"] is False  # stopped cleanly


def _pos(account: str, size: str, owner: str = "0xKeeper", strike: int = 3000) -> Position:
    inst = Instrument(Underlying.ETH, InstrumentKind.OPTION, "arbitrum", "portfolio_margin", f"s{strike}",
                      option_type=OptionType.CALL, strike=Decimal(strike), expiry=NOW + timedelta(days=30))
    return Position(owner, "keeper", inst, Decimal(size), account)


def _changed(account: str, *positions: Position) -> PositionChanged:
    state = AccountState("arbitrum", "portfolio_margin", account, "0xKeeper", 10, positions=positions)
    return PositionChanged("arbitrum", "portfolio_margin", state, positions, 10)


class FakeResyncer:
    def __init__(self, snapshot: Sequence[PositionChanged]) -> None:
        self.snapshot = list(snapshot)
        self.calls: list[str] = []

    async def accounts(self, chain: str) -> Sequence[PositionChanged]:
        self.calls.append(chain)
        return self.snapshot


async def test_collector_isolates_bad_account_and_resyncs_on_lag(db: tuple[Journal, Store]) -> None:
    stream = EventStream("arbitrum")
    feed = BookFeed(NOW.timestamp())
    resync_state = [_changed("acct-1", _pos("acct-1", "2")), _changed("acct-9", _pos("acct-9", "-1", strike=3500))]
    resyncer = FakeResyncer(resync_state)
    engine, _ = make_engine(db, config(), bots=[], streams=[stream], book=feed, resyncer=resyncer)
    await engine.start()
    try:
        stream.publish(fresh_quote())
        stream.publish(_changed("acct-1", _pos("acct-1", "1")))
        stream.publish(_changed("acct-bad", _pos("acct-bad", "NaN")))
        stream.publish(_changed("acct-2", _pos("acct-2", "-3", strike=3200)))
        for _ in range(100):
            if feed.positions_of("arbitrum", "portfolio_margin", "acct-2"):
                break
            await asyncio.sleep(0.02)
        assert feed.positions_of("arbitrum", "portfolio_margin", "acct-1")
        assert not feed.positions_of("arbitrum", "portfolio_margin", "acct-bad")
        _, store = db
        assert any("acct-bad" in a.message for a in await store.alerts())
        stream.publish(Lagged("arbitrum", 42))
        stream.publish(Reorg("arbitrum", 2, 8, "0xold", "0xnew"))
        for _ in range(100):
            if len(resyncer.calls) == 2:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.05)
    finally:
        await engine.stop()
    assert resyncer.calls == ["arbitrum", "arbitrum"] and engine.lag_resyncs == {"arbitrum": 1}
    assert not feed.positions_of("arbitrum", "portfolio_margin", "acct-2")  # rebuilt from the full read
    assert feed.positions_of("arbitrum", "portfolio_margin", "acct-9")
    assert len(feed.book) == 2


async def test_risk_snapshots_job_and_hot_reload_audit(db: tuple[Journal, Store], tmp_path: Path,
                                                       mosquitto: LocalBroker) -> None:  # noqa: F811
    path = tmp_path / "rtrm.toml"
    path.write_text(CONFIG.format(dry="true", min_profit="10"))
    feed = BookFeed(NOW.timestamp())
    bus = await Bus(mosquitto.url).start()
    async def extras(now: datetime) -> dict[str, dict[str, object]]:  # margin mirrors live on the adapter side
        return {"keeper": {"maintenance_margin": 1200.0, "worst_scenario": "spot -18%, vol up",
                           "distance_to_liquidation": 0.31}}

    engine, _ = make_engine(db, config(), bus, bots=[], book=feed, config_path=path, risk_extras=extras)
    await engine.on_event(fresh_quote())
    feed.apply(_changed("acct-1", _pos("acct-1", "2")))
    await engine.start(risk_interval_s=0.1, reload_interval_s=0.1)
    _, store = db
    try:
        path.write_text(CONFIG.format(dry="true", min_profit="42"))
        for _ in range(100):
            if await store.count(ConfigAudit) and await store.latest_risk():
                break
            await asyncio.sleep(0.05)
    finally:
        await engine.stop()
        await bus.wait_flushed(5)
        await bus.stop()
    risk = await store.latest_risk()
    assert [r.entity for r in risk] == ["keeper"] and risk[0].dollar_delta > 0  # long calls: positive delta
    assert risk[0].worst_scenario == "spot -18%, vol up" and risk[0].distance_to_liquidation == 0.31
    audit = await store.config_audit()
    assert [(a.path, a.old, a.new) for a in audit] == [
        ("bots.liquidator.protocols.portfolio_margin.min_profit_usd", "'10'", "'42'")]
    assert engine.config.bots["liquidator"].protocols["portfolio_margin"].min_profit_usd == Decimal(42)
    async with subscribe(mosquitto.url, ["rtrm/risk/+"]) as sub:  # retained: a late subscriber sees it
        msg = decode(await asyncio.wait_for(anext(aiter(sub.messages)), 5))
    assert msg["entity"] == "keeper" and msg["dollar_delta"] == pytest.approx(risk[0].dollar_delta)


async def test_settlement_tick_scheduled_at_expiry(db: tuple[Journal, Store]) -> None:
    ticked: list[datetime] = []

    async def source(now: datetime) -> None:
        ticked.append(now)

    engine, _ = make_engine(db, config(), bots=[BotSpec("settlement", lambda s, p: Decision(), source,
                                                        interval_s=3600)])
    await engine.start()
    try:
        await asyncio.sleep(0.05)
        first = len(ticked)  # the loop's own first tick
        engine.schedule_expiry(datetime.now(UTC) + timedelta(seconds=0.2), delay_s=0.0)
        for _ in range(60):
            if len(ticked) > first:
                break
            await asyncio.sleep(0.05)
    finally:
        await engine.stop()
    assert first == 1 and len(ticked) == 2


async def test_claim_decisions_are_tracked_in_the_claims_table(db: tuple[Journal, Store]) -> None:
    from bots.strategies import claimer, disputer
    from bots.strategies.claims import Cover, FiledClaim, LiquidationEvent

    now = datetime.now(UTC)
    cover = Cover("cov-1", "fund", "0xFund", "arbitrum", "portfolio_margin", Decimal(5000), now + timedelta(days=1))
    ev = LiquidationEvent("arbitrum", "portfolio_margin", "0xFund", "0xtx", 3, 50, Decimal("321.5"), now)
    fake = FiledClaim("c-77", cover, "0xMallory", "arbitrum:0xnothing:0", Decimal(4000), now + timedelta(hours=1))

    async def claims_state(now: datetime) -> claimer.ClaimerState:
        return claimer.ClaimerState(now, "arbitrum", "cover_market", (cover,), (ev,))

    async def dispute_state(now: datetime) -> disputer.DisputerState:
        return disputer.DisputerState(now, "arbitrum", "cover_market", (fake,), {ev.ref: ev})

    cfg = config(dry=True).model_copy(update={"bots": parse_config(CONFIG.format(dry="true", min_profit="1") + """
[protocols.cover_market]
kind = "cover_market"
chain = "arbitrum"
addresses = { CoverMarket = "0x00000000000000000000000000000000000000cc" }
[bots.claimer.protocols.cover_market]
[bots.disputer.protocols.cover_market]
""").bots})
    engine, _ = make_engine(db, cfg, bots=[BotSpec("claimer", claimer.decide, claims_state),
                                           BotSpec("disputer", disputer.decide, dispute_state)])
    await engine.on_event(fresh_quote())
    assert len((await engine.tick("claimer")).dry_run) == 1
    assert len((await engine.tick("disputer")).dry_run) == 1
    _, store = db
    rows = {c.claim_id: c for c in await store.claims()}
    filed = rows["claimer:claim:cov-1:arbitrum:0xtx:3"]
    assert (filed.status, filed.evidence, filed.loss_usd, filed.source_chain) == (
        "dry-run:submitted", "arbitrum:0xtx:3", "321.5", "arbitrum")
    assert rows["c-77"].status == "dry-run:disputing"
