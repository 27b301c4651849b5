"""The adapter interface every protocol module implements, plus the small shared types around it.

Adapters *read* (discover accounts, read positions at one block, read oracles, describe the logs to follow)
and *build call data*; lanes send. Keeping both sides behind one `typing.Protocol` lets the collectors treat
VaultOptions, PortfolioMargin, … alike and lets a new protocol be added without touching the engine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from chains.evm.rpc import JsonRpc
from chains.evm.watcher import LogFilter
from chains.model import AccountState, OracleQuote, VolSlice

Rpc = JsonRpc  # what adapters need from an endpoint: `RawRpc(w3)` and `EndpointPool(urls)` both satisfy it


class AdapterError(RuntimeError):
    """An adapter could not do what was asked (bad config, missing contract, node refused a read)."""


class DecodeError(AdapterError):
    """Return data or a log did not have the expected shape; `where` names the call/log and the target."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"cannot decode {where}: {reason}")
        self.where = where
        self.reason = reason


@dataclass(frozen=True, slots=True)
class CallData:
    """An unsigned call a bot may send: target, ABI-encoded data, wei value. Lanes add gas, nonce, fees."""

    to: str
    data: bytes
    value: int = 0

    def as_tx(self) -> dict[str, Any]:
        """The fields of an eth_call / eth_sendTransaction object (hex-encoded)."""
        return {"to": self.to, "data": "0x" + self.data.hex(), "value": hex(self.value)}


@dataclass(frozen=True, slots=True)
class Discovery:
    """Accounts first seen in blocks [from_block, to_block]; store `next_block` to resume from there."""

    accounts: tuple[str, ...]
    from_block: int
    to_block: int

    @property
    def next_block(self) -> int:
        return self.to_block + 1


@dataclass(frozen=True, slots=True)
class OracleFault:
    """A feed that could not give a usable reading (reverted, answer <= 0, malformed), with the reason."""

    feed: str
    kind: str
    reason: str


@dataclass(frozen=True, slots=True)
class SequencerStatus:
    """Chainlink L2 sequencer uptime: `up` and since when (`started_at` = time of the last status change)."""

    chain: str
    feed: str
    up: bool
    started_at: datetime
    updated_at: datetime
    round_id: int
    block: int

    def grace_over(self, now: datetime, grace_s: float) -> bool:
        """True when the sequencer is up and has been for at least `grace_s` seconds (Aave/Chainlink rule)."""
        return self.up and (now - self.started_at).total_seconds() >= grace_s


@dataclass(frozen=True, slots=True)
class OracleReadings:
    """Everything one oracle read produced at one block; faults are reported, never silently dropped."""

    block: int
    quotes: tuple[OracleQuote, ...] = ()
    vol_slices: tuple[VolSlice, ...] = ()
    sequencers: tuple[SequencerStatus, ...] = ()
    faults: tuple[OracleFault, ...] = ()
    rounds: Mapping[str, int] = field(default_factory=dict)  # Chainlink feed address -> round id read


@runtime_checkable
class ProtocolAdapter(Protocol):
    """One protocol deployment on one chain."""

    protocol: str
    chain: str

    async def discover(self, from_block: int | None = None, to_block: int | None = None) -> Discovery:
        """Account ids first seen in logs of [from_block (default: deploy block or stored cursor), to_block]."""
        ...

    async def read(self, accounts: Sequence[str], block: int | str = "latest") -> list[AccountState]:
        """Account states with positions, all read at one block (Multicall3-batched)."""
        ...

    async def oracles(self, block: int | str = "latest") -> OracleReadings:
        """The protocol's price / vol / sequencer feeds at one block."""
        ...

    def log_filters(self, from_block: int) -> list[LogFilter]:
        """Filters for the live ChainWatcher; handlers turn logs into PositionChanged / OracleUpdate events."""
        ...
