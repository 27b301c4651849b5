"""PortfolioMargin candidates for the liquidator, all read at one block.

Why this shape: MM and MtM are the contract's own `getMarginAndMarkToMarket` read at the block (the adapter
omits them when the contract cannot compute them, and such an account is reported, not guessed); the keeper's
valuation of what it would receive prices the account's options at risk-core marks (Black–Scholes at the
oracle spot and the configured vol), so a bid is profitable by the keeper's own accounting, not the protocol's.
Idempotency needs stable identities: an unhealthy spell is numbered by the account's past `AuctionStarted`
events ("a0", "a1", …) and a running auction by its start time — both the same in a dry run and a live run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
from loguru import logger

from bots.sources.evm import Head
from bots.strategies.liquidator import PMCandidate
from chains.model import AccountState, InstrumentKind, OracleQuote, OracleSource, Underlying
from chains.protocols.abi import topic
from chains.protocols.base import Rpc
from chains.protocols.portfolio_margin import PortfolioMarginAdapter
from risk.pricing import bsm

YEAR_S = 365.0 * 86400.0
AUCTION_STARTED = topic("AuctionStarted(uint256,int256,int256,bool,uint256)")


@dataclass(frozen=True, slots=True)
class PMRead:
    head: Head
    candidates: tuple[PMCandidate, ...]
    quotes: tuple[OracleQuote, ...]
    problems: tuple[str, ...] = ()
    states: tuple[AccountState, ...] = ()  # every account read (the keeper's own too): the risk book's input


@dataclass
class PMSource:
    """Reads one PortfolioMargin deployment for the liquidator (see module docstring)."""

    adapter: PortfolioMarginAdapter
    rpc: Rpc
    vol: float = 0.6
    exclude_owners: frozenset[str] = frozenset()  # the keeper's own (bidder) accounts are never targets
    account_ids: list[str] = field(default_factory=list)

    @property
    def chain(self) -> str:
        return self.adapter.chain

    async def read(self, head: Head) -> PMRead:
        found = await self.adapter.discover(to_block=head.number)
        # the adapter remembers every account it ever discovered (also by other callers, e.g. keeper setup)
        known = [*found.accounts, *self.adapter.owners]
        self.account_ids.extend(dict.fromkeys(a for a in known if a not in self.account_ids))
        readings = await self.adapter.oracles(head.number)
        quotes = tuple(q for q in readings.quotes if q.source is OracleSource.CHAINLINK)
        spots = {q.asset: q for q in quotes}
        states = await self.adapter.read(self.account_ids, head.number) if self.account_ids else []
        cands: list[PMCandidate] = []
        problems: list[str] = []
        for s in states:
            if s.owner.lower() in self.exclude_owners:
                continue
            try:
                cand = await self._candidate(s, spots, head)
            except Exception as exc:  # one account's bad read never hides the others
                problems.append(f"account {s.account_id}: {type(exc).__name__}: {exc}")
                logger.warning("{}: PM account {} skipped: {}", self.chain, s.account_id, exc)
                continue
            if cand is not None:
                cands.append(cand)
        return PMRead(head, tuple(cands), quotes, tuple(problems), tuple(states))

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
