"""Solana lane against the real LiteSVM-backed endpoint; a loopback proxy loses the first signature's sends."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from solana.rpc.async_api import AsyncClient
from solders.keypair import Keypair
from solders.system_program import TransferParams, transfer

from bots.journal import IntentState, Journal
from chains.devnet.process import free_port
from chains.devnet.solana import SolanaAdmin, SolanaEndpoint, serve_solana
from chains.evm.fees import Urgency
from chains.solana.fees import PriorityFeePolicy, priority_fee
from chains.solana.lane import SolanaAction, SolanaLane, SolanaLanePolicy
from tests.chains.devnet.solana_fixtures import funded


@pytest.fixture
async def ep() -> AsyncIterator[SolanaEndpoint]:
    async with serve_solana("127.0.0.1", 0, tick_interval=0) as endpoint:
        yield endpoint


class LossyProxy:
    """Forwards JSON-RPC to the endpoint but silently loses every sendTransaction of the first signature seen,
    answering as a node that accepted it (what a dropped transaction looks like to a client)."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.lost_signature: str | None = None
        self.lost_sends = 0

    async def start(self) -> tuple[web.AppRunner, str]:
        self.session = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_post("/", self.handle)
        app.on_cleanup.append(lambda _a: self.session.close())
        runner = web.AppRunner(app)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        return runner, f"http://127.0.0.1:{port}"

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        msg = json.loads(body)
        if isinstance(msg, dict) and msg.get("method") == "sendTransaction":
            import base64

            from solders.transaction import VersionedTransaction

            tx = VersionedTransaction.from_bytes(base64.b64decode(msg["params"][0]))
            sig = str(tx.signatures[0])
            if self.lost_signature in (None, sig):
                self.lost_signature = sig
                self.lost_sends += 1
                return web.json_response({"jsonrpc": "2.0", "id": msg["id"], "result": sig})
        async with self.session.post(self.target, data=body, headers={"Content-Type": "application/json"}) as r:
            return web.Response(body=await r.read(), content_type="application/json")


async def test_expired_blockhash_is_resigned_and_lands_once(ep: SolanaEndpoint, tmp_path: Path) -> None:
    proxy = LossyProxy(ep.url)
    runner, url = await proxy.start()
    journal = await Journal(str(tmp_path / "j.db")).open()
    async with AsyncClient(ep.url) as direct, AsyncClient(url) as client, SolanaAdmin(ep.url) as admin:
        payer = await funded(direct)
        dest = Keypair().pubkey()
        lane = SolanaLane(client, payer, journal, policy=SolanaLanePolicy(resend_every_s=0.1, poll_interval_s=0.05))
        ix = transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=dest, lamports=1_000_000))
        task = asyncio.create_task(lane.send(SolanaAction("claim:sol:1", (ix,), bot="test", kind="transfer")))
        while proxy.lost_sends < 2:  # the first signature is sent (and re-sent) but never reaches the chain
            await asyncio.sleep(0.02)
        await admin.advance_slots(152)  # its blockhash expires
        intent = await asyncio.wait_for(task, 30)
        assert intent.state == IntentState.CONFIRMED
        assert intent.id is not None
        attempts = list(await journal.attempts(intent.id))
        assert [a.status for a in attempts] == ["expired", "mined"]
        assert attempts[0].tx_hash == proxy.lost_signature != attempts[1].tx_hash
        assert attempts[1].valid_until is not None and attempts[0].valid_until is not None
        assert attempts[1].valid_until > attempts[0].valid_until
        assert int(attempts[1].max_fee_wei) > int(attempts[0].max_fee_wei)  # re-signed at a higher CU price
        assert (await direct.get_balance(dest)).value == 1_000_000  # landed exactly once
        again = await lane.send(SolanaAction("claim:sol:1", (ix,), bot="test", kind="transfer"))
        assert again.state == IntentState.CONFIRMED and (await direct.get_balance(dest)).value == 1_000_000
    await journal.close()
    await runner.cleanup()


async def test_failed_preflight_is_reverted_not_retried(ep: SolanaEndpoint, tmp_path: Path) -> None:
    journal = await Journal(str(tmp_path / "j.db")).open()
    async with AsyncClient(ep.url) as client:
        payer = await funded(client, lamports=10_000_000)
        lane = SolanaLane(client, payer, journal)
        ix = transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=Keypair().pubkey(), lamports=10**15))
        intent = await lane.send(SolanaAction("too-much", (ix,), bot="test", kind="transfer"), timeout_s=10)
        assert intent.state == IntentState.REVERTED and "preflight" in intent.reason
        assert intent.id is not None and len(await journal.attempts(intent.id)) == 1
    await journal.close()


@pytest.mark.parametrize(
    ("recent", "urgency", "resigns", "budget", "expected"),
    [
        ((), Urgency.ROUTINE, 0, None, 1_000),  # floor
        ((10, 2_000, 3_000, 50_000), Urgency.ROUTINE, 0, None, 2_000),  # median-ish (p50 of 4 = 2nd)
        ((10, 2_000, 3_000, 50_000), Urgency.URGENT, 0, None, 50_000),  # p90
        ((), Urgency.ROUTINE, 2, None, 2_250),  # 1000 × 1.5 × 1.5
        ((10**9,), Urgency.URGENT, 0, None, 5_000_000),  # cap
        ((10**6,), Urgency.ROUTINE, 0, 100, 500),  # budget: 100 lamports over 200k CU
    ],
)
def test_priority_fee_policy(recent: tuple[int, ...], urgency: Urgency, resigns: int, budget: int | None,
                             expected: int) -> None:
    fee = priority_fee(recent, urgency, 200_000, resigns, PriorityFeePolicy(), budget)
    assert fee.micro_lamports_per_cu == expected
    if budget is not None:
        assert fee.priority_lamports <= budget
