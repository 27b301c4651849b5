"""The endpoint process lifecycle: startup time, signals, busy port, --state across restarts, throughput."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed
from solana_fixtures import REPO, funded, start_endpoint, stop_endpoint, token_setup, xfer
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from solders.token.state import TokenAccount
from solders.transaction import VersionedTransaction

from chains.devnet.solana import SolanaAdmin

OWNER = Pubkey.from_string("rec5EKMGg6MxZYaMdyBfgwp4d5rB9T1VQH5pJv5LtFJ")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_ready_line_health_and_clean_exit_on_signal(sig: signal.Signals) -> None:
    ep = start_endpoint()
    try:
        print(f"\nstartup to first healthy getHealth: {ep.seconds_to_healthy:.3f} s")
        assert ep.url.startswith("http://127.0.0.1:") and ep.ws_url == ep.url.replace("http", "ws")
        ep.proc.send_signal(sig)
        assert ep.proc.wait(15) == 0
    finally:
        stop_endpoint(ep.proc)
        ep.stderr_path.unlink(missing_ok=True)


def test_busy_port_is_a_usage_error() -> None:
    ep = start_endpoint()
    try:
        port = ep.url.rsplit(":", 1)[1]
        res = subprocess.run(
            [sys.executable, "-m", "chains.devnet.solana", "--port", port],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert res.returncode == 2 and f"127.0.0.1:{port}" in res.stderr
    finally:
        stop_endpoint(ep.proc)
        ep.stderr_path.unlink(missing_ok=True)


def test_unreadable_state_file_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "state.json"
    bad.write_text('{"version": 99}')
    res = subprocess.run(
        [sys.executable, "-m", "chains.devnet.solana", "--port", "0", "--state", str(bad)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert res.returncode == 2 and "state.json" in res.stderr and "version" in res.stderr


async def test_state_survives_restart(tmp_path: Path) -> None:
    state = tmp_path / "solana-state.json"
    written, funded_key = Keypair().pubkey(), Keypair().pubkey()
    ep = start_endpoint("--state", str(state))
    try:
        async with SolanaAdmin(ep.url) as admin:
            await admin.set_account(written, lamports=5_000_000, data=b"\x01\x02\x03", owner=OWNER)
            await admin.call("requestAirdrop", [str(funded_key), 777_000_000])
            clock = await admin.advance_time(3600)
            genesis = await admin.call("getGenesisHash")
        assert stop_endpoint(ep.proc) == 0
    finally:
        stop_endpoint(ep.proc)
        ep.stderr_path.unlink(missing_ok=True)
    assert state.exists()

    ep = start_endpoint("--state", str(state))
    try:
        async with AsyncClient(ep.url, commitment=Confirmed) as c:
            acc = (await c.get_account_info(written)).value
            assert acc is not None and bytes(acc.data) == b"\x01\x02\x03" and acc.owner == OWNER
            assert (await c.get_balance(funded_key)).value == 777_000_000
            assert (await c.get_slot()).value >= clock.slot
            assert str((await c.get_genesis_hash()).value) == genesis
        async with SolanaAdmin(ep.url) as admin:
            assert (await admin.get_clock()).unix_timestamp >= clock.unix_timestamp  # time offset kept
    finally:
        assert stop_endpoint(ep.proc) == 0
        ep.stderr_path.unlink(missing_ok=True)


async def _throughput(n: int) -> None:
    ep = start_endpoint()
    try:
        async with AsyncClient(ep.url, commitment=Confirmed) as c:
            _, alice, _, mint, a_ata, b_ata = await token_setup(c)
            t0 = time.perf_counter()
            for i in range(n):
                if i % 100 == 0:  # one slot per tx: a blockhash lasts 150 transactions
                    bh = (await c.get_latest_blockhash()).value.blockhash
                msg = MessageV0.try_compile(
                    alice.pubkey(), [xfer(a_ata, b_ata, mint, alice.pubkey(), 1 + i)], [], bh
                )
                await c.send_transaction(VersionedTransaction(msg, [alice]))
            elapsed = time.perf_counter() - t0
            print(
                f"\n{n} sequential SPL transfer_checked via AsyncClient: {elapsed:.2f} s = {n / elapsed:.0f} tx/s"
            )
            got = (await c.get_account_info(b_ata)).value
            assert got is not None and TokenAccount.from_bytes(bytes(got.data)).amount == n * (n + 1) // 2
            payer = await funded(c)
            t0 = time.perf_counter()
            bh = (await c.get_latest_blockhash()).value.blockhash
            dest = Keypair().pubkey()
            for i in range(100):
                ix = transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=dest, lamports=10**6 + i))
                await c.send_transaction(
                    VersionedTransaction(MessageV0.try_compile(payer.pubkey(), [ix], [], bh), [payer])
                )
            print(f"100 sequential SOL transfers: {100 / (time.perf_counter() - t0):.0f} tx/s")
            assert (await c.get_balance(dest)).value == 100 * 10**6 + sum(range(100))
    finally:
        stop_endpoint(ep.proc)
        ep.stderr_path.unlink(missing_ok=True)


async def test_sequential_spl_transfer_throughput() -> None:
    """Prints a tx/s figure; asserts only that every transfer landed."""
    await _throughput(200)


@pytest.mark.slow
async def test_sequential_spl_transfer_throughput_long() -> None:
    await _throughput(2000)
