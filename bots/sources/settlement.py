"""Settlement keeper: state source (chain reads) and decision (pure) around option expiries.

Why its own decision on top of `bots.strategies.settlement.decide`: that strategy settles vaults and redeems
longs once a settlement price exists; the keeper must also *record* the VaultOptions expiry price (the first
valid Chainlink round at/after expiry — anyone may call `setExpiryPrice`) and settle PortfolioMargin series
that accounts still hold after expiry (`settleExpired`, anyone). VaultOptions lets anyone call `settleVault`
(the excess goes to the vault owner), so every expired vault counts as ours to settle. All reads of one tick
are at one block per chain, so a decision is consistent; every key names the decision, never a time or a hash.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from eth_utils import to_checksum_address
from loguru import logger

from bots.sources.evm import CallReverted, Head, call, head
from bots.strategies import settlement as base
from bots.strategies.intents import ActionIntent, Decision, Skip, make_key
from chains.evm.multicall import MULTICALL3, Call, encode_aggregate3_fast
from chains.protocols.abi import decode_exact, encode_call, encode_uint_call, selector
from chains.protocols.base import CallData, Rpc
from chains.protocols.common import require_ok
from chains.protocols.portfolio_margin import PortfolioMarginAdapter, decode_held
from chains.protocols.vault_options import OPTION_DECIMALS, VaultOptionsAdapter, decode_vault

BOT = base.BOT
WAD = 10**18
_ROUND_T = ("uint80", "int256", "uint256", "uint256", "uint80")


@dataclass(frozen=True, slots=True)
class ExpiryPriceNeeded:
    """An expired (underlying, expiry) of a VaultOptions deployment with no settlement price recorded yet."""

    chain: str
    protocol: str
    underlying: str
    expiry: datetime
    round_id: int | None  # the first valid feed round at/after expiry; None while the feed has none yet


@dataclass(frozen=True, slots=True)
class PmExpired:
    """A PortfolioMargin account still holding an expired series."""

    chain: str
    protocol: str
    account_id: int
    series_id: int
    expiry: datetime


@dataclass(frozen=True, slots=True)
class KeeperSettlementState:
    base: base.SettlementState
    prices_needed: tuple[ExpiryPriceNeeded, ...] = ()
    pm_expired: tuple[PmExpired, ...] = ()


def _enabled(params: Mapping[str, Any], protocol: str) -> bool:
    p = params.get(protocol)
    return p is not None and bool(p.enabled)


def decide(state: KeeperSettlementState, params: Mapping[str, Any]) -> Decision:
    """Pure: the base strategy's settle/redeem intents plus expiry-price and PortfolioMargin settlements."""
    d = base.decide(state.base, params)
    intents: list[ActionIntent] = list(d.intents)
    skipped: list[Skip] = list(d.skipped)
    now = state.base.now
    for n in state.prices_needed:
        if not _enabled(params, n.protocol) or now < n.expiry:
            continue
        target = f"{n.underlying}@{int(n.expiry.timestamp())}"
        if n.round_id is None:
            skipped.append(Skip(target, "expired but the feed has no valid round at/after expiry yet"))
            continue
        intents.append(ActionIntent(
            BOT, "set_expiry_price", n.chain, n.protocol, target,
            make_key(BOT, "expiry_price", n.chain, n.protocol, n.underlying.lower(), int(n.expiry.timestamp())),
            reasons=(f"expiry {n.expiry.isoformat()} passed; first round at/after it is {n.round_id}",),
            params=MappingProxyType({"underlying": n.underlying, "expiry": int(n.expiry.timestamp()),
                                     "round_id": n.round_id})))
    for e in state.pm_expired:
        if not _enabled(params, e.protocol) or now < e.expiry:
            continue
        intents.append(ActionIntent(
            BOT, "settle_expired", e.chain, e.protocol, str(e.account_id),
            make_key(BOT, "settle_expired", e.chain, e.protocol, e.account_id, e.series_id),
            reasons=(f"account {e.account_id} holds series {e.series_id} expired {e.expiry.isoformat()}",),
            params=MappingProxyType({"account_id": e.account_id, "series_id": e.series_id})))
    return Decision(tuple(base.batch_settlements(intents, params)), tuple(skipped))


def option_units(amount: Any) -> int:
    """A redeem amount (option tokens as a decimal string) → exact 8-decimal base units; rejects sub-units."""
    d = Decimal(str(amount))
    units = d.scaleb(OPTION_DECIMALS)
    if d <= 0 or units != units.to_integral_value():
        raise ValueError(f"redeem amount must be a positive multiple of 1e-{OPTION_DECIMALS}, got {amount!r}")
    return int(units)


