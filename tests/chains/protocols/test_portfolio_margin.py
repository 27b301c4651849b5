"""PortfolioMargin adapter against the real contract on anvil: exact cash/positions/MM at one block, discovery,
and built startAuction / bid call data that really auction an under-margined subaccount."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal

import pytest
from web3.contract import AsyncContract

from chains.evm.endpoints import EndpointPool
from chains.model import EXACT, OptionType, OracleSource, Underlying
from chains.protocols.base import CallData
from chains.protocols.portfolio_margin import PortfolioMarginAdapter
from chains.protocols.registry import create_adapter
from tests.chains.protocols.devnet import (
    E8,
    E18,
    USDC,
    VaultDevnet,
    artifacts_available,
    deploy,
    rpc,
    send,
    wait,
)

TAU_30D_A = 36 * 30 * 10**16 // 365  # flat 60 % vol over 30 days as total variance a (b = 0)


@dataclass
class PmNet:
    net: VaultDevnet
    pm: AsyncContract
    vol: AsyncContract
    alice_id: int
    bob_id: int
    series: int
    expiry: int
    pool: EndpointPool


@pytest.fixture
async def pmnet(vault_net: VaultDevnet) -> AsyncIterator[PmNet]:
    reason = artifacts_available("PortfolioMargin", "VolFeed")
    if reason:
        pytest.skip(reason)
    net = vault_net
    w3, admin, alice, bob = net.w3, net.admin, net.writer, net.liquidator
    matcher = (await w3.eth.accounts)[3]
    await send(w3, net.feed.functions.updateAnswer(2000 * E8), admin)
    vol = await deploy(w3, "VolFeed", admin, 86400, sender=admin)
    pm = await deploy(w3, "PortfolioMargin", net.usdc.address, vol.address, admin, sender=admin)
    await send(w3, pm.functions.setUnderlying(net.weth.address, net.feed.address, 3600), admin)
    expiry = await net.now() + 30 * 86400
    await send(w3, vol.functions.setSlice(net.weth.address, expiry, TAU_30D_A, 0, 0, 0, E18 // 10, 2010 * E18), admin)
    await send(w3, pm.functions.addSeries(net.weth.address, expiry, 2000 * E18, True), admin)
    ids = []
    for who, amount in ((alice, 1000 * USDC), (bob, 500_000 * USDC)):
        await send(w3, net.usdc.functions.approve(pm.address, 2**256 - 1), who)
        await send(w3, pm.functions.createAccount(), who)
        aid = int(await pm.functions.nextAccountId().call()) - 1
        await send(w3, pm.functions.deposit(aid, amount), who)
        await send(w3, pm.functions.setOperator(matcher, True), who)
        ids.append(aid)
    # alice writes 2 calls to bob at 150 USD each
    await send(w3, pm.functions.trade(ids[1], ids[0], 1, 2 * E18, 150 * E18), matcher)
    pool = EndpointPool([net.url])
    yield PmNet(net, pm, vol, ids[0], ids[1], 1, expiry, pool)
    await pool.close()


async def test_read_exact_cash_positions_and_margin(pmnet: PmNet) -> None:
    p = pmnet
    ad = PortfolioMarginAdapter("arbitrum", p.pool, p.pm.address, p.net.deploy_block,
                                entities={p.net.liquidator: "mm-desk"})
    disc = await ad.discover()
    assert disc.accounts == (str(p.alice_id), str(p.bob_id))
    block = await p.net.w3.eth.block_number
    alice, bob = await ad.read([*disc.accounts, "77"], block)  # 77 does not exist: skipped
    assert alice.collateral == {"USD": Decimal(1300)} and bob.collateral == {"USD": Decimal(499_700)}
    (pa,) = alice.positions
    (pb,) = bob.positions
    assert pa.size == Decimal(-2) and pb.size == Decimal(2) and pb.entity == "mm-desk" and pa.entity == alice.owner
    inst = pa.instrument
    assert inst.option_type is OptionType.CALL and inst.strike == Decimal(2000) and inst.underlying is Underlying.ETH
    assert inst is pb.instrument  # one Instrument per series
    mm, mtm = await p.pm.functions.getMarginAndMarkToMarket(p.alice_id).call(block_identifier=block)
    assert alice.params["mm"] == Decimal(mm).scaleb(-18, context=EXACT)
    assert alice.params["mtm"] == Decimal(mtm).scaleb(-18, context=EXACT) and alice.params["auction_active"] == 0
    # short 2 calls: MtM = cash − 2·mark; MM = cash − 2·(mark + 0.09·S) with S = 2000
    mark = (Decimal(1300) - alice.params["mtm"]) / 2
    assert alice.params["mm"] == Decimal(1300) - 2 * (mark + Decimal(180))
    got = await ad.oracles(block)
    assert {q.source: q.price for q in got.quotes} == {OracleSource.CHAINLINK: Decimal(2000)}
    (s,) = got.vol_slices
    assert s.forward == Decimal(2010) and s.a == Decimal(TAU_30D_A).scaleb(-18)


async def test_built_start_auction_and_bid_liquidate(pmnet: PmNet) -> None:
    p = pmnet
    net, w3 = p.net, p.net.w3
    ad = create_adapter("portfolio_margin", "arbitrum", p.pool, {"address": p.pm.address})
    assert isinstance(ad, PortfolioMarginAdapter)
    await send(w3, net.feed.functions.updateAnswer(2400 * E8), net.admin)
    await send(w3, p.vol.functions.setSlice(net.weth.address, p.expiry, TAU_30D_A, 0, 0, 0, E18 // 10, 2410 * E18),
               net.admin)
    (before,) = await ad.read([str(p.alice_id)])
    assert before.params["mm"] < 0 < before.params["mtm"]  # under-margined but solvent
    keeper = (await w3.eth.accounts)[4]
    await _send(net, ad.start_auction(p.alice_id), keeper)
    (started,) = await ad.read([str(p.alice_id)])
    assert started.params["auction_active"] == 1 and started.params["auction_insolvent"] == 0
    fraction = min(int(await p.pm.functions.maxBidFraction(p.alice_id).call()), E18) // 2
    with pytest.raises(ValueError, match="fraction"):
        ad.bid(p.alice_id, p.bob_id, 0, 1)
    await _send(net, ad.bid(p.alice_id, p.bob_id, fraction, 10**30), net.liquidator)
    (after,) = await ad.read([str(p.alice_id)])
    on_chain = await p.pm.functions.positionOf(p.alice_id, p.series).call()
    assert after.positions[0].size == Decimal(on_chain).scaleb(-18, context=EXACT)
    assert Decimal(-2) < after.positions[0].size < 0


async def _send(net: VaultDevnet, call: CallData, sender: str) -> None:
    receipt = await wait(net.w3, await net.w3.eth.send_transaction({"from": sender, **call.as_tx()}))  # type: ignore[arg-type]
    assert receipt["status"] == 1
    await rpc(net.w3, "evm_mine")


async def test_live_cash_change_reaches_the_stream(pmnet: PmNet) -> None:
    import asyncio
    import contextlib

    from chains.events import PositionChanged
    from chains.evm.watcher import ChainWatcher
    from chains.stream import EventStream

    p = pmnet
    ad = PortfolioMarginAdapter("arbitrum", p.pool, p.pm.address, p.net.deploy_block)
    stream = EventStream("arbitrum")
    sub = stream.subscribe()
    watcher = ChainWatcher("arbitrum", p.pool, stream, ws_url=p.net.url.replace("http", "ws"))
    for flt in ad.log_filters(await p.net.w3.eth.block_number + 1):
        watcher.add_filter(flt)
    task = asyncio.create_task(watcher.run())
    try:
        await send(p.net.w3, p.pm.functions.deposit(p.alice_id, 25 * USDC), p.net.writer)

        async def first_change() -> PositionChanged:
            async for ev in sub:
                if isinstance(ev, PositionChanged):
                    return ev
            raise AssertionError("stream closed")

        ev = await asyncio.wait_for(first_change(), 10)
        assert ev.protocol == "portfolio_margin" and ev.account.account_id == str(p.alice_id)
        assert ev.account.collateral["USD"] == Decimal(1325) and ev.positions[0].size == Decimal(-2)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
