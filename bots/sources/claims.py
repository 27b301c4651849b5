"""The claimer's and the disputer's state source: covers and claims on CoverMarket, liquidation events on the
source chains, and the store's claims table kept equal to the chain.

Why one source for both bots: they need the same facts (which accounts are covered, which liquidations
happened, what each claim's evidence really points at), read once per tick. The loss is computed from the events
alone, exactly, so anyone (the disputer included) reaches the same figure: a PortfolioMargin `AuctionBid` hands
`fraction · MtM` of the account's value to the bidder for `bidPrice`, so the owner loses `fraction · MtM − bidPrice`
(rounded down; an insolvent bid — MtM ≤ 0, negative price — takes nothing the owner still had, loss 0).
Evidence is checked by reading the referenced transaction's receipt on the source chain, never trusted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from loguru import logger

from bots.sources.evm import Head, head
from bots.store import Store
from bots.strategies.claimer import ClaimerState
from bots.strategies.claims import Cover, FiledClaim, LiquidationEvent
from bots.strategies.disputer import DisputerState
from bots.strategies.intents import ActionIntent
from chains.protocols.abi import hex_to_bytes, topic
from chains.protocols.base import CallData, Rpc
from chains.protocols.blocks import scan_logs
from chains.protocols.cover_market import ClaimRecord, ClaimStatus, CoverMarketAdapter, CoverRecord
from chains.protocols.portfolio_margin import PortfolioMarginAdapter

AUCTION_BID = topic("AuctionBid(uint256,uint256,uint256,int256,uint256,int256,int256)")
WAD = 10**18
STATUS_TEXT = {ClaimStatus.PENDING: "filed", ClaimStatus.DISPUTED: "disputed", ClaimStatus.PAID: "settled",
               ClaimStatus.REJECTED: "rejected", ClaimStatus.NONE: "none"}


def _signed(word: bytes) -> int:
    v = int.from_bytes(word, "big")
    return v - (1 << 256) if v >> 255 else v


def _int(v: object) -> int:
    """A JSON-RPC quantity (hex string) or an already-decoded integer."""
    return int(v, 16) if isinstance(v, str) else int(str(v))


def pm_bid_loss(fraction: int, bid_price: int, mtm: int) -> Decimal:
    """USD the account owner lost to one auction bid (all inputs 1e18 fixed point, exact, rounded down)."""
    if not 0 < fraction <= WAD:
        raise ValueError(f"AuctionBid fraction must be in (0, 1e18], got {fraction}")
    if mtm <= 0 or bid_price < 0:
        return Decimal(0)  # insolvent: the security module pays the bidder, the owner had nothing left
    given = mtm * fraction // WAD
    return Decimal(max(given - bid_price, 0)) / Decimal(WAD)


def decode_auction_bid(log: Mapping[str, Any], chain: str, protocol: str, pm_address: str,
                       owners: Mapping[str, str], at: datetime) -> LiquidationEvent | None:
    """A PortfolioMargin `AuctionBid` log → the liquidation it evidences; None when the log is anything else."""
    topics = [str(t).lower() for t in (log.get("topics") or [])]
    if str(log.get("address", "")).lower() != pm_address.lower() or len(topics) != 3 or topics[0] != AUCTION_BID:
        return None
    data = hex_to_bytes(str(log.get("data", "0x")), "AuctionBid data")
    if len(data) != 5 * 32:
        return None
    account_id = str(int(topics[1], 16))
    owner = owners.get(account_id)
    if owner is None:
        return None  # an account the adapter never saw created: cannot say whose loss it is
    words = [data[i:i + 32] for i in range(0, 160, 32)]
    fraction, bid_price, mtm = int.from_bytes(words[0], "big"), _signed(words[1]), _signed(words[4])
    return LiquidationEvent(chain, protocol, owner, str(log["transactionHash"]).lower(), _int(log["logIndex"]),
                            _int(log["blockNumber"]), pm_bid_loss(fraction, bid_price, mtm), at)


def judgeable(claims: Sequence[FiledClaim], readable: frozenset[str]) -> tuple[tuple[FiledClaim, ...],
                                                                              tuple[FiledClaim, ...]]:
    """Claims the disputer may judge — their cover is on a protocol whose liquidations this keeper reads — and
    the rest. Evidence on a protocol we do not read would look "not found": disputing it would burn our bond."""
    ok = tuple(c for c in claims if c.cover.protocol in readable)
    return ok, tuple(c for c in claims if c.cover.protocol not in readable)


def settled_view(claims: Sequence[FiledClaim], unseen: Mapping[str, datetime], now: datetime,
                 grace_s: float) -> tuple[FiledClaim, ...]:
    """Claims the disputer may judge now: a claim whose evidence transaction our endpoint does not know yet is
    held back for `grace_s` after filing (a lagging endpoint is not proof of a fabrication), then judged."""
    return tuple(c for c in claims if c.claim_id not in unseen
                 or (now - unseen[c.claim_id]).total_seconds() >= grace_s)


@dataclass(frozen=True, slots=True)
class ClaimsSnapshot:
    """One tick's view: every cover, covered accounts' liquidations, every claim and what its evidence is."""

    now: datetime
    covers: tuple[Cover, ...]
    liquidations: tuple[LiquidationEvent, ...]
    claims: tuple[FiledClaim, ...]
    evidence: Mapping[str, LiquidationEvent]  # claim evidence ref → the liquidation it really points at
    unseen: Mapping[str, datetime] = field(default_factory=dict)  # claim id → filed at; its tx not (yet) found


@dataclass
class ClaimsSource:
    """Reads CoverMarket (on its chain) and the PortfolioMargin deployments it covers (see module docstring)."""

    market: CoverMarketAdapter
    market_protocol: str  # config name of the CoverMarket protocol
    rpcs: Mapping[str, Rpc]  # chain → endpoint pool
    portfolios: Mapping[str, PortfolioMarginAdapter]  # config name → adapter (liquidation evidence sources)
    chain_ids: Mapping[str, int]  # chain name → EVM chain id
    our_address: str = ""  # the signer: the claimer's own claims; the disputer never disputes them
    entity_of: Mapping[str, str] = field(default_factory=dict)  # address → entity name
    store: Store | None = None
    on_head: Callable[[str, Head], None] | None = None
    evidence_grace_s: float = 60.0  # a claim whose tx our source endpoint cannot find yet waits this long
    _cover_ids: list[int] = field(default_factory=list)
    _events: dict[str, LiquidationEvent] = field(default_factory=dict)  # ref → event (all covered-or-not)
    _cursor: dict[str, int] = field(default_factory=dict)  # protocol name → next block to scan
    _times: dict[tuple[str, int], datetime] = field(default_factory=dict)
    _checked: dict[str, LiquidationEvent | None] = field(default_factory=dict)  # evidence ref → what it is
    _unjudged: set[str] = field(default_factory=set)  # claims already logged as outside what we can verify
    _last: tuple[tuple[tuple[str, int, str], ...], ClaimsSnapshot] | None = None  # heads → their snapshot

    async def claimer(self, now: datetime) -> ClaimerState:
        snap = await self.snapshot(now)
        me = self.our_address.lower()
        mine = tuple(c for c in snap.covers if not c.holder or c.holder.lower() == me)  # only ours can be claimed
        return ClaimerState(now, self.market.chain, self.market_protocol, mine, snap.liquidations,
                            claimed_refs=frozenset(c.evidence_ref for c in snap.claims),
                            our_claims=tuple(c for c in snap.claims if c.claimant.lower() == me))

    async def disputer(self, now: datetime) -> DisputerState:
        snap = await self.snapshot(now)
        judged, unjudged = judgeable(snap.claims, frozenset(self.portfolios))
        judged = settled_view(judged, snap.unseen, now, self.evidence_grace_s)
        for c in unjudged:
            if c.claim_id not in self._unjudged:
                self._unjudged.add(c.claim_id)
                logger.info("disputer: claim {} covers {}/{}, a protocol this keeper does not read; not judged",
                            c.claim_id, c.cover.chain, c.cover.protocol)
        return DisputerState(now, self.market.chain, self.market_protocol, judged, snap.evidence,
                             our_address=self.our_address)

    async def snapshot(self, now: datetime) -> ClaimsSnapshot:
        heads = {c: await head(self.rpcs[c]) for c in sorted({self.market.chain, *(
            a.chain for a in self.portfolios.values())})}
        if self.on_head is not None:
            for chain, h in heads.items():
                self.on_head(chain, h)
        at = tuple((c, h.number, h.hash) for c, h in heads.items())
        if self._last is not None and self._last[0] == at:
            return self._last[1]  # both bots tick on the same blocks: read once (nothing changes without a block)
        mh = heads[self.market.chain]
        found = await self.market.discover(to_block=mh.number)
        self._cover_ids.extend(int(a) for a in found.accounts if int(a) not in self._cover_ids)
        records = await self.market.covers(self._cover_ids, mh.number) if self._cover_ids else []
        covers = {r.cover_id: self._cover(r) for r in records}
        for pname, pm in self.portfolios.items():
            await self._scan(pname, pm, heads[pm.chain])
        covered = {(c.account.lower(), c.chain, c.protocol) for c in covers.values()}
        liqs = tuple(e for e in self._events.values() if (e.account.lower(), e.chain, e.protocol) in covered)
        raw = await self.market.claims(block=mh.number)
        claims = tuple(self._claim(r, covers) for r in raw if r.cover_id in covers)
        evidence: dict[str, LiquidationEvent] = {}
        unseen: dict[str, datetime] = {}
        for r, c in zip((r for r in raw if r.cover_id in covers), claims, strict=True):
            ev = await self._check(c.evidence_ref)
            if ev is not None:
                evidence[c.evidence_ref] = ev
            elif c.evidence_ref not in self._checked:
                unseen[c.claim_id] = r.submitted_at
        if self.store is not None:
            await self._sync_store(raw, claims)
        snap = ClaimsSnapshot(now, tuple(covers.values()), liqs, claims, evidence, unseen)
        self._last = (at, snap)
        return snap

    # ------------------------------------------------------------------ pieces
    def chain_name(self, chain_id: int) -> str:
        return next((n for n, i in self.chain_ids.items() if i == chain_id), f"chain{chain_id}")

    def _protocol_name(self, chain: str, address: str) -> str:
        """The config name of the covered protocol, or its address when it is not one this keeper reads."""
        return next((n for n, a in self.portfolios.items() if a.chain == chain and a.address.lower() == address.lower()),
                    address.lower())

    def _cover(self, r: CoverRecord) -> Cover:
        chain = self.chain_name(r.chain_id)
        d = Decimal(10) ** self.market.decimals
        remaining = Decimal(max(r.amount - r.paid_out - r.reserved, 0)) / d
        return Cover(str(r.cover_id), self.entity_of.get(r.account.lower(), r.account), r.account, chain,
                     self._protocol_name(chain, r.protocol), remaining, datetime.fromtimestamp(r.end, UTC),
                     holder=r.holder)

    def _claim(self, r: ClaimRecord, covers: Mapping[int, Cover]) -> FiledClaim:
        ref = f"{self.chain_name(r.source_chain_id)}:0x{r.tx_hash.hex()}:{r.log_index}"
        return FiledClaim(self.claim_key(r.claim_id), covers[r.cover_id], r.claimant, ref, r.loss,
                          r.disputable_until, disputed=r.status is ClaimStatus.DISPUTED,
                          settled=r.status in (ClaimStatus.PAID, ClaimStatus.REJECTED))

    def claim_key(self, claim_id: int) -> str:
        """The claim's stable identity in the store and in dispute/settle intents: `<chain>:<protocol>:<id>`."""
        return f"{self.market.chain}:{self.market_protocol}:{claim_id}"

    async def _time(self, chain: str, block: int) -> datetime:
        key = (chain, block)
        if key not in self._times:
            b: Any = await self.rpcs[chain].expect("eth_getBlockByNumber", [hex(block), False])
            self._times[key] = datetime.fromtimestamp(int(b["timestamp"], 16), UTC)
        return self._times[key]

    async def _scan(self, pname: str, pm: PortfolioMarginAdapter, h: Head) -> None:
        """New `AuctionBid` logs up to the head (incremental); owners are learnt first so every bid has one."""
        await pm.discover(to_block=h.number)
        start = self._cursor.get(pname, pm.deploy_block)
        if start > h.number:
            return
        for log in await scan_logs(self.rpcs[pm.chain], [pm.address], [AUCTION_BID], start, h.number):
            at = await self._time(pm.chain, _int(log["blockNumber"]))
            ev = decode_auction_bid(log, pm.chain, pname, pm.address, pm.owners, at)
            if ev is not None:
                self._events[ev.ref] = ev
        self._cursor[pname] = h.number + 1

    async def _check(self, ref: str) -> LiquidationEvent | None:
        """What a claim's evidence really is: the decoded liquidation at (chain, tx, log index), or None."""
        if ref in self._events:
            return self._events[ref]
        if ref in self._checked:
            return self._checked[ref]
        chain, tx, index = ref.split(":")
        found: LiquidationEvent | None = None
        rpc = self.rpcs.get(chain)
        if rpc is not None:
            receipt: Any = await rpc.request("eth_getTransactionReceipt", [tx])
            if not isinstance(receipt, dict):
                return None  # unknown here, or not yet visible on our endpoint: look again next tick
            for log in receipt.get("logs", []):
                if _int(log["logIndex"]) != int(index):
                    continue
                for pname, pm in self.portfolios.items():
                    if pm.chain == chain and found is None:
                        at = await self._time(chain, _int(log["blockNumber"]))
                        found = decode_auction_bid(log, chain, pname, pm.address, pm.owners, at)
        self._checked[ref] = found
        return found

    async def _sync_store(self, raw: Sequence[ClaimRecord], claims: Sequence[FiledClaim]) -> None:
        """Claims rows equal to the chain: one row per on-chain claim; the row the engine wrote under the
        claimer's intent key when filing points at the on-chain claim once it exists."""
        assert self.store is not None
        for r, c in zip(raw, claims, strict=True):
            fields = {"chain": self.market.chain, "protocol": self.market_protocol, "entity": c.cover.entity,
                      "account": c.cover.account, "source_chain": c.evidence_ref.split(":", 1)[0],
                      "evidence": c.evidence_ref, "loss_usd": str(r.loss), "status": STATUS_TEXT[r.status],
                      "liveness_end": c.liveness_end, "cover_expiry": c.cover.expiry, "filed_by": r.claimant}
            row = await self.store.claim(c.claim_id)
            if row is None or any(getattr(row, k) != v for k, v in fields.items()
                                  if k not in ("liveness_end", "cover_expiry")) or row.liveness_end is None:
                await self.store.upsert_claim(c.claim_id, **fields)
            intent_key = f"claimer:claim:{c.cover.cover_id}:{c.evidence_ref}"
            planned = await self.store.claim(intent_key)
            if planned is not None and planned.status != f"on-chain {c.claim_id}":
                await self.store.upsert_claim(intent_key, status=f"on-chain {c.claim_id}")
                logger.info("claim {} is on chain as {}", intent_key, c.claim_id)


