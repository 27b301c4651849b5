"""The fault proxy against a real anvil upstream: everything passes unchanged with no fault set, and each fault
kind reaches the keeper's client layer (RawRpc over web3's AsyncHTTPProvider, EndpointPool, the WebSocket
provider) as the right typed error."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import pytest
from web3 import AsyncHTTPProvider, AsyncWeb3, WebSocketProvider

from chains.evm.endpoints import EndpointPool
from chains.evm.rpc import (
    RawRpc,
    RpcConnectionError,
    RpcErrorReply,
    RpcFailure,
    RpcHttpError,
    RpcMalformedResponse,
    RpcRateLimited,
    RpcTimeout,
)
from chains.faults.proxy import FaultProxy, ScheduleDriver
from chains.faults.schedule import FaultKind, parse_schedule
from tests.conftest import AnvilNode, send_eth


def raw(url: str, timeout_s: float = 5.0) -> RawRpc:
    """The pool's per-endpoint client: no provider-level retries, so the fault is seen as it happened."""
    return RawRpc(AsyncWeb3(AsyncHTTPProvider(url, request_kwargs={"timeout": timeout_s},
                                              exception_retry_configuration=None)))


async def post(url: str, doc: Any) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as s, s.post(url, json=doc) as r:
        return r.status, await r.read()


@pytest.fixture
async def proxy(anvil: AnvilNode) -> Any:
    async with FaultProxy(anvil.url, seed=7, name="test") as p:
        yield p


async def test_no_fault_passes_requests_batches_and_transactions_unchanged(anvil: AnvilNode,
                                                                             proxy: FaultProxy) -> None:
    send_eth(anvil.url, "0x000000000000000000000000000000000000dEaD", 10**15)
    for doc in ({"jsonrpc": "2.0", "id": 1, "method": "eth_getBlockByNumber", "params": ["0x1", True]},
                [{"jsonrpc": "2.0", "id": 5, "method": "eth_chainId", "params": []},
                 {"jsonrpc": "2.0", "id": 6, "method": "eth_getBalance",
                  "params": ["0x000000000000000000000000000000000000dEaD", "latest"]}],
                {"jsonrpc": "2.0", "id": 2, "method": "no_such_method", "params": []}):
        direct, via = await post(anvil.url, doc), await post(proxy.url, doc)
        assert via[0] == direct[0]
        assert json.loads(via[1]) == json.loads(direct[1])
    # a transaction through the proxy lands like a direct one
    block = await asyncio.to_thread(send_eth, proxy.url, "0x000000000000000000000000000000000000dEaD", 10**15)
    assert block == int(await raw(anvil.url).expect("eth_blockNumber", []), 16)
    assert proxy.requests >= 5 and not proxy.injected


async def test_drop_and_cut_are_connection_errors(proxy: FaultProxy) -> None:
    rpc = raw(proxy.url)
    proxy.set_fault(FaultKind.DROP)
    with pytest.raises(RpcConnectionError):
        await rpc.request("eth_blockNumber", [])
    proxy.clear_fault()
    proxy.set_fault(FaultKind.CUT)
    with pytest.raises(RpcConnectionError):
        await rpc.request("eth_getBlockByNumber", ["latest", True])
    proxy.clear_fault()
    assert int(await rpc.expect("eth_blockNumber", []), 16) >= 0
    # a server-side close without an answer is retried once on a fresh connection (a pooled keep-alive
    # connection may simply have gone stale); a persistent drop fails on the retry too
    assert proxy.injected["drop"] == 2 and proxy.injected["cut"] == 1


async def test_delay_passes_under_the_timeout_and_times_out_over_it(proxy: FaultProxy) -> None:
    proxy.set_fault(FaultKind.DELAY, delay_ms=400)
    started = time.monotonic()
    assert await raw(proxy.url, timeout_s=5).expect("eth_chainId", []) == "0x7a69"
    assert time.monotonic() - started >= 0.4
    with pytest.raises(RpcTimeout):
        await raw(proxy.url, timeout_s=0.1).request("eth_chainId", [])


async def test_http_status_rate_limit_and_malformed_bodies_are_typed(proxy: FaultProxy) -> None:
    rpc = raw(proxy.url)
    proxy.set_fault(FaultKind.HTTP_STATUS, status=502)
    with pytest.raises(RpcHttpError) as http:
        await rpc.request("eth_blockNumber", [])
    assert http.value.status == 502 and not isinstance(http.value, RpcRateLimited)
    proxy.clear_fault()
    proxy.set_fault(FaultKind.RATE_LIMIT, retry_after_s=7)
    with pytest.raises(RpcRateLimited) as limited:
        await rpc.request("eth_blockNumber", [])
    assert limited.value.retry_after_s == 7
    proxy.clear_fault()
    proxy.set_fault(FaultKind.MALFORMED)
    with pytest.raises(RpcMalformedResponse):
        await rpc.request("eth_blockNumber", [])


async def test_rpc_error_object_is_a_value_for_request_and_a_typed_error_for_expect(proxy: FaultProxy) -> None:
    rpc = raw(proxy.url)
    proxy.set_fault(FaultKind.RPC_ERROR, rpc_code=-32005, rpc_message="limit exceeded",
                    methods=["eth_getLogs"])
    assert await rpc.request("eth_getLogs", [{"fromBlock": "0x0"}]) == RpcFailure(-32005, "limit exceeded")
    with pytest.raises(RpcErrorReply) as err:
        await rpc.expect("eth_getLogs", [{"fromBlock": "0x0"}])
    assert err.value.failure.code == -32005
    assert await rpc.expect("eth_chainId", []) == "0x7a69"  # other methods untouched
    assert proxy.injected["rpc_error"] == 2


