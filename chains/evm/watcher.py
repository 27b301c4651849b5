"""Live view of one EVM chain: heads (WebSocket push, polling fallback), log filters read by block range,
reorgs and freshness, all published as typed events on the chain's EventStream.

Logs are read by contiguous block ranges from a per-filter cursor rather than trusted from a push stream, so an
RPC outage, a failover or a dropped socket never loses an event: the next range simply covers the gap. On a
reorg every cursor rewinds to the common ancestor and the affected range is read again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from loguru import logger
from web3 import AsyncWeb3, WebSocketProvider

from chains.events import ChainEvent, Freshness, NewHead, Reorg
from chains.evm.endpoints import EndpointPool
from chains.evm.heads import BlockHeader, HeadTracker
from chains.evm.rpc import RpcTransportError
from chains.stream import EventStream

LogHandler = Callable[[list[dict[str, Any]], int], Awaitable[Sequence[ChainEvent]]]
# (common ancestor, new head) → events re-reading whatever the replaced blocks had touched
ReorgHandler = Callable[[int, int], Awaitable[Sequence[ChainEvent]]]


@dataclass
class LogFilter:
    """Addresses + topics to follow from `next_block` on; `handler` turns raw logs into typed events."""

    name: str
    addresses: list[str]
    topics: list[Any]
    handler: LogHandler
    next_block: int = 0
    events_read: int = field(default=0)
    on_reorg: ReorgHandler | None = None


class ChainWatcher:
    """Runs until cancelled; publishes NewHead / Reorg / Freshness plus whatever the log handlers emit."""

    def __init__(self, chain: str, pool: EndpointPool, stream: EventStream, ws_url: str | None = None,
                 poll_interval_s: float = 0.25, log_chunk: int = 2000, freshness_every_s: float = 1.0) -> None:
        self.chain = chain
        self.pool = pool
        self.stream = stream
        self.ws_url = ws_url
        self.poll_interval_s = poll_interval_s
        self.log_chunk = log_chunk
        self.freshness_every_s = freshness_every_s
        self.filters: list[LogFilter] = []
        self.tracker = HeadTracker(chain, self._fetch_header)
        self.ws_connected = False
        self.last_read_ok = 0.0
        self.last_head_seen = 0.0
        self._headers: asyncio.Queue[BlockHeader | None] = asyncio.Queue(maxsize=1024)
        self.log = logger.bind(chain=chain)

    def add_filter(self, flt: LogFilter) -> None:
        self.filters.append(flt)

    async def run(self) -> None:
        tasks = [asyncio.create_task(self._poll_heads()), asyncio.create_task(self._freshness())]
        if self.ws_url:
            tasks.append(asyncio.create_task(self._ws_heads()))
        try:
            latest = await self._latest_header()
            await self.tracker.prime(latest, depth=32)
            self._publish([NewHead(self.chain, latest.number, latest.hash, latest.parent_hash, latest.timestamp)])
            await self._read_logs(latest.number)
            while True:
                header = await self._headers.get()
                if header is None:
                    continue
                await self._on_header(header)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    # ------------------------------------------------------------------ head sources
    async def _ws_heads(self) -> None:
        backoff = 0.2
        assert self.ws_url is not None
        while True:
            try:
                async with AsyncWeb3(WebSocketProvider(self.ws_url)) as ws:
                    sub = await ws.eth.subscribe("newHeads")
                    self.ws_connected = True
                    backoff = 0.2
                    async for msg in ws.socket.process_subscriptions():
                        if msg.get("subscription") != sub:
                            continue
                        result = msg["result"]
                        header = BlockHeader(int(result["number"]), _hex(result["hash"]),
                                             _hex(result["parentHash"]), int(result["timestamp"]))
                        self._offer(header)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.ws_connected:
                    self.log.warning("websocket heads lost ({e}); polling until it is back", e=type(exc).__name__)
            self.ws_connected = False
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 10.0)

    async def _poll_heads(self) -> None:
        """Polling fallback; while the socket is up it still runs slowly as a safety net."""
        while True:
            interval = self.poll_interval_s * (8 if self.ws_connected else 1)
            await asyncio.sleep(interval)
            try:
                self._offer(await self._latest_header())
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.log.debug("head poll failed: {e}", e=f"{type(exc).__name__}: {exc}")

    def _offer(self, header: BlockHeader) -> None:
        self.last_head_seen = time.monotonic()
        with contextlib.suppress(asyncio.QueueFull):  # a full queue means we are behind; the next head catches up
            self._headers.put_nowait(header)

    async def _latest_header(self) -> BlockHeader:
        block = await self.pool.expect("eth_getBlockByNumber", ["latest", False])
        return BlockHeader.from_rpc(block)

    async def _fetch_header(self, number: int) -> BlockHeader | None:
        block = await self.pool.expect("eth_getBlockByNumber", [hex(number), False])
        return None if block is None else BlockHeader.from_rpc(block)

    # ------------------------------------------------------------------ processing
    async def _on_header(self, header: BlockHeader) -> None:
        try:
            events = await self.tracker.observe(header)
        except RpcTransportError as exc:
            self.log.warning("could not extend the head to {n}: {e}", n=header.number, e=str(exc))
            return
        for event in events:
            if isinstance(event, Reorg):
                for flt in self.filters:
                    flt.next_block = min(flt.next_block, event.common_ancestor + 1)
        self._publish(events)
        heads = [e for e in events if isinstance(e, NewHead)]
        if heads:
            await self._read_logs(heads[-1].number)
        reorgs = [e for e in events if isinstance(e, Reorg)]
        if reorgs and heads:
            await self._reread_after_reorg(min(r.common_ancestor for r in reorgs), heads[-1].number)

    async def _reread_after_reorg(self, ancestor: int, head: int) -> None:
        """Logs of the new branch were read above; state touched only by the replaced blocks is re-read here,
        so downstream ends up with what the new chain says (a reorged-away deposit disappears)."""
        for flt in self.filters:
            if flt.on_reorg is None:
                continue
            try:
                self._publish(await flt.on_reorg(ancestor, head))
            except Exception as exc:
                self.log.exception("reorg re-read {f} failed: {e}", f=flt.name, e=type(exc).__name__)

    async def _read_logs(self, to_block: int) -> None:
        for flt in self.filters:
            while flt.next_block <= to_block:
                end = min(to_block, flt.next_block + self.log_chunk - 1)
                params: dict[str, Any] = {"fromBlock": hex(flt.next_block), "toBlock": hex(end)}
                if flt.addresses:
                    params["address"] = flt.addresses
                if flt.topics:
                    params["topics"] = flt.topics
                try:
                    logs = await self.pool.expect("eth_getLogs", [params])
                except RpcTransportError as exc:
                    self.log.warning("eth_getLogs {f} {a}-{b} failed: {e}", f=flt.name, a=flt.next_block, b=end,
                                     e=str(exc))
                    return  # cursor unchanged: the range is read again on the next head
                try:
                    events = await flt.handler(list(logs), end)
                except Exception as exc:  # a bad log must not stop the chain's stream
                    self.log.exception("log handler {f} failed on {a}-{b}: {e}", f=flt.name, a=flt.next_block,
                                       b=end, e=type(exc).__name__)
                    events = []
                flt.events_read += len(logs)
                flt.next_block = end + 1
                self.last_read_ok = time.monotonic()
                self._publish(events)

    async def _freshness(self) -> None:
        while True:
            await asyncio.sleep(self.freshness_every_s)
            self._publish([self.freshness()])

    def freshness(self) -> Freshness:
        now_wall = time.time()
        head = self.tracker.head
        head_age = now_wall - head.timestamp if head else float("inf")
        read_age = time.monotonic() - self.last_read_ok if self.last_read_ok else float("inf")
        return Freshness(self.chain, head_age_s=head_age, last_read_age_s=read_age,
                         healthy=read_age < max(10 * self.poll_interval_s, 5.0))

    def _publish(self, events: Sequence[ChainEvent]) -> None:
        for event in events:
            self.stream.publish(event)


def _hex(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if hasattr(value, "to_0x_hex"):
        return str(value.to_0x_hex())
    return str(value)
