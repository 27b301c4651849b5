"""Oracle readers against the real feeds on anvil: Chainlink PriceFeed, SequencerUptimeFeed, VolFeed, MockPyth,
all in one Multicall3-batched read at one block; unusable feeds become faults, not quotes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from chains.evm.endpoints import EndpointPool
from chains.model import OracleSource, Underlying
from chains.protocols.oracles import (
    ChainlinkFeed,
    OracleReader,
    OracleSet,
    PythFeed,
    SequencerFeed,
    VolFeedSpec,
)
from tests.chains.protocols.devnet import E8, E18, VaultDevnet, artifacts_available, deploy, rpc, send

PYTH_ID = bytes.fromhex("ff" * 31 + "01")


@pytest.fixture
async def feeds(vault_net: VaultDevnet):
    reason = artifacts_available("SequencerUptimeFeed", "VolFeed", "MockPyth")
    if reason:
        pytest.skip(reason)
    net = vault_net
    seq = await deploy(net.w3, "SequencerUptimeFeed", False, net.admin, sender=net.admin)
    vol = await deploy(net.w3, "VolFeed", net.admin, 3600, sender=net.admin)
    pyth = await deploy(net.w3, "MockPyth", 60, 1, sender=net.admin)
    bad = await deploy(net.w3, "PriceFeed", "BTC / USD", 8, net.admin, sender=net.admin)
    await send(net.w3, bad.functions.updateAnswer(-5), net.admin)
    pool = EndpointPool([net.url])
    yield net, seq, vol, pyth, bad, pool
    await pool.close()


async def test_every_feed_kind_read_exactly_at_one_block(feeds) -> None:
    net, seq, vol, pyth, bad, pool = feeds
    now = await net.now()
    a, b, rho, m, sigma, fwd = 4 * 10**16, 10**17, -3 * 10**17, 123, 2 * 10**17, 3001_5 * 10**17
    await send(net.w3, vol.functions.setSlice(net.weth.address, net.expiry, a, b, rho, m, sigma, fwd), net.admin)
    upd = pyth.functions.createPriceFeedUpdateData(PYTH_ID, 301234, 150, -2, 301234, 150, now + 1, now)
    data = await upd.call()
    await send(net.w3, pyth.functions.updatePriceFeeds([data]), net.admin, value=1)
    await rpc(net.w3, "evm_increaseTime", [30])
    await send(net.w3, seq.functions.updateStatus(True, now + 20), net.admin)
    block = await net.w3.eth.block_number
    await send(net.w3, net.feed.functions.updateAnswer(1 * E8), net.admin)  # after the pinned block
    reader = OracleReader("base", pool, OracleSet(
        chainlink=(ChainlinkFeed(net.feed.address, Underlying.ETH), ChainlinkFeed(bad.address, Underlying.BTC, 8)),
        sequencers=(SequencerFeed(seq.address),),
        vol=(VolFeedSpec(vol.address, {net.weth.address: Underlying.ETH}),),
        pyth=(PythFeed(pyth.address, PYTH_ID, Underlying.ETH),)))
    got = await reader.read(block)
    assert got.block == block
    by_source = {q.source: q for q in got.quotes}
    assert by_source[OracleSource.CHAINLINK].price == Decimal(3000)  # decimals() read in the same batch
    p = by_source[OracleSource.PYTH]
    assert p.price == Decimal("3012.34") and p.confidence == Decimal("1.50") and p.feed_id == "0x" + PYTH_ID.hex()
    assert p.publish_time == datetime.fromtimestamp(now + 1, UTC)
    (s,) = got.vol_slices
    assert (s.a, s.b, s.rho, s.sigma) == (Decimal("0.04"), Decimal("0.1"), Decimal("-0.3"), Decimal("0.2"))
    assert s.m == Decimal("1.23E-16") and s.forward == Decimal("3001.5") and s.asset is Underlying.ETH
    assert s.expiry == datetime.fromtimestamp(net.expiry, UTC)
    (st,) = got.sequencers
    assert not st.up and st.started_at == datetime.fromtimestamp(now + 20, UTC) and st.round_id == (1 << 64) | 2
    assert not st.grace_over(st.started_at + timedelta(hours=2), 3600)
    (fault,) = got.faults
    assert fault.feed == bad.address and "answer -5 is not positive" in fault.reason

    # sequencer back up: grace measured from the status change
    await send(net.w3, seq.functions.updateStatus(False, await net.now()), net.admin)
    (up,) = (await reader.read()).sequencers
    assert up.up and up.grace_over(up.started_at + timedelta(seconds=3600), 3600)
    assert not up.grace_over(up.started_at + timedelta(seconds=3599), 3600)


async def test_reverting_and_wrong_targets_are_faults(feeds) -> None:
    net, seq, vol, pyth, bad, pool = feeds
    unknown_id = bytes(32)
    reader = OracleReader("base", pool, OracleSet(
        chainlink=(ChainlinkFeed(net.usdc.address, Underlying.USD, 8),),  # an ERC20, not a feed
        pyth=(PythFeed(pyth.address, unknown_id, Underlying.SOL),),  # never updated → reverts
        vol=(VolFeedSpec(vol.address, {}),)))  # no slices yet → empty, no fault
    got = await reader.read()
    assert got.quotes == () and got.vol_slices == ()
    assert {f.kind for f in got.faults} == {"chainlink", "pyth"}
    assert all("reverted" in f.reason for f in got.faults)
    # a slice for an underlying with no configured asset is reported, not guessed
    await send(net.w3, vol.functions.setSlice(net.usdc.address, net.expiry, 10**16, 10**17, 0, 0, E18 // 10,
                                              E18), net.admin)
    got = await reader.read()
    assert got.vol_slices == () and any("no configured asset" in f.reason for f in got.faults)


async def test_live_filters_publish_chainlink_vol_and_pyth_updates(feeds) -> None:
    import asyncio
    import contextlib

    from chains.events import OracleUpdate
    from chains.evm.watcher import ChainWatcher
    from chains.stream import EventStream

    net, seq, vol, pyth, bad, pool = feeds
    reader = OracleReader("base", pool, OracleSet(
        chainlink=(ChainlinkFeed(net.feed.address, Underlying.ETH),),  # decimals resolved from the chain
        vol=(VolFeedSpec(vol.address, {net.weth.address: Underlying.ETH}),),
        pyth=(PythFeed(pyth.address, PYTH_ID, Underlying.SOL),)))
    await reader.resolve_decimals()
    stream = EventStream("base")
    sub = stream.subscribe()
    watcher = ChainWatcher("base", pool, stream, ws_url=net.url.replace("http", "ws"))
    for flt in reader.log_filters(await net.w3.eth.block_number + 1):
        watcher.add_filter(flt)
    task = asyncio.create_task(watcher.run())
    try:
        now = await net.now()
        await send(net.w3, net.feed.functions.updateAnswer(3123_45000000), net.admin)
        await send(net.w3, vol.functions.setSlice(net.weth.address, net.expiry, 10**16, 10**17, 0, 0, E18 // 5,
                                                  3100 * E18), net.admin)
        data = await pyth.functions.createPriceFeedUpdateData(PYTH_ID, 15012, 3, -2, 15012, 3, now + 5, now).call()
        await send(net.w3, pyth.functions.updatePriceFeeds([data]), net.admin, value=1)
        seen: dict[str, object] = {}

        async def collect() -> None:
            async for ev in sub:
                if isinstance(ev, OracleUpdate):
                    if ev.quote is not None:
                        seen[ev.quote.source.value] = ev.quote.price
                    if ev.vol_slice is not None:
                        seen["vol"] = ev.vol_slice.forward
                if len(seen) == 3:
                    return

        await asyncio.wait_for(collect(), 10)
        assert seen == {"chainlink": Decimal("3123.45"), "vol": Decimal(3100), "pyth": Decimal("150.12")}
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