async def test_pool_honours_retry_after_and_fails_over_on_outage(anvil: AnvilNode, proxy: FaultProxy) -> None:
    pool = EndpointPool([proxy.url, anvil.url], timeout_s=2)
    try:
        proxy.set_fault(FaultKind.RATE_LIMIT, retry_after_s=20)
        assert await pool.expect("eth_chainId", []) == "0x7a69"  # answered by the second URL
        first = pool._eps[0].health
        assert first.down_until - time.monotonic() > 15  # Retry-After, not the 0.5 s base back-off
        assert pool.failovers == 1
        proxy.clear_fault()
        first.down_until = 0.0
        await proxy.start_outage()
        assert await pool.expect("eth_chainId", []) == "0x7a69"
        assert "ConnectionError" in first.last_error or "Connect" in first.last_error
    finally:
        await proxy.end_outage()
        await pool.close()


async def test_outage_refuses_then_recovers_on_the_same_url(proxy: FaultProxy) -> None:
    rpc = raw(proxy.url)
    task = proxy.outage_for(0.6)
    await asyncio.sleep(0.1)
    with pytest.raises(RpcConnectionError):
        await rpc.request("eth_chainId", [])
    await task
    assert await rpc.expect("eth_chainId", []) == "0x7a69"
    assert proxy.injected["outage"] == 1


async def test_seeded_probability_and_method_filter_are_reproducible(anvil: AnvilNode) -> None:
    counts = []
    for _ in range(2):
        async with FaultProxy(anvil.url, seed=42) as p:
            p.set_fault(FaultKind.HTTP_STATUS, status=503, probability=0.3)
            rpc = raw(p.url)
            outcomes = []
            for _ in range(40):
                try:
                    await rpc.request("eth_chainId", [])
                    outcomes.append(True)
                except RpcHttpError:
                    outcomes.append(False)
            counts.append(outcomes)
            assert p.injected["http_status"] == outcomes.count(False)
    assert counts[0] == counts[1]
    assert 0 < counts[0].count(False) < 40


async def test_runner_style_provider_retries_through_intermittent_drops(proxy: FaultProxy) -> None:
    """The lane's provider keeps web3's default retries (5 tries): a 30 % drop rate still answers every read."""
    w3 = AsyncWeb3(AsyncHTTPProvider(proxy.url))
    proxy.set_fault(FaultKind.DROP, probability=0.3)
    try:
        for _ in range(10):
            assert await RawRpc(w3).expect("eth_chainId", []) == "0x7a69"
    finally:
        await w3.provider.disconnect()
    assert proxy.injected["drop"] > 0


async def test_websocket_passes_heads_stalls_and_cuts(anvil: AnvilNode, proxy: FaultProxy) -> None:
    async with AsyncWeb3(WebSocketProvider(proxy.ws_url)) as ws:
        sub = await ws.eth.subscribe("newHeads")
        heads = ws.socket.process_subscriptions()

        async def next_head() -> int:
            async for msg in heads:
                if msg.get("subscription") == sub:
                    return int(msg["result"]["number"])
            raise AssertionError("subscription ended")

        await raw(anvil.url).expect("evm_mine", [])
        first = await asyncio.wait_for(next_head(), 5)
        proxy.set_fault(FaultKind.WS_STALL)
        await raw(anvil.url).expect("evm_mine", [])
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(next_head(), 0.8)  # the head was swallowed: the socket is silent
        proxy.clear_fault()
        await raw(anvil.url).expect("evm_mine", [])
        assert await asyncio.wait_for(next_head(), 5) == first + 2
        assert proxy.injected["ws_stall"] >= 1
        proxy.set_fault(FaultKind.WS_CUT)
        with pytest.raises(AssertionError, match="subscription ended"):  # web3 ends the stream on a cut
            await asyncio.wait_for(next_head(), 5)
    with pytest.raises(Exception):  # noqa: B017 - while cut, a new socket is closed before it can subscribe
        async with AsyncWeb3(WebSocketProvider(proxy.ws_url)) as ws2:
            await asyncio.wait_for(ws2.eth.subscribe("newHeads"), 5)
    assert proxy.injected["ws_cut"] >= 1
    proxy.clear_fault()
    async with AsyncWeb3(WebSocketProvider(proxy.ws_url)) as ws3:
        assert await ws3.eth.chain_id == 31337


async def test_schedule_driver_applies_windows_in_order(proxy: FaultProxy) -> None:
    schedule = parse_schedule({"fault": [
        {"chain": "c", "kind": "http_status", "status": 500, "at_s": 0.0, "duration_s": 0.4},
        {"chain": "c", "kind": "outage", "at_s": 0.5, "duration_s": 0.4}]})
    seen: list[str] = []
    driver = ScheduleDriver(schedule, {"c": proxy}, on_transition=lambda tr: seen.append(
        f"{tr.fault.spec.kind}:{'start' if tr.starts else 'end'}"))
    task = asyncio.create_task(driver.run())
    rpc = raw(proxy.url)
    await asyncio.sleep(0.1)
    with pytest.raises(RpcHttpError):
        await rpc.request("eth_chainId", [])
    await asyncio.sleep(0.55)
    with pytest.raises(RpcConnectionError):
        await rpc.request("eth_chainId", [])
    await asyncio.wait_for(task, 5)
    assert await rpc.expect("eth_chainId", []) == "0x7a69"
    assert seen == ["http_status:start", "http_status:end", "outage:start", "outage:end"]
