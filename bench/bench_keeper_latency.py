"""Keeper reaction latency: "oracle update mined" → "liquidation tx sent", event ticks vs 1 s interval polling.

One devnet (three anvils, every protocol deployed, `seed_devnet` wallets plus cheap extra safe VaultOptions vaults
so the liquidator tracks ~1,000 accounts on ethereum + arbitrum; base carries the driver's pushes), crashed once and aged past the keeper's oracle guard (1 h) without a
fresh push: every fragile target is liquidatable and profitable but blocked as stale. That state is snapshotted.
Each trial reverts to it, starts `rtrm run` (same config except the mode), waits for its first tick, then pushes
fresh prices (same values) — t0 is when the push's receipts are in (all chains); t1 per target is the lane's first
broadcast attempt in the journal (fragile VaultOptions vaults; the PortfolioMargin targets are tracked and read
but left out of the figure, see the report). Modes alternate trial by trial, in the same run.
  event:   interval_s = 3600, event_ticks = true (only the chain watcher can wake the bot)
  polling: interval_s = 1,    event_ticks = false (the baseline the issue names)
Prints p50/p99 per mode and their ratio; no asserts. Run: python bench/bench_keeper_latency.py [--trials 3]
[--extra-vaults 960] [--wallets 8]. Needs forge artifacts in out/.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eth_account import Account  # noqa: E402
from loguru import logger  # noqa: E402

from bots.config import parse_config  # noqa: E402
from bots.runner import ChainClock, Runtime  # noqa: E402
from chains.devnet.driver import MarketDriver, fragile_targets  # noqa: E402
from chains.devnet.multicall import install_multicall3  # noqa: E402
from chains.devnet.protocols import CHAIN_IDS  # noqa: E402
from chains.devnet.seed import seed_devnet  # noqa: E402
from tests.chains.devnet.test_protocols_deploy import OUT, ROOT, build_devnet  # noqa: E402
from tests.chains.protocols.devnet import rpc  # noqa: E402
from tests.conftest import start_anvil, stop_anvil  # noqa: E402

KEEPER_KEY = "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6"  # anvil's public dev key #9
KEEPER_ENV = "RTRM_BENCH_KEEPER_KEY"

CONFIG = """
event_ticks = {events}
[chains.ethereum]
rpc_urls = ["{eth}"]
chain_id = {eth_id}
confirmations = 1
[chains.arbitrum]
rpc_urls = ["{arb}"]
chain_id = {arb_id}
confirmations = 1
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
[guards]
max_oracle_age_s = {{ chainlink = 3600, volfeed = 3600 }}
[storage]
url = "{db}"
[bots.liquidator]
signer = "keeper"
interval_s = {interval}
[bots.liquidator.protocols.vault_options]
min_profit_usd = "1"
cooldown_s = 5
[bots.liquidator.protocols.portfolio_margin]
min_profit_usd = "1"
cooldown_s = 5
"""


def pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


async def extra_vaults(dn: Any, n: int) -> None:
    """n well-collateralized short puts (safe through any crash) from anvil's unlocked accounts 1-5, sent as
    JSON-RPC batches with automine off: tracked accounts that cost the keeper reads, never actions."""
    if n <= 0:
        return
    eth = dn.c("ethereum")
    w3, vo, usdc = dn.w3["ethereum"], eth["VaultOptions"], eth["USDC"]
    accounts = await w3.eth.accounts
    owners, deployer = accounts[1:6], accounts[0]
    weth = eth["WETH"].address
    series = {i: await vo.functions.getSeries(i).call() for i in range(1, int(await vo.functions.seriesCount().call()) + 1)}
    put = min((i for i, s in series.items() if s[1] == weth and s[3]), key=lambda i: series[i][2])
    deposit = 20_000 * 10**6  # one put of a ≤ 3,000 strike needs at most its strike
    for o in owners:
        await usdc.functions.mint(o, deposit * n).transact({"from": deployer})
        await usdc.functions.approve(vo.address, 2**256 - 1).transact({"from": o})
    nonces = {o: await w3.eth.get_transaction_count(o) for o in owners}
    await rpc(w3, "evm_setAutomine", [False])
    try:
        batch: list[tuple[str, list[object]]] = []
        for i in range(n):
            o = owners[i % len(owners)]
            data = vo.encode_abi("operate", args=[[(0, 0, 0, 0, 0), (1, 0, 0, deposit, 0), (3, 0, put, 10**8, 0)]])
            batch.append(("eth_sendTransaction", [{"from": o, "to": vo.address, "data": data, "gas": hex(500_000),
                                                   "nonce": hex(nonces[o])}]))
            nonces[o] += 1
            if len(batch) == 50 or i == n - 1:
                replies = await w3.provider.make_batch_request(batch)
                bad = [r for r in replies if r.get("error")]
                if bad:
                    raise RuntimeError(f"extra vaults: {bad[0]}")
                batch = []
                await rpc(w3, "evm_mine")
        while int((await rpc(w3, "txpool_status"))["pending"], 16):
            await rpc(w3, "evm_mine")
    finally:
        await rpc(w3, "evm_setAutomine", [True])


async def trial(dn: Any, drv: MarketDriver, text: str, env: dict[str, str], targets: set[str]) -> list[float]:
    rt = Runtime(parse_config(text), environ=env, clock=ChainClock(), use_bus=False, watch_poll_s=0.1)
    await rt.start(risk_interval_s=3600, resync_interval_s=3600)
    try:
        assert rt.engine is not None and rt.journal is not None and rt.store is not None
        loop = asyncio.get_running_loop()
        end = loop.time() + 60
        while rt.engine.health["liquidator"].ticks < 1 or (
                rt.watchers is not None and any(w.tracker.head is None for w in rt.watchers.watchers.values())):
            if loop.time() > end:
                raise RuntimeError("keeper never ticked")
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # any tick in flight ends; the polling phase is then uniform
        async with MarketDriver(dn.manifest, root=ROOT, out_dir=OUT) as fresh:  # nonces as of the revert
            await asyncio.wait_for(fresh.push(dict(drv.prices)), 30)
        t0 = time.time()
        firsts: dict[str, float] = {}
        stop_at = loop.time() + 20
        while len(firsts) < len(targets) and loop.time() < stop_at:
            for row in await rt.store.actions(limit=1000, bot="liquidator"):
                tgt = row.target.rsplit("/", 1)[-1]
                if tgt in firsts or tgt not in targets:
                    continue
                attempts = await rt.journal.attempts(row.id or 0)
                if attempts:
                    firsts[tgt] = min(a.created_at.timestamp() for a in attempts)
            await asyncio.sleep(0.02)
        n_accounts = len(rt.engine.book._accounts) if rt.engine.book is not None else 0
        print(f"    {len(firsts)}/{len(targets)} targets sent; {n_accounts} accounts in the book")
        return [t - t0 for t in firsts.values()]
    finally:
        await rt.stop()


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=3, help="trials per mode (alternating)")
    ap.add_argument("--wallets", type=int, default=8, help="seed_devnet wallets per protocol")
    ap.add_argument("--extra-vaults", type=int, default=960)
    args = ap.parse_args()
    logger.remove()
    logger.add(sys.stderr, level="ERROR")
    nodes: list[Any] = []

    def factory(chain_id: int) -> Any:
        nodes.append(start_anvil(chain_id=chain_id))
        return nodes[-1]

    env = {KEEPER_ENV: KEEPER_KEY}
    keeper = Account.from_key(KEEPER_KEY).address
    t_setup = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            async with build_devnet(factory, Path(tmp)) as dn:
                await asyncio.gather(*(install_multicall3(dn.w3[c], root=ROOT, chain=c) for c in dn.w3))
                report = await seed_devnet(dn.manifest, wallets=args.wallets, seed=9, root=ROOT, out_dir=OUT)
                await extra_vaults(dn, args.extra_vaults)
                vaults = int(await dn.c("ethereum")["VaultOptions"].functions.vaultCount().call())
                print(f"VaultOptions vaults on chain: {vaults}")
                eth, arb = dn.c("ethereum"), dn.c("arbitrum")
                deployer = (await dn.w3["ethereum"].eth.accounts)[0]
                await eth["USDC"].functions.mint(keeper, 10_000_000 * 10**6).transact({"from": deployer})
                arb_dep = (await dn.w3["arbitrum"].eth.accounts)[0]
                await arb["USDC"].functions.mint(keeper, 10_000_000 * 10**6).transact({"from": arb_dep})
                # the VaultOptions targets: PortfolioMargin accounts need the auction discount to grow first
                targets = [t for t in fragile_targets(report) if t.kind == "vault"]
                ids = {str(t.id) for t in targets}

                def text(events: bool, db: str) -> str:
                    return CONFIG.format(events=str(events).lower(), eth=dn.manifest.chains["ethereum"].rpc_url,
                                         eth_id=CHAIN_IDS["ethereum"], arb=dn.manifest.chains["arbitrum"].rpc_url,
                                         arb_id=CHAIN_IDS["arbitrum"], env=KEEPER_ENV, vo=eth["VaultOptions"].address,
                                         pm=arb["PortfolioMargin"].address, db=db,
                                         interval=3600 if events else 1)

                async with MarketDriver(dn.manifest, root=ROOT, out_dir=OUT) as drv:
                    await drv.advance_time(60)
                    await drv.make_liquidatable(targets)
                    await drv.advance_time(4000, push=False)  # stale for the keeper (1 h), fine for contracts
                    # keeper setup (approvals, bidder subaccount) once, before the snapshot: trials send none
                    warm = Runtime(parse_config(text(False, f"{tmp}/warm.db")),
                                   environ=env, clock=ChainClock(), use_bus=False)
                    await warm.start(risk_interval_s=3600, resync_interval_s=3600)
                    await warm.stop()
                    snaps = {c: await rpc(w3, "evm_snapshot") for c, w3 in dn.w3.items()}
                    print(f"setup {time.perf_counter() - t_setup:.1f}s; {len(targets)} fragile targets "
                          f"({sorted(t.kind for t in targets)}), {args.extra_vaults} extra vaults")
                    lat: dict[str, list[float]] = {"event": [], "polling": []}
                    for i in range(args.trials):
                        for mode in ("event", "polling"):
                            for c, w3 in dn.w3.items():
                                await rpc(w3, "evm_revert", [snaps[c]])
                                snaps[c] = await rpc(w3, "evm_snapshot")
                            t = time.perf_counter()
                            try:
                                xs = await asyncio.wait_for(
                                    trial(dn, drv, text(mode == "event", f"{tmp}/{mode}{i}.db"), env, ids), 90)
                            except TimeoutError:
                                print(f"  trial {i} {mode}: timed out after 90 s; no samples")
                                continue
                            lat[mode] += xs
                            print(f"  trial {i} {mode:7s}: {len(xs)} samples, max {max(xs, default=float('nan')):.3f}s "
                                  f"({time.perf_counter() - t:.1f}s)")
                print("oracle update confirmed → liquidation tx broadcast (s):")
                for mode, xs in lat.items():
                    if xs:
                        print(f"  {mode:7s} n={len(xs):3d}  p50 {pct(xs, 50):.3f}  p99 {pct(xs, 99):.3f}")
                if lat["event"] and lat["polling"]:
                    print(f"  ratio polling/event: p50 {pct(lat['polling'], 50) / max(pct(lat['event'], 50), 1e-6):.1f}x"
                          f"  p99 {pct(lat['polling'], 99) / max(pct(lat['event'], 99), 1e-6):.1f}x")
                print(f"total {time.perf_counter() - t_setup:.1f}s")
    finally:
        for n in nodes:
            with contextlib.suppress(Exception):
                stop_anvil(n.proc)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    asyncio.run(main())
