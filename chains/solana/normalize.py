"""Pure normalization for the Solana adapter: markets -> Instruments, Pyth accounts -> OracleQuotes, holdings.

Kept apart from the I/O so the call/put and strike rules, the oracle fault rules and the holdings index are
table- and property-testable without an endpoint.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from solders.pubkey import Pubkey
from spl.token.constants import TOKEN_2022_PROGRAM_ID, TOKEN_PROGRAM_ID

from chains.model import (
    EXACT,
    ExerciseStyle,
    Instrument,
    InstrumentKind,
    OptionType,
    OracleQuote,
    OracleSource,
    Underlying,
    canonical_underlying,
    from_base_units,
)
from chains.protocols.base import AdapterError, OracleFault
from chains.solana.decoders import DecodeError, OptionMarket, decode_price_update_v2

PROTOCOL = "tokenized_options"
PSY_AMERICAN = Pubkey.from_string("R2y9ip6mxmWUj4pt54jP2hz2CRBWaSGtL1ysKNCymZy")
PYTH_RECEIVER = Pubkey.from_string("rec5EKMGg6MxZYaMdyBfgwp4d5rB9T1VQH5pJv5LtFJ")
TOKEN_PROGRAM = TOKEN_PROGRAM_ID
TOKEN_2022_PROGRAM = TOKEN_2022_PROGRAM_ID
TOKEN_PROGRAMS = (TOKEN_PROGRAM, TOKEN_2022_PROGRAM)


def parse_pubkey(value: str | Pubkey, what: str) -> Pubkey:
    if isinstance(value, Pubkey):
        return value
    try:
        return Pubkey.from_string(str(value))
    except ValueError:
        raise AdapterError(f"{what}: {value!r} is not a base58 Solana pubkey") from None


def parse_feed_id(value: str, what: str) -> bytes:
    try:
        fid = bytes.fromhex(str(value).removeprefix("0x"))
    except ValueError:
        fid = b""
    if len(fid) != 32:
        raise AdapterError(f"{what}: {value!r} is not a 32-byte hex Pyth feed id")
    return fid


@dataclass(frozen=True, slots=True)
class MintInfo:
    address: Pubkey
    program: Pubkey  # Tokenkeg or Token-2022
    decimals: int
    supply: int


@dataclass(frozen=True, slots=True)
class MarketInfo:
    """One market with its normalized instrument; sizes in underlying units of the *risk* underlying."""

    address: Pubkey
    market: OptionMarket
    instrument: Instrument
    contract_size: Decimal  # risk-underlying units per contract (1 SOL for the seeded markets)
    collateral_symbol: str  # what a writer has locked: the market's underlying mint
    collateral_per_contract: Decimal
    option_mint: MintInfo
    writer_mint: MintInfo


@dataclass(frozen=True, slots=True)
class Holding:
    """One token account of an option or writer mint."""

    account: Pubkey
    owner: Pubkey
    mint: Pubkey
    amount: int


class Holdings:
    """Token accounts of tracked mints, indexed by account and by owner (reads are per owner)."""

    def __init__(self) -> None:
        self.by_account: dict[Pubkey, Holding] = {}
        self.by_owner: dict[Pubkey, dict[Pubkey, Holding]] = {}

    def get(self, account: Pubkey) -> Holding | None:
        return self.by_account.get(account)

    def put(self, h: Holding) -> None:
        self.remove(h.account)
        self.by_account[h.account] = h
        self.by_owner.setdefault(h.owner, {})[h.account] = h

    def remove(self, account: Pubkey) -> None:
        old = self.by_account.pop(account, None)
        if old is not None:
            owned = self.by_owner[old.owner]
            del owned[account]
            if not owned:
                del self.by_owner[old.owner]

    def of_owner(self, owner: Pubkey) -> list[Holding]:
        return sorted(self.by_owner.get(owner, {}).values(), key=lambda h: bytes(h.account))

    def values(self) -> list[Holding]:
        return list(self.by_account.values())

    def drop_mints(self, keep: Callable[[Pubkey], bool]) -> None:
        for h in [h for h in self.by_account.values() if not keep(h.mint)]:
            self.remove(h.account)


def market_instrument(chain: str, address: Pubkey, m: OptionMarket, underlying_symbol: str, quote_symbol: str,
                      underlying_decimals: int, quote_decimals: int, aliases: Mapping[str, str] | None = None
                      ) -> tuple[Instrument, Decimal]:
    """(instrument, contract size) of a market: pure, so the call/put and strike rules are table-testable."""
    cu = canonical_underlying(underlying_symbol, aliases)
    cq = canonical_underlying(quote_symbol, aliases)
    if m.underlying_amount_per_contract <= 0 or m.quote_amount_per_contract <= 0:  # no strike, no size
        raise AdapterError(f"market {address}: amounts per contract must be > 0, got "
                           f"{m.underlying_amount_per_contract} / {m.quote_amount_per_contract}")
    try:
        expiry = datetime.fromtimestamp(m.expiration, UTC)
    except (OverflowError, OSError, ValueError):
        raise AdapterError(f"market {address}: expiration {m.expiration} is not a representable time") from None
    ua = from_base_units(m.underlying_amount_per_contract, underlying_decimals)
    qa = from_base_units(m.quote_amount_per_contract, quote_decimals)
    if cq is Underlying.USD and cu is not Underlying.USD:
        asset, kind, size, strike, settle = cu, OptionType.CALL, ua, EXACT.divide(qa, ua), quote_symbol
    elif cu is Underlying.USD and cq is not Underlying.USD:
        asset, kind, size, strike, settle = cq, OptionType.PUT, qa, EXACT.divide(ua, qa), underlying_symbol
    else:
        raise AdapterError(f"market {address}: one side must be a USD stablecoin, got {underlying_symbol}/"
                           f"{quote_symbol}")
    inst = Instrument(asset, InstrumentKind.OPTION, chain, PROTOCOL, str(address), settle.upper(), kind,
                      strike, expiry, Decimal(1), ExerciseStyle.AMERICAN)
    return inst, size


def pyth_quote(chain: str, address: Pubkey, data: bytes | None, asset: Underlying, slot: int,
               feed_id: bytes | None = None) -> OracleQuote | OracleFault:
    """A Pyth account's quote, or the fault that makes it unusable (missing, malformed, wrong feed, price <= 0)."""
    where = str(address)
    if data is None:
        return OracleFault(where, "missing", "account does not exist")
    try:
        upd = decode_price_update_v2(data)
    except DecodeError as exc:
        return OracleFault(where, "malformed", str(exc))
    if feed_id is not None and upd.feed_id != feed_id:
        return OracleFault(where, "wrong_feed", f"feed id {upd.feed_id_hex} != configured {feed_id.hex()}")
    if upd.price_raw <= 0:
        return OracleFault(where, "non_positive", f"price {upd.price} <= 0")
    try:
        published = datetime.fromtimestamp(upd.publish_time, UTC)
    except (OverflowError, OSError, ValueError):
        return OracleFault(where, "malformed", f"publish_time {upd.publish_time} is not a representable time")
    return OracleQuote(OracleSource.PYTH, asset, upd.price, published, chain, slot, upd.conf, upd.feed_id_hex)


@dataclass(frozen=True, slots=True)
class PythFeed:
    address: Pubkey
    asset: Underlying
    feed_id: bytes | None = None
