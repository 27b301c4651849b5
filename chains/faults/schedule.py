"""Fault schedules as pure data: which fault, on which chain, from when, for how long, how often.

Why pure data: a chaos run must be reproducible and reviewable before it starts. The schedule is parsed and
validated up front (a bad key is one clear error naming it), and "what is active at t" is a pure function the
proxy driver and the tests share. Probabilistic faults draw from a seeded RNG in the proxy, never here.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any


class FaultKind(StrEnum):
    """What the proxy does to a request (HTTP) or a socket (WebSocket) while the fault is active."""

    DROP = "drop"  # close the connection without an answer
    DELAY = "delay"  # answer late (delay_ms)
    HTTP_STATUS = "http_status"  # an HTTP error status (default 503) instead of the answer
    RATE_LIMIT = "rate_limit"  # HTTP 429 with Retry-After
    MALFORMED = "malformed"  # HTTP 200 with a body that is not JSON
    RPC_ERROR = "rpc_error"  # HTTP 200 with a JSON-RPC error object (rpc_code, rpc_message)
    CUT = "cut"  # announce the full body, send half of it, close
    WS_STALL = "ws_stall"  # keep sockets open but forward no frames
    WS_CUT = "ws_cut"  # close every WebSocket (new ones are closed at once)
    OUTAGE = "outage"  # stop listening: connections are refused; open ones are dropped


HTTP_KINDS = frozenset({FaultKind.DROP, FaultKind.DELAY, FaultKind.HTTP_STATUS, FaultKind.RATE_LIMIT,
                        FaultKind.MALFORMED, FaultKind.RPC_ERROR, FaultKind.CUT})
WS_KINDS = frozenset({FaultKind.WS_STALL, FaultKind.WS_CUT})


class ScheduleError(ValueError):
    """A fault schedule that cannot be used; the message names the entry and key at fault."""


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """One fault's behaviour. `probability` applies per request (HTTP kinds); `methods` empty = every method."""

    kind: FaultKind
    probability: float = 1.0
    delay_ms: int = 0
    status: int = 503
    retry_after_s: int = 1
    rpc_code: int = -32603
    rpc_message: str = "injected fault"
    methods: frozenset[str] = frozenset()

    def matches(self, method: str | None) -> bool:
        return not self.methods or (method is not None and method in self.methods)


@dataclass(frozen=True, slots=True)
class ScheduledFault:
    """`spec` on `chain` from `at_s` (seconds after the run starts) for `duration_s` (None = until the end)."""

    chain: str
    spec: FaultSpec
    at_s: float = 0.0
    duration_s: float | None = None

    @property
    def end_s(self) -> float:
        return math.inf if self.duration_s is None else self.at_s + self.duration_s

    def active_at(self, t: float) -> bool:
        return self.at_s <= t < self.end_s


@dataclass(frozen=True, slots=True)
class Transition:
    """A fault starting or ending at `t` seconds (what a chaos run prints)."""

    t: float
    fault: ScheduledFault
    starts: bool


@dataclass(frozen=True, slots=True)
class Schedule:
    faults: tuple[ScheduledFault, ...] = field(default_factory=tuple)

    def chains(self) -> frozenset[str]:
        return frozenset(f.chain for f in self.faults)

    def active(self, chain: str, t: float) -> list[FaultSpec]:
        """The specs in force on `chain` at `t` seconds, in schedule order."""
        return [f.spec for f in self.faults if f.chain == chain and f.active_at(t)]

    def transitions(self) -> list[Transition]:
        """Every start and (finite) end, by time; ends before starts at the same instant."""
        out = [Transition(f.at_s, f, True) for f in self.faults]
        out += [Transition(f.end_s, f, False) for f in self.faults if f.duration_s is not None]
        return sorted(out, key=lambda tr: (tr.t, tr.starts))

    def horizon_s(self) -> float:
        """When the last finite fault ends (0 for an empty schedule; open-ended faults count by their start)."""
        return max((f.end_s if f.duration_s is not None else f.at_s for f in self.faults), default=0.0)


_KEYS = {"chain", "kind", "at_s", "duration_s", "probability", "delay_ms", "status", "retry_after_s", "rpc_code",
         "rpc_message", "methods"}


