"""Oracle readers: Chainlink-style PriceFeed, L2 SequencerUptimeFeed, SVI VolFeed and Pyth (MockPyth on EVM).

All feeds of one read go through Multicall3 at one pinned block. Decoders are pure functions that either return
exact values (Decimal from integers; decimals/exponents applied exactly) or raise `DecodeError`; a feed whose
value is unusable (answer <= 0, reverted read) becomes an `OracleFault` in the result, never a quote.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_utils import to_checksum_address
from loguru import logger

from chains.events import ChainEvent, OracleUpdate
from chains.evm.multicall import Call, CallResult, MulticallReader
from chains.evm.watcher import LogFilter
from chains.model import OracleQuote, OracleSource, Underlying, VolSlice
from chains.protocols.abi import (
    decode_exact,
    encode_call,
    fixed,
    hex_to_bytes,
    log_int,
    selector,
    topic,
    topic_address,
    utc,
    word_int,
)
from chains.protocols.base import (
    DecodeError,
    OracleFault,
    OracleReadings,
    Rpc,
    SequencerStatus,
)
from chains.protocols.blocks import resolve_block

LATEST_ROUND = selector("latestRoundData()")
DECIMALS = selector("decimals()")
ANSWER_UPDATED = topic("AnswerUpdated(int256,uint256,uint256)")
SLICE_UPDATED = topic("SliceUpdated(address,uint64,int256,int256,int256,int256,int256,uint256,uint64)")
PYTH_PRICE_UPDATE = topic("PriceFeedUpdate(bytes32,uint64,int64,uint64)")
_ROUND_TYPES = ("uint80", "int256", "uint256", "uint256", "uint80")
_SVI_TYPES = ("(int256,int256,int256,int256,int256,uint256,uint64)",)
_PYTH_TYPES = ("(int64,uint64,int32,uint256)",)


class OracleValueError(DecodeError):
    """Well-formed data carrying an unusable value (answer <= 0, unknown status)."""


# ---------------------------------------------------------------------------------------------- feed specs
@dataclass(frozen=True, slots=True)
class ChainlinkFeed:
    """An AggregatorV3 price feed; `decimals` None = read `decimals()` along with the answer."""

    address: str
    asset: Underlying
    decimals: int | None = None


@dataclass(frozen=True, slots=True)
class SequencerFeed:
    address: str


@dataclass(frozen=True, slots=True)
class VolFeedSpec:
    """An SVI VolFeed; `assets` maps the feed's underlying token addresses to canonical underlyings."""

    address: str
    assets: Mapping[str, Underlying]


@dataclass(frozen=True, slots=True)
class PythFeed:
    """One Pyth price id on a Pyth (or MockPyth) contract."""

    address: str
    price_id: bytes
    asset: Underlying


@dataclass(frozen=True, slots=True)
class OracleSet:
    """The feeds an adapter (or the chain collector) reads together."""

    chainlink: tuple[ChainlinkFeed, ...] = ()
    sequencers: tuple[SequencerFeed, ...] = ()
    vol: tuple[VolFeedSpec, ...] = ()
    pyth: tuple[PythFeed, ...] = ()


# ---------------------------------------------------------------------------------------------- pure decoders
@dataclass(frozen=True, slots=True)
class Round:
    round_id: int
    answer: int
    started_at: int
    updated_at: int
    answered_in_round: int


def decode_round(data: bytes, where: str = "latestRoundData") -> Round:
    rid, answer, started, updated, answered = decode_exact(_ROUND_TYPES, data, where)
    return Round(rid, answer, started, updated, answered)


def decode_decimals(data: bytes, where: str = "decimals") -> int:
    (value,) = decode_exact(("uint8",), data, where)
    return int(value)


