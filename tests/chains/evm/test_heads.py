"""Head tracker: table tests on a scripted chain, and the real thing against anvil_reorg."""

from __future__ import annotations

from web3 import AsyncHTTPProvider, AsyncWeb3

from chains.events import NewHead, Reorg
from chains.evm.heads import BlockHeader, HeadTracker
from tests.chains.evm.anvil_node import anvil


def _chain(tag: str, start: int, stop: int, parent: str) -> dict[int, BlockHeader]:
    out: dict[int, BlockHeader] = {}
    for n in range(start, stop + 1):
        h = f"0x{tag}{n}"
        out[n] = BlockHeader(n, h, parent, 1000 + n)
        parent = h
    return out


class Scripted:
    """Stands in for eth_getBlockByNumber on a chain the test scripts (the anvil test below is the real one)."""

    def __init__(self, blocks: dict[int, BlockHeader]) -> None:
        self.blocks = blocks

    async def fetch(self, n: int) -> BlockHeader | None:
        return self.blocks.get(n)


async def test_sequential_heads_and_duplicates() -> None:
    blocks = _chain("a", 0, 3, "0x0")
    t = HeadTracker("eth", Scripted(blocks).fetch)
    events = [e for n in range(4) for e in await t.observe(blocks[n])]
    assert [e.number for e in events if isinstance(e, NewHead)] == [0, 1, 2, 3]
    assert await t.observe(blocks[3]) == []


async def test_gap_is_filled_in_order() -> None:
    blocks = _chain("a", 0, 10, "0x0")
    t = HeadTracker("eth", Scripted(blocks).fetch)
    await t.observe(blocks[2])
    events = await t.observe(blocks[7])
    assert [e.number for e in events if isinstance(e, NewHead)] == [3, 4, 5, 6, 7]
    assert not any(isinstance(e, Reorg) for e in events)


async def test_reorg_depth_and_new_branch() -> None:
    old = _chain("a", 0, 10, "0x0")
    new = {**{n: old[n] for n in range(0, 8)}, **_chain("b", 8, 11, old[7].hash)}
    src = Scripted(old)
    t = HeadTracker("eth", src.fetch)
    for n in range(0, 11):
        await t.observe(old[n])
    src.blocks = new
    events = await t.observe(new[11])
    reorg = events[0]
    assert isinstance(reorg, Reorg)
    assert (reorg.depth, reorg.common_ancestor, reorg.old_head, reorg.new_head) == (3, 7, old[10].hash, new[11].hash)
    assert [e.hash for e in events[1:]] == [new[n].hash for n in range(8, 12)]
    assert t.known_hash(9) == new[9].hash


async def test_same_height_replacement_is_a_reorg() -> None:
    old = _chain("a", 0, 5, "0x0")
    new = {**{n: old[n] for n in range(0, 5)}, **_chain("b", 5, 5, old[4].hash)}
    src = Scripted(old)
    t = HeadTracker("eth", src.fetch)
    for n in range(6):
        await t.observe(old[n])
    src.blocks = new
    events = await t.observe(new[5])
    assert isinstance(events[0], Reorg) and events[0].depth == 1 and events[0].common_ancestor == 4


async def test_reorg_against_real_anvil() -> None:
    with anvil() as url:
        w3 = AsyncWeb3(AsyncHTTPProvider(url))

        async def fetch(n: int) -> BlockHeader | None:
            block = (await w3.provider.make_request("eth_getBlockByNumber", [hex(n), False]))["result"]
            return None if block is None else BlockHeader.from_rpc(block)

        async def latest() -> BlockHeader:
            block = (await w3.provider.make_request("eth_getBlockByNumber", ["latest", False]))["result"]
            return BlockHeader.from_rpc(block)

        t = HeadTracker("anvil", fetch)
        await w3.provider.make_request("anvil_mine", ["0x6"])
        before = await latest()
        await t.prime(before, depth=8)
        before_ancestor = t.known_hash(before.number - 3)
        assert before_ancestor is not None
        await w3.provider.make_request("anvil_reorg", [3, []])
        after = await latest()
        assert after.number == before.number and after.hash != before.hash
        events = await t.observe(after)
        reorg = events[0]
        assert isinstance(reorg, Reorg)
        assert reorg.depth == 3 and reorg.common_ancestor == before.number - 3
        assert [e.number for e in events[1:]] == [before.number - 2, before.number - 1, before.number]
        assert t.known_hash(before.number) == after.hash
        assert t.known_hash(before.number - 3) == before_ancestor
        await w3.provider.disconnect()
