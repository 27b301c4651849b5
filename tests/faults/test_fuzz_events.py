"""Protocol events with absurd values into the normalisers (huge uint256, negative int256, zero prices, absurd
decimals / exponents / timestamps) → rejected with a reason (AdapterError family) or a sane quote; and one running
engine whose bot source keeps failing on malformed data: the engine keeps ticking and each distinct fault is one
alert row. The engine runs for real (real SQLite store and journal); its state source is an in-process stand-in
that raises the adapters' own DecodeError."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bots.engine import BotSpec, Engine
from bots.journal import Journal
from bots.store import Alert, Store
from chains.model import Underlying
from chains.protocols.base import AdapterError, DecodeError
from chains.protocols.oracles import PythPrice, Round, chainlink_quote, pyth_quote, svi_slice
from tests.bots.test_engine import config

FUZZ = settings(max_examples=200, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])
INT256 = st.sampled_from([-(2**255), -1, 0, 1, 2**255 - 1, 2**256 - 1, 10**77]) | st.integers(-(2**255), 2**256)
TS = st.sampled_from([0, -1, 2**64 - 1, 253402300800, 1_700_000_000]) | st.integers(-(2**70), 2**70)


@FUZZ
@given(rid=INT256, answer=INT256, started=TS, updated=TS, decimals=st.integers(-300, 300))
def test_chainlink_rounds_with_absurd_values(rid: int, answer: int, started: int, updated: int, decimals: int) -> None:
    try:
        q = chainlink_quote(Round(rid, answer, started, updated, rid), decimals, Underlying.ETH, "c", 1, "feed")
    except AdapterError as exc:
        assert str(exc)
        return
    assert q.price > 0


@FUZZ
@given(price=INT256, conf=INT256, expo=st.integers(-(2**31), 2**31), publish=TS)
def test_pyth_prices_with_absurd_values(price: int, conf: int, expo: int, publish: int) -> None:
    try:
        q = pyth_quote(PythPrice(price, conf, expo, publish), Underlying.ETH, "c", 1, "feed")
    except AdapterError as exc:
        assert str(exc)
        return
    assert q.price > 0 and q.confidence is not None and q.confidence >= 0


@FUZZ
@given(raw=st.tuples(INT256, INT256, INT256, INT256, INT256, INT256, TS), expiry=TS)
def test_svi_slices_with_absurd_values(raw: tuple[int, ...], expiry: int) -> None:
    try:
        s = svi_slice(raw, Underlying.ETH, expiry, "c", 1, "fuzz")
    except AdapterError as exc:
        assert str(exc)
        return
    assert s.forward > 0 and s.sigma > 0


# ------------------------------------------------------------------------------------------- engine level
@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[tuple[Journal, Store]]:
    journal = await Journal(str(tmp_path / "rtrm.db")).open()
    store = await Store(engine=journal.engine).open()
    yield journal, store
    await journal.close()


async def test_engine_keeps_ticking_and_alerts_once_per_distinct_fault(db: tuple[Journal, Store]) -> None:
    journal, store = db
    faults = ["getVault: expected 448 bytes of return data, got 31"] * 8 + ["AnswerUpdated: expected 3 topics"] * 8

    async def source(now: datetime) -> object:
        if faults:
            raise DecodeError("fuzz", faults.pop(0))
        return now

    def decide(state: object, params: object) -> object:
        from bots.strategies.intents import Decision

        return Decision()

    engine = Engine(config(dry=False), store, journal, [BotSpec("liquidator", decide, source, interval_s=0.02)])
    await engine.start()
    try:
        for _ in range(500):
            if engine.health["liquidator"].ticks >= 3:
                break
            await asyncio.sleep(0.02)
    finally:
        await engine.stop()
    h = engine.health["liquidator"]
    assert h.errors == 16 and h.ticks >= 3  # every malformed read failed its tick; the bot kept going
    alerts = [a.message for a in await store.alerts(100)]
    assert await store.count(Alert) == 2, alerts  # one per distinct fault, not one per tick
    assert any("448 bytes" in m for m in alerts) and any("3 topics" in m for m in alerts)
