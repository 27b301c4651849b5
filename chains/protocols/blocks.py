"""Pin a read to one block: resolve a tag to (number, hash, timestamp) once, then read every call there."""

from __future__ import annotations

from dataclasses import dataclass

from chains.protocols.base import AdapterError, Rpc


@dataclass(frozen=True, slots=True)
class BlockRef:
    number: int
    hash: str
    timestamp: int


async def resolve_block(rpc: Rpc, block: int | str) -> BlockRef:
    """`latest`/`safe`/a number → the concrete block, so multi-round reads cannot straddle two blocks."""
    tag = hex(block) if isinstance(block, int) else block
    header = await rpc.expect("eth_getBlockByNumber", [tag, False])
    if not isinstance(header, dict):
        raise AdapterError(f"block {block!r} not found on the node (is the node behind, or pruned?)")
    return BlockRef(int(header["number"], 16), str(header["hash"]), int(header["timestamp"], 16))


async def head_number(rpc: Rpc) -> int:
    return int(await rpc.expect("eth_blockNumber", []), 16)


async def scan_logs(rpc: Rpc, addresses: list[str], topics: list[object], from_block: int, to_block: int,
                    chunk: int = 5000) -> list[dict[str, object]]:
    """eth_getLogs over [from_block, to_block] in ranges of `chunk` blocks; a range the node refuses (too many
    results) is halved and retried, so backfilling from a deploy block works against capped providers."""
    logs: list[dict[str, object]] = []
    start = from_block
    size = max(1, chunk)
    while start <= to_block:
        end = min(to_block, start + size - 1)
        params: dict[str, object] = {"fromBlock": hex(start), "toBlock": hex(end), "address": addresses,
                                     "topics": topics}
        reply = await rpc.request("eth_getLogs", [params])
        if not isinstance(reply, list):
            if size == 1:
                raise AdapterError(f"eth_getLogs refused block {start} even alone: {reply}")
            size = max(1, size // 2)
            continue
        logs.extend(reply)
        start = end + 1
    return logs
