"""Start/stop the Solana endpoint as a real subprocess on a free port (always stopped, even on failure)."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed
from solana.rpc.models import TxOpts
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import Message, MessageV0
from solders.pubkey import Pubkey
from solders.system_program import CreateAccountParams, create_account
from solders.transaction import Transaction, VersionedTransaction
from spl.token.constants import MINT_LEN, TOKEN_PROGRAM_ID
from spl.token.instructions import (
    create_associated_token_account,
    get_associated_token_address,
    initialize_mint2,
    mint_to_checked,
    transfer_checked,
)
from spl.token.models import InitializeMint2Params, MintToCheckedParams, TransferCheckedParams

REPO = Path(__file__).resolve().parents[3]
CONFIRMED = TxOpts(skip_confirmation=False, preflight_commitment=Confirmed)
DECIMALS = 6


@dataclass(frozen=True)
class EndpointProcess:
    proc: subprocess.Popen[str]
    url: str
    ws_url: str
    seconds_to_healthy: float
    stderr_path: Path


def _health(url: str) -> bool:
    req = urllib.request.Request(
        url,
        data=b'{"jsonrpc":"2.0","id":1,"method":"getHealth"}',
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=2) as resp:
            return b'"ok"' in resp.read()
    except OSError:
        return False


def start_endpoint(*extra: str, timeout: float = 30.0) -> EndpointProcess:
    """Run ``python -m chains.devnet.solana --port 0``; return once ``getHealth`` answers ok."""
    fd, err_name = tempfile.mkstemp(prefix="solana-endpoint-", suffix=".log")
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "chains.devnet.solana", "--host", "127.0.0.1", "--port", "0", *extra],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=fd,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    os.close(fd)
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        line = proc.stdout.readline() if ready else ""
        if not line.startswith("ready "):
            raise RuntimeError(
                f"endpoint did not print its ready line: {line!r}; stderr: {Path(err_name).read_text()}"
            )
        fields = dict(part.split("=", 1) for part in line.split()[1:])
        url, ws_url = fields["http"], fields["ws"]
        while not _health(url):
            if time.perf_counter() - t0 > timeout:
                raise RuntimeError("endpoint never became healthy")
            time.sleep(0.02)
        return EndpointProcess(proc, url, ws_url, time.perf_counter() - t0, Path(err_name))
    except BaseException:
        stop_endpoint(proc)
        raise


def stop_endpoint(proc: subprocess.Popen[str], timeout: float = 10.0) -> int:
    """SIGTERM, then SIGKILL if it does not exit; returns the exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()
    return proc.returncode


@pytest.fixture(scope="module")
def solana_endpoint() -> Iterator[EndpointProcess]:
    ep = start_endpoint()
    try:
        yield ep
    finally:
        stop_endpoint(ep.proc)
        ep.stderr_path.unlink(missing_ok=True)


# ---- SPL helpers through AsyncClient ------------------------------------------------------------
async def send(
    c: AsyncClient, payer: Keypair, ixs: list[Instruction], *signers: Keypair, v0: bool = True
) -> str:
    bh = (await c.get_latest_blockhash()).value.blockhash
    if v0:
        tx = VersionedTransaction(MessageV0.try_compile(payer.pubkey(), ixs, [], bh), [payer, *signers])
        resp = await c.send_transaction(tx, opts=CONFIRMED)
    else:
        legacy = Transaction([payer, *signers], Message(ixs, payer.pubkey()), bh)
        resp = await c.send_raw_transaction(bytes(legacy), opts=CONFIRMED)
    return str(resp.value)


async def funded(c: AsyncClient, lamports: int = 10 * 10**9) -> Keypair:
    kp = Keypair()
    sig = (await c.request_airdrop(kp.pubkey(), lamports)).value
    await c.confirm_transaction(sig, Confirmed, sleep_seconds=0.05)
    return kp


async def make_mint(c: AsyncClient, payer: Keypair) -> Pubkey:
    mint = Keypair()
    rent = (await c.get_minimum_balance_for_rent_exemption(MINT_LEN)).value
    ixs = [
        create_account(
            CreateAccountParams(
                from_pubkey=payer.pubkey(),
                to_pubkey=mint.pubkey(),
                lamports=rent,
                space=MINT_LEN,
                owner=TOKEN_PROGRAM_ID,
            )
        ),
        initialize_mint2(
            InitializeMint2Params(
                decimals=DECIMALS,
                program_id=TOKEN_PROGRAM_ID,
                mint=mint.pubkey(),
                mint_authority=payer.pubkey(),
            )
        ),
    ]
    await send(c, payer, ixs, mint, v0=False)  # legacy message here, v0 elsewhere
    return mint.pubkey()


async def make_ata(c: AsyncClient, payer: Keypair, owner: Pubkey, mint: Pubkey) -> Pubkey:
    await send(c, payer, [create_associated_token_account(payer.pubkey(), owner, mint)])
    return get_associated_token_address(owner, mint)


def xfer(src: Pubkey, dst: Pubkey, mint: Pubkey, owner: Pubkey, amount: int) -> Instruction:
    return transfer_checked(
        TransferCheckedParams(
            program_id=TOKEN_PROGRAM_ID,
            source=src,
            mint=mint,
            dest=dst,
            owner=owner,
            amount=amount,
            decimals=DECIMALS,
        )
    )


async def token_setup(c: AsyncClient) -> tuple[Keypair, Keypair, Keypair, Pubkey, Pubkey, Pubkey]:
    """payer (mint authority), alice with 1000 tokens, bob with an empty ATA."""
    payer, alice = await funded(c), await funded(c, 10**9)
    bob = Keypair()
    mint = await make_mint(c, payer)
    a_ata = await make_ata(c, payer, alice.pubkey(), mint)
    b_ata = await make_ata(c, payer, bob.pubkey(), mint)
    mint_ix = mint_to_checked(
        MintToCheckedParams(
            program_id=TOKEN_PROGRAM_ID,
            mint=mint,
            dest=a_ata,
            mint_authority=payer.pubkey(),
            amount=1_000 * 10**DECIMALS,
            decimals=DECIMALS,
        )
    )
    await send(c, payer, [mint_ix])
    return payer, alice, bob, mint, a_ata, b_ata
