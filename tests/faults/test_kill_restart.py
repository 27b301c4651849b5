"""`rtrm run` SIGKILLed at a seeded random moment while it liquidates, then restarted on the same SQLite.

The real command line in a child process (key from the environment, addresses from the devnet manifest), a
devnet where a crash made every fragile vault liquidatable. The kill lands somewhere between the journal being
opened and the last liquidation — before an intent is written, between journal row and signature, between
signature and broadcast, while waiting for confirmation. After the restart settles: no intent is left in a
non-final state, every on-chain liquidation maps (by transaction hash) to exactly one journal intent and no
idempotency key has more than one, and every target was liquidated exactly once overall. Seeds 0 and 1 run in
the default suite; 2..9 are marked `faults` (`make test-faults`). The restart → journal resolved time is printed.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from bots.journal import FINAL, Intent, Journal
from bots.store import QuoteRow, Store
from chains.devnet.manifest import write_manifest
from chains.devnet.protocols import CHAIN_IDS
from tests.bots.test_run_devnet import CLI_CONFIG, KEEPER_ENV, KEEPER_KEY, liquidation_logs
from tests.chains.devnet.test_protocols_deploy import ROOT, needs_artifacts
from tests.faults._keeper import KEEPER, report_time, vault_world, wait_until

SEEDS = [pytest.param(0, marks=pytest.mark.faults), 1, *(pytest.param(s, marks=pytest.mark.faults) for s in range(2, 10))]


async def start_keeper(cfg: Path) -> asyncio.subprocess.Process:
    env = {**os.environ, KEEPER_ENV: KEEPER_KEY}
    return await asyncio.create_subprocess_exec(sys.executable, "-m", "bots.cli", "run", "--config", str(cfg),
                                                "--no-bus", env=env, cwd=str(ROOT),
                                                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)


async def journal_view(db: Path) -> tuple[list[Intent], dict[str, str]]:
    """(every intent, tx hash → intent key of every attempt the keeper ever signed), read by a second process's
    view of the same SQLite file (the keeper may be running)."""
    journal = await Journal(str(db)).open()
    try:
        store = await Store(engine=journal.engine).open()
        rows = list(await store.actions(1000))
        by_hash: dict[str, str] = {}
        for r in rows:
            assert r.id is not None
            for a in await journal.attempts(r.id):
                by_hash[a.tx_hash.lower()] = r.key
        return rows, by_hash
    finally:
        await journal.close()


async def quote_rows(db: Path) -> int:
    store = await Store(str(db)).open()
    try:
        return await store.count(QuoteRow)
    finally:
        await store.close()


@needs_artifacts
@pytest.mark.parametrize("seed", SEEDS)
async def test_sigkill_at_a_random_point_then_restart_acts_once(anvil_factory: Any, tmp_path: Path,
                                                               seed: int) -> None:
    rng = random.Random(seed)
    async with vault_world(anvil_factory, tmp_path) as world:
        await world.drv.push(world.liquidating)
        await world.drv.advance_time(1800)  # half the auction: every target is worth taking at once
        write_manifest(world.dn.manifest, tmp_path)
        cfg = tmp_path / "rtrm.toml"
        db = tmp_path / "keeper.db"
        cfg.write_text(CLI_CONFIG.format(manifest=tmp_path, rpc=world.dn.manifest.chains["ethereum"].rpc_url,
                                         chain_id=CHAIN_IDS["ethereum"], env=KEEPER_ENV, db=db))
        loop = asyncio.get_running_loop()

        # run 1: killed without warning once the journal exists, after a seeded delay
        proc = await start_keeper(cfg)
        try:
            async def journal_open() -> bool:
                assert proc.returncode is None, "rtrm run exited early"
                return db.exists()

            await wait_until(journal_open, 60, "the keeper's journal file")
            delay = rng.uniform(0.0, 2.0)  # set-up and every liquidation happen in this window
            await asyncio.sleep(delay)
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        before, _ = await journal_view(db)
        states_at_kill = sorted(f"{r.kind}:{r.state}" for r in before)
        print(f"[faults] seed {seed}: killed {delay:.2f}s after the journal opened; journal then: {states_at_kill}")

        # run 2: same SQLite; it must resolve what run 1 left and finish the job
        quotes_before = await quote_rows(db)
        proc = await start_keeper(cfg)
        restarted = loop.time()
        try:
            async def resolved() -> bool:
                assert proc.returncode is None, "rtrm run (restart) exited early"
                rows, _ = await journal_view(db)
                done = [r for r in rows if r.bot == "liquidator" and r.state == "confirmed"]
                # ... and judged by the restarted keeper itself (it has read the market: a new quote row)
                return len(done) >= len(world.targets) and all(r.state in FINAL for r in rows) \
                    and await quote_rows(db) > quotes_before

            await wait_until(resolved, 90, "every target confirmed and the journal resolved", poll=0.25)
            report_time(f"kill/restart seed {seed}", "restart → journal resolved", loop.time() - restarted)
            await asyncio.sleep(2.0)  # a few more ticks: nothing may go out twice
            proc.send_signal(signal.SIGINT)
            _, err = await asyncio.wait_for(proc.communicate(), 30)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        assert proc.returncode == 0, err.decode()[-2000:]
        assert KEEPER_KEY[2:] not in err.decode()

        rows, by_hash = await journal_view(db)
        assert [r.key for r in rows if r.state not in FINAL] == []
        logs = await liquidation_logs(world.w3, world.vo.address)
        per_key: dict[str, int] = {}
        for log in logs:
            receipt = await world.w3.eth.get_transaction_receipt(log["transactionHash"])
            assert receipt["from"] == KEEPER
            key = by_hash.get("0x" + bytes(log["transactionHash"]).hex())
            assert key is not None, f"liquidation tx {log['transactionHash'].hex()} has no journal attempt"
            per_key[key] = per_key.get(key, 0) + 1
        assert all(n == 1 for n in per_key.values()), per_key  # ≤ 1 on-chain liquidation per idempotency key
        per_vault = sorted(int(lg["topics"][1].hex(), 16) for lg in logs)
        assert per_vault == sorted(t.id for t in world.targets)  # every target exactly once overall
        liq = [r for r in rows if r.bot == "liquidator"]
        assert len(liq) == len(world.targets) and all(r.state == "confirmed" for r in liq)
