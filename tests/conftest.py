"""Shared fixtures: free loopback ports and real anvil processes that are always stopped.

Usage::

    def test_x(anvil_factory):
        node = anvil_factory(chain_id=42161, args=("--block-time", "1"))
        ...  # node.url, node.ws_url, node.port, node.chain_id, node.proc

``anvil`` is one default node per test; ``session_anvil_factory`` shares nodes across a session (use it only
when tests cannot disturb each other, e.g. with evm_snapshot/evm_revert).
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from chains.devnet.process import free_port as _free_port
from chains.toolchain import find_tool

ANVIL_READY_TIMEOUT = 15.0


@dataclass(frozen=True)
class AnvilNode:
    url: str
    ws_url: str
    port: int
    chain_id: int
    proc: subprocess.Popen[bytes]


AnvilFactory = Callable[..., AnvilNode]


def rpc(url: str, method: str, params: list[Any] | None = None) -> Any:
    """Plain JSON-RPC call (no web3 needed); raises AssertionError on an error reply."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        reply = json.loads(resp.read())
    assert "error" not in reply, f"{method}: {reply['error']}" if "error" in reply else ""
    return reply["result"]


def send_eth(url: str, to: str, wei: int) -> int:
    """Send from anvil's first unlocked dev account and wait for the receipt; returns its block number."""
    sender = rpc(url, "eth_accounts")[0]
    tx = rpc(url, "eth_sendTransaction", [{"from": sender, "to": to, "value": hex(wei)}])
    for _ in range(500):  # receipts appear asynchronously even with automine
        receipt = rpc(url, "eth_getTransactionReceipt", [tx])
        if receipt:
            return int(receipt["blockNumber"], 16)
        time.sleep(0.02)
    raise AssertionError(f"tx {tx} not mined")


def eth_balance(url: str, who: str, block: str = "latest") -> int:
    return int(rpc(url, "eth_getBalance", [who, block]), 16)


def start_anvil(*, chain_id: int = 31337, args: Sequence[str] = (), attempts: int = 3) -> AnvilNode:
    """Start anvil on a free port and wait for eth_chainId; retries on a lost port race. Caller must stop it."""
    anvil = str(find_tool("anvil"))
    for _ in range(attempts):
        port = _free_port()
        cmd = [
            anvil,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--chain-id",
            str(chain_id),
            "--silent",
            *args,
        ]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + ANVIL_READY_TIMEOUT
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                rpc(url, "eth_chainId")
                return AnvilNode(url, f"ws://127.0.0.1:{port}", port, chain_id, proc)
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.02)
        stop_anvil(proc)
    raise RuntimeError(f"anvil did not start after {attempts} attempts (args {list(args)})")


def stop_anvil(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM (lets --state/--dump-state write), then SIGKILL after 5 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _factory() -> Iterator[AnvilFactory]:
    started: list[AnvilNode] = []

    def make(*, chain_id: int = 31337, args: Sequence[str] = ()) -> AnvilNode:
        node = start_anvil(chain_id=chain_id, args=args)
        started.append(node)
        return node

    try:
        yield make
    finally:
        for node in started:
            stop_anvil(node.proc)


@pytest.fixture
def anvil_factory() -> Iterator[AnvilFactory]:
    """Start any number of anvils in a test; all are stopped at teardown (also on failure)."""
    yield from _factory()


@pytest.fixture(scope="session")
def session_anvil_factory() -> Iterator[AnvilFactory]:
    yield from _factory()


@pytest.fixture
def anvil(anvil_factory: AnvilFactory) -> AnvilNode:
    """One default anvil (chain id 31337, automine)."""
    return anvil_factory()


@pytest.fixture
def free_port() -> Callable[[], int]:
    """A callable returning a currently free loopback port."""
    return _free_port
