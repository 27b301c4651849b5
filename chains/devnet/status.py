"""``rtrm devnet status``: probe every chain in the manifest and judge its health from data freshness."""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass

import aiohttp

from chains.devnet.manifest import ChainEntry, Manifest
from chains.devnet.rpc import RpcError, rpc_call

STALE_FACTOR = 3.0  # an interval-mined chain is stale after this many block times without a block
STALE_FLOOR = 5.0  # seconds; block timestamps are whole seconds


@dataclass(frozen=True)
class Probe:
    """Raw answers from one chain (None where it did not answer)."""

    chain_id: int | None = None
    head: int | None = None
    head_time: int | None = None
    health: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class ChainStatus:
    name: str
    kind: str
    rpc_url: str
    healthy: bool
    reason: str
    head: int | None
    head_age: float | None
    chain_id: int | None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def assess(entry: ChainEntry, probe: Probe, now: float) -> ChainStatus:
    """Pure verdict: down / wrong chain / stale / ok, with the reason."""
    age = None if probe.head_time is None else max(0.0, now - probe.head_time)

    def verdict(healthy: bool, reason: str) -> ChainStatus:
        return ChainStatus(
            entry.name, entry.kind, entry.rpc_url, healthy, reason, probe.head, age, probe.chain_id
        )

    if probe.error is not None:
        return verdict(False, f"down: {probe.error}")
    if entry.kind == "solana":
        return verdict(probe.health == "ok", "ok" if probe.health == "ok" else f"getHealth={probe.health!r}")
    if probe.chain_id != entry.chain_id:
        return verdict(False, f"wrong chain id {probe.chain_id} (expected {entry.chain_id})")
    if entry.block_time and age is not None and age > max(STALE_FACTOR * entry.block_time, STALE_FLOOR):
        return verdict(False, f"stale: no block for {age:.0f}s (block time {entry.block_time:g}s)")
    return verdict(True, "ok" if entry.block_time else "ok (automine: head age = time since last tx)")


async def probe_chain(session: aiohttp.ClientSession, entry: ChainEntry, timeout: float = 3.0) -> Probe:
    try:
        if entry.kind == "solana":
            health = await rpc_call(session, entry.rpc_url, "getHealth", timeout=timeout)
            slot = await rpc_call(session, entry.rpc_url, "getSlot", timeout=timeout)
            return Probe(head=int(slot), health=str(health))
        chain_id = int(await rpc_call(session, entry.rpc_url, "eth_chainId", timeout=timeout), 16)
        block = await rpc_call(
            session, entry.rpc_url, "eth_getBlockByNumber", ["latest", False], timeout=timeout
        )
        return Probe(chain_id=chain_id, head=int(block["number"], 16), head_time=int(block["timestamp"], 16))
    except (RpcError, aiohttp.ClientError, TimeoutError, ValueError, KeyError, TypeError) as exc:
        return Probe(error=str(exc) or type(exc).__name__)


async def collect_status(manifest: Manifest) -> list[ChainStatus]:
    async with aiohttp.ClientSession() as session:
        probes = await asyncio.gather(*(probe_chain(session, c) for c in manifest.chains.values()))
    now = time.time()
    return [assess(c, p, now) for c, p in zip(manifest.chains.values(), probes, strict=True)]


def format_status(rows: list[ChainStatus]) -> list[str]:
    lines = [f"{'chain':<9} {'kind':<6} {'chain_id':>8} {'head':>8} {'age':>7}  health"]
    for r in rows:
        cid = "-" if r.chain_id is None else str(r.chain_id)
        head = "-" if r.head is None else str(r.head)
        age = "-" if r.head_age is None else f"{r.head_age:.0f}s"
        lines.append(f"{r.name:<9} {r.kind:<6} {cid:>8} {head:>8} {age:>7}  {r.reason}")
    return lines