# ---------------------------------------------------------------------------------------------- call building
def claim_call(market: CoverMarketAdapter, intent: ActionIntent, chain_ids: Mapping[str, int]) -> CallData:
    """A claimer/disputer intent → CoverMarket call data, exact integers only (USD → USDC units rounded down, so
    the filed loss never exceeds the one the events show)."""
    p = intent.params
    if intent.kind == "submit_claim":
        chain, tx, index = _parse_ref(str(p.get("evidence", "")), intent.key)
        if chain not in chain_ids:
            raise LookupError(f"{intent.key}: no chain id configured for evidence chain {chain!r}")
        units = int((Decimal(str(p["loss_usd"])) * Decimal(10) ** market.decimals).to_integral_value(ROUND_FLOOR))
        if units <= 0:
            raise ValueError(f"{intent.key}: loss {p['loss_usd']} is below one token unit")
        return market.submit_claim(int(p["cover_id"]), chain_ids[chain], tx, index, units)
    claim_id = _claim_number(str(p.get("claim_id", intent.target)), intent.key)
    if intent.kind == "dispute":
        return market.dispute(claim_id)
    if intent.kind == "settle_claim":
        return market.settle(claim_id)
    raise LookupError(f"{intent.key}: CoverMarket has no call for {intent.kind!r}")


def _parse_ref(ref: str, where: str) -> tuple[str, bytes, int]:
    """`<chain>:<0x tx hash>:<log index>` → parts; a malformed ref is an error naming the intent."""
    parts = ref.split(":")
    if len(parts) != 3 or not parts[2].isdigit():
        raise ValueError(f"{where}: evidence must be '<chain>:<tx hash>:<log index>', got {ref!r}")
    tx = hex_to_bytes(parts[1], where)
    if len(tx) != 32:
        raise ValueError(f"{where}: evidence tx hash must be 32 bytes, got {len(tx)}")
    return parts[0], tx, int(parts[2])


def _claim_number(claim_id: str, where: str) -> int:
    """`<chain>:<protocol>:<id>` (or a bare id) → the on-chain claim number."""
    tail = claim_id.rsplit(":", 1)[-1]
    if not tail.isdigit():
        raise ValueError(f"{where}: claim id must end in the on-chain claim number, got {claim_id!r}")
    return int(tail)
