"""Live path: a ChainWatcher on WebSocket with the adapter's log filters; a PriceFeed update mined on anvil
reaches the stream as an OracleUpdate and a new vault as a PositionChanged."""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal

from chains.events import ChainEvent, OracleUpdate, PositionChanged
from chains.evm.endpoints import EndpointPool
from chains.evm.watcher import ChainWatcher
from chains.protocols.vault_options import VaultOptionsAdapter
from chains.stream import EventStream
from tests.chains.protocols.devnet import OPT, USDC, VaultDevnet


async def _next(sub, kind: type, timeout: float = 10.0) -> ChainEvent:
    async def loop() -> ChainEvent:
        async for ev in sub:
            if isinstance(ev, kind):
                return ev
        raise AssertionError("stream closed")

    return await asyncio.wait_for(loop(), timeout)


async def test_price_update_and_new_vault_reach_the_stream(vault_net: VaultDevnet) -> None:
    net = vault_net
    pool = EndpointPool([net.url])
    ad = VaultOptionsAdapter("ethereum", pool, net.vo.address, net.deploy_block)
    await ad.prepare_oracles()
    stream = EventStream("ethereum")
    sub = stream.subscribe()
    watcher = ChainWatcher("ethereum", pool, stream, ws_url=net.url.replace("http", "ws"))
    start = await net.w3.eth.block_number + 1
    for flt in ad.log_filters(start):
        watcher.add_filter(flt)
    task = asyncio.create_task(watcher.run())
    try:
        round_id = await net.push_price(2_777_12345678)
        ev = await _next(sub, OracleUpdate)
        assert isinstance(ev, OracleUpdate) and ev.quote is not None
        assert ev.quote.price == Decimal("2777.12345678") and ev.quote.feed_id == net.feed.address
        assert ev.quote.block == await net.w3.eth.block_number

        vid = await net.open_vault(net.writer, 1000 * USDC, net.put_series, OPT)
        while True:  # open, deposit and mint are three transactions: wait for the state with the short
            pc = await _next(sub, PositionChanged)
            assert isinstance(pc, PositionChanged) and pc.account.account_id == str(vid)
            if pc.positions:
                break
        assert pc.positions[0].size == Decimal(-1) and pc.account.collateral["USDC"] == Decimal(1000)
        assert round_id > 0
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await pool.close()
