"""The settlement keeper end to end on a real devnet (anvil ×3, every protocol deployed and seeded), real SQLite.

The keeper mints near-expiry WETH puts from its own VaultOptions vault (so it holds a long and a short), then
chain time jumps past the expiry and ETH is pushed 30 % lower (the first round after expiry: the puts pay).
(1) A dry-run keeper started *before* the expiry (bot interval one hour, so only its expiry job can act) records
the expiry-price and PortfolioMargin intents and sends nothing. (2) A live keeper records the expiry price,
settles every expired vault once, redeems its long once and settles every PortfolioMargin account still holding
the expired series; journal rows match the chain's events one to one, and another tick decides nothing new.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from eth_account import Account

from bots.config import Config, parse_config
from bots.runner import ChainClock, Runtime
from chains.devnet.driver import MarketDriver
from chains.devnet.multicall import install_multicall3
from chains.devnet.protocols import CHAIN_IDS
from chains.devnet.seed import seed_devnet
from tests.chains.devnet.test_protocols_deploy import OUT, ROOT, build_devnet, needs_artifacts

KEEPER_KEY = "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6"  # anvil's 10th dev key
KEEPER_ENV = "RTRM_TEST_KEEPER_KEY"
MINTED = 5 * 10**8  # five puts, 8 decimals

CONFIG = """
dry_run = {dry}
[chains.ethereum]
rpc_urls = ["{eth}"]
chain_id = {eth_id}
[chains.arbitrum]
rpc_urls = ["{arb}"]
chain_id = {arb_id}
[signers.keeper]
env = "{env}"
[protocols.vault_options]
kind = "vault_options"
chain = "ethereum"
addresses = {{ VaultOptions = "{vo}" }}
[protocols.portfolio_margin]
kind = "portfolio_margin"
chain = "arbitrum"
addresses = {{ PortfolioMargin = "{pm}" }}
[storage]
url = "{db}"
[bots.settlement]
signer = "keeper"
interval_s = 3600
[bots.settlement.protocols.vault_options]
batch_size = 1
[bots.settlement.protocols.portfolio_margin]
batch_size = 1
"""


def config(dn: Any, db: Path, dry: bool) -> Config:
    m = dn.manifest.chains
    return parse_config(CONFIG.format(
        dry=str(dry).lower(), eth=m["ethereum"].rpc_url, arb=m["arbitrum"].rpc_url, eth_id=CHAIN_IDS["ethereum"],
        arb_id=CHAIN_IDS["arbitrum"], env=KEEPER_ENV, vo=dn.c("ethereum")["VaultOptions"].address,
        pm=dn.c("arbitrum")["PortfolioMargin"].address, db=db))


async def wait_for(done: Callable[[], Awaitable[bool]], rt: Runtime, timeout: float = 40.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await done():
        if loop.time() > deadline:
            assert rt.store is not None and rt.engine is not None
            why = "\n".join(await rt.explain("settlement"))
            why += "\n" + "\n".join(f"journal {r.key} {r.state} {r.reason}" for r in await rt.store.actions(50))
            why += "\n" + "\n".join(f"alert {a.source} {a.message}" for a in await rt.store.alerts(20))
            raise AssertionError(f"settlement keeper did not finish in {timeout}s: {rt.engine.health_report()}\n{why}")
        await asyncio.sleep(0.2)


async def rows(rt: Runtime) -> list[Any]:
    assert rt.store is not None
    return list(await rt.store.actions(limit=1000, bot="settlement"))


async def logs(w3: Any, event: Any) -> list[Any]:
    return list(await event.get_logs(from_block=0, to_block="latest"))


@needs_artifacts
async def test_expiry_settles_vaults_redeems_longs_and_pm_series_once(anvil_factory: Any, tmp_path: Path) -> None:
    keeper = Account.from_key(KEEPER_KEY).address
    env: Mapping[str, str] = {KEEPER_ENV: KEEPER_KEY}
    async with build_devnet(anvil_factory, tmp_path) as dn:
        for chain in ("ethereum", "arbitrum"):
            await install_multicall3(dn.w3[chain], root=ROOT, chain=chain)
        await seed_devnet(dn.manifest, wallets=4, seed=9, root=ROOT, out_dir=OUT)
        eth, arb = dn.c("ethereum"), dn.c("arbitrum")
        w3, vo, usdc, weth = dn.w3["ethereum"], eth["VaultOptions"], eth["USDC"], eth["WETH"]
        pm = arb["PortfolioMargin"]
        deployer = (await w3.eth.accounts)[0]
        # the keeper writes five of the nearest WETH puts from its own vault and keeps the tokens (its long)
        n = int(await vo.functions.seriesCount().call())
        series = {i: await vo.functions.getSeries(i).call() for i in range(1, n + 1)}
        near = min(s[2] for s in series.values())
        put = max((i for i, s in series.items() if s[1] == weth.address and s[3] and s[2] == near),
                  key=lambda i: series[i][4])
        collateral = 100_000 * 10**6
        await usdc.functions.mint(keeper, collateral).transact({"from": deployer})
        await usdc.functions.approve(vo.address, collateral).transact({"from": keeper})
        await vo.functions.operate([(0, 0, 0, 0, 0), (1, 0, 0, collateral, 0), (3, 0, put, MINTED, 0)]).transact(
            {"from": keeper})
        token = series[put][0]
        erc20 = w3.eth.contract(address=token, abi=usdc.abi)
        assert await erc20.functions.balanceOf(keeper).call() == MINTED
        pm_near = min(int(pm_s[1]) for pm_s in [await pm.functions.getSeries(i).call()
                                                for i in range(1, int(await pm.functions.nextSeriesId().call()))])
        expiry = max(int(near), pm_near)

        async with MarketDriver(dn.manifest, root=ROOT, out_dir=OUT) as drv:
            await drv.push(dict(drv.prices))  # fresh rounds before the expiry
            dry = Runtime(config(dn, tmp_path / "dry.db", dry=True), environ=env, clock=ChainClock(),
                          use_bus=False, expiry_delay_s=1.0)
            await dry.start(risk_interval_s=3600, resync_interval_s=3600)
            try:
                assert dry.engine is not None
                engine = dry.engine

                async def first_tick() -> bool:
                    return engine.health["settlement"].ticks >= 1

                await wait_for(first_tick, dry)
                assert await rows(dry) == []  # nothing has expired yet
                nonce = await w3.eth.get_transaction_count(keeper)
                await drv.advance_to(expiry + 1, push=False)
                low = {a: p * Decimal("0.7") if a == "ETH" else p for a, p in drv.prices.items()}
                await drv.push(low)  # the first round at/after expiry: the puts finish in the money

                async def dry_decided() -> bool:
                    kinds = {r.kind for r in await rows(dry)}
                    return {"set_expiry_price", "settle_expired"} <= kinds

                await wait_for(dry_decided, dry)  # only the expiry job can have ticked (interval: one hour)
                await asyncio.sleep(1.5)
            finally:
                await dry.stop()
            dry_rows = await rows(dry)
            assert all(r.state == "abandoned" and r.reason == "dry_run: not sent" for r in dry_rows)
            assert await w3.eth.get_transaction_count(keeper) == nonce
            assert await logs(w3, vo.events.ExpiryPriceSet()) == []

            live = Runtime(config(dn, tmp_path / "live.db", dry=False), environ=env, clock=ChainClock(),
                           use_bus=False, expiry_delay_s=1.0)
            await live.start(risk_interval_s=3600, resync_interval_s=3600)
            try:
                async def finished() -> bool:
                    rs = await rows(live)
                    kinds = {r.kind for r in rs}
                    return ({"set_expiry_price", "settle_vault", "redeem", "settle_expired"} <= kinds
                            and all(r.state == "confirmed" for r in rs))

                await wait_for(finished, live, timeout=60.0)
                await asyncio.sleep(2.0)  # duplicates would show up here
                assert live.engine is not None
                before = len(await rows(live))
                again = await live.engine.tick("settlement")
                assert again.sent == () and again.failed == ()
                assert len(await rows(live)) == before
            finally:
                await live.stop()

        live_rows = await rows(live)
        keys = [r.key for r in live_rows]
        assert len(keys) == len(set(keys))
        by_kind: dict[str, list[Any]] = {}
        for r in live_rows:
            by_kind.setdefault(r.kind, []).append(r)
        # the dry run decided exactly the first-stage intents the live keeper then sent
        first_stage = {r.key for r in live_rows if r.kind in ("set_expiry_price", "settle_expired")}
        assert {r.key for r in dry_rows} == first_stage
        # chain events equal journal rows, one to one
        priced = await logs(w3, vo.events.ExpiryPriceSet())
        assert len(priced) == len(by_kind["set_expiry_price"])
        assert all(e["args"]["expiry"] <= expiry for e in priced)
        settled = await logs(w3, vo.events.VaultSettled())
        assert sorted(int(e["args"]["vaultId"]) for e in settled) == sorted(
            int(r.key.rsplit(":", 1)[1]) for r in by_kind["settle_vault"])
        redeemed = await logs(w3, vo.events.Redeemed())
        assert len(redeemed) == 1 == len(by_kind["redeem"])
        assert redeemed[0]["args"]["holder"] == keeper and redeemed[0]["args"]["amount"] == MINTED
        assert redeemed[0]["args"]["payout"] > 0
        assert await erc20.functions.balanceOf(keeper).call() == 0
        # every vault written in an expired series is settled now; the keeper's own vault among them
        for vid in {int(e["args"]["vaultId"]) for e in await logs(w3, vo.events.VaultOpened())}:
            v = await vo.functions.getVault(vid).call()
            if v[3] and series[v[3]][2] <= expiry and v[5] > 0:
                assert v[2], f"vault {vid} left unsettled"
        assert keeper in {e["args"]["owner"] for e in settled}
        # PortfolioMargin: no account still holds an expired series
        accounts = {int(e["args"]["accountId"]) for e in await logs(dn.w3["arbitrum"], pm.events.AccountCreated())}
        for aid in accounts:
            for sid in await pm.functions.heldSeries(aid).call():
                assert int((await pm.functions.getSeries(sid).call())[1]) > expiry
        assert {int(r.target) for r in by_kind["settle_expired"]} <= accounts
