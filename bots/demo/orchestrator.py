"""`rtrm demo`, the run itself: devnet up, seed, keeper + fund agents up, the scenario's acts written to every
oracle, the bots' actions awaited, everything stopped, and the run's SQLite left consistent.

Why the demo paces itself: after every market step it waits until the bots are quiet (every intent final, no
new one for a moment) before the next step, and it ticks the hedger itself then. Actions therefore depend on the
market state, not on how fast this machine is, and a seed replays the same actions.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_typing import HexStr
from sqlmodel import func, select
from web3 import AsyncWeb3
from web3.logs import DISCARD

from bots.broker import LocalBroker, NoBrokerAvailable, start_mosquitto
from bots.bus import decode, subscribe
from bots.config import load_with_manifest
from bots.demo.configs import DemoEntity, fund_toml, keeper_toml
from bots.demo.keys import FUND_ENV, KEEPER_ENV, address_of, fund_key, keeper_key
from bots.demo.record import DemoPoint, DemoRun, TxCost, create_demo_tables
from bots.demo.scenarios import Act, build
from bots.journal import FINAL, Intent, Journal
from bots.runner import ChainClock, Runtime
from bots.store import RiskSnapshot, Store
from bots.strategies.hedger import band_half_width
from chains.devnet.driver import MarketDriver
from chains.devnet.manifest import Manifest
from chains.devnet.multicall import install_multicall3
from chains.devnet.nodes import NODE_KINDS
from chains.devnet.protocols import CHAIN_IDS, COVER_PARAMS, PRICE_FEEDS
from chains.devnet.runner import Devnet
from chains.devnet.seed import seed_devnet, wallet_key
from chains.devnet.smoke import _free_distinct_ports
from chains.devnet.spec import KNOWN_CHAINS, build_spec, parse_forks
from chains.toolchain import project_root

LIVENESS_S = COVER_PARAMS[0]
AUCTION_BID_TOPIC = "AuctionBid(uint256,uint256,uint256,uint256,uint256)"
QUIET_S = 0.8  # no new intent for this long (and none pending) = the bots are done with a market step
STEP_TIMEOUT_S = 45.0


@dataclass
class DemoOptions:
    seed: int = 7
    wallets: int = 200
    scenario: str = "crash"
    keep_running: bool = False
    reports_dir: Path = Path("reports")
    run_id: str | None = None
    forks: list[str] = field(default_factory=list)  # CHAIN=URL[@BLOCK]: fork your own RPC instead of a blank chain


@dataclass
class DemoOutcome:
    run_id: str
    run_dir: Path
    store_path: Path
    status: str
    duration_s: float
    notes: list[str] = field(default_factory=list)


class View:
    """What the orchestrator tells the user as it goes (the CLI renders it with rich; tests ignore it)."""

    def phase(self, name: str, note: str) -> None: ...

    def heads(self, heads: dict[str, int]) -> None: ...

    def actions(self, counts: dict[str, int]) -> None: ...

    def log(self, line: str) -> None: ...


class Demo:
    def __init__(self, opts: DemoOptions, view: View | None = None, root: Path | None = None) -> None:
        self.opts = opts
        self.view = view or View()
        self.root = root or project_root()
        self.run_id = opts.run_id or f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{opts.scenario}-s{opts.seed}"
        self.run_dir = opts.reports_dir / self.run_id
        self.store_path = self.run_dir / "rtrm.sqlite"
        self.t0 = time.monotonic()
        self.notes: list[str] = []
        self.acts: list[dict[str, Any]] = []
        self.devnet: Devnet | None = None
        self.manifest: Manifest | None = None
        self.tmp: Path | None = None
        self.broker: LocalBroker | None = None
        self.journal: Journal | None = None
        self.store: Store | None = None
        self.keeper_rt: Runtime | None = None
        self.fund_rt: Runtime | None = None
        self.drv: MarketDriver | None = None
        self.report: dict[str, Any] = {}
        self.keeper = address_of(keeper_key(opts.seed))
        self._sampler: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None
        self._bus_ready = asyncio.Event()
        self.fund: dict[str, Any] = {}
        self.last_heads: dict[str, int] = {}

    # ------------------------------------------------------------------ the run
    async def run(self) -> DemoOutcome:
        status = "failed"
        try:
            await self._setup()
            await self._play()
            status = "finished"
        except asyncio.CancelledError:
            status = "interrupted"
            raise
        finally:
            await self._teardown(status)
        return DemoOutcome(self.run_id, self.run_dir, self.store_path, status, self.elapsed(), self.notes)

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    async def _setup(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.journal = await Journal(str(self.store_path)).open()
        self.store = await Store(engine=self.journal.engine).open()
        await create_demo_tables(self.journal.engine)
        chains = [c for c in KNOWN_CHAINS.values() if NODE_KINDS[c.kind].unavailable_reason() is None]
        skipped = [c.name for c in KNOWN_CHAINS.values() if c not in chains]
        if skipped:
            self.notes.append(f"chains not started here: {', '.join(skipped)}")
        async with self._session() as s:
            s.add(DemoRun(run_id=self.run_id, scenario=self.opts.scenario, seed=self.opts.seed,
                          wallets=self.opts.wallets, chains=",".join(c.name for c in chains)))
            await s.commit()
        self.view.phase("devnet", f"starting {len(chains)} chains")
        ports = dict(zip((c.name for c in chains), _free_distinct_ports(len(chains)), strict=True))
        self.tmp = Path(tempfile.mkdtemp(prefix="rtrm-demo-"))  # anvil logs print dev keys: never in reports/
        spec = build_spec(chains=chains, directory=self.tmp / "devnet", artifacts_root=self.root / "out",
                          ports=ports, forks=parse_forks(self.opts.forks))
        self.devnet = Devnet(spec)
        self.manifest = await self.devnet.start()
        for c in self.manifest.evm_chains():
            w3 = AsyncWeb3(AsyncWeb3.AsyncHTTPProvider(c.rpc_url))
            try:
                await install_multicall3(w3, root=self.root, chain=c.name)
            finally:
                await w3.provider.disconnect()
        self._sampler = asyncio.create_task(self._sample_heads(), name="demo-heads")
        self.drv = await MarketDriver(self.manifest, root=self.root, out_dir=self.root / "out").__aenter__()
        # chain time from blocks and advances only, from the next whole hour: a seed replays the same blocks
        # at the same timestamps (runs started within the same hour, as expiries are set at deployment)
        await self.drv.block_time_steps(1)
        now = await self._chain_time()
        await self.drv.advance_to((now + 60 + 3599) // 3600 * 3600)  # oracles re-pushed at the new time
        self.view.phase("seed", f"{self.opts.wallets} wallets on every protocol")
        self.report = await seed_devnet(self.manifest, wallets=self.opts.wallets, seed=self.opts.seed,
                                        root=self.root, out_dir=self.root / "out")
        shutil.copy(Path(self.manifest.directory) / "seed.json", self.run_dir / "seed.json")
        await self.drv.sync()  # the seeding pushed fresh oracle rounds
        self.view.phase("keeper", "funding the keeper, its starting hedge book, configs")
        await self._prepare_keeper()
        await self._start_agents()

    async def _prepare_keeper(self) -> None:
        """The keeper's wallet: gas and USDC everywhere, HEDGER_ROLE on the AMM, a starting book of long puts."""
        assert self.drv is not None
        await self.drv.fund(self.keeper, usdc=Decimal(20_000_000), eth=Decimal(1000))
        base = self.drv.chain("base")
        amm, w3 = base["OptionAMM"], base.w3
        deployer = (await w3.eth.accounts)[0]
        await _wait(w3, await amm.functions.grantRole(await amm.functions.HEDGER_ROLE().call(), self.keeper)
                    .transact({"from": deployer}))
        spot = (await amm.functions.spot().call())[0]
        n = int(await amm.functions.seriesCount().call())
        rows = [(i, *(await amm.functions.series(i).call())[:3]) for i in range(n)]
        expiry = min(r[2] for r in rows)
        strike = min({r[1] for r in rows if r[2] == expiry}, key=lambda k: abs(k - spot))
        put = next(r[0] for r in rows if r[1:] == (strike, expiry, False))
        key = keeper_key(self.opts.seed)
        await self._send_as(w3, key, base["USDC"].address,
                            base["USDC"].encode_abi("approve", args=[amm.address, 2**256 - 1]))
        await self._send_as(w3, key, amm.address, amm.encode_abi("buy", args=[put, 15 * 10**18, 2**255]))
        # a trader buys calls: the pool goes short delta (it hedges by buying WETH on its venue)
        trader = list(await w3.eth.accounts)[1]
        call = next(r[0] for r in rows if r[1:] == (strike, expiry, True))
        await _wait(w3, await base["USDC"].functions.mint(trader, 5_000_000 * 10**6).transact({"from": deployer}))
        await _wait(w3, await base["USDC"].functions.approve(amm.address, 2**256 - 1).transact({"from": trader}))
        await _wait(w3, await amm.functions.buy(call, 60 * 10**18, 2**255).transact({"from": trader}))
        # the L2 sequencers came up with the deployment: an hour later they are past any grace period
        await self.drv.advance_time(3700)

    async def _send_as(self, w3: AsyncWeb3, key: str, to: str, data: str) -> None:
        """A setup transaction signed in memory with a demo key (never written, never logged)."""
        acct = Account.from_key(key)
        tx = {"from": acct.address, "to": to, "data": data, "nonce": await w3.eth.get_transaction_count(acct.address),
              "chainId": await w3.eth.chain_id, "gas": 2_000_000, "maxFeePerGas": 100 * 10**9,
              "maxPriorityFeePerGas": 10**9}
        signed = acct.sign_transaction(tx)
        receipt = await _wait(w3, await w3.eth.send_raw_transaction(signed.raw_transaction))
        if receipt["status"] != 1:
            raise RuntimeError(f"demo setup transaction to {to} reverted")

    def _fund_wallet(self) -> dict[str, Any]:
        """The covered fund: owner of a thin-margin PortfolioMargin account with an arbitrum cover."""
        covers = {c["holder"]: c for c in self.report["cover_market"]["covers"]
                  if c["chain_id"] == CHAIN_IDS["arbitrum"]}
        victim = next(a for a in self.report["portfolio_margin"]["accounts"]
                      if a["fragile"] and a["owner"] in covers)
        index = next(w["index"] for w in self.report["wallets"] if w["address"] == victim["owner"])
        return {"index": index, "owner": victim["owner"], "account_id": victim["account_id"],
                "cover": covers[victim["owner"]]}

    async def _start_agents(self) -> None:
        assert self.manifest is not None
        try:
            self.broker = start_mosquitto(workdir=self.tmp / "mqtt" if self.tmp else None)
        except NoBrokerAvailable as exc:
            self.notes.append(f"MQTT bus off: {exc}")
        mqtt = self.broker.url if self.broker is not None else None
        if mqtt is not None:
            self._listener = asyncio.create_task(self._listen(mqtt), name="demo-bus")
            await asyncio.wait_for(self._bus_ready.wait(), 15)
        self.fund = self._fund_wallet()
        wallets = {w["address"]: w for w in self.report["wallets"]}
        base_w3 = self.drv.chain("base").w3 if self.drv is not None else None
        devnet_accounts = list(await base_w3.eth.accounts)[:2] if base_w3 is not None else []
        entities = [DemoEntity("keeper", self.keeper, keeper=True)] + [
            DemoEntity(name, a) for name, a in zip(("devnet-deployer", "devnet-trader"), devnet_accounts, strict=False)
        ] + [
            DemoEntity(w["entity"], a, covered=w["covered"]) for a, w in wallets.items()]
        rpc = {c.name: c.rpc_url for c in self.manifest.evm_chains()}
        args = (Path(self.manifest.directory).resolve(), self.store_path.resolve(), mqtt, rpc, CHAIN_IDS, entities)
        (self.run_dir / "rtrm.toml").write_text(keeper_toml(*args))
        (self.run_dir / "rtrm-fund.toml").write_text(fund_toml(*args))
        env = dict(os.environ)
        env[KEEPER_ENV] = keeper_key(self.opts.seed)
        env[FUND_ENV] = fund_key(self.opts.seed, self.fund["index"])
        self.keeper_rt = Runtime(load_with_manifest(self.run_dir / "rtrm.toml"), environ=env, use_bus=mqtt is not None,
                                 clock=ChainClock(), expiry_delay_s=1.0)
        await self.keeper_rt.start(risk_interval_s=3600, resync_interval_s=3600)
        self.fund_rt = Runtime(load_with_manifest(self.run_dir / "rtrm-fund.toml"), environ=env,
                               use_bus=mqtt is not None, clock=ChainClock())
        await self.fund_rt.start(risk_interval_s=3600, resync_interval_s=3600)
        await self._snapshot("setup")

    # ------------------------------------------------------------------ acts
    async def _play(self) -> None:
        assert self.drv is not None
        base_vols = dict(self.drv.vols)
        acts = build(self.opts.scenario, dict(self.drv.prices), self.opts.seed)
        for act in acts:
            start_s, chain_start = self.elapsed(), await self._chain_time()
            self.view.phase(act.name, act.note)
            if act.name == "expiry":
                await self._expiry()
            else:
                await self._steps(act, base_vols)
            if act.name in ("auctions", "grind"):
                await self._claims()
            await self._snapshot(f"end_{act.name}")
            self.acts.append({"name": act.name, "note": act.note, "start_s": start_s, "end_s": self.elapsed(),
                              "chain_start": chain_start, "chain_end": await self._chain_time()})
            await self._save_acts()

    async def _steps(self, act: Act, base_vols: dict[str, Decimal]) -> None:
        assert self.drv is not None
        if act.name in ("crash", "squeeze", "grind"):
            await self._snapshot("before_" + act.name)  # the book as it stood just before the shock
        for step in act.steps:
            await self.drv.advance_time(step.dt_s, push=False)
            await self.drv.push(step.prices, vols={a: v * step.vol_mult for a, v in base_vols.items()})
            await self._record_prices()
            await self._settle()

    async def _settle(self, timeout: float = STEP_TIMEOUT_S) -> None:
        """Let the bots finish with the current market: liquidator (and claims agent) quiet, then one hedger
        decision, quiet again; risk snapshot and hedge bands recorded."""
        await self._quiet(("liquidator",), ("claimer", "disputer"), timeout)
        assert self.keeper_rt is not None and self.keeper_rt.engine is not None
        if "hedger" in self.keeper_rt.engine.bots:
            await self.keeper_rt.engine.tick("hedger")
            await self._quiet((), (), timeout, stable_s=0.0)
        await self._record_bands()
        await self._snapshot("step")

    async def _quiet(self, keeper_bots: Sequence[str], fund_bots: Sequence[str], timeout: float,
                     stable_s: float = QUIET_S) -> None:
        """Wait until the named bots ticked after now, no intent is pending and none appeared for `stable_s`."""
        rts = [(self.keeper_rt, keeper_bots), (self.fund_rt, fund_bots)]
        marks = {(id(rt), b): rt.engine.health[b].ticks for rt, bots in rts if rt and rt.engine
                 for b in bots if b in rt.engine.health}
        for rt, bots in rts:
            for b in bots:
                if rt is not None and rt.engine is not None:
                    rt.engine.trigger(b)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        last_count, last_change = -1, loop.time()
        while loop.time() < deadline:
            rows = await self._intents()
            counts: dict[str, int] = {}
            for r in rows:
                counts[r.bot] = counts.get(r.bot, 0) + 1
            self.view.actions(counts)
            pending = [r for r in rows if r.state not in FINAL]
            ticked = all(rt.engine.health[b].ticks > marks[(id(rt), b)] for rt, bots in rts
                         if rt is not None and rt.engine is not None for b in bots if b in rt.engine.health)
            if len(rows) != last_count:
                last_count, last_change = len(rows), loop.time()
            if ticked and not pending and loop.time() - last_change >= stable_s:
                return
            await asyncio.sleep(0.2)
        pending_keys = [r.key for r in await self._intents() if r.state not in FINAL]
        self.notes.append(f"bots still busy after {timeout:.0f}s at {self.elapsed():.0f}s "
                          f"({len(pending_keys)} intents pending)")

    async def _claims(self) -> None:
        """After the liquidation wave: the fund's claim is filed; a dishonest holder files a fabricated claim
        (a real liquidation transaction, but a log that is no liquidation) and the fund's disputer disputes it;
        liveness passes, the arbiter rejects the fabricated claim and the fund settles its own."""
        assert self.drv is not None and self.fund_rt is not None
        victim = f"arbitrum:portfolio_margin:{self.fund['account_id']}"
        if not any(r.kind == "bid" and r.state == "confirmed" and r.target == victim for r in await self._intents()):
            self.notes.append("the covered fund's account was not liquidated in this scenario: no claim to file")
            return
        filed = await self._wait_for(lambda rs: any(r.bot == "claimer" and r.kind == "submit_claim"
                                                     and r.state == "confirmed" for r in rs), 30.0)
        if not filed:
            self.notes.append("the fund's claim was not filed (its account was not liquidated in this scenario)")
            return
        base = self.drv.chain("base")
        cover, w3 = base["CoverMarket"], base.w3
        bid = await self._keeper_bid_log()
        fake_id: int | None = None
        if bid is None:
            self.notes.append("no keeper auction bid to fabricate a claim from: the dispute step was skipped")
        else:
            fabricator = next(c for c in self.report["cover_market"]["covers"]
                              if c["chain_id"] == CHAIN_IDS["arbitrum"] and c["holder"] != self.fund["owner"])
            index = next(w["index"] for w in self.report["wallets"] if w["address"] == fabricator["holder"])
            tx_hash, other_index = bid
            await self._send_as(w3, "0x" + wallet_key(self.opts.seed, index).hex(), cover.address,
                                cover.encode_abi("submitClaim", args=[fabricator["cover_id"], CHAIN_IDS["arbitrum"],
                                                                      tx_hash, other_index, 50 * 10**6]))
            fake_id = int((await cover.functions.counts().call())[1]) - 1
            self.view.log(f"a holder filed fabricated claim #{fake_id}")
            disputed = await self._wait_for(lambda rs: any(r.bot == "disputer" and r.state == "confirmed"
                                                            for r in rs), 30.0)
            if not disputed:
                self.notes.append(f"fabricated claim #{fake_id} was not disputed in time")
        await self.drv.advance_time(LIVENESS_S + 60)  # liveness passes (prices re-pushed at the new time)
        await self._record_prices()
        if fake_id is not None:
            deployer = (await w3.eth.accounts)[0]
            await _wait(w3, await cover.functions.resolve(fake_id, False).transact({"from": deployer}))
            self.view.log(f"the arbiter rejected claim #{fake_id}")
        settled = await self._wait_for(lambda rs: any(r.bot == "claimer" and r.kind == "settle_claim"
                                                       and r.state == "confirmed" for r in rs), 30.0)
        if not settled:
            self.notes.append("the fund's claim was not settled in time")
        await self._settle()

    async def _keeper_bid_log(self) -> tuple[bytes, int] | None:
        """(tx hash, index of a log in that tx that is not the AuctionBid) of one of the keeper's bids."""
        assert self.drv is not None
        arb = self.drv.chain("arbitrum")
        pm = arb["PortfolioMargin"]
        for r in await self._intents():
            if r.bot == "liquidator" and r.kind == "bid" and r.state == "confirmed" and r.tx_hash:
                receipt = await arb.w3.eth.get_transaction_receipt(HexStr(r.tx_hash))
                bids = pm.events.AuctionBid().process_receipt(receipt, errors=DISCARD)
                if not bids:
                    continue
                other = [int(lg["logIndex"]) for lg in receipt["logs"] if int(lg["logIndex"]) != int(bids[0]["logIndex"])]
                if other:
                    return bytes(receipt["transactionHash"]), other[0]
        return None

    async def _expiry(self) -> None:
        """Every chain moves past the nearest expiry both margin protocols list; the first round after it is
        pushed at the last prices; the settlement keeper settles."""
        assert self.drv is not None
        eth, arb = self.drv.chain("ethereum"), self.drv.chain("arbitrum")
        vo, pm = eth["VaultOptions"], arb["PortfolioMargin"]
        now = await self._chain_time()
        n = int(await vo.functions.seriesCount().call())
        vault_exp = [int((await vo.functions.getSeries(i).call())[2]) for i in range(1, n + 1)]
        m = int(await pm.functions.nextSeriesId().call())
        pm_exp = [int((await pm.functions.getSeries(i).call())[1]) for i in range(1, m)]
        near = [min(e for e in xs if e > now) for xs in (vault_exp, pm_exp) if any(e > now for e in xs)]
        if not near:
            self.notes.append("no open expiry to settle")
            return
        expiry = max(near)
        await self.drv.advance_to(expiry + 1, push=False)
        await self.drv.push(dict(self.drv.prices))
        await self._record_prices()
        await self._wait_for(lambda rs: any(r.bot == "settlement" for r in rs), 30.0)
        await self._quiet(("liquidator",), (), STEP_TIMEOUT_S)
        await self._wait_settlement_done()
        await self._settle()

    async def _wait_settlement_done(self) -> None:
        """Settlement goes in stages (expiry price, then vaults / redemptions / expired series): wait until a
        fresh settlement decision sends nothing more."""
        assert self.keeper_rt is not None and self.keeper_rt.engine is not None
        for _ in range(6):
            await self._quiet((), (), STEP_TIMEOUT_S, stable_s=0.0)
            report = await self.keeper_rt.engine.tick("settlement")
            if not report.sent:
                return

    async def _wait_for(self, cond: Callable[[Sequence[Intent]], bool], timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            rows = await self._intents()
            if cond(rows):
                return True
            await asyncio.sleep(0.25)
        return False

    # ------------------------------------------------------------------ recording
    async def _intents(self) -> list[Intent]:
        async with self._session() as s:
            return list((await s.exec(select(Intent))).all())

    def _session(self) -> Any:
        assert self.store is not None
        return self.store._session()

    async def _chain_time(self) -> int:
        assert self.drv is not None
        ts = [int((await c.w3.eth.get_block("latest"))["timestamp"]) for c in self.drv._chains.values()]
        return max(ts) if ts else 0

    async def _points(self, points: Sequence[DemoPoint]) -> None:
        async with self._session() as s:
            s.add_all(points)
            await s.commit()

    async def _record_prices(self) -> None:
        """The oracles as each chain now reports them (read back, not what the driver meant to write)."""
        assert self.drv is not None
        t, ct = self.elapsed(), await self._chain_time()
        pts: list[DemoPoint] = []
        for name, c in self.drv._chains.items():
            for feed, (asset, _) in PRICE_FEEDS.items():
                if c.has(feed) and asset != "USDC":
                    answer = int((await c[feed].functions.latestRoundData().call())[1])
                    pts.append(DemoPoint(series="price", label=f"{name}:chainlink:{asset}", t_s=t, chain_time=ct,
                                         value=answer / 10**8))
        if self.drv.solana_url is not None:
            from chains.devnet.solana_seed import read_solana_price

            for asset in ("SOL", "ETH", "BTC"):
                px = await read_solana_price(self.drv.solana_url, asset)
                if px is not None:
                    pts.append(DemoPoint(series="price", label=f"solana:pyth:{asset}", t_s=t, chain_time=ct,
                                         value=float(px)))
        await self._points(pts)

    async def _record_bands(self) -> None:
        """Net dollar delta of each hedge target (keeper, pool) and its no-trade band, as the hedger sees them."""
        rt = self.keeper_rt
        if rt is None or rt.hedger_source is None or rt.engine is None:
            return
        state = await rt.hedger_source(rt.engine.clock())
        params = rt.config.bots["hedger"].protocols
        t, ct = self.elapsed(), await self._chain_time()
        pts: list[DemoPoint] = []
        for target in state.targets:
            p = params.get(target.protocol)
            h = band_half_width(target, state.quotes, p) if p is not None else None
            label = target.name if target.kind == "entity" else f"pool:{target.protocol}"
            pts.append(DemoPoint(series="delta_usd", label=label, t_s=t, chain_time=ct,
                                 value=target.delta * target.spot))
            if h is not None:
                pts.append(DemoPoint(series="band_usd", label=label, t_s=t, chain_time=ct, value=h * target.spot))
        await self._points(pts)

    async def _snapshot(self, tag: str) -> None:
        """A risk snapshot of every entity (engine book), tagged so the report finds 'just before the crash'."""
        rt = self.keeper_rt
        if rt is None or rt.engine is None:
            return
        await rt.engine.snapshot_risk()
        async with self._session() as s:
            last = (await s.exec(select(func.max(RiskSnapshot.id)))).one() or 0
        # value = the last risk row of this snapshot: the report reads the batch back by id range
        await self._points([DemoPoint(series="snapshot", label=tag, t_s=self.elapsed(),
                                      chain_time=await self._chain_time(), value=float(last))])

    async def _listen(self, url: str) -> None:
        """Every action the bots publish on MQTT: its expected profit at decision goes to the store (the
        summary's P&L column), which also shows the bus carried every action."""
        async with subscribe(url, ["rtrm/actions/#"]) as client:
            self._bus_ready.set()
            async for m in client.messages:
                with contextlib.suppress(Exception):
                    msg = decode(m)
                    if not msg.get("dry_run"):
                        await self._points([DemoPoint(series="expected_profit", label=str(msg["key"]),
                                                      t_s=self.elapsed(),
                                                      value=float(msg.get("expected_profit_usd") or 0.0))])

    async def _sample_heads(self) -> None:
        """Chain heads once a second for the progress display (and the report's last-seen heads)."""
        assert self.manifest is not None
        w3s = {c.name: AsyncWeb3(AsyncWeb3.AsyncHTTPProvider(c.rpc_url)) for c in self.manifest.evm_chains()}
        try:
            while True:
                heads: dict[str, int] = {}
                for name, w3 in w3s.items():
                    with contextlib.suppress(Exception):
                        heads[name] = int(await w3.eth.block_number)
                if "solana" in self.manifest.chains:
                    with contextlib.suppress(Exception):
                        heads["solana"] = await _solana_slot(self.manifest.chains["solana"].rpc_url)
                self.view.heads(heads)
                self.last_heads = heads
                t = self.elapsed()
                with contextlib.suppress(Exception):
                    await self._points([DemoPoint(series="head", label=c, t_s=t, value=float(h))
                                        for c, h in heads.items()])
                await asyncio.sleep(1.0)
        finally:
            for w3 in w3s.values():
                with contextlib.suppress(Exception):
                    await w3.provider.disconnect()

    async def _save_acts(self, status: str | None = None) -> None:
        async with self._session() as s:
            run = (await s.exec(select(DemoRun).where(DemoRun.run_id == self.run_id))).one()
            run.acts = json.dumps(self.acts)
            run.notes = json.dumps(self.notes)
            if status is not None:
                run.status = status
                run.finished_at = datetime.now(UTC)
            s.add(run)
            await s.commit()

    async def _record_costs(self) -> None:
        """Gas used × effective gas price of every mined action, from its receipt."""
        if self.manifest is None:
            return
        rows = [r for r in await self._intents() if r.tx_hash and r.block_number is not None]
        w3s = {c.name: AsyncWeb3(AsyncWeb3.AsyncHTTPProvider(c.rpc_url)) for c in self.manifest.evm_chains()}
        costs: list[TxCost] = []
        try:
            for r in rows:
                w3 = w3s.get(r.chain)
                if w3 is None:
                    continue
                with contextlib.suppress(Exception):
                    rc = await w3.eth.get_transaction_receipt(HexStr(r.tx_hash))
                    costs.append(TxCost(intent_key=r.key, chain=r.chain, tx_hash=r.tx_hash, gas_used=int(rc["gasUsed"]),
                                        fee_wei=str(int(rc["gasUsed"]) * int(rc["effectiveGasPrice"])),
                                        block=int(rc["blockNumber"]), status=int(rc["status"])))
        finally:
            for w3 in w3s.values():
                with contextlib.suppress(Exception):
                    await w3.provider.disconnect()
        async with self._session() as s:
            s.add_all(costs)
            await s.commit()

    # ------------------------------------------------------------------ teardown
    async def _teardown(self, status: str) -> None:
        """Stop everything this run started, in order, whatever happened; the store is closed last."""
        self.view.phase("stop", "stopping bots, broker and devnet")
        for rt in (self.fund_rt, self.keeper_rt):
            if rt is not None:
                with contextlib.suppress(Exception):
                    await asyncio.shield(rt.stop())
        for task in (self._sampler, self._listener):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        with contextlib.suppress(Exception):
            await asyncio.shield(self._record_costs())
        if self.drv is not None:
            with contextlib.suppress(Exception):
                await self.drv.close()
        if self.broker is not None:
            self.broker.stop()
        if self.devnet is not None and not self.opts.keep_running:
            self.devnet.stop()
            if self.tmp is not None:
                shutil.rmtree(self.tmp, ignore_errors=True)
        if self.store is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._save_acts(status))
        if self.journal is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(self.journal.close())
        latest = self.opts.reports_dir / "latest"
        with contextlib.suppress(OSError):
            if latest.is_symlink() or latest.exists():
                latest.unlink()
            latest.symlink_to(self.run_id)


async def _wait(w3: AsyncWeb3, tx: Any) -> Any:
    return await w3.eth.wait_for_transaction_receipt(tx, poll_latency=0.05)


async def _solana_slot(url: str) -> int:
    import aiohttp

    async with aiohttp.ClientSession() as s, s.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "getSlot"}) as r:
        return int((await r.json())["result"])


