"""Store tests on real SQLite (WAL), and real PostgreSQL when reachable (skipped with a reason otherwise)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text

from bots.journal import IntentState, Journal
from bots.store import SCHEMA_VERSION, Alert, Entity, RiskSnapshot, Store, Wallet
from chains.model import (
    Instrument,
    InstrumentKind,
    OptionType,
    OracleQuote,
    OracleSource,
    Position,
    Underlying,
)
from tests.bots.test_journal import _pg_database, _pg_drop

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "sqlite":
        s = await Store(str(tmp_path / "rtrm.db")).open()
        yield s
        await s.close()
        return
    name = await _pg_database()
    if name is None:
        pytest.skip("PostgreSQL not reachable at 127.0.0.1:5432 (user postgres); SQLite variant still runs")
    s = await Store(f"postgresql://postgres@127.0.0.1:5432/{name}").open()
    try:
        yield s
    finally:
        await s.close()
        await _pg_drop(name)


async def test_sqlite_is_wal_and_shares_the_journal_database(tmp_path: Path) -> None:
    path = tmp_path / "rtrm.db"
    journal = await Journal(str(path)).open()
    store = await Store(engine=journal.engine).open()
    await journal.create_intent("liq:arbitrum:pm:acct-1:1", chain="arbitrum", signer="0xabc", bot="liquidator",
                                kind="bid", protocol="portfolio_margin", target="acct-1")
    actions = await store.actions()
    assert [a.key for a in actions] == ["liq:arbitrum:pm:acct-1:1"]
    assert await store.outcompeted_keys() == frozenset()
    await journal.transition(actions[0].id or 0, IntentState.REVERTED, "outcompeted: AlreadyLiquidated (simulate)")
    other, _ = await journal.create_intent("liq:x", chain="arbitrum", signer="0xabc", bot="liquidator", kind="bid")
    await journal.transition(other.id or 0, IntentState.REVERTED, "fatal: BadParams (simulate)")
    assert await store.outcompeted_keys("liquidator") == frozenset({"liq:arbitrum:pm:acct-1:1"})
    assert await store.outcompeted_keys("hedger") == frozenset()
    async with store.engine.connect() as conn:
        assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
    await journal.close()


async def test_entities_wallets_replace(store: Store) -> None:
    await store.upsert_entity("keeper", {"arbitrum": ["0xA", "0xB"]}, keeper=True)
    await store.upsert_entity("keeper", {"base": ["0xC"]}, keeper=True)
    assert await store.count(Entity) == 1
    assert await store.count(Wallet) == 1


async def test_latest_risk_is_one_row_per_entity(store: Store) -> None:
    await store.record_risk([RiskSnapshot(entity="keeper", delta=1.0), RiskSnapshot(entity="fund", delta=2.0)])
    await store.record_risk([RiskSnapshot(entity="keeper", delta=3.0, distance_to_liquidation=0.12)])
    latest = await store.latest_risk()
    assert [(r.entity, r.delta) for r in latest] == [("fund", 2.0), ("keeper", 3.0)]
    assert latest[1].distance_to_liquidation == pytest.approx(0.12)


async def test_quotes_positions_claims_alerts_audit(store: Store) -> None:
    q = OracleQuote(OracleSource.PYTH, Underlying.ETH, Decimal("3012.123456789"), NOW, "solana", 7, Decimal("1.5"))
    await store.record_quote(q)
    await store.record_quote(OracleQuote(OracleSource.PYTH, Underlying.ETH, Decimal("3013"), NOW, "solana", 8))
    latest = await store.latest_quotes()
    assert len(latest) == 1 and latest[0].price == "3013"
    inst = Instrument(Underlying.ETH, InstrumentKind.OPTION, "arbitrum", "portfolio_margin", "s1",
                      option_type=OptionType.CALL, strike=Decimal(3000), expiry=NOW + timedelta(days=7))
    await store.record_positions("keeper", [Position("0xA", "keeper", inst, Decimal("-1.25"), "acct-1")], block=9)
    claim = await store.upsert_claim("base:cover:1", chain="base", protocol="cover_market", entity="fund",
                                     loss_usd=Decimal("1234.5"), status="filed")
    assert claim.loss_usd == "1234.5"
    updated = await store.upsert_claim("base:cover:1", status="settled")
    assert updated.status == "settled" and updated.id == claim.id
    assert [c.claim_id for c in await store.claims(status="settled")] == ["base:cover:1"]
    await store.record_alert("guard:oracle", "stale ETH", chain="arbitrum")
    assert await store.count(Alert) == 1
    assert await store.record_config_changes([("bots.hedger.enabled", True, False)]) == 1
    audit = await store.config_audit()
    assert audit[0].path == "bots.hedger.enabled" and audit[0].new == "False"
    await store.record_chain_health("base", 100, 1.5, True)
    await store.record_chain_health("base", 101, 0.5, False, "rpc timeout")
    health = await store.chain_health()
    assert [(h.chain, h.head, h.healthy) for h in health] == [("base", 101, False)]


async def test_upgrade_from_v1_keeps_data(tmp_path: Path) -> None:
    path = str(tmp_path / "old.db")
    old = await Store(path).open(target_version=1)
    assert await old.schema_version() == 1
    await old.record_alert("engine", "before upgrade")
    await old.upsert_claim("c1", chain="base", protocol="cover_market", loss_usd="10")
    async with old.engine.connect() as conn:
        assert not await conn.run_sync(lambda c: c.dialect.has_table(c, "chain_health"))
    await old.close()

    new = await Store(path).open()
    assert await new.schema_version() == SCHEMA_VERSION == 2
    assert [a.message for a in await new.alerts()] == ["before upgrade"]
    assert (await new.claim("c1")) is not None
    await new.record_chain_health("base", 1, 0.1, True)  # the v2 table exists now
    await new.close()
    again = await Store(path).open()  # idempotent re-open
    assert await again.schema_version() == 2 and len(await again.alerts()) == 1
    await again.close()


async def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = str(tmp_path / "x.db")
    s = await Store(path).open()
    await s.close()
    with pytest.raises(RuntimeError, match="newer than this code"):
        await Store(path).open(target_version=1)


async def test_concurrent_upserts_of_one_claim_make_one_row(tmp_path: Path) -> None:
    """The claims source and the engine record the same new claim at the same moment (two stores on one file,
    as two runtimes share a demo's store): one row, the last fields win, no IntegrityError escapes."""
    a = await Store(str(tmp_path / "c.db")).open()
    b = await Store(str(tmp_path / "c.db")).open()
    try:
        await asyncio.gather(*(s.upsert_claim("base:cover_market:1", chain="base", protocol="cover_market",
                                              status=f"s{i}") for i, s in enumerate([a, b] * 4)))
        rows = await a.claims()
        assert [r.claim_id for r in rows] == ["base:cover_market:1"]
        assert rows[0].status.startswith("s")
    finally:
        await a.close()
        await b.close()
