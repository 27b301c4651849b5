"""`rtrm run`: assemble a running keeper from a Config — endpoints, adapters, state sources, call builder, lanes,
store, bus — around `bots.engine.Engine`.

Why one assembly module: everything here is wiring with no decisions of its own, so a reader sees in one place
which adapter feeds which bot and which lane sends for which chain. The keeper's key only ever comes from the
environment variable (or keystore) named in `[signers.*]`. On a devnet (`[devnet] manifest` set) the engine's
clock is the chains' block time, because the driver warps time and oracle ages are judged in chain time.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from eth_utils import to_checksum_address
from loguru import logger
from web3 import AsyncWeb3
from web3.providers import AsyncHTTPProvider

from bots.book_feed import BookFeed
from bots.broker import LocalBroker
from bots.bus import Bus, bus_from_config
from bots.config import Config, SignerConfig
from bots.engine import BotSpec, CallSpec, Engine
from bots.guards import SequencerStatus
from bots.journal import FINAL, IntentState, Journal
from bots.logging import log_sink_problem
from bots.sources.claims import ClaimsSource, claim_call
from bots.sources.evm import CallReverted, Head, call, head
from bots.sources.hedger import (
    HedgeCalls,
    HedgerSource,
    HedgeSourceError,
    KeeperBook,
    Venue,
    venue_from_addresses,
)
from bots.sources.liquidator import LiquidatorSource
from bots.sources.portfolio import PMSource
from bots.sources.pyth import PythConfigError, PythGuard, pyth_guard
from bots.sources.settlement import ExpiryJobs, SettlementSource, settlement_call
from bots.sources.settlement import decide as settlement_decide
from bots.sources.vault import VaultSource
from bots.store import Store
from bots.strategies import claimer, disputer, liquidator
from bots.strategies import hedger as hedger_strategy
from bots.strategies.intents import ActionIntent
from bots.triggers import Watchers, build_watchers, event_ticked
from chains.events import OracleUpdate, PositionChanged
from chains.evm.allowlist import Allowlist, SpendCaps
from chains.evm.endpoints import EndpointPool
from chains.evm.lane import ActionRequest, EvmLane, LanePolicy
from chains.evm.signer import Signer, signer_from_env, signer_from_keystore
from chains.model import AccountState, OracleQuote
from chains.protocols.abi import decode_exact, encode_call, selector
from chains.protocols.base import AdapterError, ProtocolAdapter
from chains.protocols.cover_market import CoverMarketAdapter
from chains.protocols.option_amm import OptionAmmAdapter
from chains.protocols.portfolio_margin import PortfolioMarginAdapter
from chains.protocols.registry import create_adapter
from chains.protocols.vault_options import VaultOptionsAdapter

MAX_UINT = 2**256 - 1
WAD = 10**18
SEQUENCER_FEED = "SequencerUptimeFeed"  # manifest / `addresses` name of a chain's L2 uptime feed
# contract name in the devnet manifest / `addresses` table → the adapter's `address` key
CLAIM_BOTS = ("claimer", "disputer")  # wired together: one ClaimsSource reads for both
MAIN_CONTRACT = {"vault_options": "VaultOptions", "portfolio_margin": "PortfolioMargin", "option_amm": "OptionAMM",
                 "cover_market": "CoverMarket"}


class RunnerError(RuntimeError):
    """The config cannot be turned into a running keeper; the message names the section at fault."""


class ChainClock:
    """'Now' as the chains see it: the newest block time observed plus wall time elapsed since it was seen."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[int, float]] = {}

    def observe(self, chain: str, head: Head) -> None:
        self._seen[chain] = (head.timestamp, time.monotonic())

    def __call__(self) -> datetime:
        if not self._seen:
            return datetime.now(UTC)
        now = max(ts + (time.monotonic() - at) for ts, at in self._seen.values())
        return datetime.fromtimestamp(now, UTC)


