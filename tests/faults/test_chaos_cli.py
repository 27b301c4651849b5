"""`rtrm chaos`: a bad schedule is one `rtrm: error:` line naming the key (exit 2, nothing started); a real run on
the devnet keeps the keeper going through an ethereum outage (alerts while down, liquidations after) and prints a
summary of the faults injected."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bots.cli import main
from bots.store import Store
from chains.devnet.driver import MarketDriver
from chains.devnet.protocols import CHAIN_IDS
from tests.chains.devnet.test_protocols_deploy import OUT, ROOT, needs_artifacts
from tests.faults._devnet import KEEPER_ENV, KEEPER_KEY, VAULTS_ONLY, fault_devnet

CONFIG = """
[chains.ethereum]
rpc_urls = ["{rpc}"]
chain_id = {chain_id}
""" + VAULTS_ONLY  # the shared one-chain liquidator config of the fault scenarios


def write_config(tmp_path: Path, rpc: str = "http://127.0.0.1:9", vo: str = "0x" + "11" * 20) -> Path:
    cfg = tmp_path / "rtrm.toml"
    cfg.write_text(CONFIG.format(rpc=rpc, chain_id=CHAIN_IDS["ethereum"], env=KEEPER_ENV, vo=vo,
                                 db=tmp_path / "chaos.db"))
    return cfg


@pytest.mark.parametrize(("schedule", "names"), [
    ('[[fault]]\nchain = "ethereum"\nkind = "earthquake"\n', "fault[0].kind"),
    ('[[fault]]\nchain = "arbitrum"\nkind = "drop"\n', "fault[0].chain"),
    ('[[fault]]\nchain = "ethereum"\nkind = "outage"\nat_s = 3\n', "fault[0].duration_s"),
    ('[[fault]]\nchain = "ethereum"\nkind = "drop"\nprobablity = 0.2\n', "fault[0].probablity"),
    ("[[fault]\n", "not valid TOML"),
])
def test_bad_schedule_is_one_error_line_naming_the_key(tmp_path: Path, capsys: Any, schedule: str,
                                                       names: str) -> None:
    faults = tmp_path / "faults.toml"
    faults.write_text(schedule)
    assert main(["chaos", "--config", str(write_config(tmp_path)), "--faults", str(faults)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rtrm: error:") and names in err[0], err
    assert not (tmp_path / "chaos.db").exists()  # nothing was started


def test_missing_schedule_file_and_bad_duration(tmp_path: Path, capsys: Any) -> None:
    cfg = str(write_config(tmp_path))
    assert main(["chaos", "--config", cfg, "--faults", str(tmp_path / "nope.toml")]) == 2
    assert "no such schedule file" in capsys.readouterr().err
    ok = tmp_path / "ok.toml"
    ok.write_text('[[fault]]\nchain = "ethereum"\nkind = "delay"\ndelay_ms = 50\n')
    assert main(["chaos", "--config", cfg, "--faults", str(ok), "--duration", "0"]) == 2
    assert "--duration" in capsys.readouterr().err


@pytest.mark.faults
@needs_artifacts
async def test_chaos_run_keeps_the_keeper_going_through_an_outage(anvil_factory: Any, tmp_path: Path) -> None:
    async with fault_devnet(anvil_factory, tmp_path) as fd:
        vaults = fd.targets("vault")
        vo = fd.dn.c("ethereum")["VaultOptions"].address
        cfg = write_config(tmp_path, rpc=fd.upstream("ethereum"), vo=vo)
        cfg_text = cfg.read_text()
        faults = tmp_path / "faults.toml"
        faults.write_text('[[fault]]\nchain = "ethereum"\nkind = "outage"\nat_s = 6\nduration_s = 8\n'
                          '[[fault]]\nchain = "ethereum"\nkind = "delay"\ndelay_ms = 20\nprobability = 0.3\n')
        db = tmp_path / "chaos.db"
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bots.cli", "chaos", "--config", str(cfg), "--faults", str(faults), "--seed", "3",
            "--no-bus", env={**os.environ, KEEPER_ENV: KEEPER_KEY}, cwd=str(ROOT),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out_lines: list[str] = []
        try:
            assert proc.stdout is not None
            deadline = time.monotonic() + 120

            async def line_with(text: str) -> str:
                while True:
                    if time.monotonic() >= deadline:  # a safety timeout, not a performance bound
                        pytest.fail(f"no {text!r} in {out_lines}")
                    raw = await asyncio.wait_for(proc.stdout.readline(), 120)  # type: ignore[union-attr]
                    assert raw, f"rtrm chaos exited early: {out_lines}"
                    out_lines.append(raw.decode().rstrip())
                    if text in out_lines[-1]:
                        return out_lines[-1]

            await line_with("start ethereum outage")
            outage_start = datetime.now(UTC)
            async with MarketDriver(fd.dn.manifest, root=ROOT, out_dir=OUT) as drv:  # the crash, unseen
                await drv.advance_time(60)
                await drv.make_liquidatable(vaults)
                await drv.advance_time(1800)
            await line_with("end   ethereum outage")
            outage_end = datetime.now(UTC)
            done = 0
            while done < len(vaults):
                if time.monotonic() >= deadline or proc.returncode is not None:  # safety timeout / early exit
                    pytest.fail("no liquidations after the outage")
                await asyncio.sleep(0.5)
                store = await Store(str(db)).open()
                try:
                    rows = [r for r in await store.actions(100, bot="liquidator") if r.state == "confirmed"]
                    done = len(rows)
                finally:
                    await store.close()
            proc.send_signal(signal.SIGINT)
            rest, err = await asyncio.wait_for(proc.communicate(), 60)
            out_lines += rest.decode().splitlines()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        assert proc.returncode == 0, err.decode()[-2000:]
        assert KEEPER_KEY[2:] not in err.decode() + "\n".join(out_lines)
        assert cfg.read_text() == cfg_text  # the config file was never rewritten
        store = await Store(str(db)).open()
        try:
            alerts = list(await store.alerts(500))
            actions = [r for r in await store.actions(100, bot="liquidator")]
        finally:
            await store.close()

        def naive(d: datetime) -> datetime:
            return d.replace(tzinfo=None)

        down = [a for a in alerts if naive(outage_start) <= naive(a.at) <= naive(outage_end)]
        assert down, [(a.at, a.source, a.message) for a in alerts]
        assert all(naive(r.created_at) >= naive(outage_start) for r in actions)
        assert {r.target.rsplit("/", 1)[1] for r in actions} >= {str(t.id) for t in vaults}
        summary = "\n".join(out_lines[out_lines.index(next(x for x in out_lines if "chaos summary" in x)):])
        assert "ethereum:" in summary and "outage=1" in summary and "delay=" in summary
        assert "liquidator:confirmed=" in summary
