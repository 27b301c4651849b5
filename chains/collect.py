"""Build every adapter for every chain of a devnet manifest and read what they see, at one block per chain.

Why one place: "which adapters exist on which chain, configured how" is knowledge the CLI (`rtrm inspect`),
tests and bots all need; here it is derived from the manifest's contract names (plus the seed report for
entities and Solana mints), and the adapters come from the registries (`chains.protocols.registry` for EVM,
:data:`SOLANA_REGISTRY` for Solana). :func:`plan_adapters` is pure; :class:`Collector` owns the connections.

Every EVM chain is read at one pinned head block (discovery up to it, account reads and oracles at it), so a
snapshot never mixes blocks within a chain. Solana RPC serves only the latest state; its results carry the slot.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp

from chains.devnet.manifest import ChainEntry, Manifest
from chains.evm.endpoints import EndpointPool
from chains.model import AccountState, Position, Underlying
from chains.protocols.base import AdapterError, OracleReadings
from chains.protocols.blocks import resolve_block
from chains.protocols.oracles import (
    ChainlinkFeed,
    OracleReader,
    OracleSet,
    PythFeed,
    SequencerFeed,
    VolFeedSpec,
)
from chains.protocols.registry import REGISTRY, create_adapter
from chains.solana import adapter as solana_adapter
from chains.solana.client import SolanaClient

FEEDS = "oracles"  # pseudo-protocol name of a chain's own oracle set (Chainlink, sequencer, VolFeed, Pyth)
SOLANA_PROTOCOL = solana_adapter.PROTOCOL
# Solana protocol name -> factory(chain, SolanaClient, config); the EVM registry takes an EVM Rpc instead.
SOLANA_REGISTRY: dict[str, Callable[[str, SolanaClient, Mapping[str, Any]], Any]] = {
    SOLANA_PROTOCOL: solana_adapter.factory,
}
# Chainlink-style feed contract name in the manifest -> canonical asset
CHAINLINK_FEEDS: Mapping[str, Underlying] = {
    "ETH_USD": Underlying.ETH,
    "BTC_USD": Underlying.BTC,
    "USDC_USD": Underlying.USD,
}
UNISWAP_POOL = "UniswapV3Pool_WETH_USDC_500"
CLOCK_SYSVAR = "SysvarC1ock11111111111111111111111111111111"


class CollectError(RuntimeError):
    """The manifest/seed report cannot be turned into adapters, or a filter names something that is not there."""


def protocol_names() -> list[str]:
    """Every protocol name a filter may use (EVM registry + Solana registry + the chain oracle set)."""
    return sorted({*REGISTRY, *SOLANA_REGISTRY, FEEDS})


# ---------------------------------------------------------------------------------------------- pure planning
@dataclass(frozen=True, slots=True)
class AdapterPlan:
    """One adapter to build: protocol name, chain, and its factory config."""

    chain: str
    protocol: str
    config: Mapping[str, Any]


def entity_map(seed_report: Mapping[str, Any] | None) -> dict[str, str]:
    """address/pubkey -> entity from the seed report's `entities` ({entity: {"evm": addr, "solana": pk}})."""
    out: dict[str, str] = {}
    for entity, addrs in ((seed_report or {}).get("entities") or {}).items():
        if not isinstance(addrs, Mapping):
            raise CollectError(f"seed report: entities[{entity!r}] must be an object, got {addrs!r:.60}")
        for key in ("evm", "solana"):
            if addrs.get(key):
                out[str(addrs[key])] = str(entity)
    return out


def _evm_plans(c: ChainEntry, entities: Mapping[str, str]) -> list[AdapterPlan]:
    has = c.contracts
    plans: list[AdapterPlan] = []

    def simple(contract: str, protocol: str, **extra: Any) -> None:
        if contract in has:
            cfg = {
                "address": str(has[contract].address),
                "deploy_block": has[contract].block,
                "entities": dict(entities),
                **extra,
            }
            plans.append(AdapterPlan(c.name, protocol, cfg))

    simple("VaultOptions", "vault_options")
    simple("PortfolioMargin", "portfolio_margin")
    simple("OptionAMM", "option_amm")
    simple("CoverMarket", "cover_market")
    if {"SwapRouter", "QuoterV2"} <= has.keys():
        pools = []
        if {UNISWAP_POOL, "WETH", "USDC"} <= has.keys():
            pools.append(
                {
                    "address": str(has[UNISWAP_POOL].address),
                    "base": str(has["WETH"].address),
                    "quote": str(has["USDC"].address),
                    "base_decimals": 18,
                    "quote_decimals": 6,
                    "asset": "ETH",
                }
            )
        plans.append(
            AdapterPlan(
                c.name,
                "uniswap_v3",
                {
                    "router": str(has["SwapRouter"].address),
                    "quoter": str(has["QuoterV2"].address),
                    "pools": pools,
                },
            )
        )
    return plans