class AdapterCallBuilder:
    """Intents → call data through the adapters' own builders (exact integers only; floats never reach a call)."""

    def __init__(self, adapters: Mapping[str, ProtocolAdapter], bidder_accounts: Mapping[str, int] | None = None,
                 price_slack: Decimal = Decimal("0.01"), chain_ids: Mapping[str, int] | None = None,
                 hedge: HedgeCalls | None = None,
                 settlement: Mapping[str, ProtocolAdapter] | None = None) -> None:
        self.settlement = dict(settlement or {})  # the settlement keeper's own adapters (protocol → adapter)
        self.hedge = hedge  # the hedger's venues and wallet (rebalance / hedge intents), when it runs
        self.adapters = dict(adapters)  # protocol name (config key) → adapter
        self.chain_ids = dict(chain_ids or {})  # chain name → EVM chain id (claim evidence names the source chain)
        self.bidder_accounts = dict(bidder_accounts or {})  # PortfolioMargin protocol → the keeper's subaccount
        self.price_slack = price_slack  # a solvent bid pays at most (1 + slack) × the decided price

    def build(self, intent: ActionIntent) -> CallSpec:
        adapter = self.adapters.get(intent.protocol)
        if intent.bot == "settlement":
            adapter = self.settlement.get(intent.protocol, adapter)
        if adapter is None:
            raise LookupError(f"{intent.key}: no adapter for protocol {intent.protocol!r}")
        p = intent.params
        if intent.kind == "mint_and_liquidate" and isinstance(adapter, VaultOptionsAdapter):
            need = {k: int(p.get(k, 0)) for k in ("series_id", "short_units", "mint_collateral_units")}
            missing = [k for k, v in need.items() if v <= 0]
            if missing:
                raise ValueError(f"{intent.key}: cannot build mint_and_liquidate without {', '.join(missing)}")
            cd = adapter.mint_and_liquidate(int(p["vault_id"]), need["mint_collateral_units"], need["series_id"],
                                            need["short_units"], int(p["round_id"]))
            return CallSpec(cd.to, "0x" + cd.data.hex(), cd.value)
        if isinstance(adapter, PortfolioMarginAdapter) and intent.kind in ("start_auction", "bid"):
            account = int(p["account_id"])
            if intent.kind == "start_auction":
                cd = adapter.start_auction(account)
            else:
                bidder = self.bidder_accounts.get(intent.protocol)
                if bidder is None:
                    raise LookupError(f"{intent.key}: the keeper has no bidder subaccount on {intent.protocol}")
                # float fraction → 1e18 int, shaved so rounding never exceeds the contract's exact maximum; all of
                # it stays exact (an insolvent auction ends only once everything was taken)
                f = Decimal(repr(float(p["fraction"])))
                fraction = WAD if f >= 1 else int(f * (1 - Decimal("1e-9")) * WAD)
                insolvent = "insolvent" in " ".join(intent.reasons)
                limit = 0 if insolvent else int(intent.notional_usd * (1 + self.price_slack) * WAD)
                cd = adapter.bid(account, bidder, fraction, limit)
            return CallSpec(cd.to, "0x" + cd.data.hex(), cd.value)
        if isinstance(adapter, CoverMarketAdapter) and intent.kind in ("submit_claim", "dispute", "settle_claim"):
            cd = claim_call(adapter, intent, self.chain_ids)
            return CallSpec(cd.to, "0x" + cd.data.hex(), cd.value)
        if intent.bot == "settlement":
            settle_cd = settlement_call(adapter, intent)
            if settle_cd is not None:
                return CallSpec(settle_cd.to, "0x" + settle_cd.data.hex(), settle_cd.value)
        hedge_cd = self.hedge.build(adapter, intent) if self.hedge is not None else None
        if hedge_cd is not None:
            return CallSpec(hedge_cd.to, "0x" + hedge_cd.data.hex(), hedge_cd.value)
        raise LookupError(f"{intent.key}: no builder for {intent.kind!r} on {type(adapter).__name__}")


def load_signer(name: str, cfg: SignerConfig, environ: Mapping[str, str] | None = None) -> Signer:
    env = dict(os.environ if environ is None else environ)
    if cfg.env is not None:
        return signer_from_env(cfg.env, env)
    if cfg.keystore is not None and cfg.password_env is not None:
        return signer_from_keystore(cfg.keystore, cfg.password_env, env)
    raise RunnerError(f"signers.{name}: needs `env` or `keystore` + `password_env`")


def adapter_config(config: Config, name: str) -> dict[str, Any]:
    """The registry's adapter config for `[protocols.<name>]`: the main contract's address and entity map."""
    proto = config.protocols[name]
    main = MAIN_CONTRACT.get(proto.kind)
    address = proto.addresses.get("address") or (proto.addresses.get(main) if main else None)
    if not address:
        raise RunnerError(f"protocols.{name}.addresses: needs {main or 'address'} (or from_manifest = true)")
    entities = {a: ent for ent, e in config.entities.items() for a in e.addresses.get(proto.chain, [])}
    return {"address": address, "entities": entities}


