"""Minimal JSON-RPC over HTTP for readiness and status probes (works for anvil and the Solana endpoint alike)."""

from __future__ import annotations

import itertools
from typing import Any

import aiohttp

_ids = itertools.count(1)


class RpcError(RuntimeError):
    """The endpoint answered with a JSON-RPC error, or not with JSON-RPC at all."""


async def rpc_call(
    session: aiohttp.ClientSession,
    url: str,
    method: str,
    params: list[Any] | None = None,
    *,
    timeout: float = 5.0,
) -> Any:
    """Call ``method`` and return its ``result``; raise :class:`RpcError` on an error reply."""
    body = {"jsonrpc": "2.0", "id": next(_ids), "method": method, "params": params or []}
    async with session.post(url, json=body, timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
        try:
            reply = await resp.json(content_type=None)
        except ValueError as exc:
            raise RpcError(f"{url} {method}: HTTP {resp.status}, not JSON") from exc
    if not isinstance(reply, dict):
        raise RpcError(f"{url} {method}: unexpected reply {reply!r:.200}")
    if reply.get("error") is not None:
        err = reply["error"]
        msg = err.get("message", err) if isinstance(err, dict) else err
        raise RpcError(f"{url} {method}: {msg}")
    return reply.get("result")
