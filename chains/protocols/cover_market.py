"""CoverMarket adapter (optimistic liquidation cover on base, UMA-style claims with bonds and liveness).

Accounts are cover ids (0-based, from `CoverBought` logs); a cover reads as an AccountState with no option
positions and its terms as params (amount, paid out, reserved, remaining, period, open claims). Claims are read
separately (`claims()`), because the claim bots act on them: file, dispute a false one, settle after liveness.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import IntEnum
from types import MappingProxyType
from typing import Any

from eth_utils import to_checksum_address

from chains.events import ChainEvent, PositionChanged
from chains.evm.multicall import Call, MulticallReader
from chains.evm.watcher import LogFilter
from chains.model import AccountState, from_base_units
from chains.protocols.abi import decode_exact, encode_call, encode_uint_call, selector, topic, utc, word_int
from chains.protocols.base import AdapterError, CallData, DecodeError, Discovery, OracleReadings, Rpc
from chains.protocols.blocks import head_number, resolve_block, scan_logs
from chains.protocols.common import require_ok

PROTOCOL = "cover_market"
COVER_BOUGHT = topic("CoverBought(uint256,address,address,uint64,address,uint256,uint256,uint64,uint64)")
COVER_RELEASED = topic("CoverReleased(uint256,uint256)")
CLAIM_SUBMITTED = topic("ClaimSubmitted(uint256,uint256,address,uint64,bytes32,uint32,uint256,uint256,uint64)")
CLAIM_SETTLED = topic("ClaimSettled(uint256,uint256,address,uint256,uint256)")
CLAIM_DISPUTED = topic("ClaimDisputed(uint256,address,uint256)")
CLAIM_RESOLVED = topic("ClaimResolved(uint256,bool,address,address,uint256,uint256,uint256)")
_COVER_T = ("(address,address,uint64,address,uint256,uint256,uint256,uint64,uint64,uint32,bool)",)
_CLAIM_T = ("(uint256,address,uint64,bytes32,uint32,uint64,uint8,uint256,uint256,address,uint256)",)
_COVER = selector("cover(uint256)")
_CLAIM = selector("claim(uint256)")
_REMAINING = selector("remainingCover(uint256)")


class ClaimStatus(IntEnum):
    NONE = 0
    PENDING = 1
    DISPUTED = 2
    PAID = 3
    REJECTED = 4


@dataclass(frozen=True, slots=True)
class CoverRecord:
    cover_id: int
    holder: str
    account: str
    chain_id: int
    protocol: str
    amount: int
    paid_out: int
    reserved: int
    start: int
    end: int
    open_claims: int
    released: bool


@dataclass(frozen=True, slots=True)
class ClaimRecord:
    """A claim with exact USDC amounts; `disputable_until` = submitted_at + liveness (read from params)."""

    claim_id: int
    cover_id: int
    claimant: str
    source_chain_id: int
    tx_hash: bytes
    log_index: int
    submitted_at: datetime
    status: ClaimStatus
    loss: Decimal
    bond: Decimal
    disputer: str | None
    payout: Decimal
    disputable_until: datetime


def decode_cover(cover_id: int, data: bytes, where: str = "cover") -> CoverRecord:
    ((holder, account, chain_id, protocol, amount, paid, reserved, start, end, open_claims, released),) = \
        decode_exact(_COVER_T, data, where)
    if paid > amount:
        raise DecodeError(where, f"paid out {paid} exceeds the cover amount {amount}")
    return CoverRecord(cover_id, holder, account, chain_id, protocol, amount, paid, reserved, start, end,
                       open_claims, released)


def decode_claim(claim_id: int, data: bytes, liveness: int, decimals: int, where: str = "claim") -> ClaimRecord:
    ((cover_id, claimant, chain_id, tx_hash, log_index, submitted, status, loss, bond, disputer, payout),) = \
        decode_exact(_CLAIM_T, data, where)
    try:
        st = ClaimStatus(status)
    except ValueError:
        raise DecodeError(where, f"unknown claim status {status}") from None
    sub = utc(submitted, where)
    return ClaimRecord(claim_id, cover_id, claimant, chain_id, bytes(tx_hash), log_index, sub, st,
                       from_base_units(loss, decimals), from_base_units(bond, decimals),
                       None if int(disputer, 16) == 0 else disputer, from_base_units(payout, decimals),
                       utc(submitted + liveness, where))


# ---------------------------------------------------------------------------------------------- builders
def _uint(name: str, value: int, bits: int = 256) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1 << bits:
        raise ValueError(f"{name} must be an integer in [0, 2**{bits}), got {value!r}")
    return value


def build_buy_cover(market: str, account: str, chain_id: int, protocol: str, amount: int, period_s: int,
                    max_premium: int) -> CallData:
    """The buyer needs a USDC approval for the premium (quotePremium, rounded up)."""
    if not 86400 <= period_s <= 365 * 86400:
        raise ValueError(f"cover period must be 1..365 days, got {period_s} s")
    data = encode_call("buyCover(address,uint64,address,uint256,uint256,uint256)",
                       ["address", "uint64", "address", "uint256", "uint256", "uint256"],
                       [to_checksum_address(account), _uint("chain_id", chain_id, 64), to_checksum_address(protocol),
                        _uint("amount", amount), period_s, _uint("max_premium", max_premium)])
    return CallData(market, data)


def build_submit_claim(market: str, cover_id: int, source_chain_id: int, tx_hash: bytes, log_index: int,
                       loss: int) -> CallData:
    """Evidence = the liquidation event (chain, tx hash, log index); the holder posts the claim bond."""
    if len(tx_hash) != 32 or not any(tx_hash):
        raise ValueError("tx_hash must be 32 non-zero bytes")
    data = encode_call("submitClaim(uint256,uint64,bytes32,uint32,uint256)",
                       ["uint256", "uint64", "bytes32", "uint32", "uint256"],
                       [_uint("cover_id", cover_id), _uint("source_chain_id", source_chain_id, 64), tx_hash,
                        _uint("log_index", log_index, 32), _uint("loss", loss)])
    return CallData(market, data)


def build_dispute(market: str, claim_id: int) -> CallData:
    return CallData(market, encode_uint_call(selector("dispute(uint256)"), _uint("claim_id", claim_id)))


def build_settle(market: str, claim_id: int) -> CallData:
    return CallData(market, encode_uint_call(selector("settle(uint256)"), _uint("claim_id", claim_id)))


def build_release_cover(market: str, cover_id: int) -> CallData:
    return CallData(market, encode_uint_call(selector("releaseCover(uint256)"), _uint("cover_id", cover_id)))


# ---------------------------------------------------------------------------------------------- adapter
class CoverMarketAdapter:
    protocol = PROTOCOL

    def __init__(self, chain: str, rpc: Rpc, address: str, deploy_block: int = 0, *,
                 entities: Mapping[str, str] | None = None, multicall: MulticallReader | None = None,
                 log_chunk: int = 5000, usdc_decimals: int = 6) -> None:
        self.chain = chain
        self.rpc = rpc
        self.address = to_checksum_address(address)
        self.deploy_block = deploy_block
        self.entities = {k.lower(): v for k, v in (entities or {}).items()}
        self.multicall = multicall or MulticallReader(rpc)
        self.log_chunk = log_chunk
        self.decimals = usdc_decimals
        self.cursor = deploy_block

    async def discover(self, from_block: int | None = None, to_block: int | None = None) -> Discovery:
        start = self.cursor if from_block is None else from_block
        end = await head_number(self.rpc) if to_block is None else to_block
        if end < start:
            return Discovery((), start, start - 1)
        logs = await scan_logs(self.rpc, [self.address], [COVER_BOUGHT], start, end, self.log_chunk)
        found: list[str] = []
        for log in logs:
            topics = log.get("topics")
            if not isinstance(topics, list) or len(topics) != 4:
                raise DecodeError(f"CoverBought log of {self.address}", f"expected 4 topics, got {topics!r:.80}")
            found.append(str(word_int(topics[1], "CoverBought")))
        self.cursor = max(self.cursor, end + 1)
        return Discovery(tuple(found), start, end)

    async def read(self, accounts: Sequence[str], block: int | str = "latest") -> list[AccountState]:
        ref = await resolve_block(self.rpc, block)
        ids = [_cover_id(a) for a in accounts]
        res = await self.multicall.read([Call(self.address, encode_uint_call(sel, i)) for i in ids
                                         for sel in (_COVER, _REMAINING)], ref.number)
        read_at = datetime.now(UTC)
        states: list[AccountState] = []
        for k, cid in enumerate(ids):
            cover_r, rem_r = res[2 * k], res[2 * k + 1]
            if not cover_r.ok:
                continue  # not bought yet at this block
            c = decode_cover(cid, cover_r.data, f"cover({cid})")
            (remaining,) = decode_exact(("uint256",), require_ok(rem_r, f"remainingCover({cid})"), "remainingCover")
            d = self.decimals
            params = {"amount": from_base_units(c.amount, d), "paid_out": from_base_units(c.paid_out, d),
                      "reserved": from_base_units(c.reserved, d), "remaining": from_base_units(remaining, d),
                      "start": Decimal(c.start), "end": Decimal(c.end), "open_claims": Decimal(c.open_claims),
                      "released": Decimal(int(c.released)), "source_chain_id": Decimal(c.chain_id)}
            states.append(AccountState(self.chain, PROTOCOL, str(cid), c.holder, ref.number, MappingProxyType({}), (),
                                       MappingProxyType(params), ref.hash, read_at))
        return states

    async def covers(self, ids: Sequence[int], block: int | str = "latest") -> list[CoverRecord]:
        """Raw cover terms (covered account, protocol, chain) for the claim bots' evidence checks."""
        ref = await resolve_block(self.rpc, block)
        res = await self.multicall.read([Call(self.address, encode_uint_call(_COVER, i)) for i in ids], ref.number)
        return [decode_cover(i, require_ok(r, f"cover({i})"), f"cover({i})") for i, r in zip(ids, res, strict=True)]

    async def claims(self, ids: Sequence[int] | None = None, block: int | str = "latest") -> list[ClaimRecord]:
        """Claims by id (default: all, from `counts()`), at one block."""
        ref = await resolve_block(self.rpc, block)
        head = await self.multicall.read([Call(self.address, selector("counts()")),
                                          Call(self.address, selector("params()"))], ref.number)
        _, n_claims = decode_exact(("uint256", "uint256"), require_ok(head[0], "counts()"), "counts()")
        ((liveness, _window, _bond, _slash),) = decode_exact(("(uint64,uint64,uint256,uint256)",),
                                                             require_ok(head[1], "params()"), "params()")
        want = list(range(n_claims)) if ids is None else list(ids)
        res = await self.multicall.read([Call(self.address, encode_uint_call(_CLAIM, i)) for i in want], ref.number)
        return [decode_claim(i, require_ok(r, f"claim({i})"), liveness, self.decimals, f"claim({i})")
                for i, r in zip(want, res, strict=True)]

    async def oracles(self, block: int | str = "latest") -> OracleReadings:
        """CoverMarket reads no price feed."""
        ref = await resolve_block(self.rpc, block)
        return OracleReadings(ref.number)

    def log_filters(self, from_block: int) -> list[LogFilter]:
        """Cover and claim events → PositionChanged for the affected cover (claims change reserved/paid)."""

        async def handler(logs: list[dict[str, Any]], end: int) -> list[ChainEvent]:
            covers: list[int] = []
            claim_ids: list[int] = []
            for log in logs:
                t = log.get("topics") or []
                if len(t) >= 2 and t[0] in (COVER_BOUGHT, COVER_RELEASED):
                    covers.append(word_int(t[1], "cover log"))
                elif len(t) >= 3 and t[0] in (CLAIM_SUBMITTED, CLAIM_SETTLED):
                    covers.append(word_int(t[2], "claim log"))
                elif len(t) >= 2:
                    claim_ids.append(word_int(t[1], "claim log"))
            if claim_ids:
                covers += [c.cover_id for c in await self.claims(claim_ids, end)]
            unique = list(dict.fromkeys(covers))
            if not unique:
                return []
            states = await self.read([str(c) for c in unique], end)
            return [PositionChanged(self.chain, PROTOCOL, s, s.positions, s.block) for s in states]

        topics = [COVER_BOUGHT, COVER_RELEASED, CLAIM_SUBMITTED, CLAIM_SETTLED, CLAIM_DISPUTED, CLAIM_RESOLVED]
        return [LogFilter(f"{self.chain}:{PROTOCOL}", [self.address], [topics], handler, from_block)]

    def buy_cover(self, account: str, chain_id: int, protocol: str, amount: int, period_s: int,
                  max_premium: int) -> CallData:
        return build_buy_cover(self.address, account, chain_id, protocol, amount, period_s, max_premium)

    def submit_claim(self, cover_id: int, source_chain_id: int, tx_hash: bytes, log_index: int, loss: int) -> CallData:
        return build_submit_claim(self.address, cover_id, source_chain_id, tx_hash, log_index, loss)

    def dispute(self, claim_id: int) -> CallData:
        return build_dispute(self.address, claim_id)

    def settle(self, claim_id: int) -> CallData:
        return build_settle(self.address, claim_id)

    def release_cover(self, cover_id: int) -> CallData:
        return build_release_cover(self.address, cover_id)


def _cover_id(account: str) -> int:
    try:
        cid = int(account)
    except (TypeError, ValueError):
        raise AdapterError(f"CoverMarket account ids are cover numbers, got {account!r}") from None
    if cid < 0:
        raise AdapterError(f"cover ids start at 0, got {account!r}")
    return cid


def factory(chain: str, rpc: Rpc, config: Mapping[str, Any]) -> CoverMarketAdapter:
    """Registry entry: config keys `address` (required), `deploy_block`, `entities`, `usdc_decimals`."""
    if "address" not in config:
        raise AdapterError(f"{PROTOCOL} on {chain}: config needs 'address'")
    return CoverMarketAdapter(chain, rpc, str(config["address"]), int(config.get("deploy_block", 0)),
                              entities=config.get("entities"), usdc_decimals=int(config.get("usdc_decimals", 6)))
