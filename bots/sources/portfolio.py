"""PortfolioMargin candidates for the liquidator, all read at one block.

Why this shape: MM and MtM are the contract's own `getMarginAndMarkToMarket` read at the block (the adapter
omits them when the contract cannot compute them, and such an account is reported, not guessed); the keeper's
valuation of what it would receive prices the account's options at risk-core marks (Black–Scholes at the
oracle spot and the configured vol), so a bid is profitable by the keeper's own accounting, not the protocol's.
Idempotency needs stable identities: an unhealthy spell is numbered by the account's past `AuctionStarted`
events ("a0", "a1", …) and a running auction by its start time — both the same in a dry run and a live run. Between full reads only accounts with events since the last read and
those the risk core's mirror (`risk.margin.pm_margin`) does not clear at the new quote are re-read
(`bots.sources.incremental`); the others carry the mirror's MM / MtM, which equal the contract's to ~1e-12.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
from loguru import logger

from bots.sources.evm import Head
from bots.sources.incremental import AccountCache, Stopwatch, carry, plan_read, remember_ids
from bots.sources.vault import oracle_faults
from bots.strategies.liquidator import PMCandidate
from chains.model import AccountState, InstrumentKind, OracleQuote, OracleSource, Underlying
from chains.protocols.abi import topic, topic_address, word_int
from chains.protocols.base import OracleReadings, Rpc
from chains.protocols.portfolio_margin import ACCOUNT_CREATED, ACCOUNT_EVENTS, PortfolioMarginAdapter
from chains.risk_inputs import RiskInputError, pm_inputs
from risk.margin import MarginInputError, PMParams, pm_margin
from risk.pricing import bsm

YEAR_S = 365.0 * 86400.0
AUCTION_STARTED = topic("AuctionStarted(uint256,int256,int256,bool,uint256)")
BLOCK_VIEWS = ("mm", "mtm")  # the contract's views that move with the oracle and time, not with events


@dataclass(frozen=True, slots=True)
class PMRead:
    head: Head
    candidates: tuple[PMCandidate, ...]
    quotes: tuple[OracleQuote, ...]
    problems: tuple[str, ...] = ()
    states: tuple[AccountState, ...] = ()  # every account read (the keeper's own too): the risk book's input
    oracle_faults: tuple[tuple[str, str], ...] = ()  # (feed, why): Chainlink feeds giving no usable price


@dataclass
class PMSource:
    """Reads one PortfolioMargin deployment for the liquidator (see module docstring)."""

    adapter: PortfolioMarginAdapter
    rpc: Rpc
    vol: float = 0.6
    exclude_owners: frozenset[str] = frozenset()  # the keeper's own (bidder) accounts are never targets
    account_ids: list[str] = field(default_factory=list)
    _ids: set[str] = field(default_factory=set, repr=False)  # the same ids, for O(1) membership
    cache: AccountCache = field(default_factory=AccountCache)  # held states; `full_every_s` = the safety net
    reread_margin: float = 0.01  # held accounts with MM under 1 % of |MtM| + |cash| get the contract's look
    params: PMParams = field(default_factory=PMParams)
    last_timings: dict[str, float] = field(default_factory=dict)  # ms per stage of the last read
    last_reread: int = 0  # accounts read at the last tick's block (diagnostics, bench)

    @property
    def chain(self) -> str:
        return self.adapter.chain

    async def read(self, head: Head) -> PMRead:
        """Candidates at `head`: a full read when due (see `bots.sources.incremental`), else only the accounts
        with events since the last read, those the mirror puts near or below maintenance and those in auction;
        the rest are carried with the mirror's MM / MtM."""
        t = Stopwatch()
        full, touched, readings = await plan_read(self.cache, self.rpc, self.adapter, ACCOUNT_EVENTS, head,
                                                  self._remember_owner, t)
        # the adapter remembers every account it ever discovered (also by other callers, e.g. keeper setup)
        self._ids = remember_ids(self.account_ids, self._ids, [*touched, *self.adapter.owners])
        quotes = tuple(q for q in readings.quotes if q.source is OracleSource.CHAINLINK)
        spots = {q.asset: q for q in quotes}
        carried: list[PMCandidate] = []
        if full:
            fresh = await self.adapter.read(self.account_ids, head.number) if self.account_ids else []
        else:
            held = [carry(self.cache.states[a], head, BLOCK_VIEWS) for a in self.account_ids
                    if a in self.cache.states and a not in touched]
            cleared, carried = self._mirrored(held, readings, head)
            want = [a for a in self.account_ids if a not in cleared]
            fresh = await self.adapter.read(want, head.number) if want else []
        t.lap("mirror+read")
        self.cache.store(fresh, head, full=full)
        self.last_reread = len(fresh)
        problems: list[str] = []
        rows = [s for s in fresh if s.owner.lower() not in self.exclude_owners]
        got = await asyncio.gather(*(self._candidate(s, spots, head) for s in rows), return_exceptions=True)
        cands: list[PMCandidate] = []
        for s, cand in zip(rows, got, strict=True):
            if isinstance(cand, Exception):  # one account's bad read never hides the others
                problems.append(f"account {s.account_id}: {type(cand).__name__}: {cand}")
                logger.warning("{}: PM account {} skipped: {}", self.chain, s.account_id, cand)
            elif isinstance(cand, BaseException):
                raise cand
            elif cand is not None:
                cands.append(cand)
        cands.extend(carried)
        t.lap("candidates")
        self.last_timings = t.laps
        return PMRead(head, tuple(cands), quotes, tuple(problems), tuple(fresh),
                      oracle_faults(readings))

    def _remember_owner(self, log: dict[str, Any]) -> None:
        t = log["topics"]
        if t[0] == ACCOUNT_CREATED and len(t) == 3:
            self.adapter.owners[str(word_int(t[1], "AccountCreated"))] = topic_address(t[2], "AccountCreated")

    def _mirrored(self, held: list[AccountState], readings: OracleReadings,
                  head: Head) -> tuple[set[str], list[PMCandidate]]:
        """Held accounts the mirror clears at `head` (healthy by more than `reread_margin` of their gross value,
        not in auction) and their candidates at the mirror's MM / MtM (none for the keeper's own accounts).
        Everything else (near or below maintenance, in auction, not mirrorable) goes back to the contract."""
        calm = [s for s in held if not s.params.get("auction_active", 0)]
        if not calm:
            return set(), []
        try:
            inputs = pm_inputs(calm, readings, head.timestamp)
            margin = pm_margin(inputs.book, self.params)
        except (RiskInputError, MarginInputError) as exc:
            logger.info("{}: PM mirror unavailable at block {} ({}); re-reading every account", self.chain,
                        head.number, exc)
            return set(), []
        gross = np.abs(margin.mtm) + np.abs(inputs.book.cash)
        with np.errstate(invalid="ignore"):
            clear = margin.mm > self.reread_margin * gross
        cleared: set[str] = set()
        out: list[PMCandidate] = []
        for s, ok, mm, mtm, cash in zip(calm, clear.tolist(), margin.mm.tolist(), margin.mtm.tolist(),
                                        inputs.book.cash.tolist(), strict=True):
            if ok:
                cleared.add(s.account_id)
                if s.owner.lower() not in self.exclude_owners:
                    out.append(PMCandidate(self.chain, self.adapter.protocol, s.account_id, mm, mtm, cash, 0.0))
        return cleared, out

    async def _candidate(self, s: AccountState, spots: dict[Underlying, OracleQuote], head: Head) -> PMCandidate | None:
        if "mm" not in s.params or "mtm" not in s.params:
            raise LookupError("the contract could not compute MM/MtM at this block (stale feed?)")
        mm, mtm = float(s.params["mm"]), float(s.params["mtm"])
        cash = float(s.collateral.get("USD", Decimal(0)))
        active = bool(s.params.get("auction_active", 0))
        if mm >= 0 and not active:
            return PMCandidate(self.chain, self.adapter.protocol, s.account_id, mm, mtm, cash, 0.0)
        value = self._own_value(s, spots, head, mtm - cash)
        start = int(s.params.get("auction_start", 0))
        if active:
            return PMCandidate(self.chain, self.adapter.protocol, s.account_id, mm, mtm, cash, value,
                               auction_id=str(start), auction_elapsed_s=float(max(head.timestamp - start, 0)))
        episode = f"a{await self._past_auctions(int(s.account_id), head)}"
        return PMCandidate(self.chain, self.adapter.protocol, s.account_id, mm, mtm, cash, value, episode=episode)

    def _own_value(self, s: AccountState, spots: dict[Underlying, OracleQuote], head: Head,
                   contract_value: float) -> float:
        """Σ size·mark over the account's positions at risk-core marks; the contract's mark when not an option."""
        total = 0.0
        for p in s.positions:
            inst = p.instrument
            q = spots.get(inst.underlying)
            if inst.kind is not InstrumentKind.OPTION or q is None or inst.expiry is None:
                logger.info("{}: account {} holds a non-option or unpriced position; using the contract's mark",
                            self.chain, s.account_id)
                return contract_value
            tau = max(inst.expiry.timestamp() - head.timestamp, 1.0) / YEAR_S
            is_call = inst.option_type is not None and inst.option_type.value == "call"
            mark = bsm(is_call, float(q.price), float(inst.strike or 0), tau, 0.0, 0.0, self.vol).price
            total += float(p.size) * float(np.asarray(mark, dtype=np.float64).reshape(-1)[0])
        return total

    async def _past_auctions(self, account_id: int, head: Head) -> int:
        logs = await self.rpc.expect("eth_getLogs", [{
            "address": self.adapter.address, "topics": [AUCTION_STARTED, "0x" + account_id.to_bytes(32, "big").hex()],
            "fromBlock": hex(self.adapter.deploy_block), "toBlock": hex(head.number)}])
        return len(logs)