def chainlink_quote(rnd: Round, decimals: int, asset: Underlying, chain: str, block: int, feed: str) -> OracleQuote:
    """Quote from a round: answer must be > 0; price = answer / 10**decimals exactly; updatedAt = publish time."""
    where = f"{feed} round {rnd.round_id}"
    if rnd.answer <= 0:
        raise OracleValueError(where, f"answer {rnd.answer} is not positive")
    if not 0 <= decimals <= 36:
        raise OracleValueError(where, f"feed decimals {decimals} out of range")
    return OracleQuote(OracleSource.CHAINLINK, asset, fixed(rnd.answer, decimals), utc(rnd.updated_at, where),
                       chain, block, None, feed)


def sequencer_status(rnd: Round, chain: str, block: int, feed: str) -> SequencerStatus:
    """answer 0 = up, 1 = down (Chainlink); anything else is malformed."""
    where = f"sequencer feed {feed}"
    if rnd.answer not in (0, 1):
        raise OracleValueError(where, f"status answer {rnd.answer} is neither 0 (up) nor 1 (down)")
    return SequencerStatus(chain, feed, rnd.answer == 0, utc(rnd.started_at, where), utc(rnd.updated_at, where),
                           rnd.round_id, block)


@dataclass(frozen=True, slots=True)
class PythPrice:
    price: int
    conf: int
    expo: int
    publish_time: int


def decode_pyth_price(data: bytes, where: str = "getPriceUnsafe") -> PythPrice:
    ((price, conf, expo, publish),) = decode_exact(_PYTH_TYPES, data, where)
    return PythPrice(price, conf, expo, publish)


def pyth_quote(p: PythPrice, asset: Underlying, chain: str, block: int, feed: str) -> OracleQuote:
    """price·10^expo and conf·10^expo exactly; price must be > 0 (a never-updated id reads as 0)."""
    where = f"pyth {feed}"
    if p.price <= 0:
        raise OracleValueError(where, f"price {p.price} is not positive")
    if not -36 <= p.expo <= 36:  # real feeds use -12..0; beyond this the value is garbage, not a price
        raise OracleValueError(where, f"exponent {p.expo} out of range")
    if p.conf < 0:  # uint64 on chain: negative means the caller built it wrong, and would pass the conf guard
        raise OracleValueError(where, f"confidence {p.conf} is negative")
    return OracleQuote(OracleSource.PYTH, asset, fixed(p.price, -p.expo), utc(p.publish_time, where), chain, block,
                       fixed(p.conf, -p.expo), feed)


def decode_svi(data: bytes, where: str = "getSlice") -> tuple[int, ...]:
    ((a, b, rho, m, sigma, forward, updated),) = decode_exact(_SVI_TYPES, data, where)
    return (a, b, rho, m, sigma, forward, updated)


def svi_slice(raw: Sequence[int], asset: Underlying, expiry: int, chain: str, block: int, where: str) -> VolSlice:
    """1e18 fixed point → exact Decimals; forward must be > 0 and sigma > 0 (the feed's own validity rules)."""
    a, b, rho, m, sigma, forward, updated = raw
    if forward <= 0:
        raise OracleValueError(where, "forward is not positive")
    if sigma <= 0 or b < 0:
        raise OracleValueError(where, f"invalid SVI slice (b={b}, sigma={sigma})")
    return VolSlice(asset, utc(expiry, where), fixed(a, 18), fixed(b, 18), fixed(rho, 18), fixed(m, 18),
                    fixed(sigma, 18), fixed(forward, 18), utc(updated, where), chain, block)


def decode_address_list(data: bytes, where: str) -> list[str]:
    (items,) = decode_exact(("address[]",), data, where)
    return [to_checksum_address(a) for a in items]


def decode_uint64_list(data: bytes, where: str) -> list[int]:
    (items,) = decode_exact(("uint64[]",), data, where)
    return [int(x) for x in items]


# ---------------------------------------------------------------------------------------------- log decoders
def _topics(log: Mapping[str, Any], n: int, where: str) -> list[Any]:
    topics = log.get("topics")
    if not isinstance(topics, list) or len(topics) != n:
        raise DecodeError(where, f"expected {n} topics, got {topics!r:.80}")
    return topics


