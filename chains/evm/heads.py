"""Head tracking with block hashes: new heads in order, gaps filled, reorgs detected with their depth.

Whatever delivers heads (a newHeads subscription or polling) may skip blocks or switch branches; the tracker
keeps the last `window` (number → hash) pairs and, for every head, walks parent hashes back to the common
ancestor, so downstream sees a gap-free sequence of NewHead events and a Reorg event saying from which block
to re-read.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from chains.events import ChainEvent, NewHead, Reorg


@dataclass(frozen=True, slots=True)
class BlockHeader:
    number: int
    hash: str
    parent_hash: str
    timestamp: int

    @classmethod
    def from_rpc(cls, block: dict[str, object]) -> BlockHeader:
        """From an eth_getBlockByNumber result (hex quantities)."""
        return cls(int(str(block["number"]), 16), str(block["hash"]), str(block["parentHash"]),
                   int(str(block["timestamp"]), 16))


FetchBlock = Callable[[int], Awaitable[BlockHeader | None]]


class HeadTracker:
    """Turns observed heads into ordered NewHead / Reorg events for one chain."""

    def __init__(self, chain: str, fetch: FetchBlock, window: int = 128, max_gap: int = 256) -> None:
        self.chain = chain
        self.fetch = fetch
        self.window = window
        self.max_gap = max_gap
        self._hashes: dict[int, str] = {}
        self.head: BlockHeader | None = None

    async def prime(self, header: BlockHeader, depth: int = 32) -> None:
        """Start from `header` knowing its `depth` ancestors, so a reorg right after start-up is measured."""
        chain = [header]
        while len(chain) <= depth and chain[0].number > 0:
            parent = await self.fetch(chain[0].number - 1)
            if parent is None or parent.hash != chain[0].parent_hash:
                break
            chain.insert(0, parent)
        for block in chain:
            self._remember(block)

    def known_hash(self, number: int) -> str | None:
        return self._hashes.get(number)

    async def observe(self, header: BlockHeader) -> list[ChainEvent]:
        """Feed one observed head; returns the events it implies (possibly none for a repeat)."""
        if self.head is None:
            self._remember(header)
            return [self._new_head(header)]
        if self._hashes.get(header.number) == header.hash:
            return []  # already seen (duplicate delivery, or an older head on our branch)
        branch = [header]
        cur = header
        ancestor: int | None = None
        while cur.number > 0:
            parent_no = cur.number - 1
            known = self._hashes.get(parent_no)
            if known == cur.parent_hash:
                ancestor = parent_no
                break
            if known is None and parent_no > self.head.number:
                if len(branch) > self.max_gap:
                    break
            elif known is None:
                break  # below our window: deeper than we can prove
            parent = await self.fetch(parent_no)
            if parent is None:
                break
            branch.insert(0, parent)
            cur = parent
        events: list[ChainEvent] = []
        replaced = sorted(n for n in self._hashes if ancestor is None or n > ancestor)
        if replaced:
            old_head = self.head
            common = ancestor if ancestor is not None else min(self._hashes) - 1
            events.append(Reorg(self.chain, depth=old_head.number - common, common_ancestor=common,
                                old_head=old_head.hash, new_head=header.hash))
            for n in replaced:
                del self._hashes[n]
        for block in branch:
            self._remember(block)
            events.append(self._new_head(block))
        return events

    def _remember(self, header: BlockHeader) -> None:
        self._hashes[header.number] = header.hash
        self.head = header  # callers feed blocks in ascending order of the branch they belong to
        for n in [n for n in self._hashes if n <= header.number - self.window]:
            del self._hashes[n]

    def _new_head(self, header: BlockHeader) -> NewHead:
        return NewHead(self.chain, header.number, header.hash, header.parent_hash, header.timestamp)
