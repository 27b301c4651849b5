"""The demo's own rows in the run's SQLite store, beside the engine's (intents, quotes, risk, claims, alerts).

Why in the same file: the report and the summary are computed from one database, so `rtrm actions --store
reports/latest/rtrm.sqlite` and the page cannot disagree. Three tables: the run itself with its acts, time series
the engine does not keep (oracle values read back from each chain, hedge bands, heads), and each action's
mined cost (gas used × effective price from its receipt).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import Field, SQLModel


def _now() -> datetime:
    return datetime.now(UTC)


class DemoRun(SQLModel, table=True):
    __tablename__ = "demo_runs"

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(unique=True)
    scenario: str
    seed: int
    wallets: int
    chains: str  # comma-separated
    started_at: datetime = Field(default_factory=_now)
    finished_at: datetime | None = None
    status: str = "running"  # running | finished | interrupted | failed
    acts: str = "[]"  # JSON: [{name, note, start_s, end_s, chain_start, chain_end}]
    notes: str = "[]"  # JSON list of strings


class DemoPoint(SQLModel, table=True):
    """One sample of one series: ("price", "ethereum:chainlink:ETH"), ("delta", "keeper"), ("band_lo", …),
    ("head", "base") …; `t_s` is seconds since the run started, `chain_time` the chains' clock then."""

    __tablename__ = "demo_points"

    id: int | None = Field(default=None, primary_key=True)
    series: str = Field(index=True)
    label: str
    t_s: float
    chain_time: int = 0
    value: float


class TxCost(SQLModel, table=True):
    __tablename__ = "demo_tx_costs"

    id: int | None = Field(default=None, primary_key=True)
    intent_key: str = Field(index=True)
    chain: str
    tx_hash: str
    gas_used: int
    fee_wei: str  # decimal string (uint256)
    block: int
    status: int  # receipt status: 1 success, 0 reverted


DEMO_TABLES = [DemoRun.__table__, DemoPoint.__table__, TxCost.__table__]  # type: ignore[attr-defined]


async def create_demo_tables(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(lambda c: SQLModel.metadata.create_all(c, tables=DEMO_TABLES))
