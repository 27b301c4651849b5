"""The keeper's store: what it knows and did, in the same database as the action journal.

Tables: entities/wallets, position snapshots, oracle quotes, risk snapshots per entity, claims, alerts, config
audit, chain health; the journal's intents/attempts sit beside them (`bots.journal`). The schema is versioned
(`store_schema`); `open()` applies forward migrations in order so upgrading keeps every row.
Exact on-chain amounts (prices, losses, sizes) are decimal strings; risk figures are the risk core's floats.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Index, func, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bots.db import concurrent_safe_schema, create_engine
from bots.journal import Intent, Journal
from chains.model import OracleQuote, Position


def _now() -> datetime:
    return datetime.now(UTC)


class SchemaVersion(SQLModel, table=True):
    __tablename__ = "store_schema"

    id: int = Field(default=1, primary_key=True)
    version: int
    updated_at: datetime = Field(default_factory=_now)


class Entity(SQLModel, table=True):
    __tablename__ = "entities"

    name: str = Field(primary_key=True)
    keeper: bool = False
    covered: bool = False
    updated_at: datetime = Field(default_factory=_now)


class Wallet(SQLModel, table=True):
    __tablename__ = "wallets"

    id: int | None = Field(default=None, primary_key=True)
    entity: str = Field(foreign_key="entities.name", index=True)
    chain: str
    address: str = Field(index=True)


class PositionSnapshot(SQLModel, table=True):
    __tablename__ = "position_snapshots"
    __table_args__ = (Index("ix_pos_entity_at", "entity", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=_now)
    entity: str
    chain: str
    protocol: str
    account_id: str
    owner: str
    instrument: str  # Instrument.key
    size: str  # exact decimal
    collateral: str = "0"
    block: int = 0


class QuoteRow(SQLModel, table=True):
    __tablename__ = "oracle_quotes"
    __table_args__ = (Index("ix_quote_feed_at", "chain", "source", "asset", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=_now)
    chain: str
    source: str
    asset: str
    price: str
    confidence: str = ""
    publish_time: datetime
    block: int = 0


class RiskSnapshot(SQLModel, table=True):
    __tablename__ = "risk_snapshots"
    __table_args__ = (Index("ix_risk_entity_at", "entity", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=_now)
    entity: str
    delta: float = 0.0
    gamma: float = 0.0
    vega: float = 0.0
    theta: float = 0.0
    dollar_delta: float = 0.0
    value_usd: float = 0.0
    initial_margin: float = 0.0
    maintenance_margin: float = 0.0
    worst_scenario: str = ""
    worst_loss_usd: float = 0.0
    distance_to_liquidation: float | None = None  # fraction of spot move to the first liquidation, None = none


class Claim(SQLModel, table=True):
    __tablename__ = "claims"
    __table_args__ = (Index("ix_claim_status_updated", "status", "updated_at"),)

    id: int | None = Field(default=None, primary_key=True)
    claim_id: str = Field(unique=True)  # "<chain>:<protocol>:<on-chain id>" or the intent key before filing
    chain: str
    protocol: str
    entity: str = ""
    account: str = ""
    source_chain: str = ""
    evidence: str = ""  # tx hash / log reference on the source chain
    loss_usd: str = "0"
    status: str = "planned"  # planned | filed | disputed | settled | rejected
    liveness_end: datetime | None = None
    cover_expiry: datetime | None = None
    filed_by: str = ""
    created_at: datetime = Field(default_factory=_now)
    updated_at: datetime = Field(default_factory=_now)


class Alert(SQLModel, table=True):
    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alert_at", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=_now)
    level: str = "warning"
    source: str  # guard / bot / engine component
    chain: str = ""
    message: str
    key: str = ""  # intent key the alert is about, if any


class ConfigAudit(SQLModel, table=True):
    __tablename__ = "config_audit"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=_now)
    path: str
    old: str
    new: str
    applied: bool = True


class ChainHealth(SQLModel, table=True):
    """Added in schema v2: latest head/freshness per chain for `rtrm status`."""

    __tablename__ = "chain_health"

    chain: str = Field(primary_key=True)
    head: int = 0
    head_age_s: float = 0.0
    healthy: bool = True
    detail: str = ""
    at: datetime = Field(default_factory=_now)


def _t(model: type[SQLModel]) -> Any:
    return model.__table__  # type: ignore[attr-defined]


_V1_TABLES = [_t(m) for m in (SchemaVersion, Entity, Wallet, PositionSnapshot, QuoteRow, RiskSnapshot, Claim,
                                Alert, ConfigAudit)]


def _v1(conn: Connection) -> None:
    SQLModel.metadata.create_all(conn, tables=_V1_TABLES)


def _v2(conn: Connection) -> None:
    SQLModel.metadata.create_all(conn, tables=[_t(ChainHealth)])


# version → forward step from version-1; append new steps, never edit old ones.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {1: _v1, 2: _v2}
SCHEMA_VERSION = max(MIGRATIONS)


class Store:
    """Async access to the store tables; shares the journal's engine when given one."""

    def __init__(self, url_or_path: str = "", engine: AsyncEngine | None = None) -> None:
        if engine is None and not url_or_path:
            raise ValueError("Store needs a storage url/path or an engine")
        self.engine = engine or create_engine(url_or_path)
        self._owns_engine = engine is None

    async def open(self, target_version: int = SCHEMA_VERSION) -> Store:
        """Create or upgrade the schema to `target_version` (default: latest), plus the journal tables."""
        if target_version not in MIGRATIONS:
            raise ValueError(f"unknown store schema version {target_version}; known 1..{SCHEMA_VERSION}")
        await Journal("", engine=self.engine).open()

        async def migrate() -> None:
            async with self.engine.begin() as conn:
                current = await conn.run_sync(_read_version)
                if current > target_version:
                    raise RuntimeError(f"store schema is v{current}, newer than this code (v{target_version}); "
                                       "upgrade rtrm")
                for version in range(current + 1, target_version + 1):
                    await conn.run_sync(MIGRATIONS[version])
                    await conn.run_sync(_write_version, version)

        await concurrent_safe_schema(migrate)
        return self

    async def close(self) -> None:
        if self._owns_engine:
            await self.engine.dispose()

    def _session(self) -> AsyncSession:
        return AsyncSession(self.engine, expire_on_commit=False)

    async def schema_version(self) -> int:
        async with self.engine.connect() as conn:
            return int(await conn.run_sync(_read_version))

    async def _add(self, rows: Iterable[SQLModel]) -> None:
        async with self._session() as session:
            session.add_all(list(rows))
            await session.commit()

    # ------------------------------------------------------------------------------------------ writes
    async def upsert_entity(self, name: str, addresses: Mapping[str, Sequence[str]], keeper: bool = False,
                            covered: bool = False) -> None:
        """Entity row and its wallets, replacing the wallet list (config is the source of truth)."""
        async with self._session() as session:
            row = await session.get(Entity, name)
            if row is None:
                session.add(Entity(name=name, keeper=keeper, covered=covered))
            else:
                row.keeper, row.covered, row.updated_at = keeper, covered, _now()
            await session.flush()
            for old in (await session.exec(select(Wallet).where(Wallet.entity == name))).all():
                await session.delete(old)
            session.add_all([Wallet(entity=name, chain=chain, address=a)
                             for chain, addrs in addresses.items() for a in addrs])
            await session.commit()

    async def record_quote(self, quote: OracleQuote) -> None:
        await self._add([QuoteRow(chain=quote.chain, source=quote.source.value, asset=quote.asset.value,
                                  price=str(quote.price),
                                  confidence="" if quote.confidence is None else str(quote.confidence),
                                  publish_time=quote.publish_time, block=quote.block)])

    async def record_positions(self, entity: str, positions: Sequence[Position], block: int = 0) -> None:
        await self._add([PositionSnapshot(entity=entity, chain=p.instrument.chain, protocol=p.instrument.protocol,
                                          account_id=p.account_id, owner=p.owner, instrument=p.instrument.key,
                                          size=str(p.size), collateral=str(p.collateral), block=block)
                         for p in positions])

    async def record_risk(self, snapshots: Sequence[RiskSnapshot]) -> None:
        await self._add(snapshots)

    async def record_alert(self, source: str, message: str, level: str = "warning", chain: str = "",
                           key: str = "") -> Alert:
        alert = Alert(source=source, message=message, level=level, chain=chain, key=key)
        await self._add([alert])
        return alert

    async def record_config_changes(self, changes: Iterable[tuple[str, Any, Any]], applied: bool = True) -> int:
        rows = [ConfigAudit(path=p, old=repr(o), new=repr(n), applied=applied) for p, o, n in changes]
        await self._add(rows)
        return len(rows)

    async def record_chain_health(self, chain: str, head: int, head_age_s: float, healthy: bool,
                                  detail: str = "") -> None:
        async with self._session() as session:
            row = await session.get(ChainHealth, chain)
            if row is None:
                session.add(ChainHealth(chain=chain, head=head, head_age_s=head_age_s, healthy=healthy,
                                        detail=detail))
            else:
                row.head, row.head_age_s, row.healthy, row.detail, row.at = head, head_age_s, healthy, detail, _now()
            await session.commit()

    async def upsert_claim(self, claim_id: str, **fields: Any) -> Claim:
        """Create the claim or update the given fields (status moves, liveness, evidence)."""
        if "loss_usd" in fields and isinstance(fields["loss_usd"], Decimal):
            fields["loss_usd"] = str(fields["loss_usd"])
        for attempt in range(2):  # the claims source and the engine may create the same claim at once
            try:
                async with self._session() as session:
                    row = (await session.exec(select(Claim).where(Claim.claim_id == claim_id))).first()
                    if row is None:
                        session.add(Claim(claim_id=claim_id, **fields))
                    else:
                        await session.exec(update(Claim).where(col(Claim.id) == row.id)
                                           .values(**fields, updated_at=_now()))
                    await session.commit()
                break
            except IntegrityError:
                if attempt:
                    raise  # not the insert race: a real constraint violation
        got = await self.claim(claim_id)
        assert got is not None
        return got

    # ------------------------------------------------------------------------------------------ reads
    async def claim(self, claim_id: str) -> Claim | None:
        async with self._session() as session:
            return (await session.exec(select(Claim).where(Claim.claim_id == claim_id))).first()

    async def claims(self, status: str | None = None, limit: int = 100) -> Sequence[Claim]:
        async with self._session() as session:
            stmt = select(Claim)
            if status is not None:
                stmt = stmt.where(Claim.status == status)
            return (await session.exec(stmt.order_by(col(Claim.updated_at).desc()).limit(limit))).all()

    async def latest_risk(self) -> Sequence[RiskSnapshot]:
        """The newest risk snapshot of every entity (one row each), for `rtrm status`."""
        async with self._session() as session:
            newest = (select(RiskSnapshot.entity, func.max(RiskSnapshot.id).label("mid"))
                      .group_by(col(RiskSnapshot.entity)).subquery())
            stmt = (select(RiskSnapshot).join(newest, col(RiskSnapshot.id) == newest.c.mid)
                    .order_by(col(RiskSnapshot.entity)))
            return (await session.exec(stmt)).all()

    async def alerts(self, limit: int = 50) -> Sequence[Alert]:
        async with self._session() as session:
            return (await session.exec(select(Alert).order_by(col(Alert.id).desc()).limit(limit))).all()

    async def config_audit(self, limit: int = 100) -> Sequence[ConfigAudit]:
        async with self._session() as session:
            stmt = select(ConfigAudit).order_by(col(ConfigAudit.id).desc()).limit(limit)
            return (await session.exec(stmt)).all()

    async def chain_health(self) -> Sequence[ChainHealth]:
        async with self._session() as session:
            return (await session.exec(select(ChainHealth).order_by(col(ChainHealth.chain)))).all()

    async def latest_quotes(self) -> Sequence[QuoteRow]:
        async with self._session() as session:
            newest = (select(func.max(QuoteRow.id).label("mid"))
                      .group_by(col(QuoteRow.chain), col(QuoteRow.source), col(QuoteRow.asset)).subquery())
            stmt = select(QuoteRow).join(newest, col(QuoteRow.id) == newest.c.mid).order_by(col(QuoteRow.chain))
            return (await session.exec(stmt)).all()

    async def actions(self, limit: int = 100, bot: str | None = None) -> Sequence[Intent]:
        """Journal intents, newest first (the `rtrm actions` listing)."""
        async with self._session() as session:
            stmt = select(Intent)
            if bot is not None:
                stmt = stmt.where(Intent.bot == bot)
            return (await session.exec(stmt.order_by(col(Intent.id).desc()).limit(limit))).all()

    async def outcompeted_keys(self, bot: str | None = None) -> frozenset[str]:
        """Keys the lanes closed as outcompeted (someone else acted first): strategies must not retry them."""
        async with self._session() as session:
            stmt = select(Intent.key).where(Intent.state == "reverted", col(Intent.reason).startswith("outcompeted"))
            if bot is not None:
                stmt = stmt.where(Intent.bot == bot)
            return frozenset((await session.exec(stmt)).all())

    async def count(self, model: type[SQLModel]) -> int:
        async with self._session() as session:
            return int((await session.exec(select(func.count()).select_from(model))).one())


def _read_version(conn: Connection) -> int:
    if not conn.dialect.has_table(conn, "store_schema"):
        return 0
    row = conn.execute(select(SchemaVersion.version).where(SchemaVersion.id == 1)).first()
    return 0 if row is None else int(row[0])


def _write_version(conn: Connection, version: int) -> None:
    table = _t(SchemaVersion)
    if conn.execute(select(SchemaVersion.id).where(SchemaVersion.id == 1)).first() is None:
        conn.execute(table.insert().values(id=1, version=version, updated_at=_now()))
    else:
        conn.execute(table.update().where(table.c.id == 1).values(version=version, updated_at=_now()))
