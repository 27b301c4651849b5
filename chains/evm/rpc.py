"""Raw JSON-RPC calls the lane needs, returning node errors as values instead of exceptions.

The lane must see the node's exact error message and revert data to classify them; web3's exception mapping
loses part of that (custom errors arrive as a selector only), so these go through `provider.make_request`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
from web3 import AsyncHTTPProvider, AsyncWeb3

from chains.evm.fees import FeeMarket


@dataclass(frozen=True, slots=True)
class RpcFailure:
    """A JSON-RPC error object: code, message, and revert data when the node returned some."""

    code: int
    message: str
    data: str = ""


class JsonRpc(Protocol):
    """What readers need from an endpoint: `RawRpc(w3)` and `EndpointPool(urls)` both satisfy it."""

    async def request(self, method: str, params: Sequence[Any]) -> Any | RpcFailure: ...

    async def expect(self, method: str, params: Sequence[Any]) -> Any: ...


class RpcTransportError(RuntimeError):
    """The node could not be reached or answered something that is not JSON-RPC."""


class RpcConnectionError(RpcTransportError):
    """Refused, reset or cut connection (no answer, or half of one)."""


class RpcTimeout(RpcTransportError):
    """No answer within the client's timeout."""


class RpcHttpError(RpcTransportError):
    """The endpoint answered with an HTTP error status instead of JSON-RPC."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class RpcRateLimited(RpcHttpError):
    """HTTP 429; `retry_after_s` is the endpoint's Retry-After (seconds), when it sent one."""

    def __init__(self, message: str, retry_after_s: float | None) -> None:
        super().__init__(message, 429)
        self.retry_after_s = retry_after_s


class RpcMalformedResponse(RpcTransportError):
    """HTTP 200 but the body is not JSON-RPC (garbage, truncated, wrong shape)."""


class RpcErrorReply(RpcTransportError):
    """A JSON-RPC error object where a result was required (`expect`); `failure` has code, message, data."""

    def __init__(self, method: str, failure: RpcFailure) -> None:
        super().__init__(f"{method}: {failure.message}")
        self.failure = failure


def transport_error(method: str, exc: BaseException) -> RpcTransportError:
    """The typed transport error for what the HTTP client raised (callers react by type: back off on 429,
    fail over on a refused connection, distrust an endpoint that returns garbage)."""
    text = f"{method}: {type(exc).__name__}: {exc}"
    if isinstance(exc, aiohttp.ClientResponseError):
        if exc.status == 429:
            return RpcRateLimited(text, _retry_after(exc.headers))
        return RpcHttpError(text, exc.status)
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return RpcTimeout(text)
    if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ClientConnectionError | ConnectionError):
        return RpcConnectionError(text)
    if isinstance(exc, ValueError):  # json.JSONDecodeError and web3's bad-format errors
        return RpcMalformedResponse(text)
    return RpcTransportError(text)


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:
        return None


def _revert_data(error: dict[str, Any]) -> str:
    data = error.get("data")
    if isinstance(data, str):
        return data
    if isinstance(data, dict):  # some clients nest it: {"data": {"data": "0x..."}} or {"result": "0x..."}
        inner = data.get("data") or data.get("result") or ""
        return inner if isinstance(inner, str) else ""
    return ""


def _quantity(value: Any, what: str) -> int:
    """A JSON-RPC hex quantity ("0x1a"), non-negative; anything else is a malformed answer, not a crash."""
    if isinstance(value, str) and value.startswith("0x"):
        try:
            n = int(value, 16)
        except ValueError:
            n = -1
        if n >= 0:
            return n
    raise RpcMalformedResponse(f"{what}: expected a hex quantity, got {str(value)[:40]!r}")


