"""`rtrm run` end to end on a real devnet (anvil x3, every protocol deployed and seeded), real SQLite, real
mosquitto when on PATH: a scripted crash makes the K fragile VaultOptions vaults liquidatable.

One devnet, three phases on the same chain state (cheaper than three devnets, and it is what "the same scenario"
means for the dry run): (1) the oracle is older than the keeper's guard allows (but not the contract's) → no
action, alert rows; (2) fresh oracle, `dry_run` → the intents, no transaction; (3) live → every target
liquidated exactly once, profitably by the keeper's own marks, journal rows == chain events.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
from eth_account import Account
from web3 import AsyncWeb3
from web3.types import RPCEndpoint

from bots.broker import find_mosquitto, start_mosquitto
from bots.bus import decode, subscribe
from bots.config import Config, parse_config
from bots.journal import Intent
from bots.runner import ChainClock, Runtime
from bots.store import Alert
from chains.devnet.driver import MarketDriver, fragile_targets
from chains.devnet.multicall import install_multicall3
from chains.devnet.protocols import CHAIN_IDS
from chains.devnet.seed import seed_devnet
from chains.protocols.abi import topic
from risk.pricing import bsm
from tests.chains.devnet.test_protocols_deploy import OUT, ROOT, build_devnet, needs_artifacts

# anvil's 10th well-known dev account: a public test key, never a real secret
KEEPER_KEY = "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6"
KEEPER_ENV = "RTRM_TEST_KEEPER_KEY"
LIQUIDATED = topic("VaultLiquidated(uint256,address,uint256,uint256,uint80)")

CONFIG = """
dry_run = {dry}
[chains.ethereum]
rpc_urls = ["{rpc}"]
chain_id = {chain_id}
confirmations = 1
[signers.keeper]
env = "{env}"
[protocols.vault_options]
kind = "vault_options"
chain = "ethereum"
addresses = {{ VaultOptions = "{vo}" }}
[guards]
max_oracle_age_s = {{ chainlink = 3600 }}
[storage]
url = "{db}"
[bots.liquidator]
signer = "keeper"
interval_s = 0.2
[bots.liquidator.protocols.vault_options]
min_profit_usd = "1"
cooldown_s = 5
"""


def config(rpc: str, vo: str, db: Path, dry: bool, mqtt: str | None = None) -> Config:
    text = CONFIG.format(dry=str(dry).lower(), rpc=rpc, chain_id=CHAIN_IDS["ethereum"], env=KEEPER_ENV, vo=vo, db=db)
    return parse_config(text + (f'[mqtt]\nurl = "{mqtt}"\n' if mqtt else ""))


@asynccontextmanager
async def mqtt_listener(tmp_path: Path) -> AsyncIterator[tuple[str | None, list[tuple[str, dict[str, Any]]]]]:
    """A real mosquitto and a subscriber to actions and alerts (url None and no messages when not installed)."""
    got: list[tuple[str, dict[str, Any]]] = []
    if find_mosquitto() is None:
        yield None, got
        return
    broker = start_mosquitto(workdir=tmp_path / "mqtt")
    ready = asyncio.Event()

    async def listen() -> None:
        async with subscribe(broker.url, ["rtrm/actions/#", "rtrm/alerts"]) as client:
            ready.set()
            async for m in client.messages:
                got.append((str(m.topic), decode(m)))

    task = asyncio.create_task(listen())
    try:
        await asyncio.wait_for(ready.wait(), 10)
        yield broker.url, got
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        broker.stop()


async def run_until(rt: Runtime, done: Any, timeout: float = 30.0, settle_s: float = 1.0,
                    before_stop: Any = None) -> None:
    """Run the keeper until `done(rt)` holds (then a little longer, to catch duplicate actions), always stopping."""
    await rt.start(risk_interval_s=3600, resync_interval_s=3600)
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not await done(rt):
            if loop.time() > deadline:
                assert rt.engine is not None
                why = "\n".join(await rt.explain())
                assert rt.store is not None
                why += "\n" + "\n".join(f"journal {r.key} {r.state} {r.reason}" for r in await rt.store.actions(20))
                why += "\n" + "\n".join(f"alert {a.source} {a.message}" for a in await rt.store.alerts(20))
                raise AssertionError(f"keeper did not reach the goal in {timeout}s: {rt.engine.health_report()}\n{why}")
            await asyncio.sleep(0.2)
        await asyncio.sleep(settle_s)
        if before_stop is not None:
            await before_stop(rt)
    finally:
        await rt.stop()


async def intents(rt: Runtime, bot: str = "liquidator") -> list[Intent]:
    assert rt.store is not None
    return list(await rt.store.actions(limit=1000, bot=bot))


async def liquidation_logs(w3: AsyncWeb3, vo: str) -> list[Any]:
    return list(await w3.eth.get_logs({"address": vo, "topics": [LIQUIDATED], "fromBlock": 0, "toBlock": "latest"}))


@needs_artifacts
async def test_crash_liquidates_every_fragile_vault_once(anvil_factory: Any, tmp_path: Path) -> None:
    keeper = Account.from_key(KEEPER_KEY).address
    env: Mapping[str, str] = {KEEPER_ENV: KEEPER_KEY}
    async with build_devnet(anvil_factory, tmp_path) as dn, mqtt_listener(tmp_path) as (mqtt, messages):
        await install_multicall3(dn.w3["ethereum"], root=ROOT, chain="ethereum")  # the adapters batch reads
        report = await seed_devnet(dn.manifest, wallets=4, seed=9, root=ROOT, out_dir=OUT)
        targets = [t for t in fragile_targets(report) if t.kind == "vault"]
        safe = {v["vault_id"] for v in report["vault_options"]["vaults"] if not v["fragile"]}
        assert len(targets) >= 2
        eth = dn.c("ethereum")
        w3, vo, usdc = dn.w3["ethereum"], eth["VaultOptions"], eth["USDC"]
        deployer = (await w3.eth.accounts)[0]
        await usdc.functions.mint(keeper, 10_000_000 * 10**6).transact({"from": deployer})
        rpc = dn.manifest.chains["ethereum"].rpc_url

        async with MarketDriver(dn.manifest, root=ROOT, out_dir=OUT) as drv:
            await drv.advance_time(60)  # rounds after the vaults' last update (the auction needs one)
            await drv.make_liquidatable(targets)
            # the oracle ages past the keeper's 1 h guard (the contract accepts a day): no action, alerts
            await drv.advance_time(4000, push=False)
            stale = Runtime(config(rpc, vo.address, tmp_path / "stale.db", dry=False, mqtt=mqtt), environ=env,
                            clock=ChainClock())

            async def alerted(rt: Runtime) -> bool:
                assert rt.store is not None
                return len([a for a in await rt.store.alerts(100) if a.source.startswith("guard:oracle")]) >= len(targets)

            await run_until(stale, alerted)
            assert await liquidation_logs(w3, vo.address) == []
            alerts = [a for a in await stale_alerts(tmp_path / "stale.db") if a.source.startswith("guard:oracle")]
            assert {a.key.split(":")[4] for a in alerts} == {str(t.id) for t in targets}
            assert all("stale" in a.message for a in alerts)
            # fresh oracle again (same price): the first unsafe round is still the crash round
            await drv.push(dict(drv.prices))

        for t in targets:
            assert await vo.functions.isLiquidatable(t.id).call()
        nonce_before = await w3.eth.get_transaction_count(keeper)

        dry = Runtime(config(rpc, vo.address, tmp_path / "dry.db", dry=True, mqtt=mqtt), environ=env, clock=ChainClock())

        async def all_decided(rt: Runtime) -> bool:
            return len(await intents(rt)) >= len(targets)

        await run_until(dry, all_decided)
        dry_rows = await intents(dry)
        assert await w3.eth.get_transaction_count(keeper) == nonce_before  # nothing sent
        assert await liquidation_logs(w3, vo.address) == []
        assert all(r.state == "abandoned" and r.reason == "dry_run: not sent" for r in dry_rows)

        live = Runtime(config(rpc, vo.address, tmp_path / "live.db", dry=False, mqtt=mqtt), environ=env,
                       clock=ChainClock())

        async def all_confirmed(rt: Runtime) -> bool:
            return sum(r.state == "confirmed" for r in await intents(rt)) >= len(targets)

        snaps: list[Any] = []

        async def snapshot(rt: Runtime) -> None:
            assert rt.engine is not None
            snaps.extend(await rt.engine.snapshot_risk())

        await run_until(live, all_confirmed, settle_s=2.0, before_stop=snapshot)
        rows = await intents(live)
        # the short puts minted to liquidate are now the keeper's own risk: long dollar delta in its book
        keeper_risk = [r for r in snaps if r.entity == "keeper"]
        assert len(keeper_risk) == 1 and keeper_risk[0].dollar_delta > 0
        assert sorted(r.key for r in rows) == sorted(r.key for r in dry_rows)  # dry run = the same intents
        assert all(r.state == "confirmed" and r.signer == keeper for r in rows)

        logs = await liquidation_logs(w3, vo.address)
        per_vault: dict[int, int] = {}
        for log in logs:
            per_vault[int(log["topics"][1].hex(), 16)] = per_vault.get(int(log["topics"][1].hex(), 16), 0) + 1
        assert per_vault == {t.id: 1 for t in targets}  # each exactly once, no safe vault touched
        assert not safe & set(per_vault)
        assert {r.target.rsplit("/", 1)[1] for r in rows} == {str(t.id) for t in targets}

        # profitable by the keeper's own accounting: USDC received − its mark of the options minted − gas
        eth_usd = Decimal((await eth["ETH_USD"].functions.latestRoundData().call())[1]) / Decimal(10**8)
        for log in logs:
            receipt = await w3.eth.get_transaction_receipt(log["transactionHash"])
            assert receipt["from"] == keeper
            ev = vo.events.VaultLiquidated().process_log(log)["args"]
            vault = next(v for v in report["vault_options"]["vaults"] if v["vault_id"] == ev["vaultId"])
            block = await w3.eth.get_block(log["blockNumber"])
            spot = float(drv.prices["ETH"])
            tau = (vault["expiry"] - block["timestamp"]) / (365 * 86400)
            mark = float(np.asarray(bsm(not vault["is_put"], spot, vault["strike"] / 1e18, tau, 0, 0, 0.6).price)
                         .reshape(-1)[0])
            received = Decimal(ev["collateralPaid"]) / Decimal(10**6)
            cost = Decimal(repr(mark)) * Decimal(ev["amount"]) / Decimal(10**8)
            gas = Decimal(receipt["gasUsed"] * receipt["effectiveGasPrice"]) / Decimal(10**18) * eth_usd
            assert received - cost - gas > 1, (received, cost, gas)

        if mqtt is not None:  # the same story on the bus: alerts while stale, then dry-run and live actions
            await asyncio.sleep(0.5)
            alerts_msgs = [m for t, m in messages if t == "rtrm/alerts" and m["source"].startswith("guard:oracle")]
            assert {m["key"] for m in alerts_msgs} == {a.key for a in alerts}
            acts = [m for t, m in messages if t == "rtrm/actions/liquidator"]
            assert {m["key"] for m in acts if m["dry_run"]} == {r.key for r in dry_rows}
            assert {m["key"] for m in acts if not m["dry_run"]} == {r.key for r in rows}
            assert all(Decimal(str(m["expected_profit_usd"])) >= 1 for m in acts)  # decided profitable

async def stale_alerts(db: Path) -> list[Alert]:
    from bots.store import Store

    store = await Store(str(db)).open()
    try:
        return list(await store.alerts(100))
    finally:
        await store.close()



PM_CONFIG = """
[chains.arbitrum]
rpc_urls = ["{rpc}"]
chain_id = {chain_id}
[signers.keeper]
env = "{env}"
[protocols.portfolio_margin]
kind = "portfolio_margin"
chain = "arbitrum"
addresses = {{ PortfolioMargin = "{pm}", SequencerUptimeFeed = "{seq}" }}
[guards]
sequencer_grace_s = 600
[storage]
url = "{db}"
[bots.liquidator]
signer = "keeper"
interval_s = 0.2
[bots.liquidator.protocols.portfolio_margin]
min_profit_usd = "1"
cooldown_s = 0
"""
STARTED = topic("AuctionStarted(uint256,int256,int256,bool,uint256)")
BID = topic("AuctionBid(uint256,uint256,uint256,int256,uint256,int256,int256)")


@needs_artifacts
async def test_crash_auctions_and_bids_on_every_fragile_portfolio_once(anvil_factory: Any, tmp_path: Path) -> None:
    keeper = Account.from_key(KEEPER_KEY).address
    async with build_devnet(anvil_factory, tmp_path) as dn:
        w3 = dn.w3["arbitrum"]
        await install_multicall3(w3, root=ROOT, chain="arbitrum")
        report = await seed_devnet(dn.manifest, wallets=4, seed=9, root=ROOT, out_dir=OUT)
        targets = [t for t in fragile_targets(report) if t.kind == "portfolio"]
        assert len(targets) >= 2
        arb = dn.c("arbitrum")
        pm, usdc = arb["PortfolioMargin"], arb["USDC"]
        deployer = (await w3.eth.accounts)[0]
        await usdc.functions.mint(keeper, 10_000_000 * 10**6).transact({"from": deployer})
        def cfg(db: str) -> Config:
            return parse_config(PM_CONFIG.format(rpc=dn.manifest.chains["arbitrum"].rpc_url, env=KEEPER_ENV,
                                                 chain_id=CHAIN_IDS["arbitrum"], pm=pm.address, db=tmp_path / db,
                                                 seq=arb["SequencerUptimeFeed"].address))

        async with MarketDriver(dn.manifest, root=ROOT, out_dir=OUT) as drv:
            await drv.advance_time(700)  # the sequencer has been up longer than the keeper's grace period
            await drv.make_liquidatable(targets)
            # L2 sequencer down: no action, one alert per target
            await drv.set_sequencer("arbitrum", down=True)
            down = Runtime(cfg("down.db"), environ={KEEPER_ENV: KEEPER_KEY}, use_bus=False, clock=ChainClock())

            async def alerted(rt: Runtime) -> bool:
                assert rt.store is not None
                return len([a for a in await rt.store.alerts(100) if "sequencer" in a.source]) >= len(targets)

            await run_until(down, alerted)
            assert await w3.eth.get_logs({"address": pm.address, "topics": [STARTED], "fromBlock": 0,
                                          "toBlock": "latest"}) == []
            # back up, and up for longer than the grace period (prices re-pushed fresh): the keeper acts
            await drv.set_sequencer("arbitrum", down=False)
            await drv.advance_time(700)
            # 23 min of theta since the first move can lift a just-liquidatable account back above MM 0
            # (how close depends on the wall-clock distance to the seeded Friday expiry): move again
            await drv.make_liquidatable(targets)
        rt = Runtime(cfg("pm.db"), environ={KEEPER_ENV: KEEPER_KEY}, use_bus=False, clock=ChainClock())

        waited = [0]

        async def all_bid(rt: Runtime) -> bool:
            rows = await intents(rt)
            bids = sum(r.kind == "bid" and r.state == "confirmed" for r in rows)
            started = sum(r.kind == "start_auction" and r.state == "confirmed" for r in rows)
            if started == len(targets) and bids < len(targets) and waited[0] < 1200:
                # auctions run: let chain time pass so the discount deepens (oracle stays within its age)
                await w3.provider.make_request(RPCEndpoint("evm_increaseTime"), [60])
                await w3.provider.make_request(RPCEndpoint("evm_mine"), [])
                waited[0] += 60
            return bids >= len(targets)

        snaps: list[Any] = []

        async def snapshot(rt: Runtime) -> None:
            assert rt.engine is not None
            snaps.extend(await rt.engine.snapshot_risk())

        await run_until(rt, all_bid, settle_s=2.0, before_stop=snapshot)
        rows = await intents(rt)
        # the positions taken over in the auctions joined the keeper's own book
        keeper_risk = [r for r in snaps if r.entity == "keeper"]
        assert len(keeper_risk) == 1 and keeper_risk[0].delta != 0
        bidder = rt.bidder_accounts["portfolio_margin"]
        gas_wei = 0
        for kind, topic_ in (("start_auction", STARTED), ("bid", BID)):
            logs = await w3.eth.get_logs({"address": pm.address, "topics": [topic_], "fromBlock": 0,
                                          "toBlock": "latest"})
            per = {int(lg["topics"][1].hex(), 16) for lg in logs}
            assert len(logs) == len(per) == len(targets) and per == {t.id for t in targets}, kind  # once each
            mine = [r for r in rows if r.kind == kind]
            assert len(mine) == len(targets) and all(r.state == "confirmed" for r in mine)
            for lg in logs:
                receipt = await w3.eth.get_transaction_receipt(lg["transactionHash"])
                assert receipt["from"] == keeper
                gas_wei += receipt["gasUsed"] * receipt["effectiveGasPrice"]
                if kind == "bid":
                    assert int(lg["topics"][2].hex(), 16) == bidder

        # profitable by the keeper's own marks: what its subaccount now holds − the deposit − gas for every tx
        src = rt.liquidator_source
        assert src is not None and src.portfolios
        pm_src = src.portfolios[0]
        try:  # the runtime is stopped: its pool reconnects for these reads, so close it again after
            (state,) = await pm_src.adapter.read([str(bidder)])
            quotes = {q.asset: q for q in (await pm_src.adapter.oracles()).quotes}
        finally:
            await rt.pools["arbitrum"].close()
        head_ = await w3.eth.get_block("latest")
        from bots.sources.evm import Head

        value = pm_src._own_value(state, quotes, Head(head_["number"], "0x", head_["timestamp"]), 0.0)
        held = float(state.collateral["USD"]) + value
        eth_usd = float(drv.prices["ETH"])
        gas_usd = gas_wei / 1e18 * eth_usd
        assert held - rt.pm_deposit_usdc - gas_usd > 1, (held, gas_usd)


CLI_CONFIG = """
[devnet]
manifest = "{manifest}"
[chains.ethereum]
rpc_urls = ["{rpc}"]
chain_id = {chain_id}
[signers.keeper]
env = "{env}"
[protocols.vault_options]
kind = "vault_options"
chain = "ethereum"
from_manifest = true
[storage]
url = "{db}"
[bots.liquidator]
signer = "keeper"
interval_s = 0.2
[bots.liquidator.protocols.vault_options]
min_profit_usd = "1"
"""


@needs_artifacts
async def test_rtrm_run_command_liquidates_and_stops_cleanly_on_sigint(anvil_factory: Any, tmp_path: Path) -> None:
    """The real command line: addresses from the devnet manifest, key from the environment, Ctrl-C → exit 0."""
    import os
    import signal
    import sys

    from bots.store import Store
    from chains.devnet.manifest import write_manifest

    async with build_devnet(anvil_factory, tmp_path) as dn:
        w3 = dn.w3["ethereum"]
        await install_multicall3(w3, root=ROOT, chain="ethereum")
        report = await seed_devnet(dn.manifest, wallets=4, seed=9, root=ROOT, out_dir=OUT)
        targets = [t for t in fragile_targets(report) if t.kind == "vault"]
        eth = dn.c("ethereum")
        keeper = Account.from_key(KEEPER_KEY).address
        await eth["USDC"].functions.mint(keeper, 10_000_000 * 10**6).transact({"from": (await w3.eth.accounts)[0]})
        async with MarketDriver(dn.manifest, root=ROOT, out_dir=OUT) as drv:
            await drv.advance_time(60)
            await drv.make_liquidatable(targets)
            await drv.advance_time(1800)  # half the auction: worth taking
        write_manifest(dn.manifest, tmp_path)
        cfg = tmp_path / "rtrm.toml"
        db = tmp_path / "cli.db"
        cfg.write_text(CLI_CONFIG.format(manifest=tmp_path, rpc=dn.manifest.chains["ethereum"].rpc_url,
                                         chain_id=CHAIN_IDS["ethereum"], env=KEEPER_ENV, db=db))
        env = {**os.environ, KEEPER_ENV: KEEPER_KEY}
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bots.cli", "run", "--config", str(cfg),
                                                    "--no-bus", env=env, cwd=str(ROOT),
                                                    stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        try:
            deadline = asyncio.get_running_loop().time() + 60
            done = 0
            while done < len(targets):
                assert proc.returncode is None, "rtrm run exited early"
                assert asyncio.get_running_loop().time() < deadline, "no liquidations from rtrm run"
                await asyncio.sleep(0.5)
                if db.exists():
                    store = await Store(str(db)).open()
                    try:
                        done = sum(r.state == "confirmed" for r in await store.actions(100, bot="liquidator"))
                    finally:
                        await store.close()
            proc.send_signal(signal.SIGINT)
            _, err = await asyncio.wait_for(proc.communicate(), 30)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        assert proc.returncode == 0, err.decode()[-2000:]
        assert KEEPER_KEY[2:] not in err.decode()  # the key never reaches the logs
        logs = await liquidation_logs(w3, eth["VaultOptions"].address)
        assert sorted(int(lg["topics"][1].hex(), 16) for lg in logs) == sorted(t.id for t in targets)
