"""Several RPC URLs per chain with failover and per-URL health (latency, errors, head lag).

A keeper that trusts one RPC stops acting when that RPC stalls. The pool ranks endpoints by health, sends each
request to the best one, and on a transport failure marks it down for an exponentially growing back-off and
retries the request on the next. Health is data: latency EWMA, consecutive errors, last head seen.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from web3 import AsyncHTTPProvider, AsyncWeb3

from chains.evm.rpc import RawRpc, RpcErrorReply, RpcFailure, RpcRateLimited, RpcTransportError


@dataclass
class EndpointHealth:
    url: str
    latency_ewma_s: float = 0.0
    requests: int = 0
    errors: int = 0
    consecutive_errors: int = 0
    down_until: float = 0.0
    last_head: int = 0
    last_ok_at: float = 0.0
    last_error: str = ""

    def is_up(self, now: float) -> bool:
        return now >= self.down_until

    def as_dict(self, best_head: int, now: float) -> dict[str, Any]:
        return {"url": self.url, "up": self.is_up(now), "latency_ms": round(self.latency_ewma_s * 1000, 2),
                "requests": self.requests, "errors": self.errors, "head_lag": max(best_head - self.last_head, 0),
                "last_error": self.last_error}


@dataclass
class _Endpoint:
    health: EndpointHealth
    rpc: RawRpc
    w3: AsyncWeb3 = field(repr=False)


class AllEndpointsDown(RpcTransportError):
    """Every configured RPC URL failed for this request."""


class EndpointPool:
    """Failover JSON-RPC across `urls` (first = preferred when healthy)."""

    def __init__(self, urls: Sequence[str], timeout_s: float = 5.0, base_backoff_s: float = 0.5,
                 max_backoff_s: float = 30.0, alpha: float = 0.2) -> None:
        if not urls:
            raise ValueError("an endpoint pool needs at least one RPC URL")
        self._eps = []
        for url in urls:
            # no provider-level retries: the pool fails over instead of waiting on a dead URL
            w3 = AsyncWeb3(AsyncHTTPProvider(url, request_kwargs={"timeout": timeout_s},
                                             exception_retry_configuration=None))
            self._eps.append(_Endpoint(EndpointHealth(url), RawRpc(w3), w3))
        self.base_backoff_s = base_backoff_s
        self.max_backoff_s = max_backoff_s
        self.alpha = alpha
        self.failovers = 0

    def ranked(self, now: float | None = None) -> list[_Endpoint]:
        """Up endpoints first (preferred order, then lower head lag), then down ones by soonest retry."""
        t = time.monotonic() if now is None else now
        best_head = max(e.health.last_head for e in self._eps)
        up = [e for e in self._eps if e.health.is_up(t)]
        up.sort(key=lambda e: (best_head - e.health.last_head > 2, self._eps.index(e)))
        down = sorted((e for e in self._eps if not e.health.is_up(t)), key=lambda e: e.health.down_until)
        return up + down

    async def request(self, method: str, params: Sequence[Any]) -> Any | RpcFailure:
        """Send to the best endpoint; on transport failure fail over. JSON-RPC errors are returned as values."""
        errors: list[str] = []
        for i, ep in enumerate(self.ranked()):
            started = time.monotonic()
            try:
                result = await ep.rpc.request(method, params)
            except RpcTransportError as exc:
                self._mark_error(ep.health, str(exc), exc.retry_after_s if isinstance(exc, RpcRateLimited) else None)
                errors.append(f"{ep.health.url}: {exc}")
                if i == 0:
                    self.failovers += 1
                continue
            self._mark_ok(ep.health, time.monotonic() - started)
            if method == "eth_blockNumber" and isinstance(result, str):
                ep.health.last_head = int(result, 16)
            return result
        raise AllEndpointsDown(f"{method}: all {len(self._eps)} endpoints failed: " + "; ".join(errors))

    async def expect(self, method: str, params: Sequence[Any]) -> Any:
        result = await self.request(method, params)
        if isinstance(result, RpcFailure):
            raise RpcErrorReply(method, result)
        return result

    async def probe(self) -> None:
        """Refresh every endpoint's head (for head-lag ranking), ignoring failures."""
        for ep in self._eps:
            started = time.monotonic()
            try:
                head = await ep.rpc.expect("eth_blockNumber", [])
            except RpcTransportError as exc:
                self._mark_error(ep.health, str(exc))
                continue
            self._mark_ok(ep.health, time.monotonic() - started)
            ep.health.last_head = int(head, 16)

    def health(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        best = max(e.health.last_head for e in self._eps)
        return [e.health.as_dict(best, now) for e in self._eps]

    async def close(self) -> None:
        for ep in self._eps:
            await ep.w3.provider.disconnect()

    def _mark_ok(self, h: EndpointHealth, latency: float) -> None:
        h.requests += 1
        h.consecutive_errors = 0
        h.down_until = 0.0
        h.last_ok_at = time.monotonic()
        h.latency_ewma_s = latency if h.requests == 1 else (1 - self.alpha) * h.latency_ewma_s + self.alpha * latency

    def _mark_error(self, h: EndpointHealth, message: str, retry_after_s: float | None = None) -> None:
        """Down for an exponential back-off; a 429's Retry-After (capped at max_backoff_s) is honoured."""
        h.requests += 1
        h.errors += 1
        h.consecutive_errors += 1
        h.last_error = message[:200]
        backoff = min(self.max_backoff_s, self.base_backoff_s * 2 ** (h.consecutive_errors - 1))
        if retry_after_s is not None:
            backoff = max(backoff, min(retry_after_s, self.max_backoff_s))
        h.down_until = time.monotonic() + backoff
