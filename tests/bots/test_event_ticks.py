"""Event ticks in the engine (real SQLite, in-process bots): chain events on a bot's chains wake it at once,
coalesced to a tick in progress plus at most one pending; other chains, other event kinds and the config switch
leave it on its interval."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from bots.config import Config, parse_config
from bots.engine import BotSpec, Engine
from bots.journal import Journal
from bots.store import Store
from bots.strategies.intents import Decision
from bots.triggers import event_ticked
from chains.events import Freshness, NewHead, Reorg
from chains.stream import EventStream
from tests.bots.test_engine import fresh_quote

BASE = """
{glob}
[chains.arbitrum]
rpc_urls = ["http://127.0.0.1:1"]
chain_id = 42161
[bots.liquidator]
interval_s = 3600
{per_bot}
"""


def cfg(glob: str = "", per_bot: str = "") -> Config:
    return parse_config(BASE.format(glob=glob, per_bot=per_bot))


class GatedSource:
    """A bot source that counts ticks and, when gated, holds each tick until released (a tick in progress)."""

    def __init__(self) -> None:
        self.ticks = 0
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()

    async def __call__(self, now: datetime) -> None:
        self.ticks += 1
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()


def nothing(state: Any, params: Any) -> Decision:
    return Decision()


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[tuple[Journal, Store]]:
    journal = await Journal(str(tmp_path / "rtrm.db")).open()
    store = await Store(engine=journal.engine).open()
    yield journal, store
    await journal.close()


async def until(pred: Any, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not pred():
        assert loop.time() < end, "condition not reached"
        await asyncio.sleep(0.01)


async def settle() -> None:
    for _ in range(20):  # let woken tasks run to their next wait
        await asyncio.sleep(0.01)


def engine(db: tuple[Journal, Store], config: Config, src: GatedSource, streams: Any = ()) -> Engine:
    journal, store = db
    return Engine(config, store, journal, [BotSpec("liquidator", nothing, src, chains=frozenset({"arbitrum"}))],
                  streams=streams)


async def test_events_during_a_tick_coalesce_to_one_pending(db: tuple[Journal, Store]) -> None:
    src = GatedSource()
    eng = engine(db, cfg(), src)
    await eng.start(risk_interval_s=3600, resync_interval_s=3600)
    try:
        await until(lambda: src.ticks == 1)  # the start tick; the interval (1 h) will not fire again
        await settle()
        assert src.ticks == 1
        src.gate, src.entered = asyncio.Event(), asyncio.Event()
        assert eng.trigger_chain(fresh_quote()) == ["liquidator"]
        await asyncio.wait_for(src.entered.wait(), 5)  # tick 2 in progress, held
        for _ in range(25):  # a burst while it runs: one pending, not 25
            eng.trigger_chain(fresh_quote())
        src.gate.set()
        await until(lambda: src.ticks == 3)
        await settle()
        assert src.ticks == 3
        assert eng.event_ticks["liquidator"] == 26  # every trigger was accepted, they just coalesced
    finally:
        await eng.stop()


async def test_only_the_bots_chains_and_trigger_kinds_wake_it(db: tuple[Journal, Store]) -> None:
    src = GatedSource()
    eng = engine(db, cfg(), src)
    await eng.start(risk_interval_s=3600, resync_interval_s=3600)
    try:
        await until(lambda: src.ticks == 1)
        other = fresh_quote()
        assert eng.trigger_chain(type(other)("base", other.quote)) == []  # another chain
        assert eng.trigger_chain(NewHead("arbitrum", 5, "0x1", "0x0", 0)) == []  # heads alone are not triggers
        assert eng.trigger_chain(Freshness("arbitrum", 1.0, 1.0)) == []
        await settle()
        assert src.ticks == 1
        assert eng.trigger_chain(Reorg("arbitrum", 1, 4, "0xa", "0xb")) == ["liquidator"]
        await until(lambda: src.ticks == 2)
    finally:
        await eng.stop()


async def test_stream_events_trigger_through_the_collector(db: tuple[Journal, Store]) -> None:
    src = GatedSource()
    stream = EventStream("arbitrum")
    eng = engine(db, cfg(), src, streams=[stream])
    await eng.start(risk_interval_s=3600, resync_interval_s=3600)
    try:
        await until(lambda: src.ticks == 1)
        stream.publish(fresh_quote())
        await until(lambda: src.ticks == 2)
        assert len(eng.guards.quotes) == 1  # the event itself was applied before the tick it caused
    finally:
        await eng.stop()


async def test_a_bots_own_on_event_calls_do_not_trigger(db: tuple[Journal, Store]) -> None:
    """What a bot reads during its tick goes through on_event; re-triggering on it would tick forever."""
    src = GatedSource()
    eng = engine(db, cfg(), src)
    await eng.start(risk_interval_s=3600, resync_interval_s=3600)
    try:
        await until(lambda: src.ticks == 1)
        await eng.on_event(fresh_quote())
        await settle()
        assert src.ticks == 1 and eng.event_ticks["liquidator"] == 0
    finally:
        await eng.stop()


@pytest.mark.parametrize(("glob", "per_bot", "expected"), [
    ("", "", True),
    ("event_ticks = false", "", False),
    ("event_ticks = false", "event_ticks = true", True),
    ("", "event_ticks = false", False),
])
async def test_config_switch(db: tuple[Journal, Store], glob: str, per_bot: str, expected: bool) -> None:
    config = cfg(glob, per_bot)
    assert event_ticked(config, "liquidator") is expected
    src = GatedSource()
    eng = engine(db, config, src)
    await eng.start(risk_interval_s=3600, resync_interval_s=3600)
    try:
        await until(lambda: src.ticks == 1)
        assert eng.trigger_chain(fresh_quote()) == (["liquidator"] if expected else [])
        await settle()
        assert src.ticks == (2 if expected else 1)
    finally:
        await eng.stop()


async def test_trigger_on_a_stopped_bot_is_refused(db: tuple[Journal, Store]) -> None:
    src = GatedSource()
    eng = engine(db, cfg(), src)
    assert eng.trigger("liquidator") is False  # not started
    await eng.start(risk_interval_s=3600, resync_interval_s=3600)
    try:
        await until(lambda: src.ticks == 1)
        await eng.stop_bot("liquidator")
        assert eng.trigger("liquidator") is False
    finally:
        await eng.stop()
