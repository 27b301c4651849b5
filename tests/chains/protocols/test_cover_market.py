"""CoverMarket adapter against the real contract on anvil: covers and claims read exactly; built buyCover /
submitClaim / dispute / settle call data executes and moves the claim through its lifecycle."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from chains.evm.endpoints import EndpointPool
from chains.protocols.base import CallData
from chains.protocols.cover_market import ClaimStatus, CoverMarketAdapter
from tests.chains.protocols.devnet import USDC, VaultDevnet, artifacts_available, deploy, rpc, send, wait


async def _send(net: VaultDevnet, call: CallData, sender: str) -> None:
    receipt = await wait(net.w3, await net.w3.eth.send_transaction({"from": sender, **call.as_tx()}))  # type: ignore[arg-type]
    assert receipt["status"] == 1


async def test_cover_and_claim_lifecycle(vault_net: VaultDevnet) -> None:
    reason = artifacts_available("CoverMarket")
    if reason:
        pytest.skip(reason)
    net = vault_net
    w3, admin, holder, disputer = net.w3, net.admin, net.writer, net.liquidator
    market = await deploy(w3, "CoverMarket", net.usdc.address, (7200, 86400, 100 * USDC, 5000), admin, sender=admin)
    await send(w3, net.usdc.functions.mint(admin, 1_000_000 * USDC), admin)
    for who in (admin, holder, disputer):
        await send(w3, net.usdc.functions.approve(market.address, 2**256 - 1), who)
    await send(w3, market.functions.deposit(1_000_000 * USDC, admin), admin)
    await send(w3, market.functions.setProtocolRate(1, net.vo.address, 5 * 10**16), admin)
    pool = EndpointPool([net.url])
    try:
        ad = CoverMarketAdapter("base", pool, market.address, net.deploy_block)
        with pytest.raises(ValueError, match="1..365 days"):
            ad.buy_cover(holder, 1, net.vo.address, 10_000 * USDC, 3600, 10**12)
        await _send(net, ad.buy_cover(holder, 1, net.vo.address, 10_000 * USDC, 30 * 86400, 10**12), holder)
        assert (await ad.discover()).accounts == ("0",)
        (cover,) = await ad.read(["0"])
        assert cover.owner == holder and cover.params["amount"] == Decimal(10_000)
        assert cover.params["remaining"] == Decimal(10_000) and cover.params["source_chain_id"] == 1
        assert cover.params["end"] - cover.params["start"] == 30 * 86400

        evidence = bytes.fromhex("ab" * 32)
        await _send(net, ad.submit_claim(0, 1, evidence, 3, 2500 * USDC), holder)
        (claim,) = await ad.claims()
        assert claim.status is ClaimStatus.PENDING and claim.loss == Decimal(2500) and claim.bond == Decimal(100)
        assert claim.tx_hash == evidence and claim.log_index == 3 and claim.disputer is None
        assert claim.disputable_until - claim.submitted_at == timedelta(hours=2)
        (cover,) = await ad.read(["0"])
        assert cover.params["reserved"] == Decimal(2500) and cover.params["remaining"] == Decimal(7500)

        await _send(net, ad.dispute(0), disputer)
        await _send(net, ad.submit_claim(0, 1, evidence, 4, 1000 * USDC), holder)
        await rpc(w3, "evm_increaseTime", [7201])
        await rpc(w3, "evm_mine")  # estimate_gas runs against the latest block
        await _send(net, ad.settle(1), disputer)  # anyone may settle after liveness
        disputed, paid = await ad.claims()
        assert disputed.status is ClaimStatus.DISPUTED and disputed.disputer == disputer
        assert paid.status is ClaimStatus.PAID and paid.payout == Decimal(1000)
        (cover,) = await ad.read(["0"])
        assert cover.params["paid_out"] == Decimal(1000) and cover.params["open_claims"] == 1
    finally:
        await pool.close()
