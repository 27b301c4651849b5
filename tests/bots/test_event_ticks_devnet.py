"""`rtrm run` with event ticks on a real devnet: the liquidator's interval is an hour, so only the chain watcher
(oracle AnswerUpdated logs of the prices the driver pushes, reorgs) can make it act — and it must liquidate every fragile
vault exactly once, as in test_run_devnet."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from eth_account import Account

from bots.config import parse_config
from bots.runner import ChainClock, Runtime
from chains.devnet.driver import MarketDriver, fragile_targets
from chains.devnet.multicall import install_multicall3
from chains.devnet.protocols import CHAIN_IDS
from chains.devnet.seed import seed_devnet
from tests.bots.test_run_devnet import CONFIG, KEEPER_ENV, KEEPER_KEY, intents, liquidation_logs
from tests.chains.devnet.test_protocols_deploy import OUT, ROOT, build_devnet, needs_artifacts


@needs_artifacts
async def test_oracle_crash_event_triggers_the_liquidations_once(anvil_factory: Any, tmp_path: Path) -> None:
    keeper = Account.from_key(KEEPER_KEY).address
    env: Mapping[str, str] = {KEEPER_ENV: KEEPER_KEY}
    async with build_devnet(anvil_factory, tmp_path) as dn:
        await install_multicall3(dn.w3["ethereum"], root=ROOT, chain="ethereum")
        report = await seed_devnet(dn.manifest, wallets=4, seed=9, root=ROOT, out_dir=OUT)
        targets = [t for t in fragile_targets(report) if t.kind == "vault"]
        safe = {v["vault_id"] for v in report["vault_options"]["vaults"] if not v["fragile"]}
        assert len(targets) >= 2
        eth = dn.c("ethereum")
        w3, vo, usdc = dn.w3["ethereum"], eth["VaultOptions"], eth["USDC"]
        await usdc.functions.mint(keeper, 10_000_000 * 10**6).transact({"from": (await w3.eth.accounts)[0]})
        text = CONFIG.format(dry="false", rpc=dn.manifest.chains["ethereum"].rpc_url, chain_id=CHAIN_IDS["ethereum"],
                             env=KEEPER_ENV, vo=vo.address, db=tmp_path / "ev.db")
        text = text.replace("interval_s = 0.2", "interval_s = 3600")  # only events can tick after the first
        rt = Runtime(parse_config(text), environ=env, clock=ChainClock(), watch_poll_s=0.1)
        async with MarketDriver(dn.manifest, root=ROOT, out_dir=OUT) as drv:
            await drv.advance_time(60)  # rounds after the vaults' last update (the auction needs one)
            await rt.start(risk_interval_s=3600, resync_interval_s=3600)
            try:
                assert rt.engine is not None and rt.watchers is not None
                loop = asyncio.get_running_loop()
                end = loop.time() + 30
                while rt.engine.health["liquidator"].ticks < 1 or not rt.watchers.watchers["ethereum"].filters \
                        or rt.watchers.watchers["ethereum"].tracker.head is None:
                    assert loop.time() < end, "the first tick / the watcher never came up"
                    await asyncio.sleep(0.1)
                assert await intents(rt) == []  # nothing to do before the crash
                ticks_before = rt.engine.health["liquidator"].ticks
                # the crash round (its bisection snapshots and reverts: reorgs the watcher follows), then an hour
                # on with a fresh push of the same prices: the auction discount makes the liquidations pay
                await drv.make_liquidatable(targets)
                await drv.advance_time(4000)

                async def confirmed() -> int:
                    return sum(r.state == "confirmed" for r in await intents(rt))

                while await confirmed() < len(targets):
                    assert loop.time() < end + 60, (rt.engine.health_report(), await rt.explain())
                    await asyncio.sleep(0.2)
                await asyncio.sleep(1.5)  # duplicates would show here
                assert rt.engine.event_ticks["liquidator"] >= 1
                assert rt.engine.health["liquidator"].ticks > ticks_before  # the event ticks did the work
                rows = await intents(rt)
            finally:
                await rt.stop()
        assert rt.watchers.tasks == []  # stopped with the runtime
        assert all(r.state == "confirmed" and r.signer == keeper for r in rows)
        per_vault: dict[int, int] = {}
        for log in await liquidation_logs(w3, vo.address):
            vid = int(log["topics"][1].hex(), 16)
            per_vault[vid] = per_vault.get(vid, 0) + 1
        assert per_vault == {t.id: 1 for t in targets}  # each exactly once, no safe vault touched
        assert not safe & set(per_vault)
        assert {r.target.rsplit("/", 1)[1] for r in rows} == {str(t.id) for t in targets}
