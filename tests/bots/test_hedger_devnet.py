"""The hedger end to end on a real devnet (anvil x3, every protocol deployed), real SQLite, through `Runtime`.

One devnet, two phases on the same chain state: a trader buys calls from the OptionAMM (the pool goes short
delta) and the keeper buys puts (its own entity goes short delta); arbitrum's Uniswap pool is pushed below
base's so buying WETH is cheaper there. (1) `dry_run`: both intents journaled, no transaction. (2) live: the pool
is rebalanced on its own venue (base) and the keeper buys WETH on the cheaper venue (arbitrum: a cross-chain
hedge); afterwards both deltas are inside their bands, read independently from the chains, and each hedge was
journaled and sent exactly once.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eth_account import Account

from bots.config import Config, parse_config
from bots.runner import ChainClock, Runtime
from bots.sources.hedger import venue_from_addresses
from bots.strategies.hedger import decide_target
from chains.devnet.multicall import install_multicall3
from chains.devnet.protocols import CHAIN_IDS
from chains.evm.endpoints import EndpointPool
from chains.protocols.abi import topic
from chains.protocols.uniswap_v3 import build_exact_input_single
from risk.hedging import whalley_wilmott_half_width
from risk.pricing import black76
from tests.bots.test_run_devnet import KEEPER_ENV, KEEPER_KEY, intents, run_until
from tests.chains.devnet.test_protocols_deploy import ROOT, build_devnet, needs_artifacts

REBALANCED = topic("Rebalanced(int256,int256,address,address,uint256,uint256,uint256)")
WAD = 10**18
VOL = 0.6  # the Runtime's flat vol (its default): the keeper's option delta is judged at it
RISK_AVERSION = 0.01
UNI = ("SwapRouter", "QuoterV2", "WETH", "USDC", "UniswapV3Pool_WETH_USDC_500")

CONFIG = """
dry_run = {dry}
[chains.base]
rpc_urls = ["{base_rpc}"]
chain_id = {base_id}
confirmations = 1
[chains.arbitrum]
rpc_urls = ["{arb_rpc}"]
chain_id = {arb_id}
confirmations = 1
[signers.keeper]
env = "{env}"
[entities.house]
keeper = true
addresses = {{ base = ["{keeper}"], arbitrum = ["{keeper}"] }}
[protocols.option_amm]
kind = "option_amm"
chain = "base"
addresses = {{ OptionAMM = "{amm}" }}
[protocols.uniswap_base]
kind = "uniswap_v3"
chain = "base"
addresses = {base_uni}
[protocols.uniswap_arbitrum]
kind = "uniswap_v3"
chain = "arbitrum"
addresses = {arb_uni}
[storage]
url = "{db}"
[bots.hedger]
signer = "keeper"
interval_s = 0.3
[bots.hedger.protocols.uniswap_base]
risk_aversion = {ra}
policy = "to_zero"
max_slippage_bps = 100
[bots.hedger.protocols.uniswap_arbitrum]
risk_aversion = {ra}
[bots.hedger.protocols.option_amm]
risk_aversion = {ra}
max_slippage_bps = 100
"""


def inline(addrs: Mapping[str, str]) -> str:
    return "{ " + ", ".join(f'{k} = "{v}"' for k, v in addrs.items()) + " }"


def config(dn: Any, db: Path, dry: bool) -> Config:
    m = dn.manifest.chains
    uni = {c: {n: dn.contracts[c][n].address for n in UNI} for c in ("base", "arbitrum")}
    return parse_config(CONFIG.format(
        dry=str(dry).lower(), base_rpc=m["base"].rpc_url, arb_rpc=m["arbitrum"].rpc_url, base_id=CHAIN_IDS["base"],
        arb_id=CHAIN_IDS["arbitrum"], env=KEEPER_ENV, keeper=Account.from_key(KEEPER_KEY).address, amm=dn.contracts["base"]["OptionAMM"].address,
        base_uni=inline(uni["base"]), arb_uni=inline(uni["arbitrum"]), db=db, ra=RISK_AVERSION))


async def atm_series(amm: Any, spot: int) -> tuple[int, int, int, int]:
    """(call id, put id, strike, expiry) of the nearest expiry's strike closest to spot."""
    n = await amm.functions.seriesCount().call()
    rows = [(i, *(await amm.functions.series(i).call())[:3]) for i in range(n)]
    expiry = min(r[2] for r in rows)
    strike = min({r[1] for r in rows if r[2] == expiry}, key=lambda k: abs(k - spot))
    call = next(r[0] for r in rows if r[1:] == (strike, expiry, True))
    put = next(r[0] for r in rows if r[1:] == (strike, expiry, False))
    return call, put, strike, expiry


