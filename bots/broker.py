"""A loopback MQTT broker for the zero-configuration run: mosquitto started as a child process.

Why a child process and not a Python broker: amqtt pins websockets 15 while solana-py needs >= 16, so it cannot
share the venv; mosquitto is small, fast and on most Linux machines. With no broker available the engine runs
with the bus disabled and says so once, clearly.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from loguru import logger

from chains.devnet.process import free_port

MOSQUITTO_FALLBACKS = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto", "/opt/homebrew/sbin/mosquitto")


class NoBrokerAvailable(RuntimeError):
    """No `[mqtt] url` was configured and no mosquitto binary was found to start one."""


def find_mosquitto() -> str | None:
    found = shutil.which("mosquitto")
    if found:
        return found
    return next((p for p in MOSQUITTO_FALLBACKS if Path(p).is_file()), None)


def broker_config(port: int) -> str:
    """Loopback only, anonymous (nothing leaves the machine), no persistence (the store is the record)."""
    return (f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            "log_dest stderr\nlog_type error\nlog_type warning\n")


def _wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
            raise NoBrokerAvailable(f"mosquitto exited with code {proc.returncode} on port {port}: {err[:300]}")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    proc.terminate()
    proc.wait(5)
    raise NoBrokerAvailable(f"mosquitto did not listen on 127.0.0.1:{port} within {timeout}s")


@dataclass
class LocalBroker:
    """A running mosquitto child; `stop()` always terminates it (call from finally / fixtures)."""

    port: int
    proc: subprocess.Popen[bytes]
    workdir: Path
    binary: str
    _tmp: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)
    host: str = "127.0.0.1"

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stderr:
            self.proc.stderr.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def restart(self, timeout: float = 5.0) -> None:
        """Start again on the same port (tests of the bus's reconnect path)."""
        self.stop_process_only()
        self.proc = _spawn(self.binary, self.workdir / "mosquitto.conf")
        _wait_listening(self.port, self.proc, timeout)

    def stop_process_only(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)
        if self.proc.stderr:
            self.proc.stderr.close()


def _spawn(binary: str, conf: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def start_mosquitto(port: int | None = None, workdir: Path | None = None, timeout: float = 5.0) -> LocalBroker:
    """Start mosquitto on 127.0.0.1:`port` (a free port when None); raises NoBrokerAvailable when impossible."""
    binary = find_mosquitto()
    if binary is None:
        raise NoBrokerAvailable("no [mqtt] url configured and mosquitto is not installed "
                                "(apt-get install mosquitto); running with the MQTT bus disabled")
    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="rtrm-mqtt-")
        workdir = Path(tmp.name)
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(broker_config(port))
    proc = _spawn(binary, conf)
    try:
        _wait_listening(port, proc, timeout)
    except BaseException:
        if tmp is not None:
            tmp.cleanup()
        raise
    logger.info("started mosquitto on 127.0.0.1:{} (pid {})", port, proc.pid)
    return LocalBroker(port, proc, workdir, binary, tmp)


def resolve_broker(url: str | None, workdir: Path | None = None) -> tuple[str | None, LocalBroker | None, str]:
    """The broker URL to use: the configured one, else a started loopback mosquitto, else None + why."""
    if url:
        return url, None, f"using configured broker {url}"
    try:
        broker = start_mosquitto(workdir=workdir)
    except NoBrokerAvailable as exc:
        return None, None, str(exc)
    return broker.url, broker, f"started loopback broker {broker.url}"
