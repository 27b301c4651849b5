"""`rtrm demo` end to end, as a user runs it: a real devnet (3 anvils + the Solana endpoint), real mosquitto,
real SQLite, the real CLI in a subprocess — shortened to 24 wallets so it fits the default suite.

One run is shared by the checks (module fixture): exit 0 with every outcome issue 8 names; the summary's numbers
equal the store's; the report renders in headless Chromium with every image; the store is closed consistent;
no key material in any artifact. Ctrl-C and same-seed replay are separate (slower) runs.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bots.demo.browser import check_images_in_browser, find_chromium, missing_images, screenshot
from bots.demo.collect import collect, pending_intents
from bots.demo.expect import EXPECTED, missing
from bots.demo.keys import fund_key, keeper_key
from bots.security import scan_artifacts
from chains.devnet.seed import make_wallets
from tests.chains.devnet.test_protocols_deploy import ROOT, needs_artifacts

SEED = 3
WALLETS = 24
RTRM = [sys.executable, "-m", "bots.cli"]


def run_demo(reports: Path, *extra: str, timeout: float = 400) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RTRM_LOG_LEVEL": "WARNING", "COLUMNS": "160"}
    return subprocess.run([*RTRM, "demo", "--seed", str(SEED), "--wallets", str(WALLETS), "--reports-dir",
                           str(reports), *extra], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    reports = tmp_path_factory.mktemp("reports")
    return run_demo(reports), reports


def _outcomes(stdout: str) -> dict[str, int]:
    line = " ".join(stdout.split("outcomes: ", 1)[1].split("\nrun ", 1)[0].split())
    return {label: int(re.search(re.escape(label) + r" (\d+)", line).group(1))  # type: ignore[union-attr]
            for label, _, _ in EXPECTED}


@needs_artifacts
def test_demo_shows_every_outcome_and_the_summary_matches_sqlite(demo: tuple[Any, Path]) -> None:
    proc, reports = demo
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    run_dir = (reports / "latest").resolve()
    assert (reports / "latest").is_symlink() and run_dir.parent == reports.resolve()
    store = run_dir / "rtrm.sqlite"
    assert f"SQLite store: {store}" in " ".join(proc.stdout.split()) or str(store) in proc.stdout
    data = collect(store)
    assert missing(data.actions) == []
    # the printed outcome counts are the store's confirmed actions, by direct SQL
    db = sqlite3.connect(store)
    try:
        printed = _outcomes(proc.stdout)
        for label, bot, kinds in EXPECTED:
            marks = ",".join("?" * len(kinds))
            (n,) = db.execute(f"SELECT COUNT(*) FROM intents WHERE state='confirmed' AND bot=? AND kind IN ({marks})",
                              (bot, *kinds)).fetchone()
            assert printed[label] == n >= 1, label
        per_bot = dict(db.execute("SELECT bot, COUNT(*) FROM intents WHERE bot != 'setup' GROUP BY bot").fetchall())
        ok_bot = dict(db.execute("SELECT bot, COUNT(*) FROM intents WHERE bot != 'setup' AND state='confirmed' "
                                 "GROUP BY bot").fetchall())
        fees = dict(db.execute("SELECT c.chain, SUM(CAST(c.fee_wei AS REAL)) FROM demo_tx_costs c JOIN intents i "
                               "ON i.key = c.intent_key WHERE i.bot != 'setup' GROUP BY c.chain").fetchall())
        (onchain_claims,) = db.execute("SELECT COUNT(*) FROM claims WHERE claim_id LIKE 'base:cover_market:%'"
                                       ).fetchone()
        (foreign,) = db.execute("SELECT COUNT(*) FROM intents WHERE bot='claimer' AND state='reverted'").fetchone()
    finally:
        db.close()
    assert {b.bot: b.actions for b in data.bots} == per_bot
    assert {b.bot: b.succeeded for b in data.bots} == ok_bot
    gas = Counter[str]()
    for b in data.bots:
        gas.update(b.gas_native)
    assert {c: pytest.approx(v / 1e18) for c, v in fees.items()} == dict(gas)
    assert sum(e.claims for e in data.entities) == onchain_claims >= 2  # the fund's claim + the fabricated one
    assert foreign == 0  # the fund never tries to claim on covers it does not hold
    # `rtrm actions --json --store reports/latest/rtrm.sqlite` lists the same journal
    listed = subprocess.run([*RTRM, "actions", "--json", "--limit", "100000", "--store",
                             str(reports / "latest" / "rtrm.sqlite")], cwd=ROOT, capture_output=True, text=True,
                            timeout=60)
    assert listed.returncode == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines() if line.strip()]
    assert len(rows) == sum(per_bot.values()) + sum(1 for r in rows if r["bot"] == "setup")


@needs_artifacts
def test_report_renders_in_chromium_with_every_image(demo: tuple[Any, Path]) -> None:
    proc, reports = demo
    assert proc.returncode == 0, proc.stdout[-2000:]
    page = reports / "latest" / "index.html"
    assert missing_images(page) == []
    assert find_chromium() is not None, "chromium is missing: run `make setup` (it installs Debian's chromium)"
    check = check_images_in_browser(page)
    assert check.total >= 7 and check.broken == []
    shot = screenshot(page, reports / "shot.png", width=1280, height=min(check.page_height, 12000))
    import matplotlib.image as mpimg

    img = mpimg.imread(shot)
    assert img.shape[1] == 1280 and img.shape[0] >= 2000
    assert len({tuple(px) for px in img[::37, ::37, :3].reshape(-1, 3).round(2).tolist()}) > 50  # not blank
    html = page.read_text()
    for tx in re.findall(r'title="(0x[0-9a-f]{64})"', html)[:5]:
        assert len(tx) == 66


@needs_artifacts
def test_store_is_consistent_and_artifacts_hold_no_key(demo: tuple[Any, Path]) -> None:
    proc, reports = demo
    run_dir = (reports / "latest").resolve()
    store = run_dir / "rtrm.sqlite"
    db = sqlite3.connect(store)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("SELECT status FROM demo_runs").fetchone()[0] == "finished"
    finally:
        db.close()
    assert pending_intents(store) == 0
    assert not (run_dir / "rtrm.sqlite-wal").exists() or (run_dir / "rtrm.sqlite-wal").stat().st_size == 0
    keys = [keeper_key(SEED)] + [fund_key(SEED, w.index) for w in make_wallets(WALLETS, SEED)]
    (run_dir / "console.txt").write_text(proc.stdout + proc.stderr)
    assert scan_artifacts([run_dir], keys) == []


def _ports(config: Path) -> list[int]:
    cfg = tomllib.loads(config.read_text())
    return [int(u.rsplit(":", 1)[1]) for c in cfg["chains"].values() for u in c["rpc_urls"]]


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@needs_artifacts
def test_ctrl_c_stops_everything_and_leaves_a_consistent_store(tmp_path: Path) -> None:
    env = {**os.environ, "RTRM_LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen([*RTRM, "demo", "--seed", str(SEED), "--wallets", "12", "--reports-dir", str(tmp_path)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 240
        config = None
        while time.monotonic() < deadline:  # interrupt once the keeper is up and the market is moving
            found = list(tmp_path.glob("*/rtrm.toml"))
            if found and sqlite3.connect(found[0].parent / "rtrm.sqlite").execute(
                    "SELECT COUNT(*) FROM demo_points WHERE series='price'").fetchone()[0] >= 4:
                config = found[0]
                break
            time.sleep(0.5)
        assert config is not None, "the demo never reached the market phase"
        ports = _ports(config)
        assert all(_listening(p) for p in ports)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out[-3000:]
    assert not any(_listening(p) for p in ports)  # every anvil it started is gone
    store = config.parent / "rtrm.sqlite"
    db = sqlite3.connect(store)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("SELECT status FROM demo_runs").fetchone()[0] == "interrupted"
    finally:
        db.close()
    assert (config.parent / "index.html").exists()  # the report of what was recorded


@pytest.mark.slow
@needs_artifacts
def test_same_seed_replays_the_same_actions(tmp_path: Path) -> None:
    """Chain time advances only with blocks and the script (1 s per block), and the demo waits for quiet after
    every step: the same seed gives the same actions (bot, kind, target, outcome) and the same printed outcomes."""
    def run(reports: Path) -> tuple[Counter[tuple[str, str, str, str]], dict[str, int]]:
        proc = run_demo(reports)
        assert proc.returncode == 0, proc.stdout[-2000:]
        db = sqlite3.connect((reports / "latest" / "rtrm.sqlite").resolve())
        try:
            return Counter(db.execute("SELECT bot, kind, target, state FROM intents WHERE bot != 'setup'"
                                      ).fetchall()), _outcomes(proc.stdout)
        finally:
            db.close()

    a, b = run(tmp_path / "a"), run(tmp_path / "b")
    assert a[1] == b[1]
    assert a[0] == b[0]
