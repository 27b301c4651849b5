"""Batched contract reads through Multicall3 `aggregate3` (allowFailure), all at one block.

Reading 10k accounts one eth_call at a time costs 10k round trips; one aggregate3 per few hundred calls costs
tens. The batch size adapts: a batch the node refuses (gas cap, response size, timeout) is split in half and
retried, and the size grows back after successes, so one oversized account never blocks the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_abi import decode, encode
from eth_utils import keccak

from chains.evm.rpc import RawRpc, RpcFailure

MULTICALL3 = "0xcA11bde05977b3631167028862bE2a173976CA11"
_AGGREGATE3 = keccak(text="aggregate3((address,bool,bytes)[])")[:4]


@dataclass(frozen=True, slots=True)
class Call:
    target: str
    data: bytes


@dataclass(frozen=True, slots=True)
class CallResult:
    ok: bool
    data: bytes


class MulticallError(RuntimeError):
    """A single call could not be executed even alone (node-level failure, not a revert)."""


def encode_aggregate3(calls: Sequence[Call]) -> str:
    body = encode(["(address,bool,bytes)[]"], [[(c.target, True, c.data) for c in calls]])
    return "0x" + (_AGGREGATE3 + body).hex()


def decode_aggregate3(result_hex: str) -> list[CallResult]:
    raw = bytes.fromhex(result_hex.removeprefix("0x"))
    (items,) = decode(["(bool,bytes)[]"], raw)
    return [CallResult(bool(ok), bytes(data)) for ok, data in items]


class MulticallReader:
    """Adaptive-batch Multicall3 reader over one RPC endpoint."""

    def __init__(self, rpc: RawRpc, batch_size: int = 500, min_batch: int = 1, max_batch: int = 2000,
                 address: str = MULTICALL3) -> None:
        self.rpc = rpc
        self.batch_size = batch_size
        self.min_batch = min_batch
        self.max_batch = max_batch
        self.address = address
        self.round_trips = 0
        self.splits = 0

    async def read(self, calls: Sequence[Call], block: int | str = "latest") -> list[CallResult]:
        """Results in the order of `calls`; a reverting call gives ok=False, never an exception."""
        tag = hex(block) if isinstance(block, int) else block
        results: list[CallResult] = []
        i = 0
        while i < len(calls):
            size = min(self.batch_size, len(calls) - i)
            chunk = calls[i : i + size]
            out = await self._try(chunk, tag)
            if out is None:
                if size <= self.min_batch:
                    raise MulticallError(f"multicall of {size} call(s) failed at {tag} even at minimum batch size")
                self.batch_size = max(self.min_batch, size // 2)
                self.splits += 1
                continue
            results.extend(out)
            i += size
            if size == self.batch_size:
                self.batch_size = min(self.max_batch, self.batch_size + self.batch_size // 4 + 1)
        return results

    async def _try(self, chunk: Sequence[Call], tag: str) -> list[CallResult] | None:
        self.round_trips += 1
        reply = await self.rpc.request("eth_call", [{"to": self.address, "data": encode_aggregate3(chunk)}, tag])
        if isinstance(reply, RpcFailure) or not isinstance(reply, str):
            return None
        decoded = decode_aggregate3(reply)
        return decoded if len(decoded) == len(chunk) else None