async def buy(w3: Any, amm: Any, usdc: Any, who: str, series: int, amount: int, deployer: str) -> None:
    await usdc.functions.mint(who, 1_000_000 * 10**6).transact({"from": deployer})
    await usdc.functions.approve(amm.address, 2**256 - 1).transact({"from": who})
    await amm.functions.buy(series, amount, 2**255).transact({"from": who})


async def keeper_delta(dn: Any, keeper: str, put: int, strike: int, expiry: int) -> tuple[float, float, float]:
    """(delta ETH, gamma, spot) of the keeper read straight from the chains: its puts at Black-76 on the
    Chainlink price, plus its WETH on base and arbitrum."""
    base, arb = dn.c("base"), dn.c("arbitrum")
    held = await base["OptionAMM"].functions.positionOf(put, keeper).call()
    spot = (await base["OptionAMM"].functions.spot().call())[0] / WAD
    now = (await dn.w3["base"].eth.get_block("latest"))["timestamp"]
    g = black76(False, spot, strike / WAD, (expiry - now) / (365 * 86400), 0.0, VOL)
    weth = sum([await c["WETH"].functions.balanceOf(keeper).call() for c in (base, arb)])
    return held / WAD * float(g.delta) + weth / WAD, held / WAD * float(g.gamma), spot


