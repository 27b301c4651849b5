"""Adapter benchmarks on real anvil processes with the real VaultOptions stack.

(a) Latency from a PriceFeed update mined on anvil to its OracleQuote on the EventStream, p50/p99 over N
    updates, ChainWatcher on WebSocket heads vs on 1 s HTTP polling (baseline), same run. t0 = the moment
    eth_sendTransaction was submitted (anvil automines it on receipt, so the figure includes the submit round trip
    and is an upper bound on mined → stream).
(b) 10,000 vaults seeded with real `operate` transactions (JSON-RPC batches, automine off, evm_mine), then
    discovered from the deploy block and read at one block through Multicall3 (target < 2 s), vs a naive
    one-eth_call-per-view baseline measured on a subset and extrapolated (labelled).
Run: python bench/bench_adapters.py [--updates 200] [--accounts 10000] [--skip-latency] [--skip-accounts]
Needs forge artifacts in out/ (or RTRM_OUT_DIR).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._result import emit  # noqa: E402
from chains.events import OracleUpdate  # noqa: E402
from chains.evm.endpoints import EndpointPool  # noqa: E402
from chains.evm.watcher import ChainWatcher  # noqa: E402
from chains.protocols.abi import encode_call  # noqa: E402
from chains.protocols.portfolio_margin import PortfolioMarginAdapter  # noqa: E402
from chains.protocols.vault_options import Action, ActionType, VaultOptionsAdapter, build_operate  # noqa: E402
from chains.stream import EventStream  # noqa: E402
from tests.chains.protocols.devnet import (  # noqa: E402
    E8,
    E18,
    OPT,
    USDC,
    VaultDevnet,
    deploy,
    deploy_vault_devnet,
    rpc,
    send,
)
from tests.conftest import start_anvil, stop_anvil  # noqa: E402


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


async def latency_run(net: VaultDevnet, updates: int, ws: bool, gap_s: float) -> list[float]:
    pool = EndpointPool([net.url])
    ad = VaultOptionsAdapter("ethereum", pool, net.vo.address, net.deploy_block)
    await ad.prepare_oracles()
    stream = EventStream("ethereum")
    sub = stream.subscribe(100_000)
    watcher = ChainWatcher("ethereum", pool, stream, ws_url=net.url.replace("http", "ws") if ws else None,
                           poll_interval_s=0.25 if ws else 1.0)
    for flt in ad.oracle_reader.log_filters(await net.w3.eth.block_number + 1):  # type: ignore[union-attr]
        watcher.add_filter(flt)
    sent: dict[int, float] = {}
    got: dict[int, float] = {}

    async def consume() -> None:
        async for ev in sub:
            if isinstance(ev, OracleUpdate) and ev.quote is not None:
                got.setdefault(int(ev.quote.price * E8), time.perf_counter())

    task = asyncio.create_task(watcher.run())
    cons = asyncio.create_task(consume())
    await asyncio.sleep(1.5)  # let the socket subscribe / the first poll happen
    base = 3000 * E8 + (0 if ws else 10**6)
    for i in range(updates):
        answer = base + i + 1
        sent[answer] = time.perf_counter()  # anvil mines on receipt: t0 is taken just before submitting
        await net.feed.functions.updateAnswer(answer).transact({"from": net.admin})
        await asyncio.sleep(gap_s * (0.5 + random.random()))
    deadline = time.perf_counter() + 5
    while len(got) < updates and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    for t in (task, cons):
        t.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await t
    await pool.close()
    missing = updates - len(got)
    if missing:
        print(f"  WARNING: {missing} updates never reached the stream")
    return [(got[a] - sent[a]) * 1000 for a in sent if a in got]


async def bench_latency(updates: int) -> None:
    node = start_anvil(chain_id=1)
    try:
        net = await deploy_vault_devnet(node.url)
        print(f"(a) PriceFeed update mined -> OracleQuote on the stream, {updates} updates per mode")
        results = {}
        for ws, gap in ((True, 0.1), (False, 0.25)):
            lat = await latency_run(net, updates, ws, gap)
            name = "websocket heads" if ws else "1 s polling (baseline)"
            results[ws] = lat
            print(f"  {name:24s} p50 {pct(lat, 50):7.1f} ms  p99 {pct(lat, 99):7.1f} ms  "
                  f"max {max(lat):7.1f} ms  n={len(lat)}")
        print(f"  ratio polling/websocket: p50 {pct(results[False], 50) / pct(results[True], 50):.1f}x  "
              f"p99 {pct(results[False], 99) / pct(results[True], 99):.1f}x")
        ws_, poll = results[True], results[False]
        emit(f"PriceFeed update mined → OracleQuote on the stream, {updates} updates",
             f"WebSocket p50 {pct(ws_, 50):.1f} ms, p99 {pct(ws_, 99):.1f} ms",
             f"1 s polling p50 {pct(poll, 50):.0f} ms, p99 {pct(poll, 99):.0f} ms",
             f"{pct(poll, 50) / pct(ws_, 50):.0f}× (p50)", ws_p50_ms=pct(ws_, 50), ws_p99_ms=pct(ws_, 99),
             poll_p50_ms=pct(poll, 50), poll_p99_ms=pct(poll, 99))
        await net.close()
    finally:
        stop_anvil(node.proc)


async def seed(net: VaultDevnet, n: int, rng: random.Random) -> float:
    """n vaults via `operate([Open, Deposit, Mint])` sent as unlocked eth_sendTransaction JSON-RPC batches."""
    t0 = time.perf_counter()
    owners = (await net.w3.eth.accounts)[1:6]
    for o in owners:
        await net.fund(o, n * 1000 * USDC)
    nonces = {o: await net.w3.eth.get_transaction_count(o) for o in owners}
    await rpc(net.w3, "evm_setAutomine", [False])
    batch: list[tuple[str, list[object]]] = []
    for i in range(n):
        owner = owners[i % len(owners)]
        amount = rng.randint(OPT // 10, OPT + OPT // 5)  # 0.1..1.2 puts: 1000 USDC covers 1.2 × 783.25
        call = build_operate(net.vo.address, [Action(ActionType.OPEN_VAULT),
                                              Action(ActionType.DEPOSIT, amount=1000 * USDC),
                                              Action(ActionType.MINT, series_id=net.put_series, amount=amount)])
        tx = {"from": owner, "to": call.to, "data": "0x" + call.data.hex(), "gas": hex(400_000),
              "nonce": hex(nonces[owner]), "maxFeePerGas": hex(10**11), "maxPriorityFeePerGas": hex(10**9)}
        nonces[owner] += 1
        batch.append(("eth_sendTransaction", [tx]))
        if len(batch) == 500 or i == n - 1:
            replies = await net.w3.provider.make_batch_request(batch)  # type: ignore[arg-type]
            errors = [r for r in replies if r.get("error")]  # type: ignore[union-attr]
            if errors:
                raise RuntimeError(f"seeding failed: {errors[0]}")
            batch = []
            await rpc(net.w3, "evm_mine")
    while int((await rpc(net.w3, "txpool_status"))["pending"], 16):
        await rpc(net.w3, "evm_mine")
    await rpc(net.w3, "evm_setAutomine", [True])
    count = int(await net.vo.functions.vaultCount().call())
    if count != n:
        raise RuntimeError(f"expected {n} vaults, found {count}")
    return time.perf_counter() - t0


async def bench_accounts(n: int, subset: int) -> None:
    node = start_anvil(chain_id=1, args=("--gas-limit", "1000000000"))
    try:
        net = await deploy_vault_devnet(node.url)
        seed_s = await seed(net, n, random.Random(7))
        head = await net.w3.eth.block_number
        print(f"(b) {n} vaults seeded with real operate txs in {seed_s:.1f} s (head block {head})")
        pool = EndpointPool([node.url], timeout_s=60)
        for rep in range(2):
            ad = VaultOptionsAdapter("ethereum", pool, net.vo.address, net.deploy_block)
            t0 = time.perf_counter()
            disc = await ad.discover()
            t1 = time.perf_counter()
            states = await ad.read(disc.accounts, head)
            t2 = time.perf_counter()
            shorts = sum(len(s.positions) for s in states)
            print(f"  run {rep + 1}: discover {len(disc.accounts)} accounts {t1 - t0:.3f} s + read {len(states)} "
                  f"states ({shorts} positions) at one block {t2 - t1:.3f} s = {t2 - t0:.3f} s "
                  f"(target < 2 s: {(t2 - t0) / 2:.2f} of target; {ad.multicall.round_trips} multicall round trips)")
        total = t2 - t0
        # naive baseline: one eth_call per view (getVault, requirement) per account, sequential, on a subset
        ids = list(range(1, subset + 1))
        t0 = time.perf_counter()
        for vid in ids:
            for sig in ("getVault(uint256)", "requirement(uint256)"):
                data = encode_call(sig, ["uint256"], [vid])
                await pool.expect("eth_call", [{"to": net.vo.address, "data": "0x" + data.hex()}, hex(head)])
        naive = (time.perf_counter() - t0) * n / subset
        print(f"  naive one-eth_call-per-view baseline: measured on {subset} accounts, EXTRAPOLATED to {n}: "
              f"{naive:.1f} s  -> batched is {naive / total:.0f}x faster")
        emit(f"discover + read {n:,} VaultOptions vaults at one block", f"{total:.2f} s",
             f"one eth_call per view, extrapolated from {subset}: {naive:.1f} s; target < 2 s",
             f"{naive / total:.0f}x", seconds=total, naive_s=naive, accounts=n)
        await pool.close()
        await net.close()
    finally:
        stop_anvil(node.proc)


async def seed_pm(net: VaultDevnet, n: int) -> tuple[Any, float]:
    """PortfolioMargin next to the vault stack (same USDC / WETH / feed) and n subaccounts, each with cash and a
    long call bought from a house account: createAccount from anvil's accounts 1-5, then deposit + trade from the
    admin (their operator), all as eth_sendTransaction JSON-RPC batches with automine off."""
    w3, admin = net.w3, net.admin
    vol = await deploy(w3, "VolFeed", admin, 86400, sender=admin)
    pm = await deploy(w3, "PortfolioMargin", net.usdc.address, vol.address, admin, sender=admin)
    await send(w3, pm.functions.setUnderlying(net.weth.address, net.feed.address, 3600), admin)
    expiry = await net.now() + 30 * 86400
    tau_a = 36 * 30 * 10**16 // 365  # flat 60 % vol over 30 days as total variance (b = 0)
    await send(w3, vol.functions.setSlice(net.weth.address, expiry, tau_a, 0, 0, 0, E18 // 10, 3000 * E18), admin)
    for strike in (3000, 3500, 4000):
        await send(w3, pm.functions.addSeries(net.weth.address, expiry, strike * E18, True), admin)
    t0 = time.perf_counter()
    cash = 10_000 * USDC
    await send(w3, net.usdc.functions.mint(admin, cash * (n + 1000)), admin)
    await send(w3, net.usdc.functions.approve(pm.address, 2**256 - 1), admin)
    house = int(await pm.functions.nextAccountId().call())
    await send(w3, pm.functions.createAccount(), admin)
    await send(w3, pm.functions.deposit(house, cash * 1000), admin)
    owners = (await w3.eth.accounts)[1:6]
    for o in owners:
        await send(w3, pm.functions.setOperator(admin, True), o)
    marks = [int(await pm.functions.markOf(s).call()) for s in (1, 2, 3)]
    first = int(await pm.functions.nextAccountId().call())
    nonces = {a: await w3.eth.get_transaction_count(a) for a in [admin, *owners]}
    batch: list[tuple[str, list[object]]] = []

    async def push(sender: str, data: str, last: bool) -> None:
        batch.append(("eth_sendTransaction", [{"from": sender, "to": pm.address, "data": data, "gas": hex(600_000),
                                               "nonce": hex(nonces[sender]), "maxFeePerGas": hex(10**11),
                                               "maxPriorityFeePerGas": hex(10**9)}]))
        nonces[sender] += 1
        if len(batch) == 500 or last:
            replies = await w3.provider.make_batch_request(batch)  # type: ignore[arg-type]
            errors = [r for r in replies if r.get("error")]  # type: ignore[union-attr]
            if errors:
                raise RuntimeError(f"PM seeding failed: {errors[0]}")
            batch.clear()
            await rpc(w3, "evm_mine")

    await rpc(w3, "evm_setAutomine", [False])
    try:
        for i in range(n):
            await push(owners[i % len(owners)], pm.encode_abi("createAccount", args=[]), i == n - 1)
        while int((await rpc(w3, "txpool_status"))["pending"], 16):
            await rpc(w3, "evm_mine")
        for i in range(n):
            aid, s = first + i, i % 3
            await push(admin, pm.encode_abi("deposit", args=[aid, cash]), False)
            await push(admin, pm.encode_abi("trade", args=[aid, house, s + 1, E18 // 10, marks[s]]), i == n - 1)
        while int((await rpc(w3, "txpool_status"))["pending"], 16):
            await rpc(w3, "evm_mine")
    finally:
        await rpc(w3, "evm_setAutomine", [True])
    made = int(await pm.functions.nextAccountId().call()) - first
    if made != n:
        raise RuntimeError(f"expected {n} PM subaccounts, found {made}")
    return pm, time.perf_counter() - t0


async def bench_pm_accounts(n: int, subset: int) -> None:
    node = start_anvil(chain_id=42161, args=("--gas-limit", "1000000000"))
    try:
        net = await deploy_vault_devnet(node.url)
        deploy_block = await net.w3.eth.block_number
        pm, seed_s = await seed_pm(net, n)
        head = await net.w3.eth.block_number
        print(f"(c) {n} PortfolioMargin subaccounts (cash + one long call each) seeded in {seed_s:.1f} s")
        pool = EndpointPool([node.url], timeout_s=60)
        for rep in range(2):
            ad = PortfolioMarginAdapter("arbitrum", pool, pm.address, deploy_block)
            t0 = time.perf_counter()
            disc = await ad.discover()
            t1 = time.perf_counter()
            states = await ad.read(disc.accounts, head)
            t2 = time.perf_counter()
            positions = sum(len(s.positions) for s in states)
            print(f"  run {rep + 1}: discover {len(disc.accounts)} accounts {t1 - t0:.3f} s + read {len(states)} "
                  f"states ({positions} positions, MM/MtM from the contract) at one block {t2 - t1:.3f} s = "
                  f"{t2 - t0:.3f} s (target < 2 s; {ad.multicall.round_trips} multicall round trips)")
        total = t2 - t0
        # naive baseline: one eth_call per view per account (ownerOf, cashOf, heldSeries, margin, auction,
        # positionOf of its one series), sequential, on a subset
        t0 = time.perf_counter()
        for aid in range(1, subset + 1):
            for sig in ("ownerOf(uint256)", "cashOf(uint256)", "heldSeries(uint256)",
                        "getMarginAndMarkToMarket(uint256)", "getAuction(uint256)"):
                data = encode_call(sig, ["uint256"], [aid])
                await pool.expect("eth_call", [{"to": pm.address, "data": "0x" + data.hex()}, hex(head)])
            data = encode_call("positionOf(uint256,uint256)", ["uint256", "uint256"], [aid, 1])
            await pool.expect("eth_call", [{"to": pm.address, "data": "0x" + data.hex()}, hex(head)])
        naive = (time.perf_counter() - t0) * n / subset
        print(f"  naive one-eth_call-per-view baseline: measured on {subset} accounts, EXTRAPOLATED to {n}: "
              f"{naive:.1f} s  -> batched is {naive / total:.0f}x faster")
        emit(f"discover + read {n:,} PortfolioMargin subaccounts at one block", f"{total:.2f} s",
             f"one eth_call per view, extrapolated from {subset}: {naive:.1f} s; target < 2 s",
             f"{naive / total:.0f}x", seconds=total, naive_s=naive, accounts=n, positions=positions)
        await pool.close()
        await net.close()
    finally:
        stop_anvil(node.proc)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--updates", type=int, default=200)
    ap.add_argument("--accounts", type=int, default=10_000)
    ap.add_argument("--subset", type=int, default=300)
    ap.add_argument("--skip-latency", action="store_true")
    ap.add_argument("--skip-accounts", action="store_true")
    args = ap.parse_args()
    if not args.skip_accounts:
        await bench_accounts(args.accounts, args.subset)
        await bench_pm_accounts(args.accounts, args.subset)
    if not args.skip_latency:
        await bench_latency(args.updates)


if __name__ == "__main__":
    asyncio.run(main())
