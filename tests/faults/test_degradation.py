"""Degraded infrastructure under a keeper that must keep liquidating (real devnet, real lanes, real SQLite):

(a) the MQTT broker (a real mosquitto child) is killed mid-run and restarted: liquidations happen while it is
    down, the bus buffers, the buffer flushes after the restart, and a `degraded:bus` alert is recorded;
(b) another process holds an EXCLUSIVE transaction on the keeper's SQLite file for 5 s while a crash makes
    vaults liquidatable: nothing is sent while the journal cannot be written (no action without its journal
    row), everything decided is journaled and sent once the lock goes, a `degraded:store` alert is recorded;
(c) the disk under the JSON log file is full — a real 64 KiB tmpfs filled to the brim (we run as root; without
    the mount the test fails, it does not simulate): the keeper keeps acting and reports `log degraded` once,
    then `log recovered` when space comes back.
Recovery times are printed (`-s`), never asserted.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bots.broker import find_mosquitto, start_mosquitto
from bots.bus import decode, subscribe
from bots.logging import configure_logging
from bots.runner import ChainClock, Runtime
from tests.bots.test_run_devnet import KEEPER_ENV, KEEPER_KEY, config
from tests.chains.devnet.test_protocols_deploy import needs_artifacts
from tests.faults._keeper import (
    KEEPER,
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


def keeper(world: VaultWorld, db: Path, mqtt: str | None = None) -> Runtime:
    rpc = world.dn.manifest.chains["ethereum"].rpc_url
    return Runtime(config(rpc, world.vo.address, db, dry=False, mqtt=mqtt), environ=ENV, use_bus=mqtt is not None,
                   clock=ChainClock())


async def crash(world: VaultWorld) -> None:
    """The crash, and half an auction later: every fragile vault is liquidatable and worth taking now."""
    await world.drv.push(world.liquidating)
    await world.drv.advance_time(1800)


async def each_liquidated_once(world: VaultWorld, rt: Runtime) -> None:
    assert await vault_liquidations(world) == {t.id: 1 for t in world.targets}
    mine = [r for r in await rows(rt)]
    assert len(mine) == len(world.targets) and all(r.state == "confirmed" for r in mine)


@needs_artifacts
@pytest.mark.faults
async def test_broker_killed_and_restarted_keeper_acts_and_bus_flushes(anvil_factory: Any, tmp_path: Path) -> None:
    if find_mosquitto() is None:
        pytest.fail("mosquitto is not installed: this scenario needs the real broker")
    broker = start_mosquitto(workdir=tmp_path / "mqtt")
    try:
        async with vault_world(anvil_factory, tmp_path) as world, \
                running(keeper(world, tmp_path / "bus.db", mqtt=broker.url)) as rt:
            bus = rt.bus
            assert bus is not None
            await wait_until(lambda: _true(bus.connected), 30, "the bus connected")
            await ticks(rt, 2)
            broker.proc.kill()  # SIGKILL: no goodbye to the clients
            broker.proc.wait(5)
            await wait_until(lambda: _true(not bus.connected), 10, "the bus noticing the broker is gone (heartbeat)")
            await crash(world)
            await wait_until(lambda: all_confirmed(rt, len(world.targets)), 60, "liquidations with no broker", rt=rt)
            assert not bus.connected and bus.stats().buffered >= len(world.targets)  # the actions wait in the buffer
            await wait_until(lambda: _has(rt, "degraded:bus", "bus degraded"), 10, "the bus degradation alert")

            got: list[tuple[str, dict[str, Any]]] = []
            ready = asyncio.Event()

            async def listen() -> None:
                while True:  # the broker is coming back: connect as soon as it listens
                    try:
                        async with subscribe(broker.url, ["rtrm/actions/#", "rtrm/alerts"]) as client:
                            ready.set()
                            async for m in client.messages:
                                got.append((str(m.topic), decode(m)))
                    except Exception:
                        await asyncio.sleep(0.02)

            loop = asyncio.get_running_loop()
            task = asyncio.create_task(listen())
            try:
                restarted = loop.time()
                broker.restart()
                await asyncio.wait_for(ready.wait(), 10)
                await wait_until(lambda: _true(bus.connected and bus.stats().buffered == 0), 30, "the buffer flushed")
                report_time("mqtt broker killed", "broker restart → buffer flushed", loop.time() - restarted)
                await wait_until(lambda: _has(rt, "degraded:bus", "bus recovered"), 10, "the bus recovery alert")
                keys = {r.key for r in await rows(rt)}

                async def actions_arrived() -> bool:
                    return {m["key"] for t, m in got if t == "rtrm/actions/liquidator"} >= keys

                await wait_until(actions_arrived, 10, "the buffered actions on the broker")
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await each_liquidated_once(world, rt)
            assert len([a for a in await alerts(rt, "degraded:bus") if "degraded" in a.message]) == 1
    finally:
        broker.stop()


LOCKER = """
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
c.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
c.execute("COMMIT")
print("released", flush=True)
"""


@needs_artifacts
@pytest.mark.faults
async def test_sqlite_locked_for_5s_nothing_sent_without_journal_then_all_once(anvil_factory: Any,
                                                                                tmp_path: Path) -> None:
    db = tmp_path / "locked.db"
    async with vault_world(anvil_factory, tmp_path) as world, running(keeper(world, db)) as rt:
        await ticks(rt, 3)  # set-up transactions (allowance) done, the store is warm
        nonce = await world.w3.eth.get_transaction_count(KEEPER)
        locker = subprocess.Popen([sys.executable, "-c", LOCKER, str(db), "5"], stdout=subprocess.PIPE, text=True)
        loop = asyncio.get_running_loop()
        try:
            assert locker.stdout is not None
            assert (await asyncio.to_thread(locker.stdout.readline)).strip() == "locked"
            locked_at = loop.time()
            await crash(world)
            while locker.poll() is None:  # while the file is locked: not one transaction from the keeper
                assert await world.w3.eth.get_transaction_count(KEEPER) == nonce
                await asyncio.sleep(0.1)
            released = loop.time()
            assert locker.returncode == 0 and released - locked_at >= 5
        finally:
            if locker.poll() is None:
                locker.kill()
            locker.wait(10)

        async def first_sent() -> bool:
            return await world.w3.eth.get_transaction_count(KEEPER) > nonce

        await wait_until(first_sent, 30, "an action once the lock is gone", rt=rt)
        report_time("sqlite locked 5 s", "lock released → first action sent", loop.time() - released)
        await wait_until(lambda: all_confirmed(rt, len(world.targets)), 60, "every target confirmed", rt=rt)
        report_time("sqlite locked 5 s", "lock released → every target confirmed", loop.time() - released)
        await ticks(rt, 5)
        await each_liquidated_once(world, rt)
        degraded = [a for a in await alerts(rt, "degraded:store") if "store degraded" in a.message]
        assert len(degraded) == 1 and "waited" in degraded[0].message


@needs_artifacts
async def test_log_disk_full_keeper_acts_and_reports_once(anvil_factory: Any, tmp_path: Path) -> None:
    mount = tmp_path / "logs"
    mount.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    assert proc.returncode == 0, f"cannot mount a 64 KiB tmpfs (needs root): {proc.stderr.strip()}"
    try:
        filler = mount / "filler"
        with contextlib.suppress(OSError), filler.open("wb") as f:
            while True:  # fill the disk to the last byte
                f.write(b"\0" * 4096)
                f.flush()
        configure_logging(level="ERROR", json_path=mount / "keeper.jsonl", json_level="DEBUG")
        async with vault_world(anvil_factory, tmp_path) as world, running(keeper(world, tmp_path / "log.db")) as rt:
            await crash(world)
            await wait_until(lambda: all_confirmed(rt, len(world.targets)), 60, "liquidations on a full log disk",
                             rt=rt)
            await wait_until(lambda: _has(rt, "degraded:log", "log degraded"), 10, "the log degradation alert")
            await ticks(rt, 5)
            (alert,) = [a for a in await alerts(rt, "degraded:log") if "log degraded" in a.message]
            assert "No space left on device" in alert.message
            loop = asyncio.get_running_loop()
            freed = loop.time()
            filler.unlink()
            await wait_until(lambda: _has(rt, "degraded:log", "log recovered"), 10, "the log recovery alert")
            report_time("log disk full", "space freed → log sink recovered", loop.time() - freed)
            await each_liquidated_once(world, rt)
            assert (mount / "keeper.jsonl").stat().st_size > 0  # writing resumed
    finally:
        configure_logging(level="WARNING")
        subprocess.run(["umount", str(mount)], check=False)


async def _true(value: bool) -> bool:
    return value


async def _has(rt: Runtime, source: str, text: str) -> bool:
    return any(text in a.message for a in await alerts(rt, source))
