"""`rtrm devnet ...` through the CLI: bad input is one line + exit 2; detach/status/down; --state restarts."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bots.cli import build_parser, main
from chains.devnet.manifest import load_manifest
from chains.devnet.process import free_port, is_our_process
from chains.toolchain import project_root
from tests.conftest import eth_balance, rpc, send_eth

RTRM = [sys.executable, "-m", "bots.cli"]


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*RTRM, *args], capture_output=True, text=True, cwd=project_root(), env=env, timeout=timeout
    )


def one_line_error(capsys: pytest.CaptureFixture[str], code: int, needle: str) -> None:
    out = capsys.readouterr()
    lines = out.err.strip().splitlines()
    assert code == 2, out
    assert len(lines) == 1, lines
    assert lines[0].startswith("rtrm") and needle in lines[0], lines[0]
    assert "Traceback" not in out.err


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--chains", "polygon"], "unknown chain 'polygon'; valid chains: ethereum, arbitrum, base, solana"),
        (["--port", "ethereum=http"], "--port 'ethereum=http': port must be an integer"),
        (["--port", "9000"], "--port '9000' is malformed; expected CHAIN=PORT"),
        (["--fork", "ethereum=not-a-url"], "is not an http(s)/ws(s) URL"),
        (["--fork", "ethereum"], "--fork 'ethereum' is malformed; expected CHAIN=URL[@BLOCK]"),
        (["--block-time", "base=soon"], "'soon' is not a number of seconds"),
        (["--frobnicate"], "unrecognized arguments: --frobnicate"),
    ],
)
def test_bad_input_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], needle: str
) -> None:
    code = main(["devnet", "up", "--no-solana", "--dir", str(tmp_path), *args])
    one_line_error(capsys, code, needle)


def test_busy_port_names_chain_and_override(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = main(["devnet", "up", "--chains", "base", "--port", f"base={port}", "--dir", str(tmp_path)])
    one_line_error(
        capsys,
        code,
        f"port {port} for chain base is busy; stop what uses it or pick another with --port base=N",
    )


def test_missing_binary_says_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RTRM_ANVIL", "/nonexistent/anvil")
    code = main(
        ["devnet", "up", "--chains", "ethereum", "--port", f"ethereum={free_port()}", "--dir", str(tmp_path)]
    )
    one_line_error(capsys, code, "RTRM_ANVIL=/nonexistent/anvil is not an executable file")


def test_down_and_status_without_devnet_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["devnet", "down", "--dir", str(tmp_path)]) == 1
    assert f"no devnet running in {tmp_path}" in capsys.readouterr().err
    assert main(["devnet", "status", "--dir", str(tmp_path)]) == 1
    assert "no devnet manifest at" in capsys.readouterr().err


def test_real_entry_point_has_no_traceback(tmp_path: Path) -> None:
    proc = run_cli("devnet", "up", "--chains", "ethereum,optimism", "--dir", str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "rtrm: error: --chains: unknown chain 'optimism'; valid chains: ethereum, arbitrum, base, solana"
    ]


def test_detach_status_down_and_state_survives_restart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """up --detach --state → tx → status → down (SIGTERM) → up again: the tx's effect and contracts remain."""
    d, state, port = str(tmp_path / "devnet"), str(tmp_path / "state"), free_port()
    up = [
        "devnet",
        "up",
        "--detach",
        "--chains",
        "ethereum",
        "--port",
        f"ethereum={port}",
        "--dir",
        d,
        "--state",
        state,
        "--no-protocols",
    ]
    bob = "0x0000000000000000000000000000000000000B0B"
    first = run_cli(*up)
    try:
        assert first.returncode == 0, first.stderr
        assert "devnet ready in" in first.stdout and "detached (pid" in first.stdout
        m1 = load_manifest(d)
        url = m1.chain("ethereum").rpc_url
        send_eth(url, bob, 777)
        status = run_cli("devnet", "status", "--dir", d, "--json")
        assert status.returncode == 0, status.stderr
        doc = json.loads(status.stdout)
        (row,) = doc["chains"]
        assert (doc["status"], row["name"], row["chain_id"], row["healthy"]) == (
            "running",
            "ethereum",
            1,
            True,
        )
        assert row["head"] >= 5  # Multicall3 + 3 tokens + our transfer
        assert main(up) == 2  # in-process: refused before anything starts
        assert "a devnet is already running from" in capsys.readouterr().err
    finally:
        down = run_cli("devnet", "down", "--dir", d)
    assert down.returncode == 0 and "stopped devnet in" in down.stdout, down.stderr
    assert not any(is_our_process(p.pid, p.cmdline) for p in m1.processes.values())
    assert (tmp_path / "state" / "ethereum.json").stat().st_size > 0
    assert main(["devnet", "down", "--dir", d]) == 1  # nothing left: consistent non-zero

    second = run_cli(*up)
    try:
        assert second.returncode == 0, second.stderr
        m2 = load_manifest(d)
        assert eth_balance(url, bob) == 777
        assert m2.chain("ethereum").contracts == m1.chain("ethereum").contracts  # reused, not redeployed
        sender = rpc(url, "eth_accounts")[0]
        assert int(rpc(url, "eth_getTransactionCount", [sender, "latest"]), 16) == 5
    finally:
        assert run_cli("devnet", "down", "--dir", d).returncode == 0
    assert not any(is_our_process(p.pid, p.cmdline) for p in m2.processes.values())


