"""Event ticks: one ChainWatcher per chain the event-ticked bots read, following their adapters' account and
oracle logs, so an oracle update, a position change or a reorg wakes those bots at once instead of at their next
interval.

Why a watcher and not the bots' own reads: a bot's tick already reads the chain; treating what it reads as a
trigger would tick it forever. The watcher is an independent collector (its events reach the engine through an
EventStream subscription, where `Engine.trigger_chain` turns them into coalesced ticks).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from loguru import logger

from bots.config import Config
from chains.evm.endpoints import EndpointPool
from chains.evm.watcher import ChainWatcher
from chains.protocols.base import ProtocolAdapter
from chains.stream import EventStream


def event_ticked(config: Config, bot: str) -> bool:
    """`[bots.<bot>] event_ticks` when set, else the global `event_ticks` (default true)."""
    cfg = config.bots.get(bot)
    per_bot = cfg.event_ticks if cfg is not None else None
    return config.event_ticks if per_bot is None else per_bot


@dataclass
class Watchers:
    """The running watchers and their streams (chain → …); `stop()` cancels and awaits every task."""

    watchers: dict[str, ChainWatcher] = field(default_factory=dict)
    streams: dict[str, EventStream] = field(default_factory=dict)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> None:
        for chain, w in self.watchers.items():
            self.tasks.append(asyncio.create_task(w.run(), name=f"watch-{chain}"))

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.tasks = []
        for stream in self.streams.values():
            stream.close()


async def build_watchers(config: Config, pools: Mapping[str, EndpointPool], adapters: Iterable[ProtocolAdapter],
                         poll_interval_s: float = 0.25) -> Watchers:
    """A watcher per chain of `adapters` with each adapter's account filters and its oracle feeds' filters
    (feeds resolved now, so the first price move is already followed). Filters start after the current head:
    the bots' first tick reads the present state itself."""
    out = Watchers()
    for adapter in adapters:
        chain = adapter.chain
        pool = pools.get(chain)
        if pool is None:
            continue
        if getattr(adapter, "oracle_reader", None) is None and hasattr(adapter, "prepare_oracles"):
            try:
                await adapter.prepare_oracles()
            except Exception as exc:  # the interval tick still covers this chain; say why events will not
                logger.warning("event ticks: oracle feeds of {} on {} not followed: {}", adapter.protocol, chain, exc)
        if chain not in out.watchers:
            cc = config.chains[chain]
            out.streams[chain] = EventStream(chain)
            out.watchers[chain] = ChainWatcher(chain, pool, out.streams[chain], ws_url=cc.ws_url,
                                               poll_interval_s=poll_interval_s)
        start = int(await pool.expect("eth_blockNumber", []), 16) + 1
        for flt in adapter.log_filters(start):
            out.watchers[chain].add_filter(flt)
    return out