def _solana_plan(
    c: ChainEntry, seed_report: Mapping[str, Any] | None, entities: Mapping[str, str]
) -> AdapterPlan:
    """Item 2 of chains/solana/README's notes: mints from the seed report, Pyth by address and by feed id."""
    from chains.devnet.protocols import PYTH_FEED_IDS

    sol = (seed_report or {}).get("solana") or {}
    assets = {}
    if sol.get("usdc_mint"):
        assets[str(sol["usdc_mint"])] = "USDC"
    if sol.get("sol_mint"):
        assets[str(sol["sol_mint"])] = "SOL"
    cfg = {
        "assets": assets,
        "pyth": dict(sol.get("pyth") or {}),
        "pyth_feed_ids": {a: PYTH_FEED_IDS[a].hex() for a in ("SOL", "ETH", "BTC")},
        "entities": dict(entities),
    }
    return AdapterPlan(c.name, SOLANA_PROTOCOL, cfg)


def plan_adapters(manifest: Manifest, seed_report: Mapping[str, Any] | None = None) -> list[AdapterPlan]:
    """Which adapters exist on which chain of `manifest`, with their configs (pure: no I/O)."""
    entities = entity_map(seed_report)
    plans: list[AdapterPlan] = []
    for c in manifest.chains.values():
        if c.kind == "evm":
            plans += _evm_plans(c, entities)
        elif c.kind == "solana":
            plans.append(_solana_plan(c, seed_report, entities))
    return plans


def oracle_set(c: ChainEntry) -> OracleSet:
    """The chain's own feeds from the manifest: Chainlink-style prices, sequencer, VolFeed, MockPyth."""
    from chains.devnet.protocols import PYTH_FEED_IDS

    has = c.contracts
    chainlink = tuple(
        ChainlinkFeed(str(has[n].address), a, 8) for n, a in CHAINLINK_FEEDS.items() if n in has
    )
    seq = (SequencerFeed(str(has["SequencerUptimeFeed"].address)),) if "SequencerUptimeFeed" in has else ()
    vol: tuple[VolFeedSpec, ...] = ()
    if "VolFeed" in has:
        assets = {
            str(has[t].address): u
            for t, u in (("WETH", Underlying.ETH), ("WBTC", Underlying.BTC))
            if t in has
        }
        vol = (VolFeedSpec(str(has["VolFeed"].address), assets),)
    pyth: tuple[PythFeed, ...] = ()
    if "MockPyth" in has:
        pyth = tuple(
            PythFeed(str(has["MockPyth"].address), PYTH_FEED_IDS[a], u)
            for a, u in (("ETH", Underlying.ETH), ("BTC", Underlying.BTC), ("USDC", Underlying.USD))
        )
    return OracleSet(chainlink, seq, vol, pyth)


def select_chains(manifest: Manifest, chain: str | None) -> list[str]:
    if chain is None:
        return list(manifest.chains)
    if chain not in manifest.chains:
        raise CollectError(f"unknown chain {chain!r}; the devnet has: {', '.join(manifest.chains) or 'none'}")
    return [chain]


def check_protocol(protocol: str | None) -> None:
    if protocol is not None and protocol not in protocol_names():
        raise CollectError(f"unknown protocol {protocol!r}; known: {', '.join(protocol_names())}")


