"""SolanaClient against the in-process endpoint: batching, retries, refusal, freshness, websocket and polling."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from solders.pubkey import Pubkey

from chains.devnet.process import free_port
from chains.devnet.solana.admin_client import AccountSpec, SolanaAdmin
from chains.devnet.solana.server import serve_solana
from chains.solana.client import (
    AccountChange,
    ProgramWatch,
    RetryPolicy,
    SolanaClient,
    SolanaRpcError,
    is_retryable,
)

pytestmark = pytest.mark.timeout(60)
OWNER = Pubkey.new_unique()


@pytest.fixture
async def endpoint() -> AsyncIterator[tuple[str, str]]:
    async with serve_solana("127.0.0.1", 0, tick_interval=0) as ep:
        yield ep.url, ep.ws_url


def test_retry_delays_are_exponential_and_capped() -> None:
    assert RetryPolicy(attempts=5, base_delay_s=0.1, max_delay_s=0.5).delays() == [0.1, 0.2, 0.4, 0.5]
    assert RetryPolicy(attempts=1).delays() == []
    assert is_retryable(OSError("reset")) and not is_retryable(ValueError("x"))


def test_batch_size_is_bounded() -> None:
    with pytest.raises(ValueError, match="1..100"):
        SolanaClient("http://127.0.0.1:1", batch_size=101)


async def test_get_multiple_accounts_batches_by_100_and_keeps_order(endpoint: tuple[str, str]) -> None:
    url, _ = endpoint
    keys = [Pubkey.new_unique() for _ in range(250)]
    present = keys[::7]
    async with SolanaAdmin(url) as admin:
        await admin.set_accounts([AccountSpec(k, 1_000 + i, bytes([i % 256]) * 3, OWNER)
                                  for i, k in enumerate(present)])
    async with SolanaClient(url) as client:
        assert math.isinf(client.freshness().last_read_age_s) and not client.freshness().healthy
        snaps = await client.get_multiple_accounts(keys)
        assert client.calls == 3  # 100 + 100 + 50
        assert [s.pubkey for s in snaps] == keys
        for s in snaps:
            if s.pubkey in present:
                i = present.index(s.pubkey)
                assert (s.data, s.owner, s.lamports) == (bytes([i % 256]) * 3, OWNER, 1_000 + i)
            else:
                assert s.data is None
        assert len({s.slot for s in snaps}) == 1 and snaps[0].slot > 0
        fresh = client.freshness()
        assert fresh.healthy and fresh.last_read_age_s < fresh.head_age_s + 1 and fresh.endpoint == url


async def test_program_accounts_with_memcmp(endpoint: tuple[str, str]) -> None:
    url, _ = endpoint
    prog = Pubkey.new_unique()
    a, b, c = (Pubkey.new_unique() for _ in range(3))
    async with SolanaAdmin(url) as admin:
        await admin.set_accounts([AccountSpec(a, 10**6, b"\x01\x02rest", prog),
                                  AccountSpec(b, 10**6, b"\x01\x03rest", prog),
                                  AccountSpec(c, 10**6, b"\x01\x02longer-data", prog)])
    async with SolanaClient(url) as client:
        got = await client.get_program_accounts(ProgramWatch(prog, 6, ((0, b"\x01\x02"),)))
        assert [s.pubkey for s in got] == [a]
        assert ProgramWatch(prog, 6, ((0, b"\x01\x02"),)).matches(prog, b"\x01\x02rest")
        assert not ProgramWatch(prog, None, ((1, b"\x03"),)).matches(prog, b"\x01\x02rest")


async def test_bad_request_is_refused_without_retry(endpoint: tuple[str, str]) -> None:
    url, _ = endpoint
    async with SolanaClient(url) as client:
        keys = [Pubkey.new_unique() for _ in range(101)]
        with pytest.raises(SolanaRpcError, match="refused.*at most 100"):
            await client.call("getMultipleAccounts", lambda: client.rpc.get_multiple_accounts(keys))
        assert client.calls == 1


async def test_dead_endpoint_retries_then_fails() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    async with SolanaClient(url, retry=RetryPolicy(attempts=3, base_delay_s=0.01)) as client:
        with pytest.raises(SolanaRpcError, match="failed after 3 attempts"):
            await client.get_slot()
        assert client.calls == 3 and client.health.errors == 3 and not client.freshness().healthy


async def _changes(it: AsyncIterator[AccountChange], n: int) -> list[AccountChange]:
    out = []
    async for ch in it:
        out.append(ch)
        if len(out) == n:
            break
    return out


@pytest.mark.parametrize("use_ws", [True, False], ids=["websocket", "polling"])
async def test_watch_resyncs_then_follows_changes(endpoint: tuple[str, str], use_ws: bool) -> None:
    url, ws_url = endpoint
    k1, k2, held = Pubkey.new_unique(), Pubkey.new_unique(), Pubkey.new_unique()
    prog = Pubkey.new_unique()
    async with SolanaAdmin(url) as admin:
        await admin.set_accounts([AccountSpec(k1, 10**6, b"one", OWNER), AccountSpec(held, 10**6, b"MINTxx", prog)])
    stop = asyncio.Event()
    async with SolanaClient(url, ws_url if use_ws else None) as client:
        it = client.watch([k1, k2], [ProgramWatch(prog, None, ((0, b"MINT"),))], poll_interval_s=0.05, stop=stop)
        first = await asyncio.wait_for(_changes(it, 3), 10)
        assert {(c.snapshot.pubkey, c.snapshot.data, c.source) for c in first} == {
            (k1, b"one", "resync"), (k2, None, "resync"), (held, b"MINTxx", "resync")}
        async with SolanaAdmin(url) as admin:
            await admin.set_account(k2, lamports=10**6, data=b"two", owner=OWNER)
            await admin.set_account(held, lamports=10**6, data=b"MINTyy", owner=prog)
        later = await asyncio.wait_for(_changes(it, 2), 10)
        want = "ws" if use_ws else "poll"
        assert {(c.snapshot.pubkey, c.snapshot.data, c.source) for c in later} == {
            (k2, b"two", want), (held, b"MINTyy", want)}
        assert client.health.ws_up is use_ws
        stop.set()
        await it.aclose()
        assert not client.health.ws_up


async def test_watch_survives_an_endpoint_restart(tmp_path: Path) -> None:
    """The endpoint goes away mid-watch and comes back (same port, saved state): a write made while the watch
    was not subscribed is still delivered (by the post-reconnect resync), and the outage shows in health."""
    port, state = free_port(), tmp_path / "state.json"
    key = Pubkey.new_unique()
    stop = asyncio.Event()
    async with serve_solana("127.0.0.1", port, tick_interval=0, state_file=state) as ep:
        url, ws_url = ep.url, ep.ws_url
        async with SolanaAdmin(url) as admin:
            await admin.set_account(key, lamports=10**6, data=b"before", owner=OWNER)
        client = SolanaClient(url, ws_url, retry=RetryPolicy(attempts=2, base_delay_s=0.01))
        it = client.watch([key], poll_interval_s=0.05, reconnect_s=0.1, stop=stop)
        (first,) = await asyncio.wait_for(_changes(it, 1), 10)
        assert (first.snapshot.data, first.source) == (b"before", "resync")
        pending = asyncio.ensure_future(_changes(it, 1))
        await asyncio.sleep(0.1)
    try:
        await asyncio.sleep(0.3)  # endpoint down: the watch's reads fail and are retried
        assert not pending.done()
        async with serve_solana("127.0.0.1", port, tick_interval=0, state_file=state) as ep2:
            async with SolanaAdmin(ep2.url) as admin:
                await admin.set_account(key, lamports=10**6, data=b"after", owner=OWNER)
            (change,) = await asyncio.wait_for(pending, 10)
            assert change.snapshot.data == b"after"
            assert client.health.errors > 0
            stop.set()
            await it.aclose()
    finally:
        pending.cancel()
        await client.close()


@pytest.mark.parametrize("use_ws", [True, False], ids=["websocket", "polling"])
async def test_closed_program_account_is_reported_gone(endpoint: tuple[str, str], use_ws: bool) -> None:
    """Program subscriptions never report an account leaving the program; the periodic resync does."""
    url, ws_url = endpoint
    prog, held = Pubkey.new_unique(), Pubkey.new_unique()
    async with SolanaAdmin(url) as admin:
        await admin.set_account(held, lamports=10**6, data=b"MINTxx", owner=prog)
    stop = asyncio.Event()
    async with SolanaClient(url, ws_url if use_ws else None) as client:
        it = client.watch([], [ProgramWatch(prog, None, ((0, b"MINT"),))], poll_interval_s=0.05, resync_s=0.1,
                          stop=stop)
        (first,) = await asyncio.wait_for(_changes(it, 1), 10)
        assert first.snapshot.data == b"MINTxx"
        async with SolanaAdmin(url) as admin:  # closed: back to the system program, no data
            await admin.set_account(held, lamports=10**6, data=b"")
        (gone,) = await asyncio.wait_for(_changes(it, 1), 10)
        assert (gone.snapshot.pubkey, gone.snapshot.data) == (held, None)
        assert gone.source == ("resync" if use_ws else "poll")
        stop.set()
        await it.aclose()