def test_devnet_smoke_check_brings_every_chain_up_and_down() -> None:
    env = {**os.environ, "RTRM_LOG_LEVEL": "WARNING"}
    proc = subprocess.run([sys.executable, "-m", "chains.devnet.smoke"], capture_output=True, text=True,
                          cwd=project_root(), env=env, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    for expected in ("chain_id=1 ", "chain_id=42161", "chain_id=8453", "Multicall3", "USDC", "devnet down"):
        assert expected in out, out
    assert out.count("health: ok") == out.count("head=")


def _start_foreground(d: str, port: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [*RTRM, "devnet", "up", "--chains", "base", "--port", f"base={port}", "--dir", d, "--no-deploy"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=project_root(),
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if "devnet ready in" in line:
            return proc
    proc.kill()
    raise AssertionError(f"no ready line; stderr: {proc.stderr.read() if proc.stderr else ''}")


def test_foreground_ctrl_c_stops_children_and_marks_manifest(tmp_path: Path) -> None:
    d = str(tmp_path / "devnet")
    proc = _start_foreground(d, free_port())
    try:
        node = load_manifest(d).processes["base"]
        assert is_our_process(node.pid, node.cmdline)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not is_our_process(node.pid, node.cmdline)
    assert load_manifest(d).status == "stopped"


def test_down_cleans_up_after_a_killed_supervisor(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Children run in their own session: if `up` is SIGKILLed, `down` still finds them by recorded pid+cmdline."""
    d = str(tmp_path / "devnet")
    proc = _start_foreground(d, free_port())
    node = load_manifest(d).processes["base"]
    try:
        proc.kill()
        proc.wait(timeout=10)
        assert is_our_process(node.pid, node.cmdline)  # orphaned anvil still running
        assert main(["devnet", "up", "--chains", "base", "--port", f"base={free_port()}", "--dir", d]) == 2
        assert "leftover devnet processes from" in capsys.readouterr().err
        down = run_cli("devnet", "down", "--dir", d)
        assert down.returncode == 0 and "base" in down.stdout, down.stderr
    finally:
        if is_our_process(node.pid, node.cmdline):
            os.kill(node.pid, signal.SIGKILL)
    assert not is_our_process(node.pid, node.cmdline)
    assert load_manifest(d).status == "stopped"


def test_ctrl_c_while_starting_stops_what_was_started(tmp_path: Path) -> None:
    """A fork URL that accepts connections but never answers keeps `base` from becoming ready; SIGINT then
    cancels the start and every process already started is stopped."""
    d = str(tmp_path / "devnet")
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        fork = f"base=http://127.0.0.1:{silent.getsockname()[1]}"
        cmd = [
            "devnet",
            "up",
            "--chains",
            "ethereum,base",
            "--fork",
            fork,
            "--dir",
            d,
            "--ready-timeout",
            "120",
        ]
        cmd += ["--port", f"ethereum={free_port()}", "--port", f"base={free_port()}"]
        proc = subprocess.Popen([*RTRM, *cmd], stderr=subprocess.PIPE, text=True, cwd=project_root())
        try:
            for _ in range(600):
                try:
                    m = load_manifest(d)
                    if m.status == "starting" and len(m.processes) == 3:
                        break
                except Exception:  # noqa: BLE001 - not written yet
                    pass
                time.sleep(0.05)
            else:
                raise AssertionError("devnet never reached 'starting'")
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=60) == 130
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.stderr is not None and "devnet start interrupted; all nodes stopped" in proc.stderr.read()
    assert not any(is_our_process(p.pid, p.cmdline) for p in m.processes.values())


def test_solana_missing_is_skipped_by_default_and_an_error_when_asked_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import chains.devnet.nodes as nodes
    from chains.devnet.commands import spec_from_args

    monkeypatch.setattr(nodes, "project_root", lambda: tmp_path)  # no chains/devnet/solana/__main__.py there
    code = main(["devnet", "up", "--chains", "solana", "--dir", str(tmp_path)])
    one_line_error(capsys, code, "cannot start solana: chains.devnet.solana is not available yet")

    args = build_parser().parse_args(["devnet", "up", "--dir", str(tmp_path)])
    spec = spec_from_args(args)
    assert [n.name for n in spec.nodes] == ["ethereum", "arbitrum", "base"]
