"""ChainWatcher on real anvil: heads over WebSocket, logs by range, reorg rewind, failover without loss."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from eth_utils import keccak
from web3 import AsyncHTTPProvider, AsyncWeb3

from chains.devnet.artifacts import load_artifact
from chains.events import ChainEvent, Freshness, NewHead, Reorg
from chains.evm.endpoints import EndpointPool
from chains.evm.watcher import ChainWatcher, LogFilter
from chains.stream import EventStream
from tests.chains.evm.test_endpoints import _proxy
from tests.conftest import AnvilFactory

ROOT = Path(__file__).resolve().parents[3]
TRANSFER = "0x" + keccak(text="Transfer(address,address,uint256)").hex()


async def _token(w3: AsyncWeb3) -> Any:
    art = load_artifact("TestToken", root=ROOT, out_dir=ROOT / "out")
    sender = (await w3.eth.accounts)[0]
    tx = await w3.eth.contract(abi=art.abi, bytecode=art.bytecode).constructor("USD Coin", "USDC", 6).transact(
        {"from": sender})
    receipt = await w3.eth.wait_for_transaction_receipt(tx, poll_latency=0.02)
    return w3.eth.contract(address=receipt["contractAddress"], abi=art.abi), sender


class Recorder:
    def __init__(self) -> None:
        self.amounts: list[int] = []

    async def handle(self, logs: list[dict[str, Any]], _to_block: int) -> list[ChainEvent]:
        self.amounts.extend(int(log["data"], 16) for log in logs)
        return []


async def _until(pred: Any, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not pred():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.02)


async def test_logs_heads_and_reorg_rewind(anvil_factory: AnvilFactory) -> None:
    node = anvil_factory()
    w3 = AsyncWeb3(AsyncHTTPProvider(node.url))
    token, sender = await _token(w3)
    pool = EndpointPool([node.url])
    stream = EventStream("test")
    sub = stream.subscribe()
    watcher = ChainWatcher("test", pool, stream, ws_url=node.ws_url, poll_interval_s=0.1, freshness_every_s=0.2)
    rec = Recorder()
    watcher.add_filter(LogFilter("transfers", [token.address], [TRANSFER], rec.handle))
    task = asyncio.create_task(watcher.run())
    try:
        for amount in (1, 2, 3):
            await token.functions.mint(sender, amount).transact({"from": sender})
        await _until(lambda: rec.amounts[-3:] == [1, 2, 3] and watcher.ws_connected)
        assert rec.amounts == [1, 2, 3]  # the deploy block has no Transfer; every mint seen once, in order
        await token.functions.mint(sender, 4).transact({"from": sender})
        await _until(lambda: rec.amounts[-1:] == [4])
        await w3.provider.make_request("anvil_reorg", [1, []])  # the block with "4" is replaced by an empty one
        await w3.provider.make_request("evm_mine", [])
        events: list[ChainEvent] = []

        def saw_reorg() -> bool:
            events.extend(sub.drain())
            return any(isinstance(e, Reorg) for e in events)

        await _until(saw_reorg)
        reorg = next(e for e in events if isinstance(e, Reorg))
        assert reorg.depth >= 1

        def saw_freshness() -> bool:
            events.extend(sub.drain())
            return any(isinstance(e, Freshness) for e in events)

        await _until(saw_freshness)  # published on its own timer
        assert any(isinstance(e, NewHead) for e in events)
        assert watcher.filters[0].next_block > reorg.common_ancestor  # cursor rewound and read again
        assert watcher.freshness().healthy
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await pool.close()
        await w3.provider.disconnect()


async def test_failover_mid_stream_loses_no_event(anvil_factory: AnvilFactory) -> None:
    node = anvil_factory()
    w3 = AsyncWeb3(AsyncHTTPProvider(node.url))
    token, sender = await _token(w3)
    runner, proxy_url = await _proxy(node.url)
    pool = EndpointPool([proxy_url, node.url], timeout_s=1, base_backoff_s=30)
    stream = EventStream("test")
    watcher = ChainWatcher("test", pool, stream, ws_url=None, poll_interval_s=0.05)  # polling only
    rec = Recorder()
    watcher.add_filter(LogFilter("transfers", [token.address], [TRANSFER], rec.handle))
    task = asyncio.create_task(watcher.run())
    try:
        for amount in range(1, 6):
            await token.functions.mint(sender, amount).transact({"from": sender})
        await _until(lambda: len(rec.amounts) == 5)
        await runner.cleanup()  # the preferred RPC dies mid-stream
        for amount in range(6, 11):
            await token.functions.mint(sender, amount).transact({"from": sender})
        await _until(lambda: len(rec.amounts) == 10)
        assert rec.amounts == list(range(1, 11))  # nothing lost, nothing duplicated
        health = {h["url"]: h for h in pool.health()}
        assert health[proxy_url]["up"] is False and health[proxy_url]["errors"] >= 1
        assert pool.failovers >= 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await pool.close()
        await w3.provider.disconnect()
