"""VaultOptions adapter against the real contracts on anvil: exact reads at a pinned block, resumable discovery,
oracle reads, and built call data that really liquidates / settles / redeems."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from chains.evm.endpoints import EndpointPool
from chains.model import InstrumentKind, OptionType, OracleSource, Underlying
from chains.protocols.base import AdapterError, CallData
from chains.protocols.registry import create_adapter
from chains.protocols.vault_options import VaultOptionsAdapter
from tests.chains.protocols.devnet import E8, OPT, USDC, VaultDevnet, rpc, wait


async def _send(net: VaultDevnet, call: CallData, sender: str) -> dict:
    tx = {"from": sender, **call.as_tx()}
    return await wait(net.w3, await net.w3.eth.send_transaction(tx))  # type: ignore[arg-type]


@pytest.fixture
async def pool(vault_net: VaultDevnet):
    p = EndpointPool([vault_net.url])
    yield p
    await p.close()


def _adapter(net: VaultDevnet, pool: EndpointPool, **kw) -> VaultOptionsAdapter:
    return VaultOptionsAdapter("ethereum", pool, net.vo.address, net.deploy_block, **kw)


async def test_read_returns_exact_positions_and_collateral(vault_net: VaultDevnet, pool: EndpointPool) -> None:
    net = vault_net
    v1 = await net.open_vault(net.writer, 1200 * USDC, net.put_series, 150_000_000)  # 1.5 puts
    v2 = await net.open_vault(net.liquidator, 400 * USDC + 1, net.call_series, 25_000_000)  # 0.25 calls
    v3 = await net.open_vault(net.writer, 7 * USDC)  # collateral only
    ad = _adapter(net, pool, entities={net.writer.lower(): "desk-a"})
    block = await net.w3.eth.block_number
    states = {s.account_id: s for s in await ad.read([str(v1), str(v2), str(v3)], block)}
    assert set(states) == {str(v1), str(v2), str(v3)}
    s1, s2, s3 = states[str(v1)], states[str(v2)], states[str(v3)]
    assert all(s.block == block for s in states.values())
    assert s1.owner == net.writer and s1.collateral == {"USDC": Decimal("1200")}
    (p1,) = s1.positions
    assert p1.size == Decimal("-1.5") and p1.entity == "desk-a" and p1.collateral == Decimal(1200)
    inst = p1.instrument
    assert inst.kind is InstrumentKind.OPTION and inst.option_type is OptionType.PUT
    assert inst.underlying is Underlying.ETH and inst.strike == Decimal(2500) and inst.chain == "ethereum"
    assert inst.expiry == datetime.fromtimestamp(net.expiry, UTC)
    # put: 0.237·min(2500, 0.75·3000) + (2500 − 2250) = 783.25 per option; ×1.5
    assert s1.params["requirement"] == Decimal("1174.875")
    (p2,) = s2.positions
    assert p2.size == Decimal("-0.25") and p2.entity == net.liquidator  # default entity = owner address
    assert p2.instrument.option_type is OptionType.CALL and s2.collateral["USDC"] == Decimal("400.000001")
    # call: 0.237·min(3500, 3000/0.75) + (4000 − 3500) = 1329.5 per option; ×0.25
    assert s2.params["requirement"] == Decimal("332.375")
    assert s3.positions == () and s3.collateral["USDC"] == Decimal(7) and s3.params["requirement"] == 0

    # the read is pinned: later changes do not leak into a read at the earlier block
    await net.w3.eth.wait_for_transaction_receipt(
        await net.vo.functions.deposit(v1, 50 * USDC).transact({"from": net.writer}))
    (old,) = await ad.read([str(v1)], block)
    (new,) = await ad.read([str(v1)])
    assert old.collateral["USDC"] == Decimal(1200) and new.collateral["USDC"] == Decimal(1250)
    assert new.block == block + 1 and new.block_hash != old.block_hash


async def test_discovery_backfills_in_ranges_and_resumes(vault_net: VaultDevnet, pool: EndpointPool) -> None:
    net = vault_net
    for _ in range(3):
        await net.open_vault(net.writer, 0)
    ad = _adapter(net, pool, log_chunk=2)  # tiny ranges: exercises chunking across many blocks
    first = await ad.discover()
    assert first.accounts == ("1", "2", "3") and first.from_block == net.deploy_block
    stored = first.next_block
    await net.open_vault(net.liquidator, 0)
    await net.open_vault(net.writer, 0)
    fresh = _adapter(net, pool)  # a restarted process resuming from the stored block
    second = await fresh.discover(from_block=stored)
    assert second.accounts == ("4", "5")
    assert fresh.owners == {"4": net.liquidator, "5": net.writer}
    assert (await fresh.discover()).accounts == ()  # cursor advanced: nothing new


async def test_oracles_return_the_pushed_price_at_that_block(vault_net: VaultDevnet, pool: EndpointPool) -> None:
    net = vault_net
    round_id = await net.push_price(2_812_34567891)
    block = await net.w3.eth.block_number
    ts = (await net.w3.eth.get_block(block))["timestamp"]
    await net.push_price(2_900 * E8)
    ad = _adapter(net, pool)
    got = await ad.oracles(block)
    (q,) = got.quotes
    assert q.price == Decimal("2812.34567891") and q.asset is Underlying.ETH and q.source is OracleSource.CHAINLINK
    assert q.publish_time == datetime.fromtimestamp(ts, UTC) and q.block == block
    assert got.rounds[net.feed.address] == round_id == (1 << 64) | 2 and got.faults == ()
    assert (await ad.oracles()).quotes[0].price == Decimal(2900)


async def test_built_mint_and_liquidate_liquidates_an_unsafe_vault(vault_net: VaultDevnet,
                                                                   pool: EndpointPool) -> None:
    net = vault_net
    target = await net.open_vault(net.writer, 800 * USDC, net.put_series, OPT)  # needs 783.25: safe
    ad = _adapter(net, pool)
    (before,) = await ad.read([str(target)])
    assert before.params["requirement"] < before.collateral["USDC"]
    round_id = await net.push_price(2800 * E8)  # 0.237·2100 + 400 = 897.7 > 800: unsafe
    (unsafe,) = await ad.read([str(target)])
    assert unsafe.params["requirement"] == Decimal("897.7")
    call = ad.mint_and_liquidate(target, 1000 * USDC, net.put_series, OPT, round_id)
    receipt = await _send(net, call, net.liquidator)
    assert receipt["status"] == 1
    (after,) = await ad.read([str(target)])
    assert after.positions == () and after.params["requirement"] == 0
    # the liquidator's own vault (opened in the same transaction) now carries the short
    (keeper_vault,) = await ad.read([str(target + 1)])
    assert keeper_vault.owner == net.liquidator and keeper_vault.positions[0].size == Decimal(-1)


async def test_built_liquidate_settle_and_redeem_execute(vault_net: VaultDevnet, pool: EndpointPool) -> None:
    net = vault_net
    target = await net.open_vault(net.writer, 800 * USDC, net.put_series, OPT // 2)
    keeper = await net.open_vault(net.liquidator, 5000 * USDC, net.put_series, 2 * OPT)  # holds 2 puts
    ad = _adapter(net, pool)
    with pytest.raises(ValueError, match="round_id"):
        ad.liquidate(target, OPT, 1 << 80)
    await net.push_price(1500 * E8)  # 0.237·1125 + 1375 per put: target (0.5 put) needs 820.3 > 800
    round_id = int(await net.feed.functions.latestRound().call())
    assert (await _send(net, ad.liquidate(target, OPT // 2, round_id), net.liquidator))["status"] == 1
    assert (await ad.read([str(target)]))[0].positions == ()
    # expiry: settlement price round, then settle the keeper's vault and redeem its remaining 1.5 puts
    await rpc(net.w3, "evm_increaseTime", [net.expiry - await net.now() + 10])
    settle_round = await net.push_price(2000 * E8, advance_s=0)
    await _send(net, ad.set_expiry_price(net.weth.address, net.expiry, settle_round), net.admin)
    await _send(net, ad.settle_vault(keeper), net.admin)
    (settled,) = await ad.read([str(keeper)])
    assert settled.positions == () and settled.params["settled"] == 1
    bal0 = await net.usdc.functions.balanceOf(net.liquidator).call()
    await _send(net, ad.redeem(net.put_series, OPT + OPT // 2), net.liquidator)
    bal1 = await net.usdc.functions.balanceOf(net.liquidator).call()
    assert bal1 - bal0 == 750 * USDC  # 1.5 × (2500 − 2000)


async def test_registry_builds_the_adapter_and_rejects_unknown_names(vault_net: VaultDevnet,
                                                                     pool: EndpointPool) -> None:
    ad = create_adapter("vault_options", "ethereum", pool, {"address": vault_net.vo.address.lower()})
    assert isinstance(ad, VaultOptionsAdapter) and ad.address == vault_net.vo.address
    with pytest.raises(AdapterError, match="registered: .*vault_options"):
        create_adapter("nope", "ethereum", pool, {})
    with pytest.raises(AdapterError, match="needs 'address'"):
        create_adapter("vault_options", "ethereum", pool, {})
    with pytest.raises(AdapterError, match="vault numbers"):
        await ad.read(["abc"])
    assert await ad.read(["99"]) == []  # not opened (yet) at this block: skipped, not invented


class _CappedLogs:
    """The real endpoint, but eth_getLogs over more than 3 blocks is refused like a capped provider does."""

    def __init__(self, inner: EndpointPool) -> None:
        self.inner = inner
        self.refused = 0

    async def request(self, method: str, params):  # type: ignore[no-untyped-def]
        if method == "eth_getLogs":
            q = params[0]
            if int(q["toBlock"], 16) - int(q["fromBlock"], 16) + 1 > 3:
                self.refused += 1
                from chains.evm.rpc import RpcFailure

                return RpcFailure(-32005, "query returned more than 10000 results")
        return await self.inner.request(method, params)

    async def expect(self, method: str, params):  # type: ignore[no-untyped-def]
        return await self.inner.expect(method, params)


async def test_discovery_halves_ranges_a_node_refuses(vault_net: VaultDevnet, pool: EndpointPool) -> None:
    net = vault_net
    for _ in range(4):
        await net.open_vault(net.writer, 0)
    capped = _CappedLogs(pool)
    ad = VaultOptionsAdapter("ethereum", capped, net.vo.address, net.deploy_block)  # type: ignore[arg-type]
    assert (await ad.discover()).accounts == ("1", "2", "3", "4")
    assert capped.refused > 0


async def test_option_token_holders_are_discovered_and_read_as_longs(vault_net: VaultDevnet,
                                                                     pool: EndpointPool) -> None:
    net = vault_net
    vid = await net.open_vault(net.writer, 2000 * USDC, net.put_series, 2 * OPT)
    (token, *_rest) = await net.vo.functions.getSeries(net.put_series).call()
    erc20 = net.w3.eth.contract(address=token, abi=net.usdc.abi)
    await wait(net.w3, await erc20.functions.transfer(net.liquidator, OPT // 4).transact({"from": net.writer}))
    ad = _adapter(net, pool, track_holders=True, entities={net.liquidator: "keeper"})
    disc = await ad.discover()
    assert disc.accounts == (str(vid), net.writer, net.liquidator)
    vault, writer, keeper = await ad.read(disc.accounts)
    assert vault.positions[0].size == Decimal(-2)
    assert writer.positions[0].size == Decimal("1.75") and keeper.positions[0].size == Decimal("0.25")
    assert keeper.positions[0].entity == "keeper" and keeper.positions[0].instrument == vault.positions[0].instrument
    assert sum(p.size for s in (vault, writer, keeper) for p in s.positions) == 0  # every short has a long
