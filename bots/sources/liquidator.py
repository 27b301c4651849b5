"""The liquidator's state source: every configured protocol read at its chain's head, plus gas and bookkeeping.

Why here and not in the strategy: reading is I/O; the strategy stays a pure function of the `LiquidatorState`
this builds. Oracle quotes read along the way are handed to `observe` (the engine's guard state and store), so
the global guards judge exactly the prices the decision used. Cooldowns come from the engine's `last_action`,
outcompeted keys from the journal — a reverted race is recorded, never retried blindly.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from loguru import logger

from bots.guards import SequencerStatus
from bots.sources.evm import Head, gas_price_gwei, head
from bots.sources.portfolio import PMSource
from bots.sources.sequencer import read_sequencer
from bots.sources.vault import VaultSource
from bots.store import Store
from bots.strategies.liquidator import GasView, LiquidatorState, PMCandidate, VaultCandidate
from chains.model import AccountState, OracleQuote, Underlying
from chains.protocols.base import Rpc

Observe = Callable[[OracleQuote], Awaitable[None]]
ObserveStates = Callable[[Sequence[AccountState]], Awaitable[None]]
Tracker = Callable[[str, Head], None]


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
    native_asset: Mapping[str, Underlying] = field(default_factory=dict)  # chain → gas token (default ETH)
    problems: list[str] = field(default_factory=list)  # last tick's per-account problems (health / tests)

    async def __call__(self, now: datetime) -> LiquidatorState:
        chains = sorted({v.chain for v in self.vaults} | {p.chain for p in self.portfolios})
        heads = {c: await head(self.rpcs[c]) for c in chains}
        for c, h in heads.items():
            if self.on_head is not None:
                self.on_head(c, h)
            feed = self.sequencer_feeds.get(c)
            if feed is not None and self.observe_sequencer is not None:
                self.observe_sequencer(await read_sequencer(self.rpcs[c], c, feed, h))
        vault_cands: list[VaultCandidate] = []
        quotes: dict[tuple[str, Underlying], OracleQuote] = {}
        problems: list[str] = []
        states: list[AccountState] = []
        for src in self.vaults:
            got = await src.read(heads[src.chain])
            vault_cands.extend(got.candidates)
            problems.extend(got.problems)
            states.extend(got.states)
            for q in got.quotes:
                quotes[(q.chain, q.asset)] = q
        pm_cands: list[PMCandidate] = []
        for pm in self.portfolios:
            got_pm = await pm.read(heads[pm.chain])
            pm_cands.extend(got_pm.candidates)
            problems.extend(got_pm.problems)
            states.extend(got_pm.states)
            for q in got_pm.quotes:
                quotes[(q.chain, q.asset)] = q
        self.problems = problems
        if self.observe is not None:
            for q in quotes.values():
                await self.observe(q)
        if self.observe_states is not None:
            await self.observe_states(states)
        gas: dict[str, GasView] = {}
        for c in chains:
            native = quotes.get((c, self.native_asset.get(c, Underlying.ETH)))
            if native is None:
                logger.warning("{}: no native-token quote; the liquidator will skip this chain (no gas view)", c)
                continue
            gas[c] = GasView(await gas_price_gwei(self.rpcs[c]), native.price)
        outcompeted = await self.store.outcompeted_keys("liquidator") if self.store is not None else frozenset()
        return LiquidatorState(now, vaults=tuple(vault_cands), pm_accounts=tuple(pm_cands), gas=MappingProxyType(gas),
                               last_action=MappingProxyType(dict(self.last_action())), outcompeted=outcompeted)
