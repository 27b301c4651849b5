"""Journal tests on real SQLite (WAL) and, when the local service is reachable, real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bots.db import StoreUrlError, normalize_url, redacted
from bots.journal import ALLOWED, FINAL, IntentState, Journal, TransitionError, check_transition

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


async def _pg_database() -> str | None:
    try:
        import asyncpg
    except ImportError:
        return None
    name = f"rtrm_test_{uuid.uuid4().hex[:10]}"
    try:
        conn = await asyncio.wait_for(asyncpg.connect(PG_ADMIN), timeout=3)
    except Exception:
        return None
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name


async def _pg_drop(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", "postgres"])
async def journal(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Journal]:
    if request.param == "sqlite":
        j = await Journal(str(tmp_path / "journal.db")).open()
        yield j
        await j.close()
        return
    name = await _pg_database()
    if name is None:
        pytest.skip("PostgreSQL not reachable at 127.0.0.1:5432 (user postgres); SQLite variant still runs")
    j = await Journal(f"postgresql://postgres@127.0.0.1:5432/{name}").open()
    try:
        yield j
    finally:
        await j.close()
        await _pg_drop(name)


FIELDS = dict(chain="arbitrum", signer="0xabc", bot="liquidator", kind="bid", protocol="PortfolioMargin")


async def test_same_key_is_created_once(journal: Journal) -> None:
    key = "liquidate:arbitrum:PortfolioMargin:acct-7:auction-1"
    first, created = await journal.create_intent(key, **FIELDS)
    again, created_again = await journal.create_intent(key, **FIELDS, target="other")
    assert created and not created_again
    assert again.id == first.id and again.target == ""


async def test_concurrent_creates_yield_one_intent(journal: Journal) -> None:
    results = await asyncio.gather(*(journal.create_intent("hedge:base:1", **FIELDS) for _ in range(8)))
    assert sum(created for _, created in results) == 1
    assert len({intent.id for intent, _ in results}) == 1


async def test_lifecycle_with_attempts_and_transitions(journal: Journal) -> None:
    intent, _ = await journal.create_intent("settle:ethereum:VaultOptions:v1", **FIELDS)
    assert intent.id is not None
    await journal.transition(intent.id, IntentState.SIMULATED, "eth_call ok")
    await journal.transition(intent.id, IntentState.SENT, "nonce 4", nonce=4)
    a1 = await journal.record_attempt(intent.id, 4, 30 * 10**9, 10**9, "0x" + "11" * 32, status="broadcast")
    await journal.transition(intent.id, IntentState.SENT, "bump 1")
    await journal.record_attempt(intent.id, 4, 34 * 10**9, 2 * 10**9, "0x" + "22" * 32, status="broadcast")
    assert a1.id is not None
    await journal.set_attempt_status(a1.id, "replaced")
    done = await journal.transition(intent.id, IntentState.MINED, "receipt", tx_hash="0x" + "22" * 32,
                                    block_number=12, block_hash="0x" + "aa" * 32)
    assert (done.state, done.nonce, done.block_number) == ("mined", 4, 12)
    attempts = await journal.attempts(intent.id)
    assert [a.status for a in attempts] == ["replaced", "broadcast"]
    assert attempts[1].max_fee_wei == str(34 * 10**9)
    path = [(t.from_state, t.to_state) for t in await journal.transitions(intent.id)]
    assert path == [("", "planned"), ("planned", "simulated"), ("simulated", "sent"), ("sent", "sent"),
                    ("sent", "mined")]
    assert [i.key for i in await journal.non_final()] == ["settle:ethereum:VaultOptions:v1"]
    await journal.transition(intent.id, IntentState.CONFIRMED, "12 confirmations")
    assert await journal.non_final() == []


async def test_illegal_transition_is_refused_and_changes_nothing(journal: Journal) -> None:
    intent, _ = await journal.create_intent("claim:base:cover-3", **FIELDS)
    assert intent.id is not None
    with pytest.raises(TransitionError, match="planned → confirmed"):
        await journal.transition(intent.id, IntentState.CONFIRMED)
    assert (await journal.get_by_id(intent.id)).state == "planned"  # type: ignore[union-attr]


async def test_reorged_intent_is_reopened_not_resent(journal: Journal) -> None:
    intent, _ = await journal.create_intent("hedge:base:pool", **FIELDS)
    assert intent.id is not None
    for state in (IntentState.SIMULATED, IntentState.SENT, IntentState.MINED, IntentState.CONFIRMED,
                  IntentState.REORGED):
        await journal.transition(intent.id, state)
    with pytest.raises(TransitionError):
        await journal.transition(intent.id, IntentState.SENT)  # must be re-evaluated first
    reopened = await journal.transition(intent.id, IntentState.PLANNED, "re-evaluate after reorg")
    assert reopened.state == "planned"


async def test_non_final_filters_by_chain_and_signer(journal: Journal) -> None:
    await journal.create_intent("a", **{**FIELDS, "chain": "base"})
    await journal.create_intent("b", **{**FIELDS, "signer": "0xdef"})
    assert [i.key for i in await journal.non_final(chain="base")] == ["a"]
    assert [i.key for i in await journal.non_final(signer="0xdef")] == ["b"]


def test_transition_table_is_consistent() -> None:
    assert ALLOWED[IntentState.ABANDONED] == frozenset()
    for state in IntentState:
        for target in ALLOWED[state]:
            check_transition(state, target)
    assert {IntentState.CONFIRMED, IntentState.REVERTED, IntentState.ABANDONED} == FINAL


def test_store_urls(tmp_path: Path) -> None:
    assert normalize_url(str(tmp_path / "x.db")).startswith("sqlite+aiosqlite:///")
    assert normalize_url("postgresql://u:pw@h/db") == "postgresql+asyncpg://u:pw@h/db"
    assert redacted("postgresql://u:pw@h/db") == "postgresql://u:***@h/db"
    with pytest.raises(StoreUrlError, match="not supported"):
        normalize_url("mysql://u@h/db")
