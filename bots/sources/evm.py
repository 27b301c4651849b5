"""Small chain reads every source needs: the head block (number, hash, time), gas price, eth_call with revert data.

Why separate: sources read everything at ONE block so a decision is consistent; these helpers take the block
explicitly and return typed values or `CallReverted` with the node's revert data (a custom error to decode).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from chains.evm.rpc import RpcFailure
from chains.protocols.abi import hex_to_bytes
from chains.protocols.base import Rpc


@dataclass(frozen=True, slots=True)
class Head:
    number: int
    hash: str
    timestamp: int


class CallReverted(RuntimeError):
    """An eth_call reverted; `data` is the revert payload (selector + args) as bytes, maybe empty."""

    def __init__(self, where: str, failure: RpcFailure) -> None:
        super().__init__(f"{where} reverted: {failure.message}")
        self.data = hex_to_bytes(failure.data, where) if failure.data else b""

    @property
    def selector(self) -> bytes:
        return self.data[:4]


async def head(rpc: Rpc) -> Head:
    block: Any = await rpc.expect("eth_getBlockByNumber", ["latest", False])
    if not isinstance(block, dict):
        raise RuntimeError(f"eth_getBlockByNumber(latest) returned {type(block).__name__}, expected an object")
    return Head(int(block["number"], 16), str(block["hash"]), int(block["timestamp"], 16))


async def gas_price_gwei(rpc: Rpc) -> Decimal:
    wei = int(await rpc.expect("eth_gasPrice", []), 16)
    return Decimal(wei) / Decimal(10**9)


async def call(rpc: Rpc, to: str, data: bytes, block: int, where: str) -> bytes:
    """eth_call at `block`; a revert raises CallReverted (with its data), transport errors propagate."""
    res = await rpc.request("eth_call", [{"to": to, "data": "0x" + data.hex()}, hex(block)])
    if isinstance(res, RpcFailure):
        raise CallReverted(where, res)
    return hex_to_bytes(res, where)
