"""OptionAMM and Uniswap V3 adapters on anvil with the real Uniswap V3 bytecode: the pool's short open interest,
balances and Greeks read exactly; a QuoterV2 quote matches the built swap's fill; the built `rebalance` hedges the
pool's delta on Uniswap."""

from __future__ import annotations

from decimal import Decimal

import pytest

from chains.evm.endpoints import EndpointPool
from chains.model import EXACT, OracleSource, Underlying
from chains.protocols.base import CallData
from chains.protocols.option_amm import POOL_ACCOUNT, OptionAmmAdapter
from chains.protocols.uniswap_v3 import PoolSpec, UniswapV3Adapter
from tests.chains.protocols.devnet import (
    E18,
    USDC,
    VaultDevnet,
    artifacts_available,
    deploy,
    deploy_uniswap,
    send,
    wait,
)

TAU_30D_A = 36 * 30 * 10**16 // 365


async def _send(net: VaultDevnet, call: CallData, sender: str) -> None:
    receipt = await wait(net.w3, await net.w3.eth.send_transaction({"from": sender, **call.as_tx()}))  # type: ignore[arg-type]
    assert receipt["status"] == 1


async def test_amm_pool_read_quote_swap_and_rebalance(vault_net: VaultDevnet) -> None:
    reason = artifacts_available("OptionAMM", "UniswapSeeder", "VolFeed")
    if reason:
        pytest.skip(reason)
    net = vault_net
    w3, admin, trader = net.w3, net.admin, net.writer
    hedger = (await w3.eth.accounts)[4]
    uni = await deploy_uniswap(net)
    pool = EndpointPool([net.url])
    try:
        venue = UniswapV3Adapter("base", pool, uni.router.address, uni.quoter.address,
                                 [PoolSpec(uni.pool, net.weth.address, net.usdc.address, 18, 6, Underlying.ETH)])
        (mid,) = (await venue.oracles()).quotes
        assert mid.source is OracleSource.AMM and abs(mid.price - 3000) < Decimal("0.01")
        q = await venue.quote_exact_input(net.usdc.address, net.weth.address, 500, 3000 * USDC)
        assert Decimal("0.99") * E18 < q.amount < E18  # ~1 WETH minus the 0.05 % fee
        await send(w3, net.usdc.functions.approve(uni.router.address, 2**256 - 1), trader)
        before = await net.weth.functions.balanceOf(trader).call()
        deadline = await net.now() + 600
        await _send(net, venue.exact_input(net.usdc.address, net.weth.address, 500, trader, deadline, 3000 * USDC,
                                           q.amount), trader)
        assert await net.weth.functions.balanceOf(trader).call() - before == q.amount  # the quote was the fill

        vol = await deploy(w3, "VolFeed", admin, 86400, sender=admin)
        expiry = await net.now() + 30 * 86400
        await send(w3, vol.functions.setSlice(net.weth.address, expiry, TAU_30D_A, 0, 0, 0, E18 // 10, 3000 * E18),
                   admin)
        params = (3 * 10**15, 2 * 10**17, 1000 * E18, 10**16, 10**17, 9 * 10**17, 10**16, 5 * E18, 3600)
        amm = await deploy(w3, "OptionAMM", net.usdc.address, net.weth.address, net.feed.address, vol.address,
                           uni.router.address, 500, params, admin, sender=admin)
        await send(w3, amm.functions.grantRole(await amm.functions.HEDGER_ROLE().call(), hedger), admin)
        await send(w3, amm.functions.listSeries(3200 * E18, expiry, True), admin)
        await send(w3, net.usdc.functions.mint(admin, 1_000_000 * USDC), admin)
        await send(w3, net.usdc.functions.approve(amm.address, 2**256 - 1), admin)
        await send(w3, amm.functions.deposit(1_000_000 * USDC, admin), admin)
        await send(w3, net.usdc.functions.approve(amm.address, 2**256 - 1), trader)
        paid0 = await net.usdc.functions.balanceOf(trader).call()
        await send(w3, amm.functions.buy(0, 10 * E18, 10**12), trader)
        cost = paid0 - await net.usdc.functions.balanceOf(trader).call()

        ad = OptionAmmAdapter("base", pool, amm.address, await w3.eth.block_number - 12,
                              entities={amm.address: "amm-lp"})
        assert (await ad.discover()).accounts == (POOL_ACCOUNT, trader)
        lp, holder = await ad.read([POOL_ACCOUNT, trader])
        (short,) = lp.positions
        (long,) = holder.positions
        assert short.size == Decimal(-10) and long.size == Decimal(10) and short.entity == "amm-lp"
        assert short.instrument is long.instrument and short.instrument.strike == Decimal(3200)
        assert lp.collateral == {"USDC": Decimal(1_000_000) + Decimal(cost).scaleb(-6, context=EXACT),
                                 "WETH": Decimal(0)}
        delta, _gamma, _vega = await amm.functions.netGreeks().call()
        assert lp.params["delta"] == Decimal(delta).scaleb(-18, context=EXACT) and lp.params["delta"] < -3
        assert lp.params["nav"] == Decimal(await amm.functions.nav().call()).scaleb(-18, context=EXACT)
        (spot,) = [q for q in (await ad.oracles()).quotes if q.source is OracleSource.CHAINLINK]
        assert spot.price == Decimal(3000)

        with pytest.raises(ValueError, match="slippage"):
            ad.rebalance(0, 10_000)
        await _send(net, ad.rebalance(E18 // 10, 100), hedger)  # buy WETH on Uniswap up to delta 0
        (hedged,) = await ad.read([POOL_ACCOUNT])
        assert abs(hedged.params["delta"]) < Decimal("0.001") and hedged.collateral["WETH"] > 3
    finally:
        await pool.close()
