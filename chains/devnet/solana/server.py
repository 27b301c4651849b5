"""aiohttp server: JSON-RPC over HTTP POST and PubSub over WebSocket on the same port, plus the slot ticker.

WebSocket clients connect to ``ws://host:port`` (the HTTP port itself, not port + 1; see
``SolanaEndpoint.ws_url``). ``GET /health`` answers ``ok`` like a validator. Admin methods
(``rtrm_*``) are answered only for loopback peers.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web
from loguru import logger
from solders.litesvm import LiteSVM

from .admin import ADMIN_METHODS
from .chain import SLOT_SECONDS, DevnetChain
from .jsonrpc import dispatcher, handle_payload, plain_traceback
from .pubsub import Connection, PubSubHub
from .rpc import METHODS
from .state_file import load_state, save_state

MAX_BODY = 2 * 1024 * 1024


@dataclass(frozen=True)
class SolanaEndpoint:
    """A running endpoint: its chain (and LiteSVM) for in-process fixtures, and its URLs."""

    chain: DevnetChain
    host: str
    port: int

    @property
    def svm(self) -> LiteSVM:
        return self.chain.svm

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"


def _is_loopback(remote: str | None) -> bool:
    try:
        return remote is not None and ipaddress.ip_address(remote).is_loopback
    except ValueError:
        return False


def _json_response(reply: Any) -> web.Response:
    if reply is None:
        return web.Response(status=204)
    return web.Response(text=json.dumps(reply), content_type="application/json")


def build_app(chain: DevnetChain, hub: PubSubHub) -> web.Application:
    table = {**METHODS, **ADMIN_METHODS}
    call = dispatcher(table, chain)

    async def rpc(request: web.Request) -> web.StreamResponse:
        if request.method == "GET":
            if request.headers.get("Upgrade", "").lower() == "websocket":
                return await websocket(request)
            return web.Response(status=405, text="POST JSON-RPC requests here; GET /health for liveness\n")
        body = await request.read()
        admin_ok = _is_loopback(request.remote)

        def allowed(name: str) -> bool:
            return name in METHODS or (admin_ok and name in ADMIN_METHODS)

        return _json_response(handle_payload(body, call, allowed))

    async def health(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def websocket(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=MAX_BODY)
        await ws.prepare(request)
        conn = Connection()
        hub.connections.add(conn)

        def ws_call(name: str, params: Any) -> Any:
            return hub.methods[name](conn, params)

        async def writer() -> None:
            while True:
                msg = await conn.queue.get()
                if msg is None or conn.closed:
                    break
                await ws.send_str(msg)
            await ws.close()

        writer_task = asyncio.create_task(writer())
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                reply = handle_payload(msg.data, ws_call, lambda n: n in hub.methods)
                if reply is not None:
                    conn.send(reply)
        finally:
            hub.connections.discard(conn)
            conn.closed = True
            writer_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):  # peer gone mid-send
                await writer_task
        return ws

    app = web.Application(client_max_size=MAX_BODY)
    app.router.add_route("*", "/", rpc)
    app.router.add_get("/health", health)
    return app


def slots_due(now: float, due: float, interval: float) -> int:
    """Slots to produce when woken at ``now`` for a tick scheduled at ``due`` (≥ 1; more after a stall)."""
    return 1 + max(0, int((now - due) / interval))


async def _ticker(chain: DevnetChain, interval: float) -> None:
    """One slot per ``interval`` of loop time. If the loop was blocked (or the process stopped), the
    missed slots are produced in one step, so the slot keeps tracking time without a burst of ticks."""
    loop = asyncio.get_running_loop()
    due = loop.time() + interval
    while True:
        await asyncio.sleep(max(0.0, due - loop.time()))
        n = slots_due(loop.time(), due, interval)
        due += n * interval
        try:
            chain.advance_slots(n)
        except Exception as exc:  # keep ticking; a failing observer must not freeze the chain
            logger.error("solana endpoint: tick failed:\n{}", plain_traceback(exc))


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(128)
    sock.setblocking(False)
    return sock


@contextlib.asynccontextmanager
async def serve_solana(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    tick_interval: float = SLOT_SECONDS,
    slot_per_tx: bool = True,
    state_file: Path | None = None,
) -> AsyncIterator[SolanaEndpoint]:
    """Run the endpoint on ``host:port`` (0 = a free port) until the block exits.

    ``tick_interval`` ≤ 0 disables the time-driven slots (tests that want full control over slots).
    With ``state_file`` the state is loaded at start (if the file exists) and saved on exit.
    """
    chain = DevnetChain(slot_per_tx=slot_per_tx)
    if state_file is not None and state_file.exists():
        n = load_state(chain, state_file)
        logger.info("solana endpoint: loaded {} accounts from {}", n, state_file)
    hub = PubSubHub(chain)
    sock = _bind(host, port)
    runner = web.AppRunner(build_app(chain, hub), access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    ticker: asyncio.Task[None] | None = None
    try:
        site = web.SockSite(runner, sock)
        await site.start()
        if tick_interval > 0:
            ticker = asyncio.create_task(_ticker(chain, tick_interval))
        yield SolanaEndpoint(chain, host, sock.getsockname()[1])
    finally:
        if ticker is not None:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
        for conn in list(hub.connections):  # wake each writer so it closes its socket
            conn.closed = True
            if not conn.queue.full():
                conn.queue.put_nowait(None)
        await runner.cleanup()
        sock.close()
        hub.detach()
        if state_file is not None:
            n = save_state(chain, state_file)
            logger.info("solana endpoint: saved {} accounts to {}", n, state_file)
