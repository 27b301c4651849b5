"""VaultOptions candidates for the liquidator, all read at one block.

Why this shape: the risk core's margin mirror (`risk.margin.vault.vault_margin`) flags vaults from the adapter's
positions and the oracle spot; a vault is a candidate only when the contract's own `requirement` read at the SAME
block agrees (the confirmation the issue asks for; a disagreement is logged, never acted on). The auction round is
the first round that made the vault unsafe — found by asking the contract's `auctionPrice` view, which rejects
every other round with `NotFirstUnsafeRound` — so the liquidator names the round that pays the most. Exact chain
integers (series, short units, collateral the keeper's fresh vault needs) travel with the candidate so the call is
built without float round-trips.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
from loguru import logger

from bots.sources.evm import CallReverted, Head, call
from bots.strategies.liquidator import VaultCandidate
from chains.model import AccountState, OracleQuote, OracleSource, Underlying
from chains.protocols.abi import decode_exact, encode_call, selector
from chains.protocols.base import Rpc
from chains.protocols.vault_options import OPTION_DECIMALS, VaultOptionsAdapter
from risk.margin.vault import VaultBook, VaultParams, vault_margin
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
    _reported: set[str] = field(default_factory=set, repr=False)

    @property
    def chain(self) -> str:
        return self.adapter.chain

    async def read(self, head: Head) -> VaultRead:
        found = await self.adapter.discover(to_block=head.number)
        # the adapter remembers every account it ever discovered (also by other callers, e.g. keeper setup)
        known = [*found.accounts, *self.adapter.owners]
        self.vault_ids.extend(dict.fromkeys(a for a in known if a not in self.vault_ids))
        readings = await self.adapter.oracles(head.number)
        quotes = tuple(q for q in readings.quotes if q.source is OracleSource.CHAINLINK)
        spots = {q.asset: q for q in quotes}
        states = await self.adapter.read(self.vault_ids, head.number) if self.vault_ids else []
        rows = [s for s in states if s.positions and s.owner.lower() not in self.exclude_owners]
        problems: list[str] = []
        cands: list[VaultCandidate] = []
        flagged = self._mirror(rows, spots, head)
        for state, liquidatable in zip(rows, flagged, strict=True):
            try:
                cands.append(await self._candidate(state, liquidatable, spots, head))
            except Exception as exc:  # one vault's bad read never hides the others
                problem = f"vault {state.account_id}: {type(exc).__name__}: {exc}"
                problems.append(problem)
                if problem not in self._reported:  # once per distinct problem, not once per tick
                    self._reported.add(problem)
                    logger.warning("{}: vault {} skipped: {}", self.chain, state.account_id, exc)
        return VaultRead(head, tuple(cands), quotes, tuple(problems), tuple(states))

    def _mirror(self, rows: list[AccountState], spots: dict[Underlying, OracleQuote], head: Head) -> list[bool]:
        """The risk core's verdict per vault (False where the spot or the figures are missing)."""
        usable = [i for i, s in enumerate(rows) if s.positions[0].instrument.underlying in spots]
        out = [False] * len(rows)
        if not usable:
            return out
        pos = [rows[i].positions[0] for i in usable]
        book = VaultBook.build(
            collateral=[float(rows[i].positions[0].collateral) for i in usable], vault=np.arange(len(usable)),
            is_call=[p.instrument.option_type is not None and p.instrument.option_type.value == "call" for p in pos],
            strike=[float(p.instrument.strike or 0) for p in pos], amount=[float(-p.size) for p in pos],
            tau_seconds=[_tau(p.instrument.expiry.timestamp() if p.instrument.expiry else 0.0, head) for p in pos],
            spot=[float(spots[p.instrument.underlying].price) for p in pos])
        verdict = vault_margin(book, self.params).liquidatable
        for j, i in enumerate(usable):
            out[i] = bool(verdict[j])
        return out

    async def _candidate(self, s: AccountState, mirror_says: bool, spots: dict[Underlying, OracleQuote],
                         head: Head) -> VaultCandidate:
        p = s.positions[0]
        inst = p.instrument
        vid = int(s.account_id)
        collateral = p.collateral
        on_chain = "requirement" in s.params and s.params["requirement"] > collateral
        if mirror_says != on_chain:
            logger.warning("{}: vault {} mirror says liquidatable={} but the contract says {} at block {}",
                           self.chain, vid, mirror_says, on_chain, head.number)
        is_call = inst.option_type is not None and inst.option_type.value == "call"
        strike = float(inst.strike or 0)
        expiry = inst.expiry.timestamp() if inst.expiry else 0.0
        short_units = int((-p.size).scaleb(OPTION_DECIMALS))
        quote = spots.get(inst.underlying)
        spot = float(quote.price) if quote is not None else math.nan
        tau_years = max(expiry - head.timestamp, 1.0) / YEAR_S
        mark = _scalar(bsm(is_call, spot, strike, tau_years, 0.0, 0.0, self.vol).price) if quote else math.nan
        base = VaultCandidate(self.chain, self.adapter.protocol, s.owner, vid, False, 0, 0.0, spot, strike, is_call,
                              float(collateral), float(-p.size), mark, series_id=int(s.params["series_id"]),
                              short_units=short_units)
        if not (mirror_says and on_chain) or quote is None:
            return base
        round_id, round_spot, round_at = await self._first_unsafe_round(vid, quote, head)
        need = await self._mint_collateral(base.series_id, short_units, quote, expiry, head)
        return VaultCandidate(self.chain, self.adapter.protocol, s.owner, vid, True, round_id,
                              float(head.timestamp - round_at), round_spot, strike, is_call, float(collateral),
                              float(-p.size), mark, series_id=base.series_id, short_units=short_units,
                              mint_collateral_units=need)

    async def _first_unsafe_round(self, vid: int, quote: OracleQuote, head: Head) -> tuple[int, float, int]:
        """Walk back from the latest round while the contract says an earlier round was already unsafe."""
        feed = quote.feed_id
        latest = decode_exact(ROUND_T, await call(self.rpc, feed, selector("latestRoundData()"), head.number,
                                                  f"{feed}.latestRoundData"), "latestRoundData")
        rid = int(latest[0])
        for _ in range(self.max_round_lookback):
            try:
                await call(self.rpc, self.adapter.address,
                           encode_call("auctionPrice(uint256,uint80)", ["uint256", "uint80"], [vid, rid]),
                           head.number, f"auctionPrice({vid}, {rid})")
            except CallReverted as exc:
                if exc.selector == ROUND_BEFORE_UPDATE:
                    raise LookupError(f"vault {vid}: no round after its last update has made it unsafe yet "
                                      "(the auction cannot start before the next oracle round)") from None
                if exc.selector != NOT_FIRST_UNSAFE:
                    raise
                rid -= 1
                continue
            rnd = decode_exact(ROUND_T, await call(
                self.rpc, feed, encode_call("getRoundData(uint80)", ["uint80"], [rid]), head.number,
                f"{feed}.getRoundData({rid})"), "getRoundData")
            price = float(Decimal(int(rnd[1])) / Decimal(10) ** _feed_decimals(quote, int(latest[1])))
            return rid, price, int(rnd[3])
        raise LookupError(f"no first unsafe round within {self.max_round_lookback} rounds of {int(latest[0])}")

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


def _scalar(x: object) -> float:
    return float(np.asarray(x, dtype=np.float64).reshape(-1)[0])


def _tau(expiry_ts: float, head: Head) -> float:
    return expiry_ts - head.timestamp


def _feed_decimals(quote: OracleQuote, latest_answer: int) -> int:
    """Decimals of the feed, recovered exactly from the quote (price = answer / 10**decimals)."""
    for d in range(0, 37):
        if Decimal(latest_answer) / Decimal(10) ** d == quote.price:
            return d
    raise ValueError(f"cannot relate feed answer {latest_answer} to quote price {quote.price}")
