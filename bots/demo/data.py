"""What a demo run leaves for its report and summary: one plain, typed record, assembled from the run's SQLite
store (see `bots.demo.collect`) so the page, the summary table and `rtrm actions --store …` agree by construction.

Times are seconds since the run started (wall clock) unless a field says chain time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Phase:
    """One act of the scenario (calm, crash, rebound, expiry, …) in run time and in chain time."""

    name: str
    start_s: float
    end_s: float
    chain_start: int = 0  # unix seconds on the chains (time is advanced, not waited for)
    chain_end: int = 0


@dataclass(frozen=True)
class Action:
    """One journaled keeper action (an intent), as the timeline and the summary show it."""

    t_s: float
    bot: str
    kind: str
    chain: str
    protocol: str
    target: str
    state: str  # confirmed | reverted | abandoned | …
    tx_hash: str = ""
    outcompeted: bool = False
    gas_used: int = 0
    fee_native: float = 0.0  # gas_used × effective gas price, in the chain's native unit
    key: str = ""


@dataclass(frozen=True)
class BotRow:
    bot: str
    actions: int
    succeeded: int
    outcompeted: int
    gas_native: dict[str, float]  # chain → native spent by this bot's mined transactions
    pnl_usd: float  # sum of the expected profit at decision of the bot's confirmed actions


@dataclass(frozen=True)
class Greeks:
    delta: float = 0.0
    gamma: float = 0.0
    vega: float = 0.0
    theta: float = 0.0
    dollar_delta: float = 0.0
    value_usd: float = 0.0


@dataclass(frozen=True)
class EntityRow:
    entity: str
    before: Greeks
    after: Greeks
    worst_scenario: str
    worst_loss_usd: float
    claims: int  # claims filed for this entity (any status)


@dataclass
class ReportData:
    run_id: str
    scenario: str
    seed: int
    wallets: int
    started_at: datetime
    duration_s: float
    store_path: str
    config_path: str
    chains: list[str]
    phases: list[Phase] = field(default_factory=list)
    # "<chain>:<source>:<asset>" (e.g. "ethereum:chainlink:ETH", "solana:pyth:SOL") → [(t_s, price)]
    prices: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    # entity ("keeper", "pool:option_amm", …) → [(t_s, net dollar delta)]
    net_delta: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    # entity → [(t_s, band low, band high)] in dollar delta: the hedger trades back inside when outside
    bands: dict[str, list[tuple[float, float, float]]] = field(default_factory=dict)
    # aggregate over all entities → [(t_s, Greeks)]
    greeks: list[tuple[float, Greeks]] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    # the 20 riskiest entities just before the crash: (entity, distance to liquidation as a fraction of spot)
    riskiest: list[tuple[str, float]] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)  # oracle tick seen → action sent
    bots: list[BotRow] = field(default_factory=list)
    entities: list[EntityRow] = field(default_factory=list)
    heads: dict[str, int] = field(default_factory=dict)  # chain → last block / slot seen
    notes: list[str] = field(default_factory=list)  # anything the reader should know (skipped chains, …)
