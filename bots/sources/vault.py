"""VaultOptions candidates for the liquidator, all read at one block.

Why this shape: the risk core's margin mirror (`risk.margin.vault.vault_margin`) flags vaults from the adapter's
positions and the oracle spot; a vault is a candidate only when the contract's own `requirement` read at the SAME
block agrees (the confirmation the issue asks for; a disagreement is logged, never acted on). The auction round is
the first round that made the vault unsafe — found by asking the contract's `auctionPrice` view, which rejects
every other round with `NotFirstUnsafeRound` — so the liquidator names the round that pays the most. Exact chain
integers (series, short units, collateral the keeper's fresh vault needs) travel with the candidate so the call is
built without float round-trips. Between full reads only vaults with events since the last read and those the
mirror flags at the new quote are re-read (`bots.sources.incremental`); the rest are carried, never targets.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

import numpy as np
from loguru import logger

from bots.sources.evm import CallReverted, Head, call
from bots.sources.incremental import AccountCache, Stopwatch, plan_read, remember_ids
from bots.strategies.liquidator import VaultCandidate
from chains.model import AccountState, OracleQuote, OracleSource, Underlying
from chains.protocols.abi import decode_exact, encode_call, selector, topic_address, word_int
from chains.protocols.base import OracleReadings, Rpc
from chains.protocols.vault_options import OPTION_DECIMALS, VAULT_EVENTS, VAULT_OPENED, VaultOptionsAdapter
from risk.margin.vault import VaultBook, VaultMargin, VaultParams, vault_margin
from risk.pricing import bsm

YEAR_S = 365.0 * 86400.0
NOT_FIRST_UNSAFE = selector("NotFirstUnsafeRound(uint80,uint80)")
ROUND_BEFORE_UPDATE = selector("RoundBeforeVaultUpdate(uint80,uint256,uint256)")
ROUND_T = ("uint80", "int256", "uint256", "uint256", "uint80")


@dataclass(frozen=True, slots=True)
class VaultRead:
    """One block's view of a VaultOptions deployment: candidates, the oracle quotes read, per-vault problems."""

    head: Head
    candidates: tuple[VaultCandidate, ...]
    quotes: tuple[OracleQuote, ...]
    problems: tuple[str, ...] = ()
    states: tuple[AccountState, ...] = ()  # every vault read (the keeper's own too): the risk book's input
    oracle_faults: tuple[tuple[str, str], ...] = ()  # (feed, why): Chainlink feeds giving no usable price


