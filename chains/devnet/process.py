"""Child processes of the devnet: start, identify (pid + cmdline) and stop them gracefully.

``rtrm devnet down`` may run long after ``up``; a recorded pid is only signalled if ``/proc/<pid>/cmdline``
still equals the command we started, so a recycled pid never gets killed by mistake.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from chains.devnet.spec import public_argv


@dataclass(frozen=True)
class Started:
    """A child we started: its Popen handle, argv, and where its output goes."""

    name: str
    proc: subprocess.Popen[bytes]
    argv: tuple[str, ...]
    log_path: Path | None

    @property
    def pid(self) -> int:
        return self.proc.pid


def start_process(
    name: str, argv: Sequence[str], *, log_path: Path | None = None, cwd: Path | None = None
) -> Started:
    """Start ``argv`` in its own session (so a terminal Ctrl-C reaches only us and we stop children in order)."""
    out: int | object
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(log_path, "ab")  # noqa: SIM115 - handed to the child, closed below
        out = fh
    else:
        fh = None
        out = subprocess.DEVNULL
    try:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            start_new_session=True,
        )
    finally:
        if fh is not None:
            fh.close()
    return Started(name, proc, tuple(argv), log_path)


def read_cmdline(pid: int) -> list[str] | None:
    """The argv of a live process, or None when it does not exist (or is a zombie with no cmdline)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    if not raw:
        return None
    return raw.rstrip(b"\0").decode(errors="replace").split("\0")


def is_our_process(pid: int, cmdline: Sequence[str]) -> bool:
    """True when ``pid`` is alive and still runs ``cmdline`` (pid-reuse safe). Recorded command lines have
    URLs reduced to scheme://host (no API keys on disk), so the live one is compared in the same form."""
    live = read_cmdline(pid)
    return live is not None and public_argv(live) == public_argv(cmdline)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return read_cmdline(pid) is not None


def stop_process(started: Started, *, timeout: float = 10.0) -> int | None:
    """SIGTERM (anvil dumps ``--state`` on it), wait, then SIGKILL; returns the exit code."""
    proc = started.proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    return proc.returncode


def signal_recorded(pid: int, cmdline: Sequence[str], *, timeout: float = 10.0) -> bool:
    """Stop a process that is not our child (recorded by an earlier ``up``); False if it was not ours/alive."""
    if not is_our_process(pid, cmdline):
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    if not wait_gone(pid, cmdline, timeout):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return True
        wait_gone(pid, cmdline, 5.0)
    return True


def wait_gone(pid: int, cmdline: Sequence[str], timeout: float) -> bool:
    """Poll until ``pid`` no longer runs ``cmdline``; True when gone."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_our_process(pid, cmdline):
            return True
        time.sleep(0.05)
    return not is_our_process(pid, cmdline)


def port_free(host: str, port: int) -> bool:
    """True when nothing listens on (host, port); probes by binding, like the node would."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS reports free right now (callers must tolerate the tiny race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def write_pid_file(path: Path, pid: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{pid}\n")


def read_pid_file(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() else None
