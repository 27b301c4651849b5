"""Oracle faults on a real devnet with the full keeper (`Runtime`: real anvil, real lanes, real SQLite).

Each scenario: while the fault holds, vaults the contract would liquidate are NOT acted on and an alert names the
fault — once, however many ticks pass; once the oracle is healthy again the keeper liquidates every one of them
exactly once. The time from the healthy push to the first action sent is printed (`-s`), not asserted.
Faults: stale (time passes without a push), zero and negative Chainlink answers (the feed accepts them, as a
broken aggregator would), an absurd jump (one round beyond the guard's max jump), and the L2 sequencer down on arbitrum (then up, within the grace
period, then past it).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bots.config import parse_config
from bots.guards import check_feed_faults, check_oracle, next_reference
from bots.runner import ChainClock, Runtime
from chains.devnet.driver import MarketDriver, fragile_targets, scaled
from chains.devnet.multicall import install_multicall3
from chains.devnet.protocols import CHAIN_IDS
from chains.devnet.seed import seed_devnet
from chains.model import OracleQuote, OracleSource, Underlying
from tests.bots.test_run_devnet import CONFIG, KEEPER_ENV, KEEPER_KEY, PM_CONFIG, STARTED, config
from tests.chains.devnet.test_protocols_deploy import OUT, ROOT, build_devnet, needs_artifacts
from tests.faults._keeper import (
    KEEPER,
    SENT_OR_LATER,
    VaultWorld,
    alerts,
    all_confirmed,
    report_time,
    rows,
    running,
    ticks,
    vault_liquidations,
    vault_world,
    wait_until,
)

ENV = {KEEPER_ENV: KEEPER_KEY}
NOW = datetime(2026, 1, 2, tzinfo=UTC)


def keeper(world: VaultWorld, db: Path) -> Runtime:
    rpc = world.dn.manifest.chains["ethereum"].rpc_url
    return Runtime(config(rpc, world.vo.address, db, dry=False), environ=ENV, use_bus=False, clock=ChainClock())


async def heal_and_expect_each_once(world: VaultWorld, rt: Runtime, scenario: str) -> None:
    """Healthy push of the liquidating prices → every target liquidated once; the resume latency printed."""
    loop = asyncio.get_running_loop()
    healed = loop.time()  # the push itself is part of the latency: the keeper may act before it returns
    await world.drv.push(world.liquidating)

    async def first_sent() -> bool:
        return any(r.state in SENT_OR_LATER for r in await rows(rt))

    await wait_until(first_sent, 30, f"{scenario}: a liquidation after the oracle healed", rt=rt)
    report_time(scenario, "healthy push → first action sent", loop.time() - healed)
    await wait_until(lambda: all_confirmed(rt, len(world.targets)), 60, f"{scenario}: every target confirmed")
    report_time(scenario, "healthy push → every target confirmed", loop.time() - healed)
    await ticks(rt, 5)  # a few more decisions: nothing may go out twice
    assert await vault_liquidations(world) == {t.id: 1 for t in world.targets}
    mine = await rows(rt)
    assert sorted(r.target.rsplit("/", 1)[1] for r in mine) == sorted(str(t.id) for t in world.targets)
    assert all(r.state == "confirmed" and r.signer == KEEPER for r in mine)


async def nothing_done(world: VaultWorld, rt: Runtime) -> None:
    assert await vault_liquidations(world) == {}
    assert [r.key for r in await rows(rt)] == []


@needs_artifacts
async def test_stale_oracle_blocks_alerts_once_per_target_then_resumes(anvil_factory: Any, tmp_path: Path) -> None:
    async with vault_world(anvil_factory, tmp_path) as world:
        await world.drv.push(world.liquidating)  # the crash...
        await world.drv.advance_time(4000, push=False)  # ...then no round for longer than the guard's 1 h
        for t in world.targets:
            assert await world.drv.is_liquidatable(t)  # the contract (1 day max age) would liquidate
        async with running(keeper(world, tmp_path / "stale.db")) as rt:
            await wait_until(lambda: _n_alerts(rt, "guard:oracle", len(world.targets)), 30, "stale alerts")
            await ticks(rt, 10)  # the age grows every tick: still one alert per target, not one per tick
            stale = await alerts(rt, "guard:oracle")
            assert len(stale) == len(world.targets) and all("stale" in a.message for a in stale)
            assert {a.key.split(":")[4] for a in stale} == {str(t.id) for t in world.targets}
            await nothing_done(world, rt)
            await heal_and_expect_each_once(world, rt, "stale oracle")


@needs_artifacts
@pytest.mark.parametrize("answer", [pytest.param(0, marks=pytest.mark.faults), pytest.param(-1, marks=pytest.mark.faults)],
                         ids=["zero", "negative"])
async def test_non_positive_answer_is_a_fault_alerted_once_then_resumes(anvil_factory: Any, tmp_path: Path,
                                                                        answer: int) -> None:
    async with vault_world(anvil_factory, tmp_path) as world:
        await world.drv.push(world.liquidating)  # the crash, then a broken round on the ETH feed
        await world.drv.push_raw_answer("ETH", answer, chains=["ethereum"])
        await world.drv.advance_time(1800, push=False)  # the auction runs on while the feed is broken
        async with running(keeper(world, tmp_path / "bad.db")) as rt:
            await wait_until(lambda: _n_alerts(rt, "oracle:fault", 1), 30, "the oracle fault alert")
            await ticks(rt, 10)
            (fault,) = await alerts(rt, "oracle:fault")
            feed = world.dn.contracts["ethereum"]["ETH_USD"].address
            assert feed.lower() in fault.message.lower() and f"answer {answer} is not positive" in fault.message
            assert fault.chain == "ethereum"
            await nothing_done(world, rt)
            await heal_and_expect_each_once(world, rt, f"{'zero' if answer == 0 else 'negative'} answer")
            closed = [a for a in await alerts(rt, "oracle:fault") if "healthy again" in a.message]
            assert len(closed) == 1 and closed[0].level == "info"


@needs_artifacts
@pytest.mark.faults
async def test_absurd_jump_blocks_until_a_second_round_confirms_it(anvil_factory: Any, tmp_path: Path) -> None:
    """The crash itself is the "absurd" move here (the guard's max jump is set to half of it): the keeper must
    not act on one such print, and acts once the next round confirms the level (a real move passes)."""
    async with vault_world(anvil_factory, tmp_path) as world:
        move = 1 - world.liquidating["ETH"] / world.healthy["ETH"]
        rpc = world.dn.manifest.chains["ethereum"].rpc_url
        text = CONFIG.format(dry="false", rpc=rpc, chain_id=CHAIN_IDS["ethereum"], env=KEEPER_ENV,
                             vo=world.vo.address, db=tmp_path / "jump.db")
        cfg = parse_config(text.replace("[guards]\n", f'[guards]\nmax_price_jump = "{move / 2:.4f}"\n'))
        assert cfg.guards.max_price_jump < move
        async with running(Runtime(cfg, environ=ENV, use_bus=False, clock=ChainClock())) as rt:
            await ticks(rt, 3)  # the keeper has seen the healthy market: its reference for the jump guard
            await world.drv.push(world.liquidating)
            for t in world.targets:
                assert await world.drv.is_liquidatable(t)  # the contract would liquidate at this print
            await world.drv.advance_time(1800, push=False)  # the auction runs on; no second round yet
            await wait_until(lambda: _n_alerts(rt, "guard:oracle", len(world.targets)), 30, "jump alerts", rt=rt)
            await ticks(rt, 10)
            jumps = await alerts(rt, "guard:oracle")
            assert len(jumps) == len(world.targets) and all("jump" in a.message for a in jumps)
            await nothing_done(world, rt)
            await heal_and_expect_each_once(world, rt, "absurd jump (confirmed by the next round)")


@needs_artifacts
@pytest.mark.faults
async def test_sequencer_down_then_grace_then_acts_once(anvil_factory: Any, tmp_path: Path) -> None:
    async with build_devnet(anvil_factory, tmp_path) as dn:
        w3 = dn.w3["arbitrum"]
        await install_multicall3(w3, root=ROOT, chain="arbitrum")
        report = await seed_devnet(dn.manifest, wallets=4, seed=9, root=ROOT, out_dir=OUT)
        targets = [t for t in fragile_targets(report) if t.kind == "portfolio"]
        assert len(targets) >= 2
        arb = dn.c("arbitrum")
        pm = arb["PortfolioMargin"]
        await arb["USDC"].functions.mint(KEEPER, 10_000_000 * 10**6).transact({"from": (await w3.eth.accounts)[0]})
        cfg = parse_config(PM_CONFIG.format(rpc=dn.manifest.chains["arbitrum"].rpc_url, env=KEEPER_ENV,
                                            chain_id=CHAIN_IDS["arbitrum"], pm=pm.address, db=tmp_path / "seq.db",
                                            seq=arb["SequencerUptimeFeed"].address))

        async def started() -> list[Any]:
            return list(await w3.eth.get_logs({"address": pm.address, "topics": [STARTED], "fromBlock": 0,
                                               "toBlock": "latest"}))

        async with MarketDriver(dn.manifest, root=ROOT, out_dir=OUT) as drv:
            await drv.advance_time(700)
            await drv.set_sequencer("arbitrum", down=True)
            await drv.make_liquidatable(targets)
            await drv.push(scaled(drv.prices, Decimal("0.97")))  # deeper: theta over the grace wait cannot lift
            async with running(Runtime(cfg, environ=ENV, use_bus=False, clock=ChainClock())) as rt:
                await wait_until(lambda: _n_alerts(rt, "guard:sequencer", len(targets)), 30, "sequencer alerts")
                await ticks(rt, 10)
                down = await alerts(rt, "guard:sequencer")
                assert len(down) == len(targets) and all("sequencer down" in a.message for a in down)
                # back up: still within the grace period (600 s) → a second, different alert per target
                await drv.set_sequencer("arbitrum", down=False)
                await wait_until(lambda: _n_alerts(rt, "guard:sequencer", 2 * len(targets)), 30, "grace alerts")
                await ticks(rt, 10)
                grace = (await alerts(rt, "guard:sequencer"))[: len(targets)]  # newest first
                assert len(await alerts(rt, "guard:sequencer")) == 2 * len(targets)
                assert all("within grace period" in a.message for a in grace)
                assert await started() == []
                assert not any(r.kind == "start_auction" for r in await rows(rt))
                loop = asyncio.get_running_loop()
                await drv.advance_time(700)  # past the grace period, prices re-pushed fresh
                healthy = loop.time()

                async def auction_sent() -> bool:
                    return any(r.kind == "start_auction" and r.state in SENT_OR_LATER for r in await rows(rt))

                await wait_until(auction_sent, 30, "an auction start after the grace period")
                report_time("sequencer down", "grace over → first action sent", loop.time() - healthy)

                async def all_started() -> bool:
                    return sum(r.kind == "start_auction" and r.state == "confirmed" for r in await rows(rt)) \
                        >= len(targets)

                await wait_until(all_started, 60, "every auction started")
                await ticks(rt, 5)
                assert len([r for r in await rows(rt) if r.kind == "start_auction"]) == len(targets)
            per = [int(lg["topics"][1].hex(), 16) for lg in await started()]
            assert sorted(per) == sorted(t.id for t in targets)  # each exactly once


async def _n_alerts(rt: Runtime, source_prefix: str, n: int) -> bool:
    return len(await alerts(rt, source_prefix)) >= n


def _q(price: str, round_s: int = 0) -> OracleQuote:
    """A Chainlink ETH reading published `round_s` seconds after NOW (a later round)."""
    return OracleQuote(OracleSource.CHAINLINK, Underlying.ETH, Decimal(price), NOW + timedelta(seconds=round_s),
                       "ethereum", 1 + round_s)


def test_jump_reference_moves_only_to_plausible_or_confirmed_readings() -> None:
    half = Decimal("0.5")
    ref, pend = next_reference(None, None, _q("3000"), half)
    assert ref is not None and ref.price == 3000 and pend is None  # the first reading is the reference
    ref, pend = next_reference(ref, pend, _q("600", 10), half)  # −80 %: held, the reference stays
    assert ref is not None and ref.price == 3000 and pend is not None and pend.price == 600
    assert not check_oracle(_q("600", 10), NOW, timedelta(hours=1), Decimal("0.02"), ref, half).ok
    # the same round seen again (e.g. the chain watcher's log after the keeper's own read) confirms nothing
    again, held = next_reference(ref, pend, _q("600", 10), half)
    assert again is ref and held is pend
    late, held = next_reference(ref, pend, _q("3000", -5), half)  # a late sighting of an older round: ignored
    assert late is ref and held is pend
    healed, still = next_reference(ref, pend, _q("2700", 20), half)  # plausible against 3000, not against 600
    assert healed is not None and healed.price == 2700 and still is None
    assert check_oracle(_q("2700", 20), NOW, timedelta(hours=1), Decimal("0.02"), healed, half).ok
    moved, gone = next_reference(ref, pend, _q("610", 20), half)  # a later round at the new level: a real move
    assert moved is not None and moved.price == 610 and gone is None
    same, kept = next_reference(ref, None, _q("0", 30), half)  # a non-positive reading never becomes the reference
    assert same is ref and kept is None


def test_feed_faults_block_with_a_stable_code() -> None:
    v = check_feed_faults("ethereum", [("0xfeed", "answer 0 is not positive")])
    assert not v.ok and v.codes == ("oracle:fault:0xfeed@ethereum",) and "answer 0" in v.reasons[0]
    assert check_feed_faults("ethereum", []).ok
    stale_a = check_oracle(_q("3000"), NOW + timedelta(hours=2), timedelta(hours=1), Decimal("0.02"))
    stale_b = check_oracle(_q("3000"), NOW + timedelta(hours=3), timedelta(hours=1), Decimal("0.02"))
    assert stale_a.reasons != stale_b.reasons and stale_a.codes == stale_b.codes  # alerts dedup on codes
    pyth = OracleQuote(OracleSource.PYTH, Underlying.ETH, Decimal(3000), NOW, "base", 1, Decimal(300))
    blown = check_oracle(pyth, NOW, timedelta(minutes=1), Decimal("0.02"))
    assert not blown.ok and blown.codes == ("oracle:confidence:pyth:ETH@base",)