@dataclass
class VaultSource:
    """Reads one VaultOptions deployment for the liquidator (see module docstring)."""

    adapter: VaultOptionsAdapter
    rpc: Rpc
    vol: float = 0.6  # pricing vol for the keeper's mark of the options it mints
    mint_buffer: Decimal = Decimal("1.02")  # collateral over the fresh vault's requirement (ticks between blocks)
    exclude_owners: frozenset[str] = frozenset()  # the keeper's own vaults are never targets
    max_round_lookback: int = 64
    params: VaultParams = field(default_factory=VaultParams)
    vault_ids: list[str] = field(default_factory=list)
    _ids: set[str] = field(default_factory=set, repr=False)  # the same ids, for O(1) membership
    cache: AccountCache = field(default_factory=AccountCache)  # held states; `full_every_s` = the safety net
    reread_margin: float = 0.01  # held vaults within 1 % of their requirement get the contract's look too
    last_timings: dict[str, float] = field(default_factory=dict)  # ms per stage of the last read
    last_reread: int = 0  # vaults read at the last tick's block (diagnostics, bench)
    _reported: set[str] = field(default_factory=set, repr=False)
    _floats: dict[str, tuple[AccountState, tuple[float, float, float, float, float]]] = field(
        default_factory=dict, repr=False)  # vault id → (state, its float columns): see `_columns`

    @property
    def chain(self) -> str:
        return self.adapter.chain

    async def read(self, head: Head) -> VaultRead:
        """Candidates at `head`: a full read when due (see `bots.sources.incremental`), else only the vaults with
        events since the last read plus those the mirror flags at the new quote, the rest carried."""
        t = Stopwatch()
        full, touched, readings = await plan_read(self.cache, self.rpc, self.adapter, VAULT_EVENTS, head,
                                                  self._remember_owner, t)
        # the adapter remembers every account it ever discovered (also by other callers, e.g. keeper setup)
        self._ids = remember_ids(self.vault_ids, self._ids, [*touched, *self.adapter.owners])
        quotes = tuple(q for q in readings.quotes if q.source is OracleSource.CHAINLINK)
        spots = {q.asset: q for q in quotes}
        if full:
            fresh = await self.adapter.read(self.vault_ids, head.number) if self.vault_ids else []
            carried: list[AccountState] = []
        else:
            # held states as read (their stale `requirement` is never used: carried vaults are not confirmed)
            held = [self.cache.states[v] for v in self.vault_ids if v in self.cache.states and v not in touched]
            flagged = self._flag(held, spots, head)
            again = {s.account_id for s, f in zip(held, flagged, strict=True) if f}
            want = [v for v in self.vault_ids if v in touched or v in again or v not in self.cache.states]
            fresh = await self.adapter.read(want, head.number) if want else []
            got = {s.account_id for s in fresh}
            carried = [s for s in held if s.account_id not in got]
        t.lap("mirror+read")
        self.cache.store(fresh, head, full=full)
        self.last_reread = len(fresh)
        problems: list[str] = []
        cands: list[VaultCandidate] = []
        targets: list[tuple[VaultCandidate, OracleQuote]] = []
        for rows, confirm in ((fresh, True), (carried, False)):
            rows = [s for s in rows if s.positions and s.owner.lower() not in self.exclude_owners]
            verdicts = self._mirror(rows, spots, head)
            marks = self._marks(rows, spots, head)
            for state, liquidatable, mark in zip(rows, verdicts, marks, strict=True):
                try:
                    base, quote = self._candidate(state, liquidatable, spots, head, mark, confirm)
                except Exception as exc:  # one vault's bad read never hides the others
                    self._problem(problems, state, exc)
                    continue
                if quote is None:
                    cands.append(base)
                else:
                    targets.append((base, quote))
        # the auction round and the mint collateral of every target at once (each a few eth_calls)
        done = await asyncio.gather(*(self._target(c, q, head) for c, q in targets), return_exceptions=True)
        for (base, _), res in zip(targets, done, strict=True):
            if isinstance(res, VaultCandidate):
                cands.append(res)
            elif isinstance(res, Exception):
                self._problem(problems, self.cache.states[str(base.vault_id)], res)
            else:
                raise res
        t.lap("candidates")
        self.last_timings = t.laps
        return VaultRead(head, tuple(cands), quotes, tuple(problems), tuple(fresh),
                         oracle_faults(readings))

    def _remember_owner(self, log: dict[str, Any]) -> None:
        t = log["topics"]
        if t[0] == VAULT_OPENED and len(t) == 3:
            self.adapter.owners[str(word_int(t[1], "VaultOpened"))] = topic_address(t[2], "VaultOpened")

    def _book(self, rows: list[AccountState], spots: dict[Underlying, OracleQuote],
              head: Head) -> tuple[list[int], VaultMargin | None]:
        """The risk core's margin of the vaults whose spot is known (row indices, result)."""
        usable = [i for i, s in enumerate(rows) if s.positions and s.positions[0].instrument.underlying in spots]
        if not usable:
            return usable, None
        cols = np.array([self._columns(rows[i]) for i in usable], dtype=np.float64).reshape(-1, 5)
        spot = {u: float(q.price) for u, q in spots.items()}
        book = VaultBook.build(
            collateral=cols[:, 4], vault=np.arange(len(usable)), is_call=cols[:, 0] > 0, strike=cols[:, 1],
            amount=cols[:, 2], tau_seconds=cols[:, 3] - head.timestamp,
            spot=[spot[rows[i].positions[0].instrument.underlying] for i in usable])
        return usable, vault_margin(book, self.params)

    def _columns(self, s: AccountState) -> tuple[float, float, float, float, float]:
        """(is_call, strike, short amount, expiry, collateral) of a vault's short as floats, converted once per
        state: held states come back tick after tick, and Decimal → float dominates a 500-vault mirror."""
        got = self._floats.get(s.account_id)
        if got is None or got[0] is not s:
            p = s.positions[0]
            inst = p.instrument
            got = (s, (float(inst.option_type is not None and inst.option_type.value == "call"),
                       float(inst.strike or 0), float(-p.size), inst.expiry.timestamp() if inst.expiry else 0.0,
                       float(p.collateral)))
            self._floats[s.account_id] = got
        return got[1]

    def _mirror(self, rows: list[AccountState], spots: dict[Underlying, OracleQuote], head: Head) -> list[bool]:
        """The risk core's verdict per vault (False where the spot or the figures are missing)."""
        out = [False] * len(rows)
        usable, margin = self._book(rows, spots, head)
        if margin is not None:
            for j, i in enumerate(usable):
                out[i] = bool(margin.liquidatable[j])
        return out

    def _flag(self, rows: list[AccountState], spots: dict[Underlying, OracleQuote], head: Head) -> list[bool]:
        """Held vaults worth the contract's own look at this block: liquidatable by the mirror, within
        `reread_margin` of it, or not mirrorable (no spot, beyond the table, expired)."""
        out = [bool(s.positions) for s in rows]
        usable, margin = self._book(rows, spots, head)
        if margin is not None:
            with np.errstate(invalid="ignore"):
                close = ~(margin.headroom > self.reread_margin * np.abs(margin.requirement))
            for j, i in enumerate(usable):
                out[i] = bool(close[j])
        return out

    def _marks(self, rows: list[AccountState], spots: dict[Underlying, OracleQuote], head: Head) -> list[float]:
        """Risk-core mark per option of each vault's short (what the keeper's fresh short costs), vectorised."""
        if not rows:
            return []
        quotes = [spots.get(s.positions[0].instrument.underlying) for s in rows]
        cols = np.array([self._columns(s) for s in rows], dtype=np.float64).reshape(-1, 5)
        is_call, strike = cols[:, 0] > 0, cols[:, 1]
        spot = np.array([float(q.price) if q is not None else 1.0 for q in quotes])
        tau = np.maximum(cols[:, 3] - head.timestamp, 1.0) / YEAR_S
        with np.errstate(all="ignore"):
            price = np.asarray(bsm(is_call, spot, np.where(strike > 0, strike, 1.0), tau, 0.0, 0.0, self.vol).price,
                               dtype=np.float64).reshape(-1)
        return [float(m) if q is not None and k > 0 else math.nan
                for m, q, k in zip(price, quotes, strike, strict=True)]

    def _problem(self, problems: list[str], state: AccountState, exc: BaseException) -> None:
        problem = f"vault {state.account_id}: {type(exc).__name__}: {exc}"
        problems.append(problem)
        if problem not in self._reported:  # once per distinct problem, not once per tick
            self._reported.add(problem)
            logger.warning("{}: vault {} skipped: {}", self.chain, state.account_id, exc)

    def _candidate(self, s: AccountState, mirror_says: bool, spots: dict[Underlying, OracleQuote], head: Head,
                   mark: float, confirm: bool = True) -> tuple[VaultCandidate, OracleQuote | None]:
        """The vault as a non-target candidate, plus its oracle quote when it is a target: the mirror flags it
        AND the contract's own requirement read at `head` agrees (`confirm` = the state was read at `head`; a
        carried state was not flagged by the mirror, so it is never a target)."""
        p = s.positions[0]
        inst = p.instrument
        vid = int(s.account_id)
        collateral = p.collateral
        on_chain = confirm and "requirement" in s.params and s.params["requirement"] > collateral
        if confirm and mirror_says != on_chain:
            logger.warning("{}: vault {} mirror says liquidatable={} but the contract says {} at block {}",
                           self.chain, vid, mirror_says, on_chain, head.number)
        is_call = inst.option_type is not None and inst.option_type.value == "call"
        quote = spots.get(inst.underlying)
        spot = float(quote.price) if quote is not None else math.nan
        base = VaultCandidate(self.chain, self.adapter.protocol, s.owner, vid, False, 0, 0.0, spot,
                              float(inst.strike or 0), is_call, float(collateral), float(-p.size), mark,
                              series_id=int(s.params["series_id"]), short_units=int((-p.size).scaleb(OPTION_DECIMALS)))
        return base, (quote if mirror_says and on_chain else None)

    async def _target(self, base: VaultCandidate, quote: OracleQuote, head: Head) -> VaultCandidate:
        """A confirmed target with its auction round and the collateral of the keeper's fresh vault."""
        inst = self.cache.states[str(base.vault_id)].positions[0].instrument
        expiry = inst.expiry.timestamp() if inst.expiry else 0.0
        (round_id, round_spot, round_at), need = await asyncio.gather(
            self._first_unsafe_round(base.vault_id, quote, head),
            self._mint_collateral(base.series_id, base.short_units, quote, expiry, head))
        return replace(base, liquidatable=True, round_id=round_id, round_elapsed_s=float(head.timestamp - round_at),
                       round_spot=round_spot, mint_collateral_units=need)

    async def _first_unsafe_round(self, vid: int, quote: OracleQuote, head: Head) -> tuple[int, float, int]:
        """Walk back from the latest round while the contract says an earlier round was already unsafe.

        A broken round (answer <= 0, e.g. an oracle fault) makes the contract accept the round after it as "first
        unsafe" too, while the auction that started before the fault is still valid: the walk continues past
        broken rounds and keeps the earliest round the contract accepts (the deepest auction pays the most)."""
        feed = quote.feed_id
        latest = decode_exact(ROUND_T, await call(self.rpc, feed, selector("latestRoundData()"), head.number,
                                                  f"{feed}.latestRoundData"), "latestRoundData")
        rid = await self._walk_back(vid, int(latest[0]), head, strict=True)
        assert rid is not None
        while True:
            prev, skipped = rid - 1, 0
            while skipped < self.max_round_lookback and (answer := await self._answer(feed, prev, head)) is not None \
                    and answer <= 0:
                prev, skipped = prev - 1, skipped + 1
            if skipped == 0 or await self._answer(feed, prev, head) is None:
                break
            earlier = await self._walk_back(vid, prev, head, strict=False)
            if earlier is None:
                break
            rid = earlier
        rnd = decode_exact(ROUND_T, await call(
            self.rpc, feed, encode_call("getRoundData(uint80)", ["uint80"], [rid]), head.number,
            f"{feed}.getRoundData({rid})"), "getRoundData")
        price = float(Decimal(int(rnd[1])) / Decimal(10) ** _feed_decimals(quote, int(latest[1])))
        return rid, price, int(rnd[3])

    async def _walk_back(self, vid: int, rid: int, head: Head, strict: bool) -> int | None:
        """From `rid` back to the round the contract's `auctionPrice` accepts; other reverts raise (strict) or
        give None."""
        for _ in range(self.max_round_lookback):
            try:
                await call(self.rpc, self.adapter.address,
                           encode_call("auctionPrice(uint256,uint80)", ["uint256", "uint80"], [vid, rid]),
                           head.number, f"auctionPrice({vid}, {rid})")
            except CallReverted as exc:
                if exc.selector == NOT_FIRST_UNSAFE:
                    rid -= 1
                    continue
                if not strict:
                    return None
                if exc.selector == ROUND_BEFORE_UPDATE:
                    raise LookupError(f"vault {vid}: no round after its last update has made it unsafe yet "
                                      "(the auction cannot start before the next oracle round)") from None
                raise
            return rid
        if not strict:
            return None
        raise LookupError(f"no first unsafe round within {self.max_round_lookback} rounds of {rid}")

    async def _answer(self, feed: str, rid: int, head: Head) -> int | None:
        """The answer of round `rid` of `feed`, None when the round does not exist."""
        try:
            rnd = decode_exact(ROUND_T, await call(
                self.rpc, feed, encode_call("getRoundData(uint80)", ["uint80"], [rid]), head.number,
                f"{feed}.getRoundData({rid})"), "getRoundData")
        except CallReverted:
            return None
        return int(rnd[1])

    async def _mint_collateral(self, series_id: int, units: int, quote: OracleQuote, expiry: float,
                               head: Head) -> int:
        """Collateral (base units) for the keeper's fresh vault minting `units`: the contract's own number."""
        spot_1e18 = int(quote.price.scaleb(18))
        tau = max(int(expiry) - head.timestamp, 0)
        data = await call(self.rpc, self.adapter.address, encode_call(
            "requirementFor(uint256,uint256,uint256,uint256)", ["uint256"] * 4, [series_id, units, spot_1e18, tau]),
            head.number, f"requirementFor({series_id})")
        req = int(decode_exact(("uint256",), data, "requirementFor")[0])
        return int((Decimal(req) * self.mint_buffer).to_integral_value()) + 1


def _feed_decimals(quote: OracleQuote, latest_answer: int) -> int:
    """Decimals of the feed, recovered exactly from the quote (price = answer / 10**decimals)."""
    for d in range(0, 37):
        if Decimal(latest_answer) / Decimal(10) ** d == quote.price:
            return d
    raise ValueError(f"cannot relate feed answer {latest_answer} to quote price {quote.price}")


def oracle_faults(readings: OracleReadings) -> tuple[tuple[str, str], ...]:
    """Chainlink feeds of a read that gave no usable price (answer <= 0, reverted): the guards block on them."""
    return tuple((f.feed, f.reason) for f in readings.faults if f.kind == "chainlink")