def lane_limits(config: Config, chain: str) -> tuple[Allowlist, SpendCaps]:
    """What the chain's lane may call — every `[protocols.*].addresses` entry on that chain (manifest-filled
    included) — and its hard spend caps from `[guards]` (native amounts → wei)."""
    allowlist = Allowlist.build(chain, [a for p in config.protocols.values() if p.chain == chain
                                        for a in p.addresses.values()])
    g = config.guards
    return allowlist, SpendCaps(SpendCaps.native_to_wei(g.max_fee_per_action_native.get(chain)),
                                SpendCaps.native_to_wei(g.max_spend_per_hour_native.get(chain)))


@dataclass
class Runtime:
    """A keeper assembled from a Config. `start()`, then `engine` runs the bots; `stop()` releases everything."""

    config: Config
    config_path: Path | None = None
    environ: Mapping[str, str] | None = None
    use_bus: bool = True
    clock: ChainClock | None = None
    vol: float = 0.6
    lane_policy: LanePolicy | None = None
    pools: dict[str, EndpointPool] = field(default_factory=dict)
    adapters: dict[str, ProtocolAdapter] = field(default_factory=dict)
    lanes: dict[str, EvmLane] = field(default_factory=dict)
    signer: Signer | None = None
    journal: Journal | None = None
    store: Store | None = None
    bus: Bus | None = None
    broker: LocalBroker | None = None
    engine: Engine | None = None
    liquidator_source: LiquidatorSource | None = None
    claims_source: ClaimsSource | None = None  # shared by the claimer and the disputer
    pm_deposit_usdc: int = 1_000_000  # whole USDC the keeper's fresh PortfolioMargin bidder account starts with
    bidder_accounts: dict[str, int] = field(default_factory=dict)
    hedger_source: HedgerSource | None = None
    pyth_guard: PythGuard | None = None  # Pyth feeds read as guard oracles before each tick
    hedge_calls: HedgeCalls | None = None
    settlement_source: SettlementSource | None = None
    settlement_adapters: dict[str, ProtocolAdapter] = field(default_factory=dict)
    expiry_jobs: ExpiryJobs | None = None
    expiry_watch_s: float = 1.0  # how often the expiry jobs re-read chain time
    expiry_delay_s: float = 5.0  # settlement ticks this long after each expiry (chain time)
    watch_poll_s: float = 0.25  # event ticks: the chain watchers' head polling interval (WebSocket when configured)
    watchers: Watchers | None = None
    _event_adapters: list[ProtocolAdapter] = field(default_factory=list)  # the liquidator's: followed live
    _w3s: list[AsyncWeb3] = field(default_factory=list)
    _last_quote: dict[tuple[str, str, str], OracleQuote] = field(default_factory=dict)
    _applied: dict[tuple[str, str, str], int] = field(default_factory=dict)  # account → block in the book

    async def start(self, **engine_kw: Any) -> Runtime:
        cfg = self.config
        if self.clock is None and cfg.devnet.manifest is not None:
            self.clock = ChainClock()
        self.journal = await Journal(cfg.storage.url).open()
        self.store = await Store(engine=self.journal.engine).open()
        for chain, cc in cfg.chains.items():
            if cc.kind == "evm":
                self.pools[chain] = EndpointPool(cc.rpc_urls)
        bots: list[BotSpec] = []
        liq = cfg.bots.get("liquidator")
        if liq is not None and liq.enabled:
            bots.append(await self._liquidator(liq.signer))
        bots.extend(await self._claim_bots())
        hedger = cfg.bots.get("hedger")
        if hedger is not None and hedger.enabled:
            bots.append(await self._hedger(hedger.signer))
        settlement = cfg.bots.get("settlement")
        if settlement is not None and settlement.enabled:
            bots.append(await self._settlement(settlement.signer))
        try:  # configured Pyth feeds: read before every tick, judged by the guards (bots.sources.pyth)
            self.pyth_guard = pyth_guard(cfg, self.pools, self._observe)
        except PythConfigError as exc:
            raise RunnerError(str(exc)) from exc
        if self.pyth_guard is not None:
            bots = [dataclasses.replace(b, source=self.pyth_guard.before(b.source)) for b in bots]
        for name, bcfg in cfg.bots.configured().items():
            if name not in ("liquidator", "hedger", "settlement", *CLAIM_BOTS) and bcfg.enabled:
                logger.warning("bot {} is configured but `rtrm run` does not wire it yet; it will not run", name)
        if self.use_bus:
            self.bus, self.broker, _ = await bus_from_config(cfg.mqtt.url, prefix=cfg.mqtt.topic_prefix,
                                                             buffer_size=cfg.mqtt.buffer_size)
        for lane in self.lanes.values():
            await lane.start()
        if not cfg.dry_run:
            await self._prepare_allowances()
            await self._prepare_bidder_accounts()
            await self._prepare_hedge_allowances()
        kw: dict[str, Any] = {"bus": self.bus, "config_path": self.config_path}
        if self._event_adapters and event_ticked(cfg, "liquidator"):
            self.watchers = await build_watchers(cfg, self.pools, self._event_adapters, self.watch_poll_s)
            kw["streams"] = list(self.watchers.streams.values())
        if self.clock is not None:
            for chain, pool in self.pools.items():  # primed: the first tick must already judge in chain time
                self.clock.observe(chain, await head(pool))
            kw["clock"] = self.clock
        now = (self.clock or ChainClock())()
        book = BookFeed(now.timestamp(), vol=self.vol, entity_of=self._entity_of())
        self.engine = Engine(cfg, self.store, self.journal, bots, executors=dict(self.lanes),
                             builder=AdapterCallBuilder(self.adapters, self.bidder_accounts, chain_ids=self._chain_ids(),
                                                         hedge=self.hedge_calls,
                                                         settlement=self.settlement_adapters),
                             book=book, **kw)
        self.engine.log_status = log_sink_problem  # a full disk under the JSON log → one alert
        await self.engine.start(**engine_kw)
        if self.watchers is not None:
            self.watchers.start()
        if self.settlement_source is not None:
            self.expiry_jobs = ExpiryJobs(self.engine, self.settlement_source, self.engine.clock,
                                          refresh=self._observe_heads, watch_s=self.expiry_watch_s,
                                          delay_s=self.expiry_delay_s)
            self.expiry_jobs.start()
        return self

    async def stop(self) -> None:
        if self.watchers is not None:
            await self.watchers.stop()
        if self.engine is not None:
            await self.engine.stop()
        for lane in self.lanes.values():
            await lane.stop()
        if self.bus is not None:
            await self.bus.stop()
        if self.broker is not None:
            self.broker.stop()
        for pool in self.pools.values():
            with contextlib.suppress(Exception):
                await pool.close()
        for w3 in self._w3s:
            with contextlib.suppress(Exception):
                await w3.provider.disconnect()
        if self.journal is not None:
            await self.journal.close()

    async def run_until(self, stop: asyncio.Event, **engine_kw: Any) -> None:
        """Start, run until `stop` is set, stop — releasing whatever was opened even when start fails midway."""
        try:
            await self.start(**engine_kw)
            await stop.wait()
        finally:
            await self.stop()

    async def explain(self, bot: str = "liquidator") -> list[str]:
        """One fresh decision of `bot`, as text: every intent and every skip with its reason (diagnostics)."""
        if self.engine is None:
            return ["not started"]
        spec = self.engine.bots[bot]
        cfg = self.config.bots.get(bot)
        state = await spec.source(self.engine.clock())
        decision = spec.decide(state, cfg.protocols if cfg is not None else {})
        problems = self.liquidator_source.problems if self.liquidator_source is not None else []
        return ([f"intent {i.key}: {'; '.join(i.reasons)}" for i in decision.intents]
                + [f"skip {s.target}: {s.reason}" for s in decision.skipped] + [f"problem {p}" for p in problems])

    # ------------------------------------------------------------------ assembly
    async def _liquidator(self, signer_name: str | None) -> BotSpec:
        cfg = self.config
        liq = cfg.bots["liquidator"]
        if signer_name is None:
            raise RunnerError("bots.liquidator.signer: the liquidator needs a signer to act")
        self.signer = load_signer(signer_name, cfg.signers[signer_name], self.environ)
        own = frozenset({self.signer.address.lower()})
        vault_sources: list[VaultSource] = []
        pm_sources: list[PMSource] = []
        for pname, params in liq.protocols.items():
            if not params.enabled:
                continue
            proto = cfg.protocols[pname]
            if proto.kind not in ("vault_options", "portfolio_margin"):
                logger.warning("liquidator: protocol {} ({}) is not wired in `rtrm run` yet; skipped", pname,
                               proto.kind)
                continue
            adapter = self._adapter(pname)
            self._event_adapters.append(adapter)
            if isinstance(adapter, VaultOptionsAdapter):
                vault_sources.append(VaultSource(adapter, self.pools[proto.chain], vol=self.vol, exclude_owners=own))
            elif isinstance(adapter, PortfolioMarginAdapter):
                pm_sources.append(PMSource(adapter, self.pools[proto.chain], vol=self.vol, exclude_owners=own))
            self._lane(proto.chain)
        self.liquidator_source = LiquidatorSource(
            rpcs=self.pools, vaults=vault_sources, portfolios=pm_sources, store=self.store,
            last_action=lambda: self.engine.last_action if self.engine is not None else {},
            sequencer_feeds=self._sequencer_feeds(), observe_sequencer=self._observe_sequencer,
            observe_faults=self._observe_faults,
            observe=self._observe, observe_states=self._observe_states, on_head=self.clock.observe if self.clock is not None else None,
            on_unreachable=self._chain_unreachable)
        return BotSpec("liquidator", liquidator.decide, self.liquidator_source,
                       chains=frozenset(a.chain for a in self._event_adapters))

    async def _claim_bots(self) -> list[BotSpec]:
        """The claimer and the disputer on the one CoverMarket their `protocols` name, sharing one source that
        reads every configured PortfolioMargin deployment as liquidation evidence."""
        cfg = self.config
        wanted = [(n, b) for n in CLAIM_BOTS if (b := cfg.bots.get(n)) is not None and b.enabled]
        if not wanted:
            return []
        for name, b in wanted:
            if b.signer is None:
                raise RunnerError(f"bots.{name}.signer: the {name} needs a signer to act")
            signer = load_signer(b.signer, cfg.signers[b.signer], self.environ)
            if self.signer is None:
                self.signer = signer
            elif signer.address.lower() != self.signer.address.lower():
                raise RunnerError(f"bots.{name}.signer: one `rtrm run` sends from one signer; run another "
                                  f"instance for {b.signer}")
        markets = sorted({p for _, b in wanted for p, params in b.protocols.items() if params.enabled})
        if len(markets) != 1 or cfg.protocols.get(markets[0]) is None \
                or cfg.protocols[markets[0]].kind != "cover_market":
            raise RunnerError(f"bots.{wanted[0][0]}.protocols: name exactly one cover_market protocol, got {markets}")
        market = self._adapter(markets[0])
        assert isinstance(market, CoverMarketAdapter)
        portfolios: dict[str, PortfolioMarginAdapter] = {}
        for pname, proto in cfg.protocols.items():
            if proto.kind == "portfolio_margin":  # own instances: evidence reads never make bidder accounts
                acfg = adapter_config(cfg, pname)
                pm = create_adapter(proto.kind, proto.chain, self.pools[proto.chain], acfg)
                assert isinstance(pm, PortfolioMarginAdapter)
                portfolios[pname] = pm
        self._lane(market.chain)
        assert self.signer is not None
        self.claims_source = ClaimsSource(
            market, markets[0], self.pools, portfolios, self._chain_ids(), our_address=self.signer.address,
            entity_of=self._entity_of(), store=self.store,
            on_head=self.clock.observe if self.clock is not None else None)
        src = self.claims_source
        specs = {"claimer": BotSpec("claimer", claimer.decide, src.claimer),
                 "disputer": BotSpec("disputer", disputer.decide, src.disputer)}
        return [specs[n] for n, _ in wanted]

    async def _settlement(self, signer_name: str | None) -> BotSpec:
        """The settlement keeper on the VaultOptions / PortfolioMargin protocols its sections name, through its own
        adapter instances (its reads never trigger the liquidator's bidder-account or allowance setup)."""
        cfg = self.config
        scfg = cfg.bots["settlement"]
        if signer_name is None:
            raise RunnerError("bots.settlement.signer: the settlement keeper needs a signer to act")
        signer = load_signer(signer_name, cfg.signers[signer_name], self.environ)
        if self.signer is None:
            self.signer = signer
        elif signer.address.lower() != self.signer.address.lower():
            raise RunnerError(f"bots.settlement.signer: one `rtrm run` sends from one signer; run another instance "
                              f"for {signer_name}")
        vaults: list[tuple[str, VaultOptionsAdapter]] = []
        portfolios: list[tuple[str, PortfolioMarginAdapter]] = []
        for pname, params in scfg.protocols.items():
            proto = cfg.protocols[pname]
            if not params.enabled:
                continue
            if proto.kind not in ("vault_options", "portfolio_margin"):
                logger.warning("settlement: protocol {} ({}) has no expiries to settle; skipped", pname, proto.kind)
                continue
            try:
                a = create_adapter(proto.kind, proto.chain, self.pools[proto.chain], adapter_config(cfg, pname))
            except AdapterError as exc:
                raise RunnerError(f"protocols.{pname}: {exc}") from exc
            self.settlement_adapters[pname] = a
            if isinstance(a, VaultOptionsAdapter):
                vaults.append((pname, a))
            elif isinstance(a, PortfolioMarginAdapter):
                portfolios.append((pname, a))
            self._lane(proto.chain)
        self.settlement_source = SettlementSource(self.signer.address, vaults, portfolios,
                                                  on_head=self.clock.observe if self.clock is not None else None)
        return BotSpec("settlement", settlement_decide, self.settlement_source)

    async def _observe_heads(self) -> None:
        """Chain time for the expiry jobs: every pool's head into the chain clock (devnet time warps)."""
        if self.clock is None:
            return
        for chain, pool in self.pools.items():
            with contextlib.suppress(Exception):
                self.clock.observe(chain, await head(pool))

    def _chain_ids(self) -> dict[str, int]:
        return {c: int(cc.chain_id) for c, cc in self.config.chains.items() if cc.chain_id is not None}

    async def _hedger(self, signer_name: str | None) -> BotSpec:
        """The hedger: each `uniswap_v3` protocol in its sections is a venue, each `option_amm` one a pool
        target; the keeper entity is one more target, governed by the first venue's section — its positions on
        those pools and on the liquidator's VaultOptions / PortfolioMargin (vaults and subaccounts it owns or
        inherited) plus its WETH on the venue chains."""
        cfg = self.config
        hcfg = cfg.bots["hedger"]
        if signer_name is None:
            raise RunnerError("bots.hedger.signer: the hedger needs a signer to act")
        signer = load_signer(signer_name, cfg.signers[signer_name], self.environ)
        if self.signer is None:
            self.signer = signer
        elif signer.address.lower() != self.signer.address.lower():
            raise RunnerError(f"bots.hedger.signer: one `rtrm run` sends from one signer; run another instance "
                              f"for {signer_name}")
        pools: list[tuple[str, OptionAmmAdapter]] = []
        venues: list[Venue] = []
        holdings: list[tuple[str, Any, tuple[str, ...]]] = []
        for pname, params in hcfg.protocols.items():
            proto = cfg.protocols[pname]
            if not params.enabled:
                continue
            if proto.kind == "uniswap_v3":
                try:
                    venue = await venue_from_addresses(pname, proto.chain, self.pools[proto.chain], proto.addresses)
                except (HedgeSourceError, CallReverted) as exc:
                    raise RunnerError(f"protocols.{pname}: {exc}") from exc
                self.adapters[pname] = venue.adapter
                venues.append(venue)
            elif proto.kind == "option_amm":
                amm = self._adapter(pname)
                assert isinstance(amm, OptionAmmAdapter)
                pools.append((pname, amm))
                holdings.append((pname, amm, (self.signer.address,)))
            else:
                logger.warning("hedger: protocol {} ({}) is neither a venue nor a pool; skipped", pname, proto.kind)
                continue
            self._lane(proto.chain)
        if not venues:
            raise RunnerError("bots.hedger.protocols: needs at least one enabled uniswap_v3 venue")
        # the liquidator's VaultOptions / PortfolioMargin adapters: positions the keeper inherited there
        holdings += [(n, a, ()) for n, a in self.adapters.items()
                     if isinstance(a, (PortfolioMarginAdapter, VaultOptionsAdapter))]
        entity = next((n for n, e in cfg.entities.items() if e.keeper), "keeper")
        keeper = KeeperBook(entity, venues[0].name, self.signer.address, tuple(holdings))
        self.hedger_source = HedgerSource(
            pools=pools, venues=venues, keeper=keeper, vol=self.vol,
            accounts=lambda: {n: (str(i),) for n, i in self.bidder_accounts.items()})
        clock = self.clock or ChainClock()
        self.hedge_calls = HedgeCalls({v.name: v for v in venues}, self.signer.address,
                                      lambda: int(clock().timestamp()),
                                      {n: p.max_slippage_bps for n, p in hcfg.protocols.items()})
        return BotSpec("hedger", hedger_strategy.decide, self.hedger_source)

    async def _prepare_hedge_allowances(self) -> None:
        """The keeper's USDC and WETH approvals for each hedge venue's SwapRouter (once, stable keys)."""
        if self.hedge_calls is None or self.signer is None:
            return
        for v in self.hedge_calls.venues.values():
            rpc = self.pools[v.chain]
            for token in (v.usdc, v.weth):
                block = int(await rpc.expect("eth_blockNumber", []), 16)
                allowance = int(decode_exact(("uint256",), await call(
                    rpc, token, encode_call("allowance(address,address)", ["address", "address"],
                                            [self.signer.address, v.adapter.router]), block, "allowance"),
                    "allowance")[0])
                if allowance >= MAX_UINT // 2:
                    continue
                await self._send_setup(v.chain, f"setup:{v.chain}:{v.name}:approve_router:{token}:{self.signer.address}",
                                       token, encode_call("approve(address,uint256)", ["address", "uint256"],
                                                          [v.adapter.router, MAX_UINT]), v.name)

    def _entity_of(self) -> dict[str, str]:
        """Address → entity for the risk book; the keeper's signer joins the `keeper = true` entity (else
        "keeper"), so positions it inherits from liquidations are risk-managed as its own."""
        out = {a.lower(): name for name, e in self.config.entities.items() for addrs in e.addresses.values()
               for a in addrs}
        if self.signer is not None:
            keeper = next((n for n, e in self.config.entities.items() if e.keeper), "keeper")
            out.setdefault(self.signer.address.lower(), keeper)
        return out

    def _adapter(self, pname: str) -> ProtocolAdapter:
        if pname not in self.adapters:
            proto = self.config.protocols[pname]
            try:
                acfg = adapter_config(self.config, pname)
                acfg["entities"] = {**acfg["entities"], **self._entity_of()}  # the keeper's own positions too
                self.adapters[pname] = create_adapter(proto.kind, proto.chain, self.pools[proto.chain], acfg)
            except AdapterError as exc:
                raise RunnerError(f"protocols.{pname}: {exc}") from exc
        return self.adapters[pname]

    def _lane(self, chain: str) -> EvmLane:
        if chain not in self.lanes:
            assert self.signer is not None and self.journal is not None
            cc = self.config.chains[chain]
            w3 = AsyncWeb3(AsyncHTTPProvider(cc.rpc_urls[0]))
            self._w3s.append(w3)
            policy = self.lane_policy or LanePolicy(confirmations=max(cc.confirmations, 1))
            allowlist, caps = lane_limits(self.config, chain)
            policy = dataclasses.replace(policy, workers=max(policy.workers, cc.lane_workers),
                                         allowlist=policy.allowlist or allowlist,
                                         caps=SpendCaps(policy.caps.per_action_wei or caps.per_action_wei,
                                                        policy.caps.per_hour_wei or caps.per_hour_wei))
            lane = EvmLane(w3, self.signer, chain, int(cc.chain_id or 0), self.journal, policy=policy)
            lane.on_refusal = lambda key, reason, chain=chain: self._lane_refused(chain, key, reason)
            self.lanes[chain] = lane
        return self.lanes[chain]

    async def _lane_refused(self, chain: str, key: str, reason: str) -> None:
        """A lane refused to sign (spend cap): an alert like any other blocked action."""
        if self.engine is not None:
            await self.engine.alert("lane", f"{key}: {reason}", level="error", chain=chain, key=key)

    def _permit_setup(self, chain: str, to: str, data: bytes) -> None:
        """A setup approve on a token the config does not list (e.g. a vault's `collateral()`): allowed as
        approve-only on that token; the lane still checks that the spender is an allowed contract."""
        allow = self.lanes[chain].policy.allowlist
        if allow is not None and data[:4] == selector("approve(address,uint256)"):
            allow.permit_approve(to)

    async def _observe(self, quote: OracleQuote) -> None:
        """New readings only go to the engine (guards, store, bus); the same round twice is not a new quote."""
        qid = (quote.source.value, quote.asset.value, quote.chain)
        prev = self._last_quote.get(qid)
        seen = self.engine.guards.quotes.get(qid) if self.engine is not None else None  # e.g. the watcher's
        if any(p is not None and (p.price, p.publish_time) == (quote.price, quote.publish_time) for p in (prev, seen)):
            return
        self._last_quote[qid] = quote
        if self.engine is not None:
            await self.engine.on_event(OracleUpdate(quote.chain, quote))

    async def _chain_unreachable(self, chain: str, why: str | None) -> None:
        """One alert when a chain's RPC stops answering the liquidator, one when it is back (not one per tick)."""
        if self.engine is None:
            return
        if why is None:
            await self.engine.alert(f"rpc:{chain}", f"{chain} RPC answers again; the liquidator reads it again",
                                    level="info", chain=chain)
        else:
            await self.engine.alert(f"rpc:{chain}", f"{chain} RPC unreachable; the liquidator acts on the other "
                                    f"chains until it answers: {why}", chain=chain)

    def _sequencer_feeds(self) -> dict[str, str]:
        """Chain → L2 sequencer uptime feed, from any protocol's `SequencerUptimeFeed` address on that chain."""
        return {p.chain: p.addresses[SEQUENCER_FEED] for p in self.config.protocols.values()
                if SEQUENCER_FEED in p.addresses}

    def _observe_sequencer(self, status: SequencerStatus) -> None:
        if self.engine is not None:
            self.engine.guards.sequencers[status.chain] = status

    async def _observe_faults(self, chain: str, faults: Sequence[tuple[str, str]]) -> None:
        """Feeds that gave no usable price this round → the engine's guards (no action on the chain) and alerts."""
        if self.engine is not None:
            await self.engine.observe_oracle_faults(chain, faults)

    async def _observe_states(self, states: Sequence[AccountState]) -> None:
        """Accounts read at a new block replace their rows in the engine's risk book (the keeper's inherited
        positions included: they are read like any other account)."""
        if self.engine is None:
            return
        for st in states:
            acct = (st.chain, st.protocol, st.account_id)
            if self._applied.get(acct) == st.block:
                continue
            self._applied[acct] = st.block
            await self.engine.on_event(PositionChanged(st.chain, st.protocol, st, st.positions, st.block))

    async def _prepare_allowances(self) -> None:
        """The keeper's collateral approval for every VaultOptions it liquidates on (mint-and-liquidate pulls
        USDC) and the CoverMarket it claims or disputes on (bonds are pulled in USDC); sent once through the lane
        with a stable key, skipped when already granted."""
        assert self.signer is not None
        for pname, adapter in self.adapters.items():
            if not isinstance(adapter, VaultOptionsAdapter | CoverMarketAdapter):
                continue
            rpc = self.pools[adapter.chain]
            block = int(await rpc.expect("eth_blockNumber", []), 16)
            getter = "collateral()" if isinstance(adapter, VaultOptionsAdapter) else "asset()"  # ERC4626 pool
            token = to_checksum_address(decode_exact(("address",), await call(
                rpc, adapter.address, selector(getter), block, getter), getter)[0])
            allowance = int(decode_exact(("uint256",), await call(
                rpc, token, encode_call("allowance(address,address)", ["address", "address"],
                                        [self.signer.address, adapter.address]), block, "allowance"), "allowance")[0])
            if allowance >= MAX_UINT // 2:
                continue
            await self._send_setup(adapter.chain, f"setup:{adapter.chain}:{pname}:approve:{token}:{self.signer.address}",
                                   token, encode_call("approve(address,uint256)", ["address", "uint256"],
                                                      [adapter.address, MAX_UINT]), pname)

    async def _send_setup(self, chain: str, key: str, to: str, data: bytes, protocol: str) -> None:
        """A one-off keeper preparation transaction through the lane (journaled, idempotent by key)."""
        lane = self.lanes[chain]
        self._permit_setup(chain, to, data)
        await lane.submit(ActionRequest(key=key.lower(), to=to, data="0x" + data.hex(), bot="setup",
                                        kind=key.split(":")[3], protocol=protocol, target=to))
        done = await lane.wait_final(key.lower(), timeout=60.0, states=FINAL)
        if done.state != IntentState.CONFIRMED:
            raise RunnerError(
                f"keeper setup {key} ended {done.state}: {done.reason}; check that the keeper "
                f"{self.signer.address if self.signer else ''} holds gas and USDC on {chain} (on the devnet: "
                "`python -m chains.devnet.driver fund <address>`)")

    async def _prepare_bidder_accounts(self) -> None:
        """The keeper bids on PortfolioMargin auctions from its own subaccount: found, or created and funded."""
        assert self.signer is not None
        me = self.signer.address.lower()
        for pname, adapter in self.adapters.items():
            if not isinstance(adapter, PortfolioMarginAdapter):
                continue
            await adapter.discover()
            mine = sorted(int(a) for a, o in adapter.owners.items() if o.lower() == me)
            if not mine:
                await self._send_setup(adapter.chain, f"setup:{adapter.chain}:{pname}:create_account:{me}",
                                       adapter.address, selector("createAccount()"), pname)
                await adapter.discover()
                mine = sorted(int(a) for a, o in adapter.owners.items() if o.lower() == me)
                if not mine:
                    raise RunnerError(f"{pname}: createAccount confirmed but no AccountCreated log for {me}")
                rpc = self.pools[adapter.chain]
                block = int(await rpc.expect("eth_blockNumber", []), 16)
                token = to_checksum_address(decode_exact(("address",), await call(
                    rpc, adapter.address, selector("usdc()"), block, "usdc()"), "usdc()")[0])
                amount = self.pm_deposit_usdc * 10**6
                await self._send_setup(adapter.chain, f"setup:{adapter.chain}:{pname}:approve_pm:{me}", token,
                                       encode_call("approve(address,uint256)", ["address", "uint256"],
                                                   [adapter.address, amount]), pname)
                await self._send_setup(adapter.chain, f"setup:{adapter.chain}:{pname}:deposit:{mine[0]}",
                                       adapter.address, encode_call("deposit(uint256,uint256)",
                                                                    ["uint256", "uint256"], [mine[0], amount]), pname)
            self.bidder_accounts[pname] = mine[0]
            logger.info("{}: the keeper bids from subaccount {}", pname, mine[0])