class RawRpc:
    """Thin async JSON-RPC access over an AsyncWeb3 provider."""

    def __init__(self, w3: AsyncWeb3) -> None:
        self.w3 = w3
        self._pooled_for: asyncio.AbstractEventLoop | None = None

    async def _keep_alive(self) -> None:
        """web3's default aiohttp session opens a new TCP connection for every request (`force_close`); one
        keep-alive session per event loop halves a local call (0.82 → 0.44 ms wall, 0.60 → 0.33 ms CPU on anvil).
        The provider's `disconnect()` closes it."""
        loop = asyncio.get_running_loop()
        provider = self.w3.provider
        if self._pooled_for is loop or not isinstance(provider, AsyncHTTPProvider):
            return
        self._pooled_for = loop
        session = aiohttp.ClientSession(raise_for_status=True)
        if await provider.cache_async_session(session) is not session:  # one was already cached: keep that
            await session.close()

    async def request(self, method: str, params: Sequence[Any]) -> Any | RpcFailure:
        await self._keep_alive()
        for attempt in (0, 1):
            try:
                response = await self.w3.provider.make_request(method, list(params))
                break
            except aiohttp.ServerDisconnectedError as exc:
                # a pooled keep-alive connection the server closed meanwhile (idle timeout, restart): one retry on
                # a fresh connection. Safe for every method we send: reads, and a signed tx re-sent is the same tx
                if attempt:
                    raise transport_error(method, exc) from exc
            except Exception as exc:
                raise transport_error(method, exc) from exc
        if not isinstance(response, dict):
            raise RpcMalformedResponse(f"{method}: non JSON-RPC response {type(response).__name__}")
        if "error" in response and response["error"] is not None:
            err = response["error"]
            if isinstance(err, dict):
                code = err.get("code", 0)
                return RpcFailure(code if isinstance(code, int) and not isinstance(code, bool) else 0,
                                  str(err.get("message", "")), _revert_data(err))
            return RpcFailure(0, str(err))
        return response.get("result")

    async def expect(self, method: str, params: Sequence[Any]) -> Any:
        """Like `request` but a JSON-RPC error becomes RpcTransportError (for reads that must succeed)."""
        result = await self.request(method, params)
        if isinstance(result, RpcFailure):
            raise RpcErrorReply(method, result)
        return result

    async def nonce_counts(self, address: str) -> tuple[int, int]:
        """(mined count at latest, count including pending) for `address`."""
        latest = await self.expect("eth_getTransactionCount", [address, "latest"])
        pending = await self.expect("eth_getTransactionCount", [address, "pending"])
        return _quantity(latest, "eth_getTransactionCount"), _quantity(pending, "eth_getTransactionCount")

    async def fee_market(self, blocks: int = 10) -> FeeMarket:
        history = await self.expect("eth_feeHistory", [hex(blocks), "latest", [50, 90]])
        if not isinstance(history, dict):
            raise RpcMalformedResponse(f"eth_feeHistory: expected an object, got {type(history).__name__}")
        base_fees = history.get("baseFeePerGas") or ["0x0"]
        rewards = history.get("reward") or []
        if not isinstance(base_fees, list) or not isinstance(rewards, list) \
                or not all(isinstance(row, list) for row in rewards):
            raise RpcMalformedResponse("eth_feeHistory: baseFeePerGas / reward are not lists")
        tips = [_quantity(r, "eth_feeHistory reward") for row in rewards for r in row]
        return FeeMarket(base_fee=_quantity(base_fees[-1], "eth_feeHistory baseFeePerGas"), recent_tips=tips)

    async def head(self) -> int:
        return _quantity(await self.expect("eth_blockNumber", []), "eth_blockNumber")

    async def block_hash(self, number: int) -> str | None:
        block = await self.expect("eth_getBlockByNumber", [hex(number), False])
        if block is None:
            return None
        if not isinstance(block, dict) or not isinstance(block.get("hash"), str):
            raise RpcMalformedResponse(f"eth_getBlockByNumber: no block hash in {str(block)[:80]!r}")
        return str(block["hash"])

    async def receipt(self, tx_hash: str) -> dict[str, Any] | None:
        result = await self.expect("eth_getTransactionReceipt", [tx_hash])
        return result if isinstance(result, dict) else None

    async def transaction(self, tx_hash: str) -> dict[str, Any] | None:
        result = await self.expect("eth_getTransactionByHash", [tx_hash])
        return result if isinstance(result, dict) else None