@needs_artifacts
async def test_pool_and_keeper_are_hedged_back_inside_their_bands(anvil_factory: Any, tmp_path: Path) -> None:
    keeper = Account.from_key(KEEPER_KEY).address
    env = {KEEPER_ENV: KEEPER_KEY}
    async with build_devnet(anvil_factory, tmp_path) as dn:
        for chain in ("base", "arbitrum"):
            await install_multicall3(dn.w3[chain], root=ROOT, chain=chain)
        base, arb = dn.c("base"), dn.c("arbitrum")
        wb, wa = dn.w3["base"], dn.w3["arbitrum"]
        deployer, trader = (await wb.eth.accounts)[:2]
        amm = base["OptionAMM"]
        await amm.functions.grantRole(await amm.functions.HEDGER_ROLE().call(), keeper).transact({"from": deployer})
        spot_wad = (await amm.functions.spot().call())[0]
        call_id, put_id, strike, expiry = await atm_series(amm, spot_wad)
        await buy(wb, amm, base["USDC"], trader, call_id, 20 * WAD, deployer)  # pool short 20 calls
        await buy(wb, amm, base["USDC"], keeper, put_id, 10 * WAD, deployer)  # keeper long 10 puts
        for c in (base, arb):
            await c["USDC"].functions.mint(keeper, 1_000_000 * 10**6).transact({"from": deployer})
        # someone sells 300 WETH on arbitrum: WETH is now cheaper there than on base
        router = arb["SwapRouter"].address
        await arb["WETH"].functions.mint(deployer, 300 * WAD).transact({"from": deployer})
        await arb["WETH"].functions.approve(router, 300 * WAD).transact({"from": deployer})
        now = (await wa.eth.get_block("latest"))["timestamp"]
        swap = build_exact_input_single(router, arb["WETH"].address, arb["USDC"].address, 500, deployer,
                                        now + 600, 300 * WAD, 0)
        await wa.eth.send_transaction({"from": deployer, "to": swap.to, "data": "0x" + swap.data.hex()})

        pool_before = (await amm.functions.netDelta().call()) / WAD
        k_before, _, _ = await keeper_delta(dn, keeper, put_id, strike, expiry)
        assert pool_before < -3 and k_before < -3  # both well short delta
        # the venues' QuoterV2 prices for buying 1 WETH, read independently: arbitrum must be the cheaper one
        buy_price = {}
        for chain in ("base", "arbitrum"):
            rpc = EndpointPool([dn.manifest.chains[chain].rpc_url])
            try:
                v = await venue_from_addresses(chain, chain, rpc, {n: dn.contracts[chain][n].address for n in UNI})
                buy_price[chain] = (await v.adapter.quote_exact_output(v.usdc, v.weth, v.fee, WAD)).amount
            finally:
                await rpc.close()
        assert buy_price["arbitrum"] < buy_price["base"]
        nonces = {c: await dn.w3[c].eth.get_transaction_count(keeper) for c in ("base", "arbitrum")}

        # (1) dry run: the same two intents, journaled and closed, nothing sent
        dry = Runtime(config(dn, tmp_path / "dry.db", dry=True), environ=env, clock=ChainClock())

        async def both_decided(rt: Runtime) -> bool:
            return len(await intents(rt, "hedger")) >= 2

        await run_until(dry, both_decided)
        dry_rows = await intents(dry, "hedger")
        assert {c: await dn.w3[c].eth.get_transaction_count(keeper) for c in nonces} == nonces
        assert sorted((r.kind, r.chain, r.protocol) for r in dry_rows) == [
            ("hedge", "arbitrum", "uniswap_arbitrum"), ("rebalance", "base", "option_amm")]
        assert all(r.state == "abandoned" and r.reason == "dry_run: not sent" for r in dry_rows)

        # (2) live: both hedged exactly once, both inside their bands after
        start = {c: await dn.w3[c].eth.block_number for c in nonces}
        live = Runtime(config(dn, tmp_path / "live.db", dry=False), environ=env, clock=ChainClock())

        async def both_confirmed(rt: Runtime) -> bool:
            return sum(r.state == "confirmed" for r in await intents(rt, "hedger")) >= 2

        after: dict[str, Any] = {}

        async def judge(rt: Runtime) -> None:  # the keeper's own view after, for the band it holds itself to
            assert rt.hedger_source is not None and rt.engine is not None
            state = await rt.hedger_source(datetime.now(UTC))
            params = rt.config.bots["hedger"].protocols
            after.update({t.kind: (t, decide_target(t, state.quotes, params[t.protocol])) for t in state.targets})
            after["quotes"] = state.quotes

        await run_until(live, both_confirmed, timeout=60, settle_s=2.0, before_stop=judge)
        rows = await intents(live, "hedger")
        assert sorted((r.kind, r.chain, r.state) for r in rows) == [
            ("hedge", "arbitrum", "confirmed"), ("rebalance", "base", "confirmed")]
        assert sorted(r.key for r in rows) == sorted(r.key for r in dry_rows)  # same stable keys as the dry run
        rebalanced = await wb.eth.get_logs({"address": amm.address, "topics": [REBALANCED], "fromBlock": 0})
        assert len(rebalanced) == 1
        # bounded: on an automining devnet the hedges land right after the router approvals (2 blocks per chain)
        assert rebalanced[0]["blockNumber"] <= start["base"] + 3
        assert await wa.eth.block_number <= start["arbitrum"] + 3

        # (1) the pool: netDelta read from the contract is inside the band the hedger computes for it
        pool_t, pool_d = after["pool"]
        pool_after = (await amm.functions.netDelta().call()) / WAD
        base_q = next(q for q in after["quotes"] if q.venue == "uniswap_base")
        h_pool = whalley_wilmott_half_width(pool_t.spot, pool_t.gamma, base_q.cost(1), RISK_AVERSION)
        assert abs(pool_before) > h_pool > 0
        assert abs(pool_after) <= h_pool
        assert abs(pool_t.delta - pool_after) < 1e-3
        assert "inside band" in pool_d.reason

        # (2) the keeper: net dollar delta from chain reads is inside its band; the WETH was bought on arbitrum
        k_after, k_gamma, spot = await keeper_delta(dn, keeper, put_id, strike, expiry)
        assert await base["WETH"].functions.balanceOf(keeper).call() == 0
        assert await arb["WETH"].functions.balanceOf(keeper).call() > 0
        arb_q = next(q for q in after["quotes"] if q.venue == "uniswap_arbitrum")
        h_keeper = whalley_wilmott_half_width(spot, k_gamma, arb_q.cost(1), RISK_AVERSION)
        assert abs(k_before) > h_keeper
        assert abs(k_after * spot) <= h_keeper * spot  # net dollar delta within the dollar band
        keeper_t, keeper_d = after["entity"]
        assert keeper_t.name == "house" and abs(keeper_t.delta - k_after) < 1e-6
        assert "inside band" in keeper_d.reason
        # the keeper sent: 4 router approvals (2 per chain) + the rebalance on base; approvals + swap on arbitrum
        assert await wb.eth.get_transaction_count(keeper) == nonces["base"] + 3
        assert await wa.eth.get_transaction_count(keeper) == nonces["arbitrum"] + 3