def _number(entry: Mapping[str, Any], key: str, where: str, default: float | None, lo: float,
            hi: float = math.inf) -> float | None:
    if key not in entry:
        return default
    value = entry[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        bound = f"{lo}..{hi}" if hi != math.inf else f">= {lo}"
        raise ScheduleError(f"{where}.{key}: expected a number {bound}, got {value!r}")
    return float(value)


def parse_fault(entry: Mapping[str, Any], where: str, chains: Iterable[str] | None = None) -> ScheduledFault:
    """One `[[fault]]` table → ScheduledFault; `chains` (when given) are the names the chain must be one of."""
    if not isinstance(entry, Mapping):
        raise ScheduleError(f"{where}: expected a table, got {type(entry).__name__}")
    unknown = sorted(set(entry) - _KEYS)
    if unknown:
        raise ScheduleError(f"{where}.{unknown[0]}: unknown key (allowed: {', '.join(sorted(_KEYS))})")
    chain = entry.get("chain")
    if not isinstance(chain, str) or not chain:
        raise ScheduleError(f"{where}.chain: required, the name of a chain in the config")
    known = sorted(chains) if chains is not None else None
    if known is not None and chain not in known:
        raise ScheduleError(f"{where}.chain: {chain!r} is not an EVM chain of the config ({', '.join(known)})")
    raw_kind = entry.get("kind")
    try:
        kind = FaultKind(str(raw_kind))
    except ValueError:
        raise ScheduleError(f"{where}.kind: {raw_kind!r} is not one of {', '.join(k.value for k in FaultKind)}") \
            from None
    at_s = _number(entry, "at_s", where, 0.0, 0.0)
    duration = _number(entry, "duration_s", where, None, 0.0)
    if duration is not None and duration <= 0:
        raise ScheduleError(f"{where}.duration_s: must be > 0 (leave it out for 'until the end')")
    status = _number(entry, "status", where, 503, 400, 599)
    if kind is FaultKind.HTTP_STATUS and status == 429:
        raise ScheduleError(f"{where}.status: use kind = \"rate_limit\" for 429 (it sends Retry-After)")
    methods = entry.get("methods", [])
    if not isinstance(methods, list) or not all(isinstance(m, str) and m for m in methods):
        raise ScheduleError(f"{where}.methods: expected a list of JSON-RPC method names")
    message = entry.get("rpc_message", "injected fault")
    if not isinstance(message, str):
        raise ScheduleError(f"{where}.rpc_message: expected a string")
    spec = FaultSpec(kind=kind, probability=_number(entry, "probability", where, 1.0, 0.0, 1.0) or 0.0,
                     delay_ms=int(_number(entry, "delay_ms", where, 0, 0, 600_000) or 0), status=int(status or 503),
                     retry_after_s=int(_number(entry, "retry_after_s", where, 1, 0, 3600) or 0),
                     rpc_code=int(_number(entry, "rpc_code", where, -32603, -2**31, 2**31) or 0),
                     rpc_message=message, methods=frozenset(methods))
    if kind is FaultKind.DELAY and spec.delay_ms == 0:
        raise ScheduleError(f"{where}.delay_ms: required (> 0) for kind = \"delay\"")
    if kind is FaultKind.OUTAGE and duration is None:
        raise ScheduleError(f"{where}.duration_s: required for kind = \"outage\"")
    return ScheduledFault(chain=chain, spec=spec, at_s=at_s or 0.0, duration_s=duration)


def parse_schedule(data: Mapping[str, Any], chains: Iterable[str] | None = None) -> Schedule:
    """A parsed TOML document (`[[fault]]` array of tables) → Schedule, or ScheduleError naming the key."""
    extra = sorted(set(data) - {"fault"})
    if extra:
        raise ScheduleError(f"{extra[0]}: unknown top-level key (a schedule is a list of [[fault]] tables)")
    entries = data.get("fault", [])
    if not isinstance(entries, list):
        raise ScheduleError("fault: expected [[fault]] tables")
    known = list(chains) if chains is not None else None
    return Schedule(tuple(parse_fault(e, f"fault[{i}]", known) for i, e in enumerate(entries)))


def load_schedule(path: str | Path, chains: Sequence[str] | None = None) -> Schedule:
    """Read and validate a schedule file; unreadable / invalid TOML is a ScheduleError naming the file."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text())
    except FileNotFoundError:
        raise ScheduleError(f"{p}: no such schedule file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScheduleError(f"{p}: not valid TOML: {exc}") from None
    try:
        return parse_schedule(data, chains)
    except ScheduleError as exc:
        raise ScheduleError(f"{p}: {exc}") from None
