"""Reorg on the live path: a deposit mined, then reorged away with anvil_reorg; the stream carries a Reorg event
and the vault is re-read to what the new chain says."""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal

from chains.events import ChainEvent, PositionChanged, Reorg
from chains.evm.endpoints import EndpointPool
from chains.evm.watcher import ChainWatcher
from chains.protocols.vault_options import VaultOptionsAdapter
from chains.stream import EventStream, Subscription
from tests.chains.protocols.devnet import OPT, USDC, VaultDevnet, rpc, send


async def _until(sub: Subscription, pred: object, timeout: float = 15.0) -> list[ChainEvent]:
    seen: list[ChainEvent] = []

    async def loop() -> list[ChainEvent]:
        async for ev in sub:
            seen.append(ev)
            if pred(ev):  # type: ignore[operator]
                return seen
        raise AssertionError("stream closed")

    return await asyncio.wait_for(loop(), timeout)


async def test_reorged_deposit_is_reread_from_the_new_chain(vault_net: VaultDevnet) -> None:
    net = vault_net
    vid = await net.open_vault(net.writer, 1000 * USDC, net.put_series, OPT)
    pool = EndpointPool([net.url])
    adapter = VaultOptionsAdapter("ethereum", pool, net.vo.address, net.deploy_block)
    stream = EventStream("ethereum")
    sub = stream.subscribe()
    watcher = ChainWatcher("ethereum", pool, stream, ws_url=None, poll_interval_s=0.05)
    for flt in adapter.log_filters(await net.w3.eth.block_number + 1):
        watcher.add_filter(flt)
    task = asyncio.create_task(watcher.run())
    try:
        await asyncio.sleep(0.3)  # the watcher primes its head window
        await net.fund(net.writer, 500 * USDC)
        await send(net.w3, net.vo.functions.deposit(vid, 500 * USDC), net.writer)
        events = await _until(sub, lambda e: isinstance(e, PositionChanged)
                              and e.account.collateral.get("USDC") == Decimal(1500))
        assert isinstance(events[-1], PositionChanged) and events[-1].account.account_id == str(vid)

        await rpc(net.w3, "anvil_reorg", [1, []])  # the block with the deposit is replaced by an empty one
        await rpc(net.w3, "evm_mine", [])
        after = await _until(sub, lambda e: isinstance(e, PositionChanged)
                             and e.account.collateral.get("USDC") == Decimal(1000))
        reorgs = [e for e in after if isinstance(e, Reorg)]
        assert reorgs and reorgs[0].depth >= 1
        reread = after[-1]
        assert isinstance(reread, PositionChanged)
        assert reread.block > events[-1].block - 1  # read on the new branch
        owner, _last, _settled, _series, collateral, _short = await net.vo.functions.getVault(vid).call()
        assert collateral == 1000 * USDC and owner == net.writer  # the stream agrees with the new chain
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await pool.close()
