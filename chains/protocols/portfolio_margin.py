"""PortfolioMargin adapter (Lyra v2-style subaccounts with standard-manager margin and Dutch auctions, arbitrum).

Accounts are subaccount ids from `AccountCreated` logs. One read = two Multicall3 rounds at one block: per
account owner, cash, held series, (MM, MtM) and auction state; then the held positions. Cash and MM/MtM are 1e18
USD, positions 1e18 contracts (signed), all converted exactly. MM/MtM are omitted from `params` when the
contract cannot compute them (stale spot or vol feed) rather than guessed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from eth_utils import to_checksum_address

from chains.evm.multicall import Call, CallResult, MulticallReader
from chains.evm.watcher import LogFilter
from chains.model import (
    AccountState,
    ExerciseStyle,
    Instrument,
    InstrumentKind,
    OptionType,
    Position,
    Underlying,
    from_base_units,
)
from chains.protocols.abi import (
    decode_exact,
    encode_call,
    encode_uint_call,
    selector,
    topic,
    topic_address,
    utc,
    word_int,
)
from chains.protocols.base import AdapterError, CallData, DecodeError, Discovery, OracleReadings, Rpc
from chains.protocols.blocks import head_number, resolve_block, scan_logs
from chains.protocols.common import AssetResolver, account_log_filter, require_ok
from chains.protocols.oracles import ChainlinkFeed, OracleReader, OracleSet, VolFeedSpec

PROTOCOL = "portfolio_margin"
ACCOUNT_CREATED = topic("AccountCreated(uint256,address)")
ACCOUNT_EVENTS = [
    ACCOUNT_CREATED,
    topic("PositionUpdated(uint256,uint256,int256)"),
    topic("CashUpdated(uint256,int256)"),
    topic("AuctionStarted(uint256,int256,int256,bool,uint256)"),
    topic("AuctionBid(uint256,uint256,uint256,int256,uint256,int256,int256)"),
    topic("AuctionTerminated(uint256,int256,int256,int256)"),
]
_OWNER = selector("ownerOf(uint256)")
_CASH = selector("cashOf(uint256)")
_HELD = selector("heldSeries(uint256)")
_MARGIN = selector("getMarginAndMarkToMarket(uint256)")
_AUCTION = selector("getAuction(uint256)")
_POSITION = selector("positionOf(uint256,uint256)")
_SERIES = selector("getSeries(uint256)")
WAD = 18


@dataclass(frozen=True, slots=True)
class PmSeries:
    series_id: int
    underlying: str
    expiry: int
    is_call: bool
    strike: int  # 1e18 USD


def decode_pm_series(series_id: int, data: bytes, where: str = "getSeries") -> PmSeries:
    ((underlying, expiry, is_call, strike),) = decode_exact(("(address,uint64,bool,uint256)",), data, where)
    if strike == 0:
        raise DecodeError(where, "series strike is zero")
    return PmSeries(series_id, underlying, expiry, is_call, strike)


def decode_held(data: bytes, where: str) -> list[int]:
    (ids,) = decode_exact(("uint256[]",), data, where)
    return [int(i) for i in ids]


# ---------------------------------------------------------------------------------------------- builders
def _uint(name: str, value: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1 << 256:
        raise ValueError(f"{name} must be an integer in [0, 2**256), got {value!r}")
    return value


def build_start_auction(pm: str, account_id: int) -> CallData:
    return CallData(pm, encode_uint_call(selector("startAuction(uint256)"), _uint("account_id", account_id)))


def build_bid(pm: str, account_id: int, bidder_account_id: int, fraction: int, price_limit: int) -> CallData:
    """`bid(id, bidderId, fraction 1e18, priceLimit)`: limit = max price paid (solvent) or min payout (insolvent)."""
    if not 0 < fraction <= 10**18:
        raise ValueError(f"fraction must be in (0, 1e18], got {fraction}")
    if account_id == bidder_account_id:
        raise ValueError("a subaccount cannot bid on itself")
    return CallData(pm, encode_uint_call(selector("bid(uint256,uint256,uint256,uint256)"),
                                         _uint("account_id", account_id), _uint("bidder", bidder_account_id),
                                         fraction, _uint("price_limit", price_limit)))


def build_terminate_auction(pm: str, account_id: int) -> CallData:
    return CallData(pm, encode_uint_call(selector("terminateAuction(uint256)"), _uint("account_id", account_id)))


def build_settle_expired(pm: str, account_id: int, series_id: int) -> CallData:
    return CallData(pm, encode_uint_call(selector("settleExpired(uint256,uint256)"), _uint("account_id", account_id),
                                         _uint("series_id", series_id)))


# ---------------------------------------------------------------------------------------------- adapter
class PortfolioMarginAdapter:
    """Reads one PortfolioMargin deployment; see module docstring."""

    protocol = PROTOCOL

    def __init__(self, chain: str, rpc: Rpc, address: str, deploy_block: int = 0, *,
                 entities: Mapping[str, str] | None = None, multicall: MulticallReader | None = None,
                 log_chunk: int = 5000, aliases: Mapping[str, str] | None = None,
                 assets: Mapping[str, Underlying | str] | None = None) -> None:
        self.chain = chain
        self.rpc = rpc
        self.address = to_checksum_address(address)
        self.deploy_block = deploy_block
        self.entities = {k.lower(): v for k, v in (entities or {}).items()}
        self.multicall = multicall or MulticallReader(rpc)
        self.log_chunk = log_chunk
        self.cursor = deploy_block
        self.owners: dict[str, str] = {}
        self.series: dict[int, PmSeries] = {}
        self._instruments: dict[int, Instrument] = {}
        self.assets = AssetResolver(self.multicall, assets, aliases)
        self.oracle_reader: OracleReader | None = None

    def entity(self, owner: str) -> str:
        return self.entities.get(owner.lower(), owner)

    async def discover(self, from_block: int | None = None, to_block: int | None = None) -> Discovery:
        start = self.cursor if from_block is None else from_block
        end = await head_number(self.rpc) if to_block is None else to_block
        if end < start:
            return Discovery((), start, start - 1)
        found: list[str] = []
        for log in await scan_logs(self.rpc, [self.address], [ACCOUNT_CREATED], start, end, self.log_chunk):
            topics = log.get("topics")
            where = f"AccountCreated log of {self.address}"
            if not isinstance(topics, list) or len(topics) != 3:
                raise DecodeError(where, f"expected 3 topics, got {topics!r:.80}")
            aid = str(word_int(topics[1], where))
            self.owners[aid] = topic_address(topics[2], where)
            found.append(aid)
        self.cursor = max(self.cursor, end + 1)
        return Discovery(tuple(found), start, end)

    async def read(self, accounts: Sequence[str], block: int | str = "latest") -> list[AccountState]:
        ref = await resolve_block(self.rpc, block)
        ids = [_account_id(a) for a in accounts]
        per = (_OWNER, _CASH, _HELD, _MARGIN, _AUCTION)
        res = await self.multicall.read([Call(self.address, encode_uint_call(sel, aid)) for aid in ids for sel in per],
                                        ref.number)
        rows: list[tuple[int, str, int, list[int], CallResult, bool, bool, int]] = []
        for k, aid in enumerate(ids):
            owner_r, cash_r, held_r, margin_r, auction_r = res[5 * k:5 * k + 5]
            where = f"{self.address} account {aid}"
            (owner,) = decode_exact(("address",), require_ok(owner_r, f"ownerOf({aid})"), where)
            if int(owner, 16) == 0:
                continue  # not created (yet) at this block
            (cash,) = decode_exact(("int256",), require_ok(cash_r, f"cashOf({aid})"), where)
            held = decode_held(require_ok(held_r, f"heldSeries({aid})"), where)
            ((active, insolvent, started),) = decode_exact(("(bool,bool,uint64)",),
                                                           require_ok(auction_r, f"getAuction({aid})"), where)
            rows.append((aid, owner, cash, held, margin_r, active, insolvent, started))
        pos_keys = [(aid, sid) for aid, _, _, held, *_ in rows for sid in held]
        pos_res = await self.multicall.read([Call(self.address, encode_uint_call(_POSITION, a, s))
                                             for a, s in pos_keys], ref.number) if pos_keys else []
        amounts = {key: decode_exact(("int256",), require_ok(r, f"positionOf{key}"), f"positionOf{key}")[0]
                   for key, r in zip(pos_keys, pos_res, strict=True)}
        await self._ensure_series({s for _, s in pos_keys}, ref.number)
        read_at = datetime.now(UTC)
        states: list[AccountState] = []
        for aid, owner, cash, held, margin_r, active, insolvent, started in rows:
            cash_d = from_base_units(cash, WAD)  # signed: negative cash is a debt
            positions = tuple(
                Position(owner, self.entity(owner), self.instrument(self.series[sid]), _signed(amounts[(aid, sid)]),
                         str(aid)) for sid in held if amounts[(aid, sid)] != 0)
            params: dict[str, Decimal] = {"auction_active": Decimal(int(active)),
                                          "auction_insolvent": Decimal(int(insolvent)),
                                          "auction_start": Decimal(started)}
            if margin_r.ok:
                mm, mtm = decode_exact(("int256", "int256"), margin_r.data, f"getMarginAndMarkToMarket({aid})")
                params["mm"], params["mtm"] = _signed(mm), _signed(mtm)
            states.append(AccountState(self.chain, PROTOCOL, str(aid), owner, ref.number,
                                       MappingProxyType({"USD": cash_d}), positions, MappingProxyType(params),
                                       ref.hash, read_at))
        return states

    def instrument(self, s: PmSeries) -> Instrument:
        inst = self._instruments.get(s.series_id)
        if inst is None:
            inst = self._instruments[s.series_id] = Instrument(
                self.assets[s.underlying], InstrumentKind.OPTION, self.chain, PROTOCOL, f"series:{s.series_id}",
                "USDC", OptionType.CALL if s.is_call else OptionType.PUT, from_base_units(s.strike, WAD),
                utc(s.expiry, f"series {s.series_id}"), Decimal(1), ExerciseStyle.EUROPEAN)
        return inst

    async def _ensure_series(self, ids: set[int], block: int) -> None:
        missing = sorted(i for i in ids if i not in self.series)
        if not missing:
            return
        res = await self.multicall.read([Call(self.address, encode_uint_call(_SERIES, i)) for i in missing], block)
        for sid, r in zip(missing, res, strict=True):
            self.series[sid] = decode_pm_series(sid, require_ok(r, f"getSeries({sid})"), f"getSeries({sid})")
        await self.assets.resolve([self.series[i].underlying for i in missing], block)

    async def load_series(self, block: int | str = "latest") -> list[PmSeries]:
        ref = await resolve_block(self.rpc, block)
        (nxt,) = await self.multicall.read([Call(self.address, selector("nextSeriesId()"))], ref.number)
        (n,) = decode_exact(("uint256",), require_ok(nxt, "nextSeriesId()"), "nextSeriesId()")
        await self._ensure_series(set(range(1, n)), ref.number)
        return [self.series[i] for i in range(1, n)]

    async def prepare_oracles(self, block: int | str = "latest") -> OracleReader:
        """Spot feeds of every listed underlying (`underlyings(u)`) plus the SVI vol feed (`volFeed()`)."""
        ref = await resolve_block(self.rpc, block)
        series = await self.load_series(ref.number)
        unders = sorted({s.underlying for s in series})
        calls = [Call(self.address, encode_call("underlyings(address)", ["address"], [u])) for u in unders]
        res = await self.multicall.read([*calls, Call(self.address, selector("volFeed()"))], ref.number)
        feeds = []
        for u, r in zip(unders, res[:-1], strict=True):
            feed, _stale = decode_exact(("address", "uint64"), require_ok(r, f"underlyings({u})"), f"underlyings({u})")
            feeds.append(ChainlinkFeed(feed, self.assets[u], 8))  # the contract only accepts 8-decimal feeds
        (vol,) = decode_exact(("address",), require_ok(res[-1], "volFeed()"), "volFeed()")
        spec = VolFeedSpec(vol, {u: self.assets[u] for u in unders})
        self.oracle_reader = OracleReader(self.chain, self.rpc, OracleSet(chainlink=tuple(feeds), vol=(spec,)),
                                          self.multicall)
        return self.oracle_reader

    async def oracles(self, block: int | str = "latest") -> OracleReadings:
        reader = self.oracle_reader or await self.prepare_oracles(block)
        return await reader.read(block)

    def log_filters(self, from_block: int) -> list[LogFilter]:
        def remember_owner(log: dict[str, Any]) -> None:
            t = log["topics"]
            if t[0] == ACCOUNT_CREATED and len(t) == 3:
                self.owners[str(word_int(t[1], "AccountCreated"))] = topic_address(t[2], "AccountCreated")

        filters = [account_log_filter(f"{self.chain}:{PROTOCOL}:accounts", self.address, ACCOUNT_EVENTS, PROTOCOL,
                                      self.chain, self.read, from_block, remember_owner)]
        if self.oracle_reader is not None:
            filters += self.oracle_reader.log_filters(from_block)
        return filters

    # builders bound to this deployment
    def start_auction(self, account_id: int) -> CallData:
        return build_start_auction(self.address, account_id)

    def bid(self, account_id: int, bidder_account_id: int, fraction: int, price_limit: int) -> CallData:
        return build_bid(self.address, account_id, bidder_account_id, fraction, price_limit)

    def terminate_auction(self, account_id: int) -> CallData:
        return build_terminate_auction(self.address, account_id)

    def settle_expired(self, account_id: int, series_id: int) -> CallData:
        return build_settle_expired(self.address, account_id, series_id)


def _signed(v: int) -> Decimal:
    return from_base_units(v, WAD)


def _account_id(account: str) -> int:
    try:
        aid = int(account)
    except (TypeError, ValueError):
        raise AdapterError(f"PortfolioMargin account ids are subaccount numbers, got {account!r}") from None
    if aid <= 0:
        raise AdapterError(f"subaccount ids start at 1, got {account!r}")
    return aid


def factory(chain: str, rpc: Rpc, config: Mapping[str, Any]) -> PortfolioMarginAdapter:
    """Registry entry: config keys `address` (required), `deploy_block`, `entities`, `aliases`, `assets`."""
    if "address" not in config:
        raise AdapterError(f"{PROTOCOL} on {chain}: config needs 'address'")
    return PortfolioMarginAdapter(chain, rpc, str(config["address"]), int(config.get("deploy_block", 0)),
                                  entities=config.get("entities"), aliases=config.get("aliases"),
                                  assets=config.get("assets"))
