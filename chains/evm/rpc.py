"""Raw JSON-RPC calls the lane needs, returning node errors as values instead of exceptions.

The lane must see the node's exact error message and revert data to classify them; web3's exception mapping
loses part of that (custom errors arrive as a selector only), so these go through `provider.make_request`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from web3 import AsyncWeb3

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


def _revert_data(error: dict[str, Any]) -> str:
    data = error.get("data")
    if isinstance(data, str):
        return data
    if isinstance(data, dict):  # some clients nest it: {"data": {"data": "0x..."}} or {"result": "0x..."}
        inner = data.get("data") or data.get("result") or ""
        return inner if isinstance(inner, str) else ""
    return ""


class RawRpc:
    """Thin async JSON-RPC access over an AsyncWeb3 provider."""

    def __init__(self, w3: AsyncWeb3) -> None:
        self.w3 = w3

    async def request(self, method: str, params: Sequence[Any]) -> Any | RpcFailure:
        try:
            response = await self.w3.provider.make_request(method, list(params))
        except Exception as exc:
            raise RpcTransportError(f"{method}: {type(exc).__name__}: {exc}") from exc
        if not isinstance(response, dict):
            raise RpcTransportError(f"{method}: non JSON-RPC response {type(response).__name__}")
        if "error" in response and response["error"] is not None:
            err = response["error"]
            if isinstance(err, dict):
                return RpcFailure(int(err.get("code", 0)), str(err.get("message", "")), _revert_data(err))
            return RpcFailure(0, str(err))
        return response.get("result")

    async def expect(self, method: str, params: Sequence[Any]) -> Any:
        """Like `request` but a JSON-RPC error becomes RpcTransportError (for reads that must succeed)."""
        result = await self.request(method, params)
        if isinstance(result, RpcFailure):
            raise RpcTransportError(f"{method}: {result.message}")
        return result

    async def nonce_counts(self, address: str) -> tuple[int, int]:
        """(mined count at latest, count including pending) for `address`."""
        latest = await self.expect("eth_getTransactionCount", [address, "latest"])
        pending = await self.expect("eth_getTransactionCount", [address, "pending"])
        return int(latest, 16), int(pending, 16)

    async def fee_market(self, blocks: int = 10) -> FeeMarket:
        history = await self.expect("eth_feeHistory", [hex(blocks), "latest", [50, 90]])
        base_fees = history.get("baseFeePerGas") or ["0x0"]
        tips = [int(r, 16) for row in (history.get("reward") or []) for r in row]
        return FeeMarket(base_fee=int(base_fees[-1], 16), recent_tips=tips)

    async def head(self) -> int:
        return int(await self.expect("eth_blockNumber", []), 16)

    async def block_hash(self, number: int) -> str | None:
        block = await self.expect("eth_getBlockByNumber", [hex(number), False])
        return None if block is None else str(block["hash"])

    async def receipt(self, tx_hash: str) -> dict[str, Any] | None:
        result = await self.expect("eth_getTransactionReceipt", [tx_hash])
        return result if isinstance(result, dict) else None

    async def transaction(self, tx_hash: str) -> dict[str, Any] | None:
        result = await self.expect("eth_getTransactionByHash", [tx_hash])
        return result if isinstance(result, dict) else None
