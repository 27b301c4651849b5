"""RPC outage of one chain during a crash, with the full keeper (Runtime) on a seeded devnet.

The keeper liquidates VaultOptions on ethereum and PortfolioMargin on arbitrum, both through fault proxies.
Arbitrum is cut (connections refused) while a crash makes accounts on both chains liquidatable: ethereum's
liquidations must confirm while arbitrum is still down, and once arbitrum is back the keeper re-reads the gap
and starts / bids on every arbitrum auction exactly once. The recovery time (outage end → first arbitrum
action sent, monotonic clock) is printed; only a generous safety timeout is asserted.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from web3.types import RPCEndpoint

from bots.runner import ChainClock, Runtime
from chains.devnet.driver import MarketDriver, scaled
from tests.chains.devnet.test_protocols_deploy import OUT, ROOT, needs_artifacts
from tests.faults._devnet import (
    AUCTION_BID,
    AUCTION_STARTED,
    ENV,
    KEEPER,
    VAULT_LIQUIDATED,
    Stopwatch,
    assert_unique_keys,
    explain,
    fault_devnet,
    intents,
    logs_by_account,
    wait_for,
)

SAFETY_S = 120.0  # generous bound on any single wait (a stuck keeper fails here, a slow one does not)


async def _rpc(w3: Any, method: str, params: list[Any]) -> Any:
    return (await w3.provider.make_request(RPCEndpoint(method), params)).get("result")


async def outage_during_crash(anvil_factory: Any, tmp_path: Any, outage_s: float) -> dict[str, float]:
    sw = Stopwatch()
    async with fault_devnet(anvil_factory, tmp_path) as fd, \
            MarketDriver(fd.dn.manifest, root=ROOT, out_dir=OUT) as drv:
        vaults, pms = fd.targets("vault"), fd.targets("portfolio")
        assert vaults and pms
        eth_w3, arb_w3 = fd.dn.w3["ethereum"], fd.dn.w3["arbitrum"]
        vo, pm = fd.dn.c("ethereum")["VaultOptions"], fd.dn.c("arbitrum")["PortfolioMargin"]
        await drv.advance_time(700)  # the sequencer has been up longer than the keeper's grace period
        # ethereum's crash size, found on a snapshot before the keeper runs (it must not see trial prices)
        base = dict(drv.prices)
        snap = await _rpc(eth_w3, "evm_snapshot", [])
        factor = await drv.make_liquidatable(vaults)
        assert await _rpc(eth_w3, "evm_revert", [snap])
        drv.prices = dict(base)

        rt = Runtime(fd.liquidator_config(), environ=ENV, use_bus=False, clock=ChainClock())
        await rt.start(risk_interval_s=3600, resync_interval_s=3600)
        try:
            assert rt.engine is not None and rt.watchers is not None
            health = rt.engine.health["liquidator"]

            async def calm_ticks() -> bool:
                return health.ticks >= 2

            await wait_for(calm_ticks, SAFETY_S, "two calm liquidator ticks")
            assert [r for r in await intents(rt, "liquidator")] == []

            await fd.proxies["arbitrum"].start_outage()
            sw.mark("outage_start")
            await drv.push(scaled(base, factor), chains=["ethereum"])  # the crash, ethereum side
            await _rpc(eth_w3, "evm_increaseTime", [1800])  # half the liquidation auction: worth taking
            await _rpc(eth_w3, "evm_mine", [])
            await drv.push(chains=["ethereum"])
            await drv.make_liquidatable(pms)  # arbitrum side, unseen by the keeper
            sw.mark("crash_done")

            async def eth_liquidated() -> bool:
                rows = [r for r in await intents(rt, "liquidator") if r.chain == "ethereum"]
                return len(rows) >= len(vaults) and all(r.state == "confirmed" for r in rows)

            await wait_for(eth_liquidated, SAFETY_S, "ethereum liquidations while arbitrum is down",
                           lambda: explain(rt))
            sw.mark("eth_done")
            assert not [r for r in await intents(rt, "liquidator") if r.chain == "arbitrum"]
            assert fd.proxies["arbitrum"].in_outage  # still down: ethereum acted during the outage
            arb_alerts = [a for a in await rt.store.alerts(500) if "arbitrum" in f"{a.chain} {a.message}".lower()]
            assert arb_alerts, "the outage left no alert"
            rest = sw.marks["outage_start"] + outage_s - time.monotonic()
            if rest > 0:
                await _sleep(rest)
            head_at_end = int(await _rpc(arb_w3, "eth_blockNumber", []), 16)
            await fd.proxies["arbitrum"].end_outage()
            sw.mark("outage_end")

            async def arb_acted() -> bool:
                return any(r.chain == "arbitrum" for r in await intents(rt, "liquidator"))

            await wait_for(arb_acted, SAFETY_S, "an arbitrum action after the outage", lambda: explain(rt), 0.05)
            sw.mark("arb_first_action")
            watcher = rt.watchers.watchers["arbitrum"]

            async def gap_read() -> bool:  # the watcher's log cursors covered every block of the outage
                return min(f.next_block for f in watcher.filters) > head_at_end

            await wait_for(gap_read, SAFETY_S, "the arbitrum watcher re-reading the outage's blocks", poll_s=0.05)
            sw.mark("gap_read")
            warped = [0]

            async def all_bid() -> bool:
                rows = await intents(rt, "liquidator")
                started = sum(r.kind == "start_auction" and r.state == "confirmed" for r in rows)
                bids = sum(r.kind == "bid" and r.state == "confirmed" for r in rows)
                if started >= len(pms) and bids < len(pms) and warped[0] < 1200:
                    await _rpc(arb_w3, "evm_increaseTime", [60])  # the auction discount deepens
                    await _rpc(arb_w3, "evm_mine", [])
                    warped[0] += 60
                return bids >= len(pms)

            await wait_for(all_bid, SAFETY_S, "every arbitrum auction started and bid", lambda: explain(rt), 0.2)
            await _sleep(2.0)  # long enough for a duplicate to show up
            rows = await intents(rt, "liquidator")
        finally:
            await rt.stop()

        assert_unique_keys(rows)
        assert all(r.state == "confirmed" and r.signer == KEEPER for r in rows), [(r.key, r.state) for r in rows]
        liquidated = await logs_by_account(eth_w3, vo.address, VAULT_LIQUIDATED)
        assert {t.id for t in vaults} <= set(liquidated) and set(liquidated.values()) == {1}
        assert sum(r.kind == "mint_and_liquidate" for r in rows) == len(liquidated)
        for topic0, kind in ((AUCTION_STARTED, "start_auction"), (AUCTION_BID, "bid")):
            per = await logs_by_account(arb_w3, pm.address, topic0)
            assert {t.id for t in pms} <= set(per) and set(per.values()) == {1}, (kind, per)
            assert sum(r.kind == kind for r in rows) == len(per)
    times = {"outage_s": sw.between("outage_start", "outage_end"),
             "eth_done_after_outage_start_s": sw.between("outage_start", "eth_done"),
             "recovery_s": sw.between("outage_end", "arb_first_action"),
             "gap_read_s": sw.between("outage_end", "gap_read")}
    print(f"\noutage scenario: arbitrum down {times['outage_s']:.1f}s; ethereum liquidations confirmed "
          f"{times['eth_done_after_outage_start_s']:.1f}s into it; recovery (outage end → first arbitrum action "
          f"sent) {times['recovery_s']:.2f}s; watcher gap re-read {times['gap_read_s']:.2f}s after the outage")
    return times


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)


@needs_artifacts
async def test_short_outage_other_chain_acts_and_missed_liquidations_happen_once(anvil_factory: Any,
                                                                                 tmp_path: Any) -> None:
    await outage_during_crash(anvil_factory, tmp_path, outage_s=5.0)


@needs_artifacts
@pytest.mark.faults
async def test_thirty_second_outage_during_crash(anvil_factory: Any, tmp_path: Any) -> None:
    times = await outage_during_crash(anvil_factory, tmp_path, outage_s=30.0)
    assert times["outage_s"] >= 30.0