def settlement_call(adapter: Any, intent: ActionIntent) -> Any | None:
    """The CallData for a settlement intent on its adapter, or None when the intent is not a settlement one."""
    p = intent.params
    if isinstance(adapter, VaultOptionsAdapter):
        if intent.kind == "settle_vault":
            return adapter.settle_vault(int(p["vault_id"]))
        if intent.kind == "redeem":
            return adapter.redeem(int(p["series"]), option_units(p["amount"]))
        if intent.kind == "set_expiry_price":
            return adapter.set_expiry_price(str(p["underlying"]), int(p["expiry"]), int(p["round_id"]))
    if isinstance(adapter, PortfolioMarginAdapter) and intent.kind == "settle_expired":
        return adapter.settle_expired(int(p["account_id"]), int(p["series_id"]))
    if intent.kind == "settle_batch":
        calls = []
        for member in p["members"]:
            one = settlement_call(adapter, replace(intent, kind=str(p["kind"]), params=MappingProxyType(member)))
            if one is None or one.value:
                raise ValueError(f"{intent.key}: member {member} of a {p['kind']} batch has no plain call")
            calls.append(Call(one.to, one.data))
        return CallData(MULTICALL3, bytes.fromhex(encode_aggregate3_fast(calls)[2:]))
    return None


