"""What the liquidator's sources re-read on a tick: only the accounts that changed since their last read.

Why: an account's positions and collateral change only through the protocol's own account events (the same
events the chain watchers follow); between them only the oracle moves, and the risk core's margin mirrors re-price
held states at the new quote in microseconds, where re-reading a thousand accounts costs hundreds of
milliseconds. So a tick reads the account logs since the last read block, re-reads the accounts they name plus
the few the mirror flags (the contract's own view at the block confirms every candidate), and carries the rest.
A full read still happens on the first tick, every `full_every_s`, and whenever the last read block is no longer
canonical (a reorg, an anvil revert): the safety net for anything the log scan could not see.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar

from bots.sources.evm import Head
from chains.model import AccountState
from chains.protocols.abi import word_int
from chains.protocols.base import Rpc
from chains.protocols.blocks import scan_logs

R = TypeVar("R")


@dataclass
class AccountCache:
    """Account states as last read (id → state) and the head they were read at."""

    full_every_s: float = 60.0
    states: dict[str, AccountState] = field(default_factory=dict)
    head: Head | None = None
    full_at: float = field(default=float("-inf"))  # monotonic time of the last full read
    full_reads: int = 0
    partial_reads: int = 0
    clock: Callable[[], float] = time.monotonic

    def full_due(self) -> bool:
        return self.head is None or self.clock() - self.full_at >= self.full_every_s

    def store(self, states: Iterable[AccountState], head: Head, *, full: bool) -> None:
        """Remember fresh reads at `head`; a full read replaces the whole table (closed accounts drop out)."""
        if full:
            self.states = {}
            self.full_at = self.clock()
            self.full_reads += 1
        else:
            self.partial_reads += 1
        for s in states:
            self.states[s.account_id] = s
        self.head = head


def carry(state: AccountState, head: Head, block_views: Sequence[str]) -> AccountState:
    """The account at `head` when no account event touched it since its read: positions and collateral are
    unchanged, the contract's block-dependent views (`block_views`: requirement, MM, …) are dropped, since they
    depend on the oracle and the time, which moved."""
    params: Mapping[str, Any] = state.params
    if any(k in params for k in block_views):
        params = MappingProxyType({k: v for k, v in params.items() if k not in block_views})
    # direct construction: `dataclasses.replace` costs ~5x more, and this runs for every held account each tick
    return AccountState(state.chain, state.protocol, state.account_id, state.owner, head.number, state.collateral,
                        state.positions, params, head.hash, state.read_at)


async def touched_accounts(rpc: Rpc, address: str, topics: Sequence[str], from_block: int, to_block: int,
                           on_log: Callable[[dict[str, Any]], None] | None = None) -> set[str]:
    """Account ids (topic1) named by `address`'s `topics` logs in [from_block, to_block]; `on_log` sees each
    log first (e.g. to learn a new account's owner)."""
    if to_block < from_block:
        return set()
    ids: set[str] = set()
    for log in await scan_logs(rpc, [address], [list(topics)], from_block, to_block):
        t = log.get("topics")
        if not isinstance(t, list) or len(t) < 2:
            continue
        if on_log is not None:
            on_log(log)
        ids.add(str(word_int(t[1], f"account log of {address}")))
    return ids


async def since_last_read(cache: AccountCache, rpc: Rpc, address: str, topics: Sequence[str], head: Head,
                          oracles: Callable[[], Awaitable[R]],
                          on_log: Callable[[dict[str, Any]], None] | None = None) -> tuple[bool, set[str], R | None]:
    """One round trip's worth of questions for an incremental read: is the cached block still canonical, which
    accounts did logs name since it, what do the oracles say now — asked concurrently. Returns (full read
    needed, touched ids, readings); readings are None when a full read is due anyway (not asked)."""
    if cache.full_due():
        return True, set(), None
    assert cache.head is not None
    ok, touched, readings = await asyncio.gather(
        still_canonical(rpc, cache.head),
        touched_accounts(rpc, address, topics, cache.head.number + 1, head.number, on_log), oracles())
    return not ok, touched, readings


async def still_canonical(rpc: Rpc, head: Head | None) -> bool:
    """Whether the block a cache was read at is still on the node's chain (same number, same hash)."""
    if head is None:
        return False
    block = await rpc.expect("eth_getBlockByNumber", [hex(head.number), False])
    return isinstance(block, dict) and str(block.get("hash", "")).lower() == head.hash.lower()


class Stopwatch:
    """Named laps of one read (ms), kept on the source as `last_timings`: where a tick's time goes (bench, health)."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._t = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round((now - self._t) * 1000, 2)
        self._t = now


async def plan_read(cache: AccountCache, rpc: Rpc, adapter: Any, topics: Sequence[str], head: Head,
                    on_log: Callable[[dict[str, Any]], None] | None, t: Stopwatch) -> tuple[bool, set[str], Any]:
    """What a source reads at `head`: (full read due, ids to re-read, the oracle readings at head). On a full
    read the ids are the adapter's discovery up to head; otherwise the accounts logs named since the last read."""
    full, touched, readings = await since_last_read(cache, rpc, adapter.address, topics, head,
                                                    lambda: adapter.oracles(head.number), on_log)
    t.lap("canonical+logs+oracles")
    if full:
        touched = set((await adapter.discover(to_block=head.number)).accounts)
        if readings is None:
            readings = await adapter.oracles(head.number)
        t.lap("discovery")
    assert readings is not None  # asked along with the logs when no full read was due
    return full, touched, readings


def remember_ids(ids: list[str], seen: set[str], new: Iterable[str]) -> set[str]:
    """Append to `ids` (kept in first-seen order) those of `new` it lacks; `seen` is its set, returned (rebuilt
    when a caller changed `ids` directly)."""
    if len(seen) != len(ids):
        seen = set(ids)
    fresh = [a for a in dict.fromkeys(new) if a not in seen]
    ids.extend(fresh)
    seen.update(fresh)
    return seen
