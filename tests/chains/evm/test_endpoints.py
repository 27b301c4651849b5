"""Endpoint failover: a loopback forwarding proxy in front of anvil is stopped mid-run."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from chains.devnet.process import free_port
from chains.evm.endpoints import AllEndpointsDown, EndpointPool
from tests.conftest import AnvilFactory


async def _proxy(target: str) -> tuple[web.AppRunner, str]:
    """Forward JSON-RPC to `target` (a second URL for the same node, which the test can kill)."""
    session = aiohttp.ClientSession()

    async def handle(request: web.Request) -> web.Response:
        async with session.post(target, data=await request.read(),
                                headers={"Content-Type": "application/json"}) as resp:
            return web.Response(body=await resp.read(), content_type="application/json")

    app = web.Application()
    app.router.add_post("/", handle)
    app.on_cleanup.append(lambda _app: session.close())
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}"


async def test_failover_when_preferred_endpoint_dies(anvil_factory: AnvilFactory) -> None:
    node = anvil_factory()
    runner, proxy_url = await _proxy(node.url)
    pool = EndpointPool([proxy_url, node.url], timeout_s=2, base_backoff_s=5)
    try:
        await pool.probe()
        assert int(await pool.expect("eth_chainId", []), 16) == 31337
        assert pool.health()[0]["requests"] >= 2 and pool.health()[1]["requests"] == 1  # preferred used
        await runner.cleanup()  # the preferred RPC goes away mid-run
        heads = [int(await pool.expect("eth_blockNumber", []), 16) for _ in range(3)]
        assert heads == [0, 0, 0]
        health = {h["url"]: h for h in pool.health()}
        assert health[proxy_url]["up"] is False and health[proxy_url]["errors"] == 1  # backed off, not retried
        assert health[node.url]["up"] is True and health[node.url]["requests"] >= 4
        assert pool.failovers == 1
    finally:
        await pool.close()


async def test_all_endpoints_down_is_a_clear_error() -> None:
    pool = EndpointPool(["http://127.0.0.1:1", "http://127.0.0.1:2"], timeout_s=1)
    try:
        try:
            await pool.expect("eth_blockNumber", [])
        except AllEndpointsDown as exc:
            assert "all 2 endpoints failed" in str(exc) and "127.0.0.1:1" in str(exc)
        else:
            raise AssertionError("expected AllEndpointsDown")
    finally:
        await pool.close()