def answer_updated_quote(log: Mapping[str, Any], feed: ChainlinkFeed, chain: str) -> OracleQuote:
    """`AnswerUpdated(int256 indexed current, uint256 indexed roundId, uint256 updatedAt)` → quote (no read)."""
    where = f"AnswerUpdated log of {feed.address}"
    if feed.decimals is None:
        raise DecodeError(where, "feed decimals unknown; resolve them before following logs")
    topics = _topics(log, 3, where)
    current = word_int(topics[1], where, signed=True)
    round_id = word_int(topics[2], where)
    (updated,) = decode_exact(("uint256",), hex_to_bytes(log.get("data"), where), where)
    block = log_int(dict(log), "blockNumber", where)
    return chainlink_quote(Round(round_id, current, updated, updated, round_id), feed.decimals, feed.asset, chain,
                           block, feed.address)


def slice_updated(log: Mapping[str, Any], spec: VolFeedSpec, chain: str) -> VolSlice:
    where = f"SliceUpdated log of {spec.address}"
    topics = _topics(log, 3, where)
    underlying = topic_address(topics[1], where)
    expiry = word_int(topics[2], where)
    raw = decode_exact(("int256",) * 5 + ("uint256", "uint64"), hex_to_bytes(log.get("data"), where), where)
    asset = _asset_of(spec, underlying, where)
    return svi_slice(raw, asset, expiry, chain, log_int(dict(log), "blockNumber", where), where)


def _asset_of(spec: VolFeedSpec, underlying: str, where: str) -> Underlying:
    for addr, asset in spec.assets.items():
        if addr.lower() == underlying.lower():
            return asset
    raise OracleValueError(where, f"underlying {underlying} has no configured asset")


