"""VaultOptions adapter (Opyn Gamma-style naked-margin vaults on ethereum).

Accounts are vault ids, found from `VaultOpened` logs. A vault reads as one AccountState: USDC collateral, at most
one short position in its series (8-decimal option tokens → exact Decimal, negative = short), and the on-chain
`requirement` as a param when the contract can compute it. Series are immutable and cached; each series'
Chainlink feed comes from `oracleOf(underlying)`.
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
from loguru import logger

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
    StaticCodec,
    decode_exact,
    decode_uint256,
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
from chains.protocols.oracles import ChainlinkFeed, OracleReader, OracleSet

PROTOCOL = "vault_options"
OPTION_DECIMALS = 8
VAULT_OPENED = topic("VaultOpened(uint256,address)")
TRANSFER = topic("Transfer(address,address,uint256)")
# every event whose topic1 is a vault id and that changes what `read` returns for it
VAULT_EVENTS = [
    VAULT_OPENED,
    topic("CollateralDeposited(uint256,address,uint256,uint256)"),
    topic("CollateralWithdrawn(uint256,address,uint256,uint256)"),
    topic("ShortMinted(uint256,uint256,address,uint256,uint256)"),
    topic("ShortBurned(uint256,uint256,address,uint256,uint256)"),
    topic("VaultLiquidated(uint256,address,uint256,uint256,uint80)"),
    topic("VaultSettled(uint256,address,uint256,uint256,uint256,uint256)"),
]
_GET_VAULT = selector("getVault(uint256)")
_REQUIREMENT = selector("requirement(uint256)")
_VAULT_T = ("(address,uint64,bool,uint256,uint256,uint256)",)
_VAULT_CODEC = StaticCodec(_VAULT_T)
_SERIES_T = ("(address,address,uint64,bool,uint256)",)


# ---------------------------------------------------------------------------------------------- decoders
@dataclass(frozen=True, slots=True)
class VaultRecord:
    owner: str
    last_update: int
    settled: bool
    series_id: int
    collateral: int  # collateral base units
    short_amount: int  # option base units (8 decimals)


@dataclass(frozen=True, slots=True)
class SeriesRecord:
    series_id: int
    token: str
    underlying: str
    expiry: int
    is_put: bool
    strike: int  # 1e18 USD


def decode_vault(data: bytes, where: str = "getVault") -> VaultRecord:
    ((owner, last, settled, sid, col, short),) = _VAULT_CODEC.decode(data, where)
    if short and not sid:
        raise DecodeError(where, f"vault has a short of {short} but no series")
    return VaultRecord(owner, last, settled, sid, col, short)


def decode_series(series_id: int, data: bytes, where: str = "getSeries") -> SeriesRecord:
    ((token, underlying, expiry, is_put, strike),) = decode_exact(_SERIES_T, data, where)
    if strike == 0 or int(token, 16) == 0:
        raise DecodeError(where, "series has a zero strike or no token")
    return SeriesRecord(series_id, token, underlying, expiry, is_put, strike)


def decode_uint(data: bytes, where: str) -> int:
    return decode_uint256(data, where)


def decode_string(data: bytes, where: str) -> str:
    (value,) = decode_exact(("string",), data, where)
    return str(value)


# ---------------------------------------------------------------------------------------------- builders
class ActionType(IntEnum):
    OPEN_VAULT = 0
    DEPOSIT = 1
    WITHDRAW = 2
    MINT = 3
    BURN = 4
    LIQUIDATE = 5
    SETTLE = 6
    REDEEM = 7


@dataclass(frozen=True, slots=True)
class Action:
    """One `operate` step; vault_id 0 = the vault opened last in the batch."""

    kind: ActionType
    vault_id: int = 0
    series_id: int = 0
    amount: int = 0
    round_id: int = 0

    def as_tuple(self) -> tuple[int, int, int, int, int]:
        for name in ("vault_id", "series_id", "amount", "round_id"):
            if getattr(self, name) < 0:
                raise ValueError(f"operate action {self.kind.name}: {name} must be >= 0")
        if self.round_id >= 1 << 80:
            raise ValueError(f"operate action {self.kind.name}: round_id does not fit uint80")
        return (int(self.kind), self.vault_id, self.series_id, self.amount, self.round_id)


def _uint(name: str, value: int, bits: int = 256) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1 << bits:
        raise ValueError(f"{name} must be an integer in [0, 2**{bits}), got {value!r}")
    return value


def build_liquidate(vault: str, vault_id: int, amount: int, round_id: int) -> CallData:
    """`liquidate(vaultId, amount, roundId)`: the caller burns `amount` option units it already holds."""
    args = [_uint("vault_id", vault_id), _uint("amount", amount), _uint("round_id", round_id, 80)]
    return CallData(vault, encode_call("liquidate(uint256,uint256,uint80)", ["uint256", "uint256", "uint80"], args))


def build_operate(vault: str, actions: Sequence[Action]) -> CallData:
    if not actions:
        raise ValueError("operate needs at least one action")
    data = encode_call("operate((uint8,uint256,uint256,uint256,uint80)[])",
                       ["(uint8,uint256,uint256,uint256,uint80)[]"], [[a.as_tuple() for a in actions]])
    return CallData(vault, data)


def build_mint_and_liquidate(vault: str, target_vault: int, collateral: int, series_id: int, amount: int,
                             round_id: int) -> CallData:
    """Open a vault, deposit `collateral`, mint `amount` of the target's series and liquidate the target with
    them, in one transaction (the keeper needs USDC and an approval, no option inventory)."""
    return build_operate(vault, [
        Action(ActionType.OPEN_VAULT),
        Action(ActionType.DEPOSIT, amount=_uint("collateral", collateral)),
        Action(ActionType.MINT, series_id=_uint("series_id", series_id), amount=_uint("amount", amount)),
        Action(ActionType.LIQUIDATE, vault_id=_uint("target_vault", target_vault), amount=amount,
               round_id=round_id),
    ])


def build_settle_vault(vault: str, vault_id: int) -> CallData:
    return CallData(vault, encode_call("settleVault(uint256)", ["uint256"], [_uint("vault_id", vault_id)]))


def build_redeem(vault: str, series_id: int, amount: int) -> CallData:
    return CallData(vault, encode_call("redeem(uint256,uint256)", ["uint256", "uint256"],
                                       [_uint("series_id", series_id), _uint("amount", amount)]))


def build_set_expiry_price(vault: str, underlying: str, expiry: int, round_id: int) -> CallData:
    return CallData(vault, encode_call("setExpiryPrice(address,uint64,uint80)", ["address", "uint64", "uint80"],
                                       [to_checksum_address(underlying), _uint("expiry", expiry, 64),
                                        _uint("round_id", round_id, 80)]))


# ---------------------------------------------------------------------------------------------- adapter
class VaultOptionsAdapter:
    """Reads one VaultOptions deployment; see module docstring."""

    protocol = PROTOCOL

    def __init__(self, chain: str, rpc: Rpc, address: str, deploy_block: int = 0, *,
                 entities: Mapping[str, str] | None = None, multicall: MulticallReader | None = None,
                 log_chunk: int = 5000, aliases: Mapping[str, str] | None = None,
                 assets: Mapping[str, Underlying | str] | None = None, track_holders: bool = False) -> None:
        self.chain = chain
        self.rpc = rpc
        self.address = to_checksum_address(address)
        self.deploy_block = deploy_block
        self.entities = {k.lower(): v for k, v in (entities or {}).items()}
        self.multicall = multicall or MulticallReader(rpc)
        self.log_chunk = log_chunk
        self.cursor = deploy_block
        self.owners: dict[str, str] = {}  # vault id -> owner, from VaultOpened logs
        self.track_holders = track_holders  # also discover option-token holders (longs) from Transfer logs
        self.holders: set[str] = set()
        self.series: dict[int, SeriesRecord] = {}
        self._instruments: dict[int, Instrument] = {}
        self.assets = AssetResolver(self.multicall, assets, aliases)
        self.collateral_decimals: int | None = None
        self.collateral_symbol = "USDC"
        self.oracle_reader: OracleReader | None = None

    def entity(self, owner: str) -> str:
        return self.entities.get(owner.lower(), owner)

    # -------------------------------------------------------------- discovery
    async def discover(self, from_block: int | None = None, to_block: int | None = None) -> Discovery:
        start = self.cursor if from_block is None else from_block
        end = await head_number(self.rpc) if to_block is None else to_block
        if end < start:
            return Discovery((), start, start - 1)
        logs = await scan_logs(self.rpc, [self.address], [VAULT_OPENED], start, end, self.log_chunk)
        found: list[str] = []
        for log in logs:
            where = f"VaultOpened log of {self.address}"
            topics = log.get("topics")
            if not isinstance(topics, list) or len(topics) != 3:
                raise DecodeError(where, f"expected 3 topics, got {topics!r:.80}")
            vid = str(word_int(topics[1], where))
            self.owners[vid] = topic_address(topics[2], where)
            found.append(vid)
        if self.track_holders:
            found += await self._discover_holders(start, end)
        self.cursor = max(self.cursor, end + 1)
        return Discovery(tuple(found), start, end)

    async def _discover_holders(self, start: int, end: int) -> list[str]:
        """Option-token holders (longs) first seen in the series tokens' Transfer logs of [start, end]."""
        tokens = [s.token for s in await self.load_series(end)]
        if not tokens:
            return []
        new: list[str] = []
        for log in await scan_logs(self.rpc, tokens, [TRANSFER], start, end, self.log_chunk):
            topics = log.get("topics")
            if not isinstance(topics, list) or len(topics) != 3:
                raise DecodeError("option token Transfer log", f"expected 3 topics, got {topics!r:.80}")
            to = topic_address(topics[2], "Transfer")
            if int(to, 16) and to not in self.holders:
                self.holders.add(to)
                new.append(to)
        return new

    # -------------------------------------------------------------- reads
    async def read(self, accounts: Sequence[str], block: int | str = "latest") -> list[AccountState]:
        """Vault ids ("12") read as vaults; addresses ("0x…") as option-token holders (long positions)."""
        ref = await resolve_block(self.rpc, block)
        holders: list[str] = [to_checksum_address(a) for a in accounts if a.startswith("0x")]
        ids = [_vault_id(a) for a in accounts if not a.startswith("0x")]
        await self._ensure_meta(ref.number)
        states = await self._read_vaults(ids, ref.number, ref.hash)
        if holders:
            states += await self._read_holders(holders, ref.number, ref.hash)
        return states

    async def _read_holders(self, holders: list[str], block: int, block_hash: str) -> list[AccountState]:
        series = await self.load_series(block)
        calls = [Call(s.token, encode_call("balanceOf(address)", ["address"], [h])) for h in holders for s in series]
        res = await self.multicall.read(calls, block)
        read_at = datetime.now(UTC)
        states: list[AccountState] = []
        for k, h in enumerate(holders):
            positions: list[Position] = []
            for j, s in enumerate(series):
                r = res[k * len(series) + j]
                bal = decode_uint(require_ok(r, f"{s.token}.balanceOf({h})"), f"{s.token}.balanceOf")
                if bal:
                    positions.append(Position(h, self.entity(h), self.instrument(s),
                                              from_base_units(bal, OPTION_DECIMALS), h))
            states.append(AccountState(self.chain, PROTOCOL, h, h, block, MappingProxyType({}), tuple(positions),
                                       MappingProxyType({}), block_hash, read_at))
        return states

    async def _read_vaults(self, ids: list[int], block: int, block_hash: str) -> list[AccountState]:
        if not ids:
            return []
        calls: list[Call] = []
        for vid in ids:
            calls.append(Call(self.address, encode_uint_call(_GET_VAULT, vid)))
            calls.append(Call(self.address, encode_uint_call(_REQUIREMENT, vid)))
        res = await self.multicall.read(calls, block)
        vaults: list[tuple[int, VaultRecord, CallResult]] = []
        for i, vid in enumerate(ids):
            got, req = res[2 * i], res[2 * i + 1]
            if not got.ok:
                logger.warning("{c}: vault {v} does not exist at block {b}; skipped", c=self.chain, v=vid, b=block)
                continue
            vaults.append((vid, decode_vault(got.data, f"{self.address}.getVault({vid})"), req))
        await self._ensure_series({v.series_id for _, v, _ in vaults if v.series_id}, block)
        read_at = datetime.now(UTC)
        return [self._state(vid, v, req, block, block_hash, read_at) for vid, v, req in vaults]

    def _state(self, vid: int, v: VaultRecord, req: CallResult, block: int, block_hash: str,
               read_at: datetime) -> AccountState:
        assert self.collateral_decimals is not None
        collateral = from_base_units(v.collateral, self.collateral_decimals)
        positions: tuple[Position, ...] = ()
        if v.short_amount and not v.settled:
            s = self.series[v.series_id]
            positions = (Position(v.owner, self.entity(v.owner), self.instrument(s),
                                  -from_base_units(v.short_amount, OPTION_DECIMALS), str(vid), collateral),)
        params: dict[str, Decimal] = {"series_id": Decimal(v.series_id), "last_update": Decimal(v.last_update),
                                      "settled": Decimal(int(v.settled))}
        if req.ok:
            params["requirement"] = from_base_units(decode_uint(req.data, f"requirement({vid})"),
                                                    self.collateral_decimals)
        return AccountState(self.chain, PROTOCOL, str(vid), v.owner, block,
                            MappingProxyType({self.collateral_symbol: collateral}), positions,
                            MappingProxyType(params), block_hash, read_at)

    def instrument(self, s: SeriesRecord) -> Instrument:
        """The series as an Instrument (cached: one per series, shared by every vault writing it)."""
        cached = self._instruments.get(s.series_id)
        if cached is None:
            cached = self._instruments[s.series_id] = self._make_instrument(s)
        return cached

    def _make_instrument(self, s: SeriesRecord) -> Instrument:
        return Instrument(self.assets[s.underlying], InstrumentKind.OPTION, self.chain, PROTOCOL, s.token,
                          self.collateral_symbol, OptionType.PUT if s.is_put else OptionType.CALL,
                          from_base_units(s.strike, 18), utc(s.expiry, f"series {s.series_id}"), Decimal(1),
                          ExerciseStyle.EUROPEAN)

    async def _ensure_meta(self, block: int) -> None:
        if self.collateral_decimals is not None:
            return
        (col,) = await self.multicall.read([Call(self.address, selector("collateral()"))], block)
        token = to_checksum_address(decode_exact(("address",), require_ok(col, "collateral()"), "collateral()")[0])
        dec, sym = await self.multicall.read([Call(token, selector("decimals()")),
                                              Call(token, selector("symbol()"))], block)
        self.collateral_decimals = int(decode_exact(("uint8",), require_ok(dec, f"{token}.decimals"), "decimals")[0])
        self.collateral_symbol = decode_string(require_ok(sym, f"{token}.symbol"), f"{token}.symbol")

    async def _ensure_series(self, ids: set[int], block: int) -> None:
        missing = sorted(i for i in ids if i not in self.series)
        if not missing:
            return
        res = await self.multicall.read([Call(self.address, encode_call("getSeries(uint256)", ["uint256"], [i]))
                                         for i in missing], block)
        for sid, r in zip(missing, res, strict=True):
            self.series[sid] = decode_series(sid, require_ok(r, f"getSeries({sid})"), f"getSeries({sid})")
        await self.assets.resolve([self.series[i].underlying for i in missing], block)

    async def load_series(self, block: int | str = "latest") -> list[SeriesRecord]:
        """Every series up to `seriesCount()` (cached; series never change)."""
        number = block if isinstance(block, int) else (await resolve_block(self.rpc, block)).number
        (cnt,) = await self.multicall.read([Call(self.address, selector("seriesCount()"))], number)
        n = decode_uint(require_ok(cnt, "seriesCount()"), "seriesCount()")
        await self._ensure_series(set(range(1, n + 1)), number)
        return [self.series[i] for i in range(1, n + 1)]

    # -------------------------------------------------------------- oracles
    async def prepare_oracles(self, block: int | str = "latest") -> OracleReader:
        """Build the reader for the feeds configured for every series' underlying (`oracleOf`)."""
        series = await self.load_series(block)
        unders = sorted({s.underlying for s in series})
        res = await self.multicall.read([Call(self.address, encode_call("oracleOf(address)", ["address"], [u]))
                                         for u in unders])
        feeds: list[ChainlinkFeed] = []
        for u, r in zip(unders, res, strict=True):
            feed, scale = decode_exact(("address", "uint256"), require_ok(r, f"oracleOf({u})"), f"oracleOf({u})")
            decimals = 18 - (len(str(scale)) - 1)
            if scale != 10 ** (18 - decimals):
                raise DecodeError(f"oracleOf({u})", f"scale {scale} is not a power of ten")
            feeds.append(ChainlinkFeed(to_checksum_address(feed), self.assets[u], decimals))
        self.oracle_reader = OracleReader(self.chain, self.rpc, OracleSet(chainlink=tuple(feeds)), self.multicall)
        return self.oracle_reader

    async def oracles(self, block: int | str = "latest") -> OracleReadings:
        reader = self.oracle_reader or await self.prepare_oracles(block)
        return await reader.read(block)

    # -------------------------------------------------------------- live
    def log_filters(self, from_block: int) -> list[LogFilter]:
        """Vault events → PositionChanged (vaults re-read at the range's last block); plus the feeds'
        AnswerUpdated → OracleUpdate once `prepare_oracles()` has run."""

        def remember_owner(log: dict[str, Any]) -> None:
            t = log["topics"]
            if t[0] == VAULT_OPENED and len(t) == 3:
                self.owners[str(word_int(t[1], "VaultOpened"))] = topic_address(t[2], "VaultOpened")

        filters = [account_log_filter(f"{self.chain}:{PROTOCOL}:vaults", self.address, VAULT_EVENTS, PROTOCOL,
                                      self.chain, self.read, from_block, remember_owner)]
        if self.oracle_reader is not None:
            filters += self.oracle_reader.log_filters(from_block)
        return filters

    # -------------------------------------------------------------- builders (bound to this deployment)
    def liquidate(self, vault_id: int, amount: int, round_id: int) -> CallData:
        return build_liquidate(self.address, vault_id, amount, round_id)

    def mint_and_liquidate(self, target_vault: int, collateral: int, series_id: int, amount: int,
                           round_id: int) -> CallData:
        return build_mint_and_liquidate(self.address, target_vault, collateral, series_id, amount, round_id)

    def operate(self, actions: Sequence[Action]) -> CallData:
        return build_operate(self.address, actions)

    def settle_vault(self, vault_id: int) -> CallData:
        return build_settle_vault(self.address, vault_id)

    def redeem(self, series_id: int, amount: int) -> CallData:
        return build_redeem(self.address, series_id, amount)

    def set_expiry_price(self, underlying: str, expiry: int, round_id: int) -> CallData:
        return build_set_expiry_price(self.address, underlying, expiry, round_id)


def _vault_id(account: str) -> int:
    try:
        vid = int(account)
    except (TypeError, ValueError):
        raise AdapterError(f"VaultOptions account ids are vault numbers, got {account!r}") from None
    if vid <= 0:
        raise AdapterError(f"vault ids start at 1, got {account!r}")
    return vid


def factory(chain: str, rpc: Rpc, config: Mapping[str, Any]) -> VaultOptionsAdapter:
    """Registry entry: config keys `address` (required), `deploy_block`, `entities` (owner → entity),
    `aliases` (symbol → canonical symbol), `assets` (underlying token → Underlying), `track_holders`."""
    if "address" not in config:
        raise AdapterError(f"{PROTOCOL} on {chain}: config needs 'address'")
    return VaultOptionsAdapter(chain, rpc, str(config["address"]), int(config.get("deploy_block", 0)),
                               entities=config.get("entities"), aliases=config.get("aliases"),
                               assets=config.get("assets"), track_holders=bool(config.get("track_holders", False)))
