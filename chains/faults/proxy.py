"""An RPC fault proxy: an HTTP + WebSocket reverse proxy on 127.0.0.1 in front of one JSON-RPC node.

Why a proxy and not mocks: the keeper's real clients (web3's aiohttp provider, the endpoint pool, the lanes, the
watchers' sockets) must meet real sockets that misbehave the way RPC providers do — refused connections, 5xx and
429 answers, half bodies, garbage, silent sockets — so the recovery paths run exactly as in production. Faults are
set by hand (`set_fault`, `outage`) or applied from a `Schedule`; probabilistic faults draw from a seeded RNG.
With no fault set every request and frame passes through unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, Protocol

import aiohttp
from aiohttp import WSMsgType, web
from loguru import logger

from chains.faults.schedule import HTTP_KINDS, FaultKind, FaultSpec, Schedule, Transition

LOOPBACK = "127.0.0.1"


def _methods(body: bytes) -> list[str]:
    """JSON-RPC method names in a request body (single or batch); [] when it is not JSON-RPC."""
    try:
        doc = json.loads(body)
    except ValueError:
        return []
    items = doc if isinstance(doc, list) else [doc]
    return [str(i.get("method")) for i in items if isinstance(i, dict) and "method" in i]


def _ids(body: bytes) -> list[Any]:
    with contextlib.suppress(ValueError):
        doc = json.loads(body)
        items = doc if isinstance(doc, list) else [doc]
        return [i.get("id") for i in items if isinstance(i, dict)]
    return [None]


class FaultProxy:
    """Reverse proxy for one upstream. `await start()`, use `url` / `ws_url`, `await stop()` (or `async with`)."""

    def __init__(self, upstream: str, *, ws_upstream: str | None = None, seed: int = 0, name: str = "",
                 port: int = 0, upstream_timeout_s: float = 30.0) -> None:
        self.upstream = upstream
        self.ws_upstream = ws_upstream or upstream.replace("https://", "wss://").replace("http://", "ws://")
        self.name = name or upstream
        self.port = port
        self.rng = random.Random(seed)
        self.requests = 0  # HTTP requests seen (outage refusals are not seen: nothing connected)
        self.ws_connections = 0
        self.ws_frames = 0  # frames forwarded (both directions)
        self.injected: Counter[str] = Counter()  # fault kind → times injected
        self.manual: dict[FaultKind, FaultSpec] = {}
        self.scheduled: list[FaultSpec] = []
        self.in_outage = False
        self.upstream_timeout_s = upstream_timeout_s
        self._app_runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._session: aiohttp.ClientSession | None = None
        self._sockets: set[web.WebSocketResponse] = set()
        self._transports: set[asyncio.BaseTransport] = set()
        self._outage_task: asyncio.Task[None] | None = None
        self.log = logger.bind(proxy=self.name)

    # ------------------------------------------------------------------ lifecycle
    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{LOOPBACK}:{self.port}"

    async def start(self) -> FaultProxy:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._app_runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await self._app_runner.setup()
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.upstream_timeout_s))
        await self._listen()
        return self

    async def stop(self) -> None:
        if self._outage_task is not None:
            self._outage_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._outage_task
        await self._close_sockets()
        if self._app_runner is not None:
            await self._app_runner.cleanup()
            self._app_runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> FaultProxy:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _listen(self) -> None:
        assert self._app_runner is not None
        self._site = web.TCPSite(self._app_runner, LOOPBACK, self.port, reuse_address=True)
        await self._site.start()
        sockets = getattr(self._site._server, "sockets", None)  # the bound port, when 0 was asked for
        if self.port == 0 and sockets:
            self.port = int(sockets[0].getsockname()[1])

    # ------------------------------------------------------------------ control API
    def set_fault(self, kind: FaultKind | str | FaultSpec, **params: Any) -> FaultSpec:
        """Turn a fault on (replacing a manual fault of the same kind); params are FaultSpec fields."""
        spec = kind if isinstance(kind, FaultSpec) else FaultSpec(kind=FaultKind(kind))
        if params:
            if "methods" in params:
                params["methods"] = frozenset(params["methods"])
            spec = replace(spec, **params)
        if spec.kind is FaultKind.OUTAGE:
            raise ValueError("an outage has a duration: use `await proxy.outage(seconds)` or start_outage()")
        self.manual[spec.kind] = spec
        if spec.kind is FaultKind.WS_CUT:
            asyncio.get_running_loop().create_task(self._close_sockets())
        return spec

    def clear_fault(self, kind: FaultKind | str | None = None) -> None:
        """Turn one manual fault (or all of them) off."""
        if kind is None:
            self.manual.clear()
        else:
            self.manual.pop(FaultKind(kind), None)

    async def start_outage(self) -> None:
        """Stop listening (new connections are refused) and drop every open connection and socket."""
        if self.in_outage:
            return
        self.in_outage = True
        self.injected[FaultKind.OUTAGE.value] += 1
        if self._site is not None:
            await self._site.stop()
            self._site = None
        for transport in list(self._transports):
            transport.abort() if hasattr(transport, "abort") else transport.close()
        await self._close_sockets()
        self.log.info("outage: {} refuses connections", self.url)

    async def end_outage(self) -> None:
        if not self.in_outage:
            return
        for attempt in range(50):  # the port was ours a moment ago; retry a brief bind race
            try:
                await self._listen()
                break
            except OSError:
                if attempt == 49:
                    raise
                await asyncio.sleep(0.05)
        self.in_outage = False
        self.log.info("outage over: {} listens again", self.url)

    async def outage(self, seconds: float) -> None:
        """A full outage for `seconds` (awaits its end)."""
        await self.start_outage()
        try:
            await asyncio.sleep(seconds)
        finally:
            await self.end_outage()

    def outage_for(self, seconds: float) -> asyncio.Task[None]:
        """Start an outage of `seconds` in the background; returns the task that ends it."""
        self._outage_task = asyncio.get_running_loop().create_task(self.outage(seconds))
        return self._outage_task

    async def apply(self, specs: list[FaultSpec]) -> None:
        """Make `specs` the scheduled faults in force (manual ones stay); an OUTAGE in them is a live outage."""
        outage = any(s.kind is FaultKind.OUTAGE for s in specs)
        ws_cut_new = any(s.kind is FaultKind.WS_CUT for s in specs) and not any(
            s.kind is FaultKind.WS_CUT for s in self.scheduled)
        self.scheduled = [s for s in specs if s.kind is not FaultKind.OUTAGE]
        if outage and not self.in_outage:
            await self.start_outage()
        elif not outage and self.in_outage:
            await self.end_outage()
        if ws_cut_new:
            await self._close_sockets()

    def counters(self) -> dict[str, Any]:
        return {"requests": self.requests, "ws_connections": self.ws_connections, "ws_frames": self.ws_frames,
                "injected": dict(self.injected)}

    # ------------------------------------------------------------------ HTTP
    def _active(self) -> list[FaultSpec]:
        return [*self.manual.values(), *self.scheduled]

    def _drawn(self, methods: list[str]) -> list[FaultSpec]:
        """The HTTP faults that hit this request: matching method, then the seeded coin flip."""
        hits = []
        for spec in self._active():
            if spec.kind not in HTTP_KINDS:
                continue
            if spec.methods and not any(spec.matches(m) for m in methods):
                continue
            if spec.probability >= 1.0 or self.rng.random() < spec.probability:
                hits.append(spec)
        return hits

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._ws(request)
        transport = request.transport
        if transport is not None:
            self._transports.add(transport)
        try:
            return await self._http(request, transport)
        finally:
            if transport is not None:
                self._transports.discard(transport)

    async def _http(self, request: web.Request, transport: asyncio.BaseTransport | None) -> web.StreamResponse:
        body = await request.read()
        self.requests += 1
        if self.in_outage:
            return self._drop(transport, FaultKind.OUTAGE)
        methods = _methods(body)
        for spec in self._drawn(methods):
            self.injected[spec.kind.value] += 1
            if spec.kind is FaultKind.DELAY:
                await asyncio.sleep(spec.delay_ms / 1000)
                continue
            if spec.kind is FaultKind.DROP:
                return self._drop(transport, None)
            if spec.kind is FaultKind.HTTP_STATUS:
                return web.Response(status=spec.status, text=f"injected HTTP {spec.status}\n")
            if spec.kind is FaultKind.RATE_LIMIT:
                return web.Response(status=429, text="injected rate limit\n",
                                    headers={"Retry-After": str(spec.retry_after_s)})
            if spec.kind is FaultKind.MALFORMED:
                return web.Response(status=200, body=b'{"jsonrpc":"2.0","id":1,"result":<<not json',
                                    content_type="application/json")
            if spec.kind is FaultKind.RPC_ERROR:
                errors = [{"jsonrpc": "2.0", "id": i, "error": {"code": spec.rpc_code, "message": spec.rpc_message}}
                          for i in _ids(body)]
                doc: Any = errors if body.lstrip().startswith(b"[") else errors[0]
                return web.json_response(doc)
            if spec.kind is FaultKind.CUT:
                status, headers, payload = await self._forward(request, body)
                return await self._cut(request, status, headers, payload)
        status, headers, payload = await self._forward(request, body)
        return web.Response(status=status, body=payload, headers=headers)

    async def _forward(self, request: web.Request, body: bytes) -> tuple[int, dict[str, str], bytes]:
        assert self._session is not None
        headers = {"Content-Type": request.headers.get("Content-Type", "application/json")}
        async with self._session.request(request.method, self.upstream, data=body, headers=headers) as resp:
            payload = await resp.read()
            out = {"Content-Type": resp.headers.get("Content-Type", "application/json")}
            return resp.status, out, payload

    def _drop(self, transport: asyncio.BaseTransport | None, kind: FaultKind | None) -> web.StreamResponse:
        if transport is not None:
            transport.abort() if hasattr(transport, "abort") else transport.close()
        if kind is not None:
            self.injected[kind.value + "_dropped"] += 1
        return web.Response(status=204)  # never written: the connection is gone

    async def _cut(self, request: web.Request, status: int, headers: dict[str, str],
                   payload: bytes) -> web.StreamResponse:
        resp = web.StreamResponse(status=status, headers=headers)
        resp.content_length = len(payload)
        await resp.prepare(request)
        await resp.write(payload[: max(len(payload) // 2, 1)])
        await asyncio.sleep(0.01)  # let the half body leave before the connection goes
        if request.transport is not None:
            request.transport.abort()
        return resp

    # ------------------------------------------------------------------ WebSocket
    def _ws_fault(self, kind: FaultKind) -> bool:
        return any(s.kind is kind for s in self._active())

    async def _ws(self, request: web.Request) -> web.StreamResponse:
        client = web.WebSocketResponse(autoping=True, max_msg_size=0)
        await client.prepare(request)
        self.ws_connections += 1
        if self.in_outage or self._ws_fault(FaultKind.WS_CUT):
            self.injected[FaultKind.WS_CUT.value] += 1
            await client.close(code=aiohttp.WSCloseCode.GOING_AWAY, message=b"injected cut")
            return client
        assert self._session is not None
        self._sockets.add(client)
        try:
            async with self._session.ws_connect(self.ws_upstream, max_msg_size=0) as upstream:
                down = asyncio.create_task(self._pump(upstream, client))
                up = asyncio.create_task(self._pump(client, upstream))
                _done, pending = await asyncio.wait({down, up}, return_when=asyncio.FIRST_COMPLETED)
                for task in pending:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
        except (aiohttp.ClientError, OSError) as exc:
            self.log.debug("websocket upstream failed: {}", type(exc).__name__)
        finally:
            self._sockets.discard(client)
            if not client.closed:
                await client.close()
        return client

    async def _pump(self, src: Any, dst: Any) -> None:
        async for msg in src:
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                return
            if self._ws_fault(FaultKind.WS_STALL):
                self.injected[FaultKind.WS_STALL.value] += 1  # frames swallowed while stalled
                continue
            if msg.type == WSMsgType.TEXT:
                await dst.send_str(msg.data)
            elif msg.type == WSMsgType.BINARY:
                await dst.send_bytes(msg.data)
            self.ws_frames += 1

    async def _close_sockets(self) -> None:
        for ws in list(self._sockets):
            with contextlib.suppress(Exception):
                await ws.close(code=aiohttp.WSCloseCode.GOING_AWAY, message=b"injected cut")
        self._sockets.clear()


class FaultTarget(Protocol):
    """What a schedule drives: one proxy, or several URLs of one chain as one."""

    async def apply(self, specs: list[FaultSpec]) -> None: ...


class ScheduleDriver:
    """Applies a Schedule to named proxies on the monotonic clock; `on_transition` sees every start/end."""

    def __init__(self, schedule: Schedule, proxies: Mapping[str, FaultTarget],
                 on_transition: Callable[[Transition], None] | None = None) -> None:
        missing = sorted(schedule.chains() - set(proxies))
        if missing:
            raise ValueError(f"the schedule names chains without a proxy: {', '.join(missing)}")
        self.schedule = schedule
        self.proxies = proxies
        self.on_transition = on_transition
        self.started_at: float | None = None
        self.log: list[tuple[float, Transition]] = []  # (monotonic time, transition) as applied

    async def run(self) -> None:
        """Runs until the last transition is applied (cancel it to stop early)."""
        self.started_at = time.monotonic()
        for tr in self.schedule.transitions():
            delay = tr.t - (time.monotonic() - self.started_at)
            if delay > 0:
                await asyncio.sleep(delay)
            chain = tr.fault.chain
            elapsed = time.monotonic() - self.started_at
            await self.proxies[chain].apply(self.schedule.active(chain, elapsed + 1e-9))
            self.log.append((time.monotonic(), tr))
            if self.on_transition is not None:
                self.on_transition(tr)