def _utc(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


async def _round(rpc: Rpc, feed: str, rid: int, block: int) -> tuple[int, int] | None:
    """(answer, updatedAt) of round `rid`, or None for a round the feed does not have."""
    try:
        _, answer, _, updated, _ = decode_exact(_ROUND_T, await call(
            rpc, feed, encode_call("getRoundData(uint80)", ["uint80"], [rid]), block, f"{feed}.getRoundData"),
            "getRoundData")
    except CallReverted:
        return None
    return int(answer), int(updated)


async def first_round_at_or_after(rpc: Rpc, feed: str, expiry: int, block: int) -> int | None:
    """The feed's first round with updatedAt ≥ expiry and a positive answer — the round `setExpiryPrice`
    accepts — or None when there is none yet. Binary search over the current phase's rounds (updatedAt grows
    with the round id), so a keeper that starts days after an expiry reads O(log rounds), not every round."""
    try:
        latest = decode_exact(_ROUND_T, await call(rpc, feed, selector("latestRoundData()"), block,
                                                   f"{feed}.latestRoundData"), "latestRoundData")
    except CallReverted:
        return None  # no round at all yet
    hi = int(latest[0])
    if int(latest[3]) < expiry:
        return None
    lo = (hi >> 64 << 64) + 1  # Chainlink phased ids: phase << 64 | aggregator round (from 1)
    while lo < hi:  # smallest round at/after expiry; missing rounds count as before it
        mid = (lo + hi) // 2
        got = await _round(rpc, feed, mid, block)
        if got is not None and got[1] >= expiry:
            hi = mid
        else:
            lo = mid + 1
    rid = lo
    while rid <= int(latest[0]):  # then the first valid answer from there on
        got = await _round(rpc, feed, rid, block)
        if got is not None and got[0] > 0 and got[1] >= expiry:
            return rid
        rid += 1
    return None


@dataclass
class SettlementSource:
    """Reads, per tick: expired VaultOptions series (price recorded or the round to record it), their unsettled
    vaults, the keeper's balances of them, and PortfolioMargin accounts holding expired series.

    `expiries()` lists every series expiry seen so far, for the engine's expiry jobs.
    """

    keeper: str
    vaults: Sequence[tuple[str, VaultOptionsAdapter]] = ()
    portfolios: Sequence[tuple[str, PortfolioMarginAdapter]] = ()
    on_head: Callable[[str, Head], None] | None = None
    _settled: set[tuple[str, int]] = field(default_factory=set)  # settled vaults never change again
    _expiries: set[int] = field(default_factory=set)
    _rounds: dict[tuple[str, int], int] = field(default_factory=dict)  # (feed, expiry) → settlement round

    def expiries(self) -> list[datetime]:
        return [_utc(t) for t in sorted(self._expiries)]

    async def __call__(self, now: datetime) -> KeeperSettlementState:
        vaults: list[base.ExpiredVault] = []
        longs: list[base.LongPosition] = []
        known: set[str] = set()
        needed: list[ExpiryPriceNeeded] = []
        pm: list[PmExpired] = []
        heads: dict[str, Head] = {}
        for pname, a in self.vaults:
            h = heads.get(a.chain) or await self._head(a.chain, a.rpc, heads)
            await self._vault_protocol(pname, a, h, now, vaults, longs, known, needed)
        for pname, pa in self.portfolios:
            h = heads.get(pa.chain) or await self._head(pa.chain, pa.rpc, heads)
            pm += await self._pm_protocol(pname, pa, h, now)
        return KeeperSettlementState(base.SettlementState(now, tuple(vaults), tuple(longs), frozenset(known)),
                                     tuple(needed), tuple(pm))

    async def _head(self, chain: str, rpc: Rpc, heads: dict[str, Head]) -> Head:
        h = heads[chain] = await head(rpc)
        if self.on_head is not None:
            self.on_head(chain, h)
        return h

    async def _vault_protocol(self, pname: str, a: VaultOptionsAdapter, h: Head, now: datetime,
                              vaults: list[base.ExpiredVault], longs: list[base.LongPosition], known: set[str],
                              needed: list[ExpiryPriceNeeded]) -> None:
        block = h.number
        await a.discover(to_block=block)
        series = await a.load_series(block)
        self._expiries.update(s.expiry for s in series)
        expired = [s for s in series if _utc(s.expiry) <= now]
        if not expired:
            return
        pairs = sorted({(s.underlying, s.expiry) for s in expired})
        res = await a.multicall.read([Call(a.address, encode_call("expiryPrice(address,uint64)",
                                                                  ["address", "uint64"], [u, e])) for u, e in pairs],
                                     block)
        priced: set[tuple[str, int]] = set()
        for (u, e), r in zip(pairs, res, strict=True):
            price, _ = decode_exact(("uint256", "uint80"), require_ok(r, f"expiryPrice({u},{e})"), "expiryPrice")
            if price > 0:
                priced.add((u, e))
                known.add(base._price_key(a.chain, pname, _utc(e)))
                continue
            feed_r = (await a.multicall.read([Call(a.address, encode_call("oracleOf(address)", ["address"], [u]))],
                                             block))[0]
            feed = to_checksum_address(decode_exact(("address", "uint256"), require_ok(feed_r, f"oracleOf({u})"),
                                                    "oracleOf")[0])
            rid = self._rounds.get((feed, e))
            if rid is None:
                rid = await first_round_at_or_after(a.rpc, feed, e, block)
                if rid is not None:  # feed rounds are immutable: the first one after expiry stays the first
                    self._rounds[(feed, e)] = rid
            needed.append(ExpiryPriceNeeded(a.chain, pname, to_checksum_address(u), _utc(e), rid))
        by_id = {s.series_id: s for s in expired}
        ids = sorted(int(v) for v in a.owners if (pname, int(v)) not in self._settled)
        if ids:
            got = await a.multicall.read([Call(a.address, encode_uint_call(selector("getVault(uint256)"), i))
                                          for i in ids], block)
            for vid, r in zip(ids, got, strict=True):
                v = decode_vault(require_ok(r, f"getVault({vid})"), f"getVault({vid})")
                if v.settled:
                    self._settled.add((pname, vid))
                elif v.series_id in by_id and v.short_amount > 0:
                    vaults.append(base.ExpiredVault(a.chain, pname, v.owner, vid, _utc(by_id[v.series_id].expiry),
                                                    settled=False, ours=True))
        # the keeper's longs: balances of expired series tokens, valued at the recorded payoff
        bal = await a.multicall.read([Call(s.token, encode_call("balanceOf(address)", ["address"], [self.keeper]))
                                      for s in expired], block)
        for s, r in zip(expired, bal, strict=True):
            units = int(decode_exact(("uint256",), require_ok(r, f"{s.token}.balanceOf"), "balanceOf")[0])
            if units == 0:
                continue
            payoff = Decimal(0)
            if (s.underlying, s.expiry) in priced:
                (per,) = await a.multicall.read([Call(a.address, encode_uint_call(
                    selector("payoffPerOption(uint256)"), s.series_id))], block)
                per_option = int(decode_exact(("uint256",), require_ok(per, "payoffPerOption"), "payoffPerOption")[0])
                payoff = Decimal(units * per_option // 10**OPTION_DECIMALS) / WAD  # the contract rounds down too
            longs.append(base.LongPosition(a.chain, pname, str(s.series_id), self.keeper,
                                           Decimal(units).scaleb(-OPTION_DECIMALS), _utc(s.expiry), payoff))

    async def _pm_protocol(self, pname: str, pa: PortfolioMarginAdapter, h: Head, now: datetime) -> list[PmExpired]:
        block = h.number
        await pa.discover(to_block=block)
        series = {s.series_id: s for s in await pa.load_series(block)}
        self._expiries.update(s.expiry for s in series.values())
        if not any(_utc(s.expiry) <= now for s in series.values()):
            return []
        ids = sorted(int(i) for i in pa.owners)
        res = await pa.multicall.read([Call(pa.address, encode_uint_call(selector("heldSeries(uint256)"), i))
                                       for i in ids], block)
        out: list[PmExpired] = []
        for aid, r in zip(ids, res, strict=True):
            for sid in decode_held(require_ok(r, f"heldSeries({aid})"), f"heldSeries({aid})"):
                s = series.get(sid)
                if s is not None and _utc(s.expiry) <= now:
                    out.append(PmExpired(pa.chain, pname, aid, sid, _utc(s.expiry)))
        return out


def with_now(state: KeeperSettlementState, now: datetime) -> KeeperSettlementState:
    """The same state judged at another time (tests and `explain`)."""
    return replace(state, base=replace(state.base, now=now))


class ExpiryJobs:
    """APScheduler jobs that tick the settlement bot at each expiry (+ `delay_s`) in *chain* time.

    Why a watch job: on a devnet the chain clock jumps (time warps), so a date fixed in wall time would fire at
    the wrong moment. Every `watch_s` the chain heads are re-read (`refresh`), each pending expiry's job is
    re-placed at wall-now + (expiry + delay − chain-now), and expiries already due share one immediate job. A
    job that fires early (the chain has not got there after all) does nothing and stays pending.
    """

    def __init__(self, engine: Any, source: SettlementSource, clock: Callable[[], datetime],
                 refresh: Callable[[], Any] | None = None, bot: str = BOT, delay_s: float = 5.0,
                 watch_s: float = 1.0, max_rounds: int = 60) -> None:
        self.engine, self.source, self.clock, self.refresh = engine, source, clock, refresh
        self.bot, self.delay_s, self.watch_s = bot, delay_s, watch_s
        self.fired: set[datetime] = set()
        self.rounds: dict[datetime, int] = {}
        self.max_rounds = max_rounds

    def start(self) -> None:
        from apscheduler.triggers.interval import IntervalTrigger

        if self.engine.scheduler is None:
            raise RuntimeError("engine not started: expiry jobs need its scheduler")
        self.engine.scheduler.add_job(self.watch, IntervalTrigger(seconds=self.watch_s),
                                      id=f"expiry-watch-{self.bot}", replace_existing=True)

    def job_id(self, expiry: datetime | None) -> str:
        return f"expiry-{self.bot}-{'due' if expiry is None else int(expiry.timestamp())}"

    async def watch(self) -> None:
        from apscheduler.triggers.date import DateTrigger

        if self.refresh is not None:
            await self.refresh()
        scheduler = self.engine.scheduler
        if scheduler is None:
            return
        chain_now, wall_now = self.clock(), datetime.now(UTC)
        due: list[datetime] = []
        for e in self.source.expiries():
            if e in self.fired:
                continue
            wait = (e.timestamp() + self.delay_s) - chain_now.timestamp()
            if wait <= 0:
                due.append(e)
            else:
                run = datetime.fromtimestamp(wall_now.timestamp() + wait, UTC)
                scheduler.add_job(self.fire, DateTrigger(run_date=run), args=[[e]], id=self.job_id(e),
                                  replace_existing=True)
        if due:
            for e in due:  # a re-placed job that is now due joins the immediate one
                if scheduler.get_job(self.job_id(e)) is not None:
                    scheduler.remove_job(self.job_id(e))
            scheduler.add_job(self.fire, DateTrigger(run_date=wall_now), args=[due], id=self.job_id(None),
                              replace_existing=True)

    async def fire(self, expiries: Sequence[datetime]) -> None:
        now = self.clock().timestamp()
        ready = [e for e in expiries if e.timestamp() + self.delay_s <= now]
        if not ready:
            return
        report = await self.engine.tick(self.bot)
        # an expiry is done once a tick after it has nothing left to send (setExpiryPrice must confirm before
        # vaults can settle, so that takes a few rounds); the watch re-fires it until then, within a bound
        for e in ready:
            self.rounds[e] = self.rounds.get(e, 0) + 1
        if not (report.sent or report.failed or report.blocked):  # blocked by a guard: still work to do
            self.fired.update(ready)
        else:
            for e in ready:
                if self.rounds[e] >= self.max_rounds:
                    logger.warning("settlement: expiry {} still had work after {} rounds; left to the bot's own "
                                   "interval", e.isoformat(), self.rounds[e])
                    self.fired.add(e)
