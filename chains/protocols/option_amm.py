"""OptionAMM adapter (Lyra v1 / Premia-style LP pool on base, delta-hedged on Uniswap V3).

Two kinds of accounts: `"pool"` — the LP pool itself, short every series' open interest, holding USDC and WETH,
with its NAV and Greeks as params — and trader addresses (from `Trade` logs) holding long contracts. All series
(ids 0..n-1) are read in the same Multicall3 batch as the accounts, since open interest changes every trade.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from eth_utils import to_checksum_address

from chains.events import ChainEvent, PositionChanged
from chains.evm.multicall import Call, MulticallReader
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
)
from chains.protocols.base import AdapterError, CallData, DecodeError, Discovery, OracleReadings, Rpc
from chains.protocols.blocks import head_number, resolve_block, scan_logs
from chains.protocols.common import require_ok
from chains.protocols.oracles import ChainlinkFeed, OracleReader, OracleSet, VolFeedSpec

PROTOCOL = "option_amm"
POOL_ACCOUNT = "pool"
TRADE = topic("Trade(address,uint256,bool,uint256,uint256,uint256,uint256,uint256,uint256)")
REBALANCED = topic("Rebalanced(int256,int256,address,address,uint256,uint256,uint256)")
_SERIES_T = ("(uint256,uint64,bool,bool,uint256,uint256,uint256)",)
_SERIES = selector("series(uint256)")
_BALANCE = selector("balanceOf(address)")
WAD = 18


@dataclass(frozen=True, slots=True)
class AmmSeries:
    series_id: int
    strike: int
    expiry: int
    is_call: bool
    settled: bool
    open_interest: int  # 1e18 contracts the pool is short
    settlement_price: int
    payoff: int


def decode_amm_series(series_id: int, data: bytes, where: str = "series") -> AmmSeries:
    ((strike, expiry, is_call, settled, oi, price, payoff),) = decode_exact(_SERIES_T, data, where)
    if strike == 0:
        raise DecodeError(where, "series strike is zero")
    return AmmSeries(series_id, strike, expiry, is_call, settled, oi, price, payoff)


def build_rebalance(amm: str, target_delta_band: int, max_slippage_bps: int) -> CallData:
    """`rebalance(band 1e18 ETH, bps)` (HEDGER_ROLE): hedge to zero delta on Uniswap if |delta| > band."""
    if not 0 <= max_slippage_bps < 10_000:
        raise ValueError(f"max_slippage_bps must be in [0, 10000), got {max_slippage_bps}")
    if target_delta_band < 0:
        raise ValueError("target_delta_band must be >= 0")
    return CallData(amm, encode_uint_call(selector("rebalance(uint256,uint256)"), target_delta_band,
                                          max_slippage_bps))


class OptionAmmAdapter:
    protocol = PROTOCOL

    def __init__(self, chain: str, rpc: Rpc, address: str, deploy_block: int = 0, *,
                 asset: Underlying = Underlying.ETH, entities: Mapping[str, str] | None = None,
                 multicall: MulticallReader | None = None, log_chunk: int = 5000) -> None:
        self.chain = chain
        self.rpc = rpc
        self.address = to_checksum_address(address)
        self.deploy_block = deploy_block
        self.asset = asset
        self.entities = {k.lower(): v for k, v in (entities or {}).items()}
        self.multicall = multicall or MulticallReader(rpc)
        self.log_chunk = log_chunk
        self.cursor = deploy_block
        self.tokens: tuple[str, str] | None = None  # (usdc, weth)
        self.oracle_reader: OracleReader | None = None
        self._instruments: dict[int, Instrument] = {}

    def entity(self, owner: str) -> str:
        return self.entities.get(owner.lower(), owner)

    async def discover(self, from_block: int | None = None, to_block: int | None = None) -> Discovery:
        """`pool` on the first scan from the deploy block, then every trader first seen in `Trade` logs."""
        start = self.cursor if from_block is None else from_block
        end = await head_number(self.rpc) if to_block is None else to_block
        if end < start:
            return Discovery((), start, start - 1)
        found: list[str] = [POOL_ACCOUNT] if start <= self.deploy_block else []
        for log in await scan_logs(self.rpc, [self.address], [TRADE], start, end, self.log_chunk):
            topics = log.get("topics")
            if not isinstance(topics, list) or len(topics) != 3:
                raise DecodeError(f"Trade log of {self.address}", f"expected 3 topics, got {topics!r:.80}")
            trader = topic_address(topics[1], "Trade")
            if trader not in found:
                found.append(trader)
        self.cursor = max(self.cursor, end + 1)
        return Discovery(tuple(found), start, end)

    async def read(self, accounts: Sequence[str], block: int | str = "latest") -> list[AccountState]:
        ref = await resolve_block(self.rpc, block)
        usdc, weth = await self._ensure_tokens(ref.number)
        traders = [to_checksum_address(a) for a in accounts if a != POOL_ACCOUNT]
        (cnt,) = await self.multicall.read([Call(self.address, selector("seriesCount()"))], ref.number)
        (n,) = decode_exact(("uint256",), require_ok(cnt, "seriesCount()"), "seriesCount()")
        calls = [Call(self.address, encode_uint_call(_SERIES, i)) for i in range(n)]
        calls += [Call(self.address, selector(s)) for s in ("nav()", "netGreeks()", "utilisation()")]
        calls += [Call(t, encode_call("balanceOf(address)", ["address"], [self.address])) for t in (usdc, weth)]
        calls += [Call(self.address, encode_call("positionOf(uint256,address)", ["uint256", "address"], [i, t]))
                  for t in traders for i in range(n)]
        res = await self.multicall.read(calls, ref.number)
        series = [decode_amm_series(i, require_ok(res[i], f"series({i})"), f"series({i})") for i in range(n)]
        nav_r, greeks_r, util_r, usdc_r, weth_r = res[n:n + 5]
        read_at = datetime.now(UTC)
        states: list[AccountState] = []
        if POOL_ACCOUNT in accounts:
            (usdc_bal,) = decode_exact(("uint256",), require_ok(usdc_r, "USDC.balanceOf"), "balanceOf")
            (weth_bal,) = decode_exact(("uint256",), require_ok(weth_r, "WETH.balanceOf"), "balanceOf")
            params: dict[str, Decimal] = {}
            if nav_r.ok:  # nav/greeks revert while the price is invalid: omitted, never guessed
                params["nav"] = from_base_units(decode_exact(("int256",), nav_r.data, "nav()")[0], WAD)
            if greeks_r.ok:
                d, g, v = decode_exact(("int256", "int256", "int256"), greeks_r.data, "netGreeks()")
                params.update(delta=from_base_units(d, WAD), gamma=from_base_units(g, WAD),
                              vega=from_base_units(v, WAD))
            if util_r.ok:
                params["utilisation"] = from_base_units(decode_exact(("uint256",), util_r.data, "utilisation")[0],
                                                        WAD)
            owner = self.address
            positions = tuple(Position(owner, self.entity(owner), self.instrument(s),
                                       -from_base_units(s.open_interest, WAD), POOL_ACCOUNT)
                              for s in series if s.open_interest and not s.settled)
            states.append(AccountState(self.chain, PROTOCOL, POOL_ACCOUNT, owner, ref.number,
                                       MappingProxyType({"USDC": from_base_units(usdc_bal, 6),
                                                         "WETH": from_base_units(weth_bal, 18)}),
                                       positions, MappingProxyType(params), ref.hash, read_at))
        base = n + 5
        for k, trader in enumerate(traders):
            held = [decode_exact(("uint256",), require_ok(res[base + k * n + i], f"positionOf({i},{trader})"),
                                 "positionOf")[0] for i in range(n)]
            positions = tuple(Position(trader, self.entity(trader), self.instrument(series[i]),
                                       from_base_units(amount, WAD), trader)
                              for i, amount in enumerate(held) if amount)
            states.append(AccountState(self.chain, PROTOCOL, trader, trader, ref.number, MappingProxyType({}),
                                       positions, MappingProxyType({}), ref.hash, read_at))
        return states

    def instrument(self, s: AmmSeries) -> Instrument:
        inst = self._instruments.get(s.series_id)
        if inst is None:
            inst = self._instruments[s.series_id] = Instrument(
                self.asset, InstrumentKind.OPTION, self.chain, PROTOCOL, f"series:{s.series_id}", "USDC",
                OptionType.CALL if s.is_call else OptionType.PUT, from_base_units(s.strike, WAD),
                utc(s.expiry, f"series {s.series_id}"), Decimal(1), ExerciseStyle.EUROPEAN)
        return inst

    async def _ensure_tokens(self, block: int) -> tuple[str, str]:
        if self.tokens is None:
            res = await self.multicall.read([Call(self.address, selector("asset()")),
                                             Call(self.address, selector("weth()"))], block)
            usdc = decode_exact(("address",), require_ok(res[0], "asset()"), "asset()")[0]
            weth = decode_exact(("address",), require_ok(res[1], "weth()"), "weth()")[0]
            self.tokens = (usdc, weth)
        return self.tokens

    async def prepare_oracles(self, block: int | str = "latest") -> OracleReader:
        ref = await resolve_block(self.rpc, block)
        _, weth = await self._ensure_tokens(ref.number)
        res = await self.multicall.read([Call(self.address, selector("priceFeed()")),
                                         Call(self.address, selector("volFeed()"))], ref.number)
        feed = decode_exact(("address",), require_ok(res[0], "priceFeed()"), "priceFeed()")[0]
        vol = decode_exact(("address",), require_ok(res[1], "volFeed()"), "volFeed()")[0]
        self.oracle_reader = OracleReader(self.chain, self.rpc, OracleSet(
            chainlink=(ChainlinkFeed(feed, self.asset),), vol=(VolFeedSpec(vol, {weth: self.asset}),)),
            self.multicall)
        await self.oracle_reader.resolve_decimals()
        return self.oracle_reader

    async def oracles(self, block: int | str = "latest") -> OracleReadings:
        reader = self.oracle_reader or await self.prepare_oracles(block)
        return await reader.read(block)

    def log_filters(self, from_block: int) -> list[LogFilter]:
        """Trades (topic1 = trader) re-read that trader and the pool; rebalances re-read the pool."""

        async def handler(logs: list[dict[str, Any]], end: int) -> list[ChainEvent]:
            traders = list(dict.fromkeys(topic_address(log["topics"][1], "Trade") for log in logs
                                         if log.get("topics") and log["topics"][0] == TRADE))
            states = await self.read([POOL_ACCOUNT, *traders], end)
            return [PositionChanged(self.chain, PROTOCOL, s, s.positions, s.block) for s in states]

        filters = [LogFilter(f"{self.chain}:{PROTOCOL}", [self.address], [[TRADE, REBALANCED]], handler, from_block)]
        if self.oracle_reader is not None:
            filters += self.oracle_reader.log_filters(from_block)
        return filters

    def rebalance(self, target_delta_band: int, max_slippage_bps: int) -> CallData:
        return build_rebalance(self.address, target_delta_band, max_slippage_bps)


def factory(chain: str, rpc: Rpc, config: Mapping[str, Any]) -> OptionAmmAdapter:
    """Registry entry: `address` (required), `deploy_block`, `asset` (default ETH), `entities`."""
    if "address" not in config:
        raise AdapterError(f"{PROTOCOL} on {chain}: config needs 'address'")
    return OptionAmmAdapter(chain, rpc, str(config["address"]), int(config.get("deploy_block", 0)),
                            asset=Underlying(config.get("asset", "ETH")), entities=config.get("entities"))
