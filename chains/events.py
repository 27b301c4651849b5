"""Typed events a chain stream emits: heads, reorgs, position and oracle changes, freshness, lag markers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from chains.model import AccountState, OracleQuote, Position, VolSlice


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class NewHead:
    chain: str
    number: int
    hash: str
    parent_hash: str
    timestamp: int  # block timestamp (unix seconds)
    seen_at: datetime = field(default_factory=_now)


@dataclass(frozen=True, slots=True)
class Reorg:
    """The chain switched branches: blocks above `common_ancestor` were replaced; re-read from there."""

    chain: str
    depth: int
    common_ancestor: int
    old_head: str
    new_head: str
    seen_at: datetime = field(default_factory=_now)


@dataclass(frozen=True, slots=True)
class PositionChanged:
    chain: str
    protocol: str
    account: AccountState
    positions: tuple[Position, ...]
    block: int


@dataclass(frozen=True, slots=True)
class OracleUpdate:
    chain: str
    quote: OracleQuote | None = None
    vol_slice: VolSlice | None = None


@dataclass(frozen=True, slots=True)
class Freshness:
    """Liveness as data freshness: how old the head and the last successful read are."""

    chain: str
    head_age_s: float
    last_read_age_s: float
    endpoint: str = ""
    healthy: bool = True


@dataclass(frozen=True, slots=True)
class Lagged:
    """The consumer fell behind and `missed` events were dropped for it: resync from the book/chain."""

    chain: str
    missed: int


ChainEvent = NewHead | Reorg | PositionChanged | OracleUpdate | Freshness | Lagged