# ---------------------------------------------------------------------------------------------- reader
@dataclass
class OracleReader:
    """Reads an OracleSet at one block through Multicall3; follows its logs for the live stream."""

    chain: str
    rpc: Rpc
    feeds: OracleSet
    multicall: MulticallReader | None = None
    _decimals: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.multicall is None:
            self.multicall = MulticallReader(self.rpc)

    async def read(self, block: int | str = "latest") -> OracleReadings:
        ref = await resolve_block(self.rpc, block)
        mc = self.multicall
        assert mc is not None
        f = self.feeds
        calls: list[Call] = []
        calls += [Call(c.address, LATEST_ROUND) for c in f.chainlink]
        need_dec = [c for c in f.chainlink if c.decimals is None and c.address not in self._decimals]
        calls += [Call(c.address, DECIMALS) for c in need_dec]
        calls += [Call(s.address, LATEST_ROUND) for s in f.sequencers]
        calls += [Call(p.address, encode_call("getPriceUnsafe(bytes32)", ["bytes32"], [p.price_id])) for p in f.pyth]
        calls += [Call(v.address, selector("underlyings()")) for v in f.vol]
        res = await mc.read(calls, ref.number)
        it = iter(res)
        rounds = [next(it) for _ in f.chainlink]
        for c in need_dec:
            r = next(it)
            if r.ok:
                with contextlib.suppress(DecodeError):
                    self._decimals[c.address] = decode_decimals(r.data, f"{c.address}.decimals")
        seqs = [next(it) for _ in f.sequencers]
        pyths = [next(it) for _ in f.pyth]
        unders = [next(it) for _ in f.vol]

        quotes: list[OracleQuote] = []
        statuses: list[SequencerStatus] = []
        faults: list[OracleFault] = []
        round_ids: dict[str, int] = {}
        for c, r in zip(f.chainlink, rounds, strict=True):
            dec = c.decimals if c.decimals is not None else self._decimals.get(c.address)
            try:
                rnd = decode_round(_ok(r, f"{c.address}.latestRoundData"), f"{c.address}.latestRoundData")
                if dec is None:
                    raise DecodeError(f"{c.address}.decimals", "decimals() could not be read")
                quotes.append(chainlink_quote(rnd, dec, c.asset, self.chain, ref.number, c.address))
                round_ids[c.address] = rnd.round_id
            except DecodeError as exc:
                faults.append(OracleFault(c.address, "chainlink", str(exc)))
        for s, r in zip(f.sequencers, seqs, strict=True):
            try:
                rnd = decode_round(_ok(r, f"{s.address}.latestRoundData"), f"{s.address}.latestRoundData")
                statuses.append(sequencer_status(rnd, self.chain, ref.number, s.address))
            except DecodeError as exc:
                faults.append(OracleFault(s.address, "sequencer", str(exc)))
        for p, r in zip(f.pyth, pyths, strict=True):
            feed_id = "0x" + p.price_id.hex()
            try:
                price = decode_pyth_price(_ok(r, f"pyth {feed_id}"), f"pyth {feed_id}")
                quotes.append(pyth_quote(price, p.asset, self.chain, ref.number, feed_id))
            except DecodeError as exc:
                faults.append(OracleFault(feed_id, "pyth", str(exc)))
        slices, vol_faults = await self._read_slices(unders, ref.number, ref.timestamp)
        return OracleReadings(ref.number, tuple(quotes), tuple(slices), tuple(statuses), tuple(faults + vol_faults),
                              round_ids)

    async def _read_slices(self, unders: list[CallResult], block: int, now: int) -> tuple[list[VolSlice],
                                                                                        list[OracleFault]]:
        mc = self.multicall
        assert mc is not None
        faults: list[OracleFault] = []
        pairs: list[tuple[VolFeedSpec, str]] = []
        for v, r in zip(self.feeds.vol, unders, strict=True):
            try:
                pairs += [(v, u) for u in decode_address_list(_ok(r, f"{v.address}.underlyings"),
                                                              f"{v.address}.underlyings")]
            except DecodeError as exc:
                faults.append(OracleFault(v.address, "volfeed", str(exc)))
        exp_res = await mc.read([Call(v.address, encode_call("expiries(address)", ["address"], [u]))
                                 for v, u in pairs], block) if pairs else []
        triples: list[tuple[VolFeedSpec, str, int]] = []
        for (v, u), r in zip(pairs, exp_res, strict=True):
            try:
                exps = decode_uint64_list(_ok(r, f"{v.address}.expiries({u})"), f"{v.address}.expiries({u})")
                triples += [(v, u, e) for e in exps if e > now]  # expired slices are no longer quoted
            except DecodeError as exc:
                faults.append(OracleFault(v.address, "volfeed", str(exc)))
        slice_res = await mc.read([Call(v.address, encode_call("getSlice(address,uint64)", ["address", "uint64"],
                                                               [u, e])) for v, u, e in triples], block) \
            if triples else []
        slices: list[VolSlice] = []
        for (v, u, e), r in zip(triples, slice_res, strict=True):
            where = f"{v.address}.getSlice({u},{e})"
            try:
                raw = decode_svi(_ok(r, where), where)
                slices.append(svi_slice(raw, _asset_of(v, u, where), e, self.chain, block, where))
            except DecodeError as exc:
                faults.append(OracleFault(v.address, "volfeed", str(exc)))
        return slices, faults

    async def resolve_decimals(self) -> None:
        """Fill in unknown Chainlink decimals (needed before following AnswerUpdated logs)."""
        missing = [c for c in self.feeds.chainlink if c.decimals is None and c.address not in self._decimals]
        if not missing:
            return
        mc = self.multicall
        assert mc is not None
        res = await mc.read([Call(c.address, DECIMALS) for c in missing])
        for c, r in zip(missing, res, strict=True):
            self._decimals[c.address] = decode_decimals(_ok(r, f"{c.address}.decimals"), f"{c.address}.decimals")

    def _resolved(self, feed: ChainlinkFeed) -> ChainlinkFeed:
        dec = feed.decimals if feed.decimals is not None else self._decimals.get(feed.address)
        return ChainlinkFeed(feed.address, feed.asset, dec)

    def log_filters(self, from_block: int) -> list[LogFilter]:
        """AnswerUpdated → OracleUpdate(quote) decoded from the log alone (no extra read: lowest latency);
        SliceUpdated → OracleUpdate(vol_slice). Call `resolve_decimals()` first when decimals were not given."""
        out: list[LogFilter] = []
        by_addr = {c.address.lower(): c for c in self.feeds.chainlink}
        if by_addr:
            async def on_answers(logs: list[dict[str, Any]], _end: int) -> list[ChainEvent]:
                events: list[ChainEvent] = []
                for log in logs:
                    feed = by_addr.get(str(log.get("address", "")).lower())
                    if feed is None:
                        continue
                    try:
                        events.append(OracleUpdate(self.chain, quote=answer_updated_quote(
                            log, self._resolved(feed), self.chain)))
                    except DecodeError as exc:
                        logger.warning("{c}: skipped AnswerUpdated: {e}", c=self.chain, e=str(exc))
                return events

            out.append(LogFilter(f"{self.chain}:chainlink", [c.address for c in self.feeds.chainlink],
                                 [ANSWER_UPDATED], on_answers, from_block))
        vol_by_addr = {v.address.lower(): v for v in self.feeds.vol}
        if vol_by_addr:
            async def on_slices(logs: list[dict[str, Any]], _end: int) -> list[ChainEvent]:
                events: list[ChainEvent] = []
                for log in logs:
                    spec = vol_by_addr.get(str(log.get("address", "")).lower())
                    if spec is None:
                        continue
                    try:
                        events.append(OracleUpdate(self.chain, vol_slice=slice_updated(log, spec, self.chain)))
                    except DecodeError as exc:
                        logger.warning("{c}: skipped SliceUpdated: {e}", c=self.chain, e=str(exc))
                return events

            out.append(LogFilter(f"{self.chain}:volfeed", [v.address for v in self.feeds.vol], [SLICE_UPDATED],
                                 on_slices, from_block))
        pyth_by_id = {p.price_id: p for p in self.feeds.pyth}
        if pyth_by_id:
            async def on_pyth(logs: list[dict[str, Any]], end: int) -> list[ChainEvent]:
                # PriceFeedUpdate carries no exponent: re-read the updated ids at the range's last block
                ids = {hex_to_bytes(log["topics"][1], "PriceFeedUpdate") for log in logs if len(log.get("topics") or []) == 2}
                feeds = [pyth_by_id[i] for i in ids if i in pyth_by_id]
                if not feeds:
                    return []
                sub = OracleReader(self.chain, self.rpc, OracleSet(pyth=tuple(feeds)), self.multicall)
                got = await sub.read(end)
                for fault in got.faults:
                    logger.warning("{c}: pyth feed {f}: {r}", c=self.chain, f=fault.feed, r=fault.reason)
                return [OracleUpdate(self.chain, quote=q) for q in got.quotes]

            out.append(LogFilter(f"{self.chain}:pyth", sorted({p.address for p in self.feeds.pyth}),
                                 [PYTH_PRICE_UPDATE], on_pyth, from_block))
        return out


def _ok(result: CallResult, where: str) -> bytes:
    if not result.ok:
        reason = "0x" + result.data[:4].hex() if result.data else "no data"
        raise DecodeError(where, f"call reverted ({reason})")
    return result.data


__all__ = [
    "ANSWER_UPDATED",
    "ChainlinkFeed",
    "OracleReader",
    "OracleSet",
    "OracleValueError",
    "PythFeed",
    "SequencerFeed",
    "VolFeedSpec",
    "answer_updated_quote",
    "chainlink_quote",
    "decode_pyth_price",
    "decode_round",
    "decode_svi",
    "pyth_quote",
    "sequencer_status",
    "slice_updated",
]
