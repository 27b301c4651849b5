"""Health verdicts for `rtrm devnet status` (pure: manifest entry + probe + now → verdict with reason)."""

from __future__ import annotations

import pytest

from chains.devnet.manifest import ChainEntry
from chains.devnet.status import ChainStatus, Probe, assess, format_status

ETH = ChainEntry(name="ethereum", kind="evm", chain_id=1, rpc_url="http://127.0.0.1:8545", block_time=12)
BASE = ChainEntry(name="base", kind="evm", chain_id=8453, rpc_url="http://127.0.0.1:8547")
SOL = ChainEntry(name="solana", kind="solana", rpc_url="http://127.0.0.1:8899")
NOW = 1_000_000.0


@pytest.mark.parametrize(
    ("entry", "probe", "healthy", "reason"),
    [
        (ETH, Probe(chain_id=1, head=9, head_time=int(NOW) - 20), True, "ok"),
        (
            ETH,
            Probe(chain_id=1, head=9, head_time=int(NOW) - 37),
            False,
            "stale: no block for 37s (block time 12s)",
        ),
        (ETH, Probe(chain_id=5, head=9, head_time=int(NOW)), False, "wrong chain id 5 (expected 1)"),
        (ETH, Probe(error="connection refused"), False, "down: connection refused"),
        (BASE, Probe(chain_id=8453, head=4, head_time=int(NOW) - 3600), True, "ok (automine"),
        (SOL, Probe(head=77, health="ok"), True, "ok"),
        (SOL, Probe(head=77, health="behind"), False, "getHealth='behind'"),
    ],
)
def test_assess(entry: ChainEntry, probe: Probe, healthy: bool, reason: str) -> None:
    got = assess(entry, probe, NOW)
    assert got.healthy is healthy and got.reason.startswith(reason)
    assert got.head == probe.head


def test_short_block_time_uses_floor() -> None:
    arb = ETH.model_copy(update={"name": "arbitrum", "chain_id": 42161, "block_time": 0.25})
    assert assess(arb, Probe(chain_id=42161, head=1, head_time=int(NOW) - 4), NOW).healthy
    assert not assess(arb, Probe(chain_id=42161, head=1, head_time=int(NOW) - 6), NOW).healthy


def test_format_status_table() -> None:
    rows = [
        ChainStatus("ethereum", "evm", "u", True, "ok", 12, 3.4, 1),
        ChainStatus("solana", "solana", "u", False, "down: x", None, None, None),
    ]
    lines = format_status(rows)
    assert lines[1].split() == ["ethereum", "evm", "1", "12", "3s", "ok"]
    assert lines[2].split()[:5] == ["solana", "solana", "-", "-", "-"]
