"""The liquidator's state source: every configured protocol read at its chain's head, plus gas and bookkeeping.

Why here and not in the strategy: reading is I/O; the strategy stays a pure function of the `LiquidatorState`
this builds. Oracle quotes read along the way are handed to `observe` (the engine's guard state and store), so
the global guards judge exactly the prices the decision used. Cooldowns come from the engine's `last_action`,
outcompeted keys from the journal — a reverted race is recorded, never retried blindly. Chains are read
concurrently, and each source re-reads only what changed since its last read (`bots.sources.incremental`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import TypeVar

from loguru import logger

from bots.guards import SequencerStatus
from bots.sources.evm import Head, gas_price_gwei, head
from bots.sources.portfolio import PMRead, PMSource
from bots.sources.sequencer import read_sequencer
from bots.sources.vault import VaultRead, VaultSource
from bots.store import Store
from bots.strategies.liquidator import GasView, LiquidatorState, PMCandidate, VaultCandidate
from chains.model import AccountState, OracleQuote, Underlying
from chains.protocols.base import Rpc

Observe = Callable[[OracleQuote], Awaitable[None]]
ObserveStates = Callable[[Sequence[AccountState]], Awaitable[None]]
Tracker = Callable[[str, Head], None]
T = TypeVar("T")


class ChainsUnreachable(RuntimeError):
    """No chain the liquidator reads answered this round (the tick fails; one chain down is not an error)."""


def _succeeded(names: Sequence[str], results: Sequence[T | BaseException], down: dict[str, str]) -> dict[str, T]:
    """name → result for the calls that worked; failures go to `down` (first reason per chain). Cancellation and
    other non-Exception BaseExceptions propagate."""
    ok: dict[str, T] = {}
    for name, result in zip(names, results, strict=True):
        if isinstance(result, Exception):
            down.setdefault(name, f"{type(result).__name__}: {result}"[:300])
        elif isinstance(result, BaseException):
            raise result
        else:
            ok[name] = result
    return ok


@dataclass
class LiquidatorSource:
    """Callable as the engine's `StateSource` for the liquidator bot."""

    rpcs: Mapping[str, Rpc]  # chain → endpoint pool
    vaults: Sequence[VaultSource] = ()
    portfolios: Sequence[PMSource] = ()
    store: Store | None = None
    last_action: Callable[[], Mapping[str, datetime]] = lambda: MappingProxyType({})
    observe: Observe | None = None
    observe_states: ObserveStates | None = None  # every account read → the engine's risk book
    on_head: Tracker | None = None  # e.g. the runner's chain clock
    sequencer_feeds: Mapping[str, str] = field(default_factory=dict)  # L2 chain → uptime feed address
    observe_sequencer: Callable[[SequencerStatus], None] | None = None
    observe_faults: Callable[[str, Sequence[tuple[str, str]]], Awaitable[None]] | None = None  # chain → feeds
    native_asset: Mapping[str, Underlying] = field(default_factory=dict)  # chain → gas token (default ETH)
    problems: list[str] = field(default_factory=list)  # last tick's per-account problems (health / tests)
    # (chain, None) when its RPC fails for a round, (chain, why) → None when it answers again: an alert per episode
    on_unreachable: Callable[[str, str | None], Awaitable[None]] | None = None
    unreachable: dict[str, str] = field(default_factory=dict)  # chain → why, while its RPC fails

    async def __call__(self, now: datetime) -> LiquidatorState:
        chains = sorted({v.chain for v in self.vaults} | {p.chain for p in self.portfolios})
        # chains are independent: heads, reads and gas prices of all of them go out at once, and a chain whose RPC
        # fails is left out of this round only (the others keep acting; its gap is read when it is back)
        down: dict[str, str] = {}
        heads = _succeeded(chains, await asyncio.gather(*(head(self.rpcs[c]) for c in chains),
                                                        return_exceptions=True), down)
        if chains and not heads:
            raise ChainsUnreachable("every chain's RPC failed: " + "; ".join(f"{c}: {w}" for c, w in down.items()))
        live = [c for c in chains if c in heads]
        sources: list[VaultSource | PMSource] = [*(v for v in self.vaults if v.chain in heads),
                                                 *(p for p in self.portfolios if p.chain in heads)]
        sequencers = [(c, feed) for c in live if (feed := self.sequencer_feeds.get(c)) is not None
                      and self.observe_sequencer is not None]
        gas_prices, seq_reads, got_reads = await asyncio.gather(
            asyncio.gather(*(gas_price_gwei(self.rpcs[c]) for c in live), return_exceptions=True),
            asyncio.gather(*(read_sequencer(self.rpcs[c], c, feed, heads[c]) for c, feed in sequencers),
                           return_exceptions=True),
            asyncio.gather(*(s.read(heads[s.chain]) for s in sources), return_exceptions=True))
        prices = _succeeded(live, gas_prices, down)
        seq_ok = _succeeded([c for c, _ in sequencers], seq_reads, down)
        _succeeded([s.chain for s in sources], got_reads, down)
        if chains and not set(chains) - set(down):
            raise ChainsUnreachable("every chain's RPC failed: " + "; ".join(f"{c}: {w}" for c, w in down.items()))
        await self._report_unreachable(down)
        for c, h in heads.items():
            if self.on_head is not None and c not in down:
                self.on_head(c, h)
        for c, status in seq_ok.items():
            if self.observe_sequencer is not None and c not in down:
                self.observe_sequencer(status)
        pairs: list[tuple[VaultSource | PMSource, VaultRead | PMRead]] = [
            (src, r) for src, r in zip(sources, got_reads, strict=True)
            if src.chain not in down and isinstance(r, VaultRead | PMRead)]
        chains = [c for c in live if c not in down]
        reads = [r for _, r in pairs]
        vault_cands: list[VaultCandidate] = []
        pm_cands: list[PMCandidate] = []
        quotes: dict[tuple[str, Underlying], OracleQuote] = {}
        problems: list[str] = [f"{c}: RPC unreachable this round ({w})" for c, w in down.items()]
        states: list[AccountState] = []
        for got in reads:
            if isinstance(got, VaultRead):
                vault_cands.extend(got.candidates)
            else:
                pm_cands.extend(got.candidates)
            problems.extend(got.problems)
            states.extend(got.states)
            for q in got.quotes:
                quotes[(q.chain, q.asset)] = q
        self.problems = problems
        if self.observe_faults is not None:  # every chain read this round: a healed feed clears its fault
            faults: dict[str, dict[str, str]] = {c: {} for c in chains}
            for src, rd in pairs:
                faults[src.chain].update(rd.oracle_faults)
            for c, f in faults.items():
                await self.observe_faults(c, tuple(f.items()))
        if self.observe is not None:
            for q in quotes.values():
                await self.observe(q)
        if self.observe_states is not None:
            await self.observe_states(states)
        gas: dict[str, GasView] = {}
        for c in chains:
            price = prices[c]
            native = quotes.get((c, self.native_asset.get(c, Underlying.ETH)))
            if native is None:
                logger.warning("{}: no native-token quote; the liquidator will skip this chain (no gas view)", c)
                continue
            gas[c] = GasView(price, native.price)
        outcompeted = await self.store.outcompeted_keys("liquidator") if self.store is not None else frozenset()
        return LiquidatorState(now, vaults=tuple(vault_cands), pm_accounts=tuple(pm_cands), gas=MappingProxyType(gas),
                               last_action=MappingProxyType(dict(self.last_action())), outcompeted=outcompeted)

    async def _report_unreachable(self, down: Mapping[str, str]) -> None:
        """Once when a chain's RPC starts failing, once when it answers again (no alert per tick)."""
        for chain, why in down.items():
            if chain not in self.unreachable:
                logger.warning("liquidator: {} RPC unreachable, skipping it until it answers: {}", chain, why)
                self.unreachable[chain] = why
                if self.on_unreachable is not None:
                    await self.on_unreachable(chain, why)
        for chain in [c for c in self.unreachable if c not in down]:
            del self.unreachable[chain]
            logger.info("liquidator: {} RPC answers again", chain)
            if self.on_unreachable is not None:
                await self.on_unreachable(chain, None)
