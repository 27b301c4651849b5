"""Fan-out of one chain's events to several consumers through bounded queues, never losing silently.

A slow consumer must not stall the collector (liquidations are time-critical) nor silently miss an event (a
missed position change is a missed liquidation). When a consumer's queue is full its backlog is dropped and
replaced by one `Lagged(missed=n)` marker at the head of the queue, so it knows to resync from the book.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator

from chains.events import ChainEvent, Lagged


class Subscription:
    """One consumer's bounded view of a stream. Iterate it with `async for`."""

    def __init__(self, chain: str, maxsize: int) -> None:
        if maxsize < 2:
            raise ValueError("a subscription needs room for at least 2 events (one may be a Lagged marker)")
        self.chain = chain
        self.maxsize = maxsize
        self._items: deque[ChainEvent] = deque()
        self._ready = asyncio.Event()
        self._closed = False
        self.lag_count = 0
        self.missed_total = 0

    def push(self, event: ChainEvent) -> None:
        if len(self._items) >= self.maxsize:
            newly_missed = len(self._items)
            carried = 0
            if isinstance(self._items[0], Lagged):  # an unread marker: fold its count into the new one
                newly_missed -= 1
                carried = self._items[0].missed
            self._items.clear()
            self._items.append(Lagged(self.chain, carried + newly_missed))
            self.lag_count += 1
            self.missed_total += newly_missed
        self._items.append(event)
        self._ready.set()

    def close(self) -> None:
        self._closed = True
        self._ready.set()

    async def get(self) -> ChainEvent:
        while not self._items:
            if self._closed:
                raise StopAsyncIteration
            self._ready.clear()
            await self._ready.wait()
        return self._items.popleft()

    def drain(self) -> list[ChainEvent]:
        """Everything queued right now, without waiting (for batch consumers and tests)."""
        items = list(self._items)
        self._items.clear()
        return items

    def __aiter__(self) -> AsyncIterator[ChainEvent]:
        return self

    async def __anext__(self) -> ChainEvent:
        return await self.get()

    def __len__(self) -> int:
        return len(self._items)


class EventStream:
    """The per-chain stream the collectors publish to."""

    def __init__(self, chain: str) -> None:
        self.chain = chain
        self._subs: list[Subscription] = []
        self.published = 0

    def subscribe(self, maxsize: int = 10_000) -> Subscription:
        sub = Subscription(self.chain, maxsize)
        self._subs.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        sub.close()
        self._subs = [s for s in self._subs if s is not sub]

    def publish(self, event: ChainEvent) -> None:
        self.published += 1
        for sub in self._subs:
            sub.push(event)

    def close(self) -> None:
        for sub in self._subs:
            sub.close()