# ---------------------------------------------------------------------------------------------- results
@dataclass(frozen=True, slots=True)
class ChainRead:
    """What the adapters of one chain saw, at one block (EVM) or the slots of the reads (Solana)."""

    chain: str
    kind: str
    block: int
    block_hash: str
    block_time: datetime | None
    accounts: tuple[AccountState, ...]
    oracles: Mapping[str, OracleReadings]  # origin (FEEDS or protocol) -> readings
    errors: Mapping[str, str] = field(default_factory=dict)  # protocol -> why it could not be read

    @property
    def positions(self) -> list[Position]:
        return [p for s in self.accounts for p in s.positions]


@dataclass(frozen=True, slots=True)
class Snapshot:
    chains: tuple[ChainRead, ...]

    @property
    def accounts(self) -> list[AccountState]:
        return [s for c in self.chains for s in c.accounts]

    @property
    def positions(self) -> list[Position]:
        return [p for c in self.chains for p in c.positions]


@dataclass(frozen=True, slots=True)
class ChainHealth:
    chain: str
    kind: str
    head: int | None
    head_time: datetime | None
    head_age_s: float | None
    healthy: bool
    endpoints: tuple[Mapping[str, Any], ...]
    error: str = ""


# ---------------------------------------------------------------------------------------------- collector
class Collector:
    """Holds one connection per chain and the adapters built for it; use as an async context manager."""

    def __init__(
        self,
        manifest: Manifest,
        seed_report: Mapping[str, Any] | None = None,
        *,
        chains: Sequence[str] | None = None,
        protocols: Sequence[str] | None = None,
    ) -> None:
        self.manifest = manifest
        self.chains = list(chains) if chains is not None else list(manifest.chains)
        for name in self.chains:
            select_chains(manifest, name)
        self.protocols = set(protocols) if protocols is not None else None
        for p in self.protocols or ():
            check_protocol(p)
        self.plans = [
            p
            for p in plan_adapters(manifest, seed_report)
            if p.chain in self.chains and (self.protocols is None or p.protocol in self.protocols)
        ]
        self.pools: dict[str, EndpointPool] = {}
        self.solana: dict[str, SolanaClient] = {}
        self.adapters: dict[str, list[Any]] = {c: [] for c in self.chains}
        self.readers: dict[str, OracleReader] = {}
        self.known: dict[tuple[str, str], list[str]] = {}  # (chain, protocol) -> accounts discovered so far

    async def __aenter__(self) -> Collector:
        try:
            self.build()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def build(self) -> None:
        for name in self.chains:
            entry = self.manifest.chains[name]
            if entry.kind == "evm":
                self.pools[name] = EndpointPool([entry.rpc_url])
                if self.protocols is None or FEEDS in self.protocols:
                    self.readers[name] = OracleReader(name, self.pools[name], oracle_set(entry))
            else:
                self.solana[name] = SolanaClient(entry.rpc_url, entry.ws_url, chain=name)
        for plan in self.plans:
            try:
                if plan.chain in self.pools:
                    ad = create_adapter(plan.protocol, plan.chain, self.pools[plan.chain], plan.config)
                else:
                    ad = SOLANA_REGISTRY[plan.protocol](plan.chain, self.solana[plan.chain], plan.config)
            except AdapterError as exc:  # bad manifest/seed report data, said with where it came from
                raise CollectError(f"cannot build {plan.protocol} on {plan.chain}: {exc}") from None
            self.adapters[plan.chain].append(ad)

    async def close(self) -> None:
        for pool in self.pools.values():
            await pool.close()
        for client in self.solana.values():
            await client.close()

    # -------------------------------------------------------------- reads
    async def snapshot(self, *, oracles: bool = True, accounts: bool = True) -> Snapshot:
        """Every chain concurrently; each EVM chain at one pinned head block."""
        reads = await asyncio.gather(*(self._read_chain(c, oracles, accounts) for c in self.chains))
        return Snapshot(tuple(reads))

    async def _read_chain(self, chain: str, want_oracles: bool, want_accounts: bool) -> ChainRead:
        entry = self.manifest.chains[chain]
        if entry.kind == "evm":
            ref = await resolve_block(self.pools[chain], "latest")
            block, block_hash = ref.number, ref.hash
            block_time: datetime | None = datetime.fromtimestamp(ref.timestamp, UTC)
        else:
            block, block_hash, block_time = await self.solana[chain].get_slot(), "", None
        states: list[AccountState] = []
        readings: dict[str, OracleReadings] = {}
        errors: dict[str, str] = {}
        if want_oracles and chain in self.readers:
            readings[FEEDS] = await self.readers[chain].read(block)
        for ad in self.adapters[chain]:
            try:
                if want_accounts:
                    states += await self._accounts(ad, entry.kind, block)
                if want_oracles and ad.protocol in ("uniswap_v3", SOLANA_PROTOCOL):
                    readings[ad.protocol] = await ad.oracles(block)
            except AdapterError as exc:
                errors[ad.protocol] = str(exc)
        return ChainRead(chain, entry.kind, block, block_hash, block_time, tuple(states), readings, errors)

    async def _accounts(self, ad: Any, kind: str, block: int) -> list[AccountState]:
        """Discover from the adapter's cursor (EVM adapters resume where the last scan ended, so the accounts
        found before are kept here) up to `block`, then read all known accounts at `block`."""
        known = self.known.setdefault((ad.chain, ad.protocol), [])
        found = await ad.discover(to_block=block) if kind == "evm" else await ad.discover()
        seen = set(known)
        known.extend(a for a in found.accounts if a not in seen)
        return list(await ad.read(list(known), block))

    async def health(self) -> list[ChainHealth]:
        return list(await asyncio.gather(*(self._health(c) for c in self.chains)))

    async def _health(self, chain: str) -> ChainHealth:
        entry = self.manifest.chains[chain]
        now = datetime.now(UTC)
        if entry.kind == "evm":
            pool = self.pools[chain]
            await pool.probe()
            try:
                ref = await resolve_block(pool, "latest")
            except Exception as exc:  # noqa: BLE001 - any failure is what health reports
                return ChainHealth(chain, "evm", None, None, None, False, tuple(pool.health()), str(exc))
            t = datetime.fromtimestamp(ref.timestamp, UTC)
            eps = tuple(pool.health())
            return ChainHealth(
                chain,
                "evm",
                ref.number,
                t,
                (now - t).total_seconds(),
                all(bool(e.get("up", True)) for e in eps),
                eps,
            )
        return await _solana_health(chain, entry.rpc_url)


async def _solana_health(chain: str, url: str) -> ChainHealth:
    """getHealth + getSlot, and the head's time from the Clock sysvar (standard on every cluster)."""
    import base64
    import struct

    started = time.monotonic()
    ep: dict[str, Any] = {"url": url}
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as s:

            async def call(method: str, params: list[Any]) -> Any:
                async with s.post(
                    url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
                ) as r:
                    body = await r.json(content_type=None)
                if "error" in body:
                    raise CollectError(f"{method}: {body['error']}")
                return body["result"]

            status = await call("getHealth", [])
            slot = int(await call("getSlot", []))
            clock = await call("getAccountInfo", [CLOCK_SYSVAR, {"encoding": "base64"}])
        ep.update(latency_s=round(time.monotonic() - started, 4), status=status, up=status == "ok")
        head_time = None
        value = clock.get("value") if isinstance(clock, dict) else None
        if value:
            raw = base64.b64decode(value["data"][0])
            if len(raw) >= 40:
                head_time = datetime.fromtimestamp(struct.unpack_from("<q", raw, 32)[0], UTC)
        age = (datetime.now(UTC) - head_time).total_seconds() if head_time else None
        return ChainHealth(chain, "solana", slot, head_time, age, status == "ok", (ep,))
    except Exception as exc:  # noqa: BLE001 - any failure is what health reports
        ep.update(up=False, error=str(exc)[:200])
        return ChainHealth(chain, "solana", None, None, None, False, (ep,), str(exc))


async def collect(
    manifest: Manifest,
    seed_report: Mapping[str, Any] | None = None,
    *,
    chains: Sequence[str] | None = None,
    protocols: Sequence[str] | None = None,
) -> Snapshot:
    """One-shot: build, read everything, close."""
    async with Collector(manifest, seed_report, chains=chains, protocols=protocols) as col:
        return await col.snapshot()


__all__ = [
    "FEEDS",
    "SOLANA_REGISTRY",
    "AdapterPlan",
    "ChainHealth",
    "ChainRead",
    "CollectError",
    "Collector",
    "Snapshot",
    "collect",
    "entity_map",
    "oracle_set",
    "plan_adapters",
    "protocol_names",
]
