"""Pure decoders for the Solana account layouts rtrm reads: Pyth PriceUpdateV2, SPL Token / Token-2022 token
accounts and mints, and the PsyOptions-style OptionMarket.

Why hand-written cursors instead of a generic borsh library: every failure must say *which field at which
offset* was wrong (a truncated account, an unknown enum tag, a COption tag of 7), and must never turn into a
silently wrong number. Each decoder checks the account length and every tag it reads; integers are decoded
exactly and prices become Decimals by `scaleb` (never via float).
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from decimal import Decimal
from enum import IntEnum

from solders.pubkey import Pubkey

from chains.model import EXACT
from chains.protocols.base import DecodeError as _BaseDecodeError

TOKEN_ACCOUNT_LEN = 165
MINT_LEN = 82
# Token-2022 puts an AccountType byte right after the 165-byte base (mints are zero-padded up to it).
TOKEN_2022_ACCOUNT_TYPE_OFFSET = 165
PRICE_UPDATE_V2_MIN_LEN = 8 + 32 + 1 + 32 + 8 * 2 + 4 + 8 * 5  # Full encoding: 133 bytes
OPTION_MARKET_LEN = 8 + 32 * 4 + 8 * 3 + 32 * 4 + 1 + 1  # 290 bytes
MAX_PYTH_EXPONENT = 64  # |exponent| beyond this is not a price, it is garbage


class DecodeError(_BaseDecodeError):
    """Account bytes did not match `layout`: `field` at byte `offset` was missing or invalid."""

    def __init__(self, layout: str, field: str, offset: int, reason: str) -> None:
        super().__init__(f"{layout}.{field} at offset {offset}", reason)
        self.layout = layout
        self.field = field
        self.offset = offset


def anchor_discriminator(account_name: str) -> bytes:
    """Anchor's 8-byte account discriminator: sha256("account:<Name>")[:8]."""
    return hashlib.sha256(f"account:{account_name}".encode()).digest()[:8]


PRICE_UPDATE_V2_DISCRIMINATOR = anchor_discriminator("PriceUpdateV2")
OPTION_MARKET_DISCRIMINATOR = anchor_discriminator("OptionMarket")


class _Cursor:
    """Reads little-endian fields in order, raising DecodeError with the field name and offset on overrun."""

    __slots__ = ("data", "layout", "offset")

    def __init__(self, data: bytes, layout: str) -> None:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise DecodeError(layout, "<account>", 0, f"expected bytes, got {type(data).__name__}")
        self.data = bytes(data)
        self.layout = layout
        self.offset = 0

    def fail(self, field: str, reason: str, offset: int | None = None) -> DecodeError:
        return DecodeError(self.layout, field, self.offset if offset is None else offset, reason)

    def take(self, n: int, field: str) -> bytes:
        end = self.offset + n
        if end > len(self.data):
            left = len(self.data) - self.offset
            raise self.fail(field, f"needs {n} bytes, only {max(left, 0)} left (account is {len(self.data)} bytes)")
        out = self.data[self.offset:end]
        self.offset = end
        return out

    def unpack(self, fmt: str, field: str) -> int:
        (value,) = struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), field))
        return int(value)

    def u8(self, field: str) -> int:
        return self.unpack("B", field)

    def u32(self, field: str) -> int:
        return self.unpack("I", field)

    def i32(self, field: str) -> int:
        return self.unpack("i", field)

    def u64(self, field: str) -> int:
        return self.unpack("Q", field)

    def i64(self, field: str) -> int:
        return self.unpack("q", field)

    def pubkey(self, field: str) -> Pubkey:
        return Pubkey.from_bytes(self.take(32, field))

    def bool(self, field: str) -> bool:
        at = self.offset
        v = self.u8(field)
        if v > 1:
            raise self.fail(field, f"bool must be 0 or 1, got {v}", at)
        return v == 1

    def discriminator(self, expected: bytes, name: str) -> None:
        got = self.take(8, "discriminator")
        if got != expected:
            raise self.fail("discriminator", f"not a {name} account (got {got.hex()}, want {expected.hex()})", 0)

    def coption_pubkey(self, field: str) -> Pubkey | None:
        """SPL's COption<Pubkey>: u32 tag (0 none / 1 some) + 32 bytes, always 36 bytes."""
        at = self.offset
        tag = self.u32(field + ".tag")
        body = self.take(32, field)
        if tag == 0:
            return None
        if tag == 1:
            return Pubkey.from_bytes(body)
        raise self.fail(field + ".tag", f"COption tag must be 0 or 1, got {tag}", at)

    def coption_u64(self, field: str) -> int | None:
        at = self.offset
        tag = self.u32(field + ".tag")
        value = self.u64(field)
        if tag == 0:
            return None
        if tag == 1:
            return value
        raise self.fail(field + ".tag", f"COption tag must be 0 or 1, got {tag}", at)


# ------------------------------------------------------------------------------------------------ Pyth
class VerificationLevel(IntEnum):
    """Borsh enum tag of the Pyth receiver's VerificationLevel (Partial carries a u8 signature count)."""

    PARTIAL = 0
    FULL = 1


@dataclass(frozen=True, slots=True)
class PriceUpdateV2:
    """A Pyth receiver PriceUpdateV2 account; integers as stored, Decimals via `exponent` exactly."""

    write_authority: Pubkey
    verification: VerificationLevel
    num_signatures: int | None  # only for Partial
    feed_id: bytes
    price_raw: int
    conf_raw: int
    exponent: int
    publish_time: int
    prev_publish_time: int
    ema_price_raw: int
    ema_conf_raw: int
    posted_slot: int

    @property
    def price(self) -> Decimal:
        return Decimal(self.price_raw).scaleb(self.exponent, context=EXACT)

    @property
    def conf(self) -> Decimal:
        return Decimal(self.conf_raw).scaleb(self.exponent, context=EXACT)

    @property
    def ema_price(self) -> Decimal:
        return Decimal(self.ema_price_raw).scaleb(self.exponent, context=EXACT)

    @property
    def ema_conf(self) -> Decimal:
        return Decimal(self.ema_conf_raw).scaleb(self.exponent, context=EXACT)

    @property
    def feed_id_hex(self) -> str:
        return self.feed_id.hex()


def decode_price_update_v2(data: bytes) -> PriceUpdateV2:
    """Decode a PriceUpdateV2; the verification level's encoding (Full 1 byte, Partial 2) shifts later offsets.

    Trailing bytes are allowed (accounts are allocated for the longer Partial encoding and zero-padded).
    """
    c = _Cursor(data, "PriceUpdateV2")
    c.discriminator(PRICE_UPDATE_V2_DISCRIMINATOR, "Pyth PriceUpdateV2")
    authority = c.pubkey("write_authority")
    at = c.offset
    tag = c.u8("verification_level")
    signatures: int | None = None
    if tag == VerificationLevel.PARTIAL:
        signatures = c.u8("verification_level.num_signatures")
    elif tag != VerificationLevel.FULL:
        raise c.fail("verification_level", f"unknown variant {tag} (0 = Partial, 1 = Full)", at)
    feed_id = c.take(32, "feed_id")
    price = c.i64("price")
    conf = c.u64("conf")
    at = c.offset
    exponent = c.i32("exponent")
    if abs(exponent) > MAX_PYTH_EXPONENT:
        raise c.fail("exponent", f"exponent {exponent} is outside ±{MAX_PYTH_EXPONENT}", at)
    publish_time = c.i64("publish_time")
    prev_publish_time = c.i64("prev_publish_time")
    ema_price = c.i64("ema_price")
    ema_conf = c.u64("ema_conf")
    posted_slot = c.u64("posted_slot")
    return PriceUpdateV2(authority, VerificationLevel(tag), signatures, feed_id, price, conf, exponent, publish_time,
                         prev_publish_time, ema_price, ema_conf, posted_slot)


# ------------------------------------------------------------------------------------------------ SPL
class TokenAccountState(IntEnum):
    UNINITIALIZED = 0
    INITIALIZED = 1
    FROZEN = 2


class Token2022AccountType(IntEnum):
    UNINITIALIZED = 0
    MINT = 1
    ACCOUNT = 2


@dataclass(frozen=True, slots=True)
class TokenAccount:
    """SPL token account base state (identical in Token and Token-2022); `extensions` = raw TLV tail."""

    mint: Pubkey
    owner: Pubkey
    amount: int
    delegate: Pubkey | None
    state: TokenAccountState
    is_native: int | None  # rent-exempt reserve for wrapped SOL accounts
    delegated_amount: int
    close_authority: Pubkey | None
    extensions: bytes = b""


@dataclass(frozen=True, slots=True)
class Mint:
    mint_authority: Pubkey | None
    supply: int
    decimals: int
    freeze_authority: Pubkey | None
    extensions: bytes = b""


def _token_2022_tail(c: _Cursor, base_len: int, want: Token2022AccountType) -> bytes:
    """Validate the Token-2022 extension tail after the base layout; returns the TLV bytes."""
    n = len(c.data)
    if n == base_len:
        return b""
    if n <= TOKEN_2022_ACCOUNT_TYPE_OFFSET:
        raise c.fail("<length>", f"{n} bytes is neither the {base_len}-byte base layout nor a Token-2022 account "
                     f"with extensions (> {TOKEN_2022_ACCOUNT_TYPE_OFFSET} bytes)", base_len)
    pad = c.data[base_len:TOKEN_2022_ACCOUNT_TYPE_OFFSET]
    if any(pad):
        raise c.fail("<padding>", "Token-2022 padding before the account type is not zero", base_len)
    kind = c.data[TOKEN_2022_ACCOUNT_TYPE_OFFSET]
    if kind != want:
        name = Token2022AccountType(kind).name if kind in Token2022AccountType._value2member_map_ else str(kind)
        raise c.fail("account_type", f"Token-2022 account type is {name}, expected {want.name}",
                     TOKEN_2022_ACCOUNT_TYPE_OFFSET)
    return c.data[TOKEN_2022_ACCOUNT_TYPE_OFFSET + 1:]


def decode_token_account(data: bytes) -> TokenAccount:
    """SPL Token account (165 bytes) or Token-2022 account with extensions; uninitialised → DecodeError."""
    c = _Cursor(data, "TokenAccount")
    if len(c.data) < TOKEN_ACCOUNT_LEN:
        raise c.fail("<length>", f"token accounts are at least {TOKEN_ACCOUNT_LEN} bytes, got {len(c.data)}")
    mint = c.pubkey("mint")
    owner = c.pubkey("owner")
    amount = c.u64("amount")
    delegate = c.coption_pubkey("delegate")
    at = c.offset
    state = c.u8("state")
    if state not in TokenAccountState._value2member_map_:
        raise c.fail("state", f"unknown account state {state} (0..2)", at)
    if state == TokenAccountState.UNINITIALIZED:
        raise c.fail("state", "token account is not initialized", at)
    is_native = c.coption_u64("is_native")
    delegated = c.u64("delegated_amount")
    close_authority = c.coption_pubkey("close_authority")
    ext = _token_2022_tail(c, TOKEN_ACCOUNT_LEN, Token2022AccountType.ACCOUNT)
    return TokenAccount(mint, owner, amount, delegate, TokenAccountState(state), is_native, delegated,
                        close_authority, ext)


def decode_mint(data: bytes) -> Mint:
    """SPL Token mint (82 bytes) or Token-2022 mint with extensions (base padded to 165 + type byte)."""
    c = _Cursor(data, "Mint")
    if len(c.data) < MINT_LEN:
        raise c.fail("<length>", f"mints are at least {MINT_LEN} bytes, got {len(c.data)}")
    authority = c.coption_pubkey("mint_authority")
    supply = c.u64("supply")
    decimals = c.u8("decimals")
    at = c.offset
    initialized = c.bool("is_initialized")
    if not initialized:
        raise c.fail("is_initialized", "mint is not initialized", at)
    freeze = c.coption_pubkey("freeze_authority")
    ext = _token_2022_tail(c, MINT_LEN, Token2022AccountType.MINT)
    return Mint(authority, supply, decimals, freeze, ext)


# ------------------------------------------------------------------------------------------------ options
@dataclass(frozen=True, slots=True)
class OptionMarket:
    """PsyOptions American OptionMarket: a put is a call with underlying and quote mints swapped."""

    option_mint: Pubkey
    writer_token_mint: Pubkey
    underlying_mint: Pubkey
    quote_mint: Pubkey
    underlying_amount_per_contract: int
    quote_amount_per_contract: int
    expiration: int  # unix seconds
    underlying_pool: Pubkey
    quote_pool: Pubkey
    mint_fee_account: Pubkey
    exercise_fee_account: Pubkey
    expired: bool
    bump: int


def decode_option_market(data: bytes) -> OptionMarket:
    """Decode an OptionMarket (290 bytes; trailing bytes allowed as account padding)."""
    c = _Cursor(data, "OptionMarket")
    c.discriminator(OPTION_MARKET_DISCRIMINATOR, "PsyOptions OptionMarket")
    option_mint = c.pubkey("option_mint")
    writer_mint = c.pubkey("writer_token_mint")
    underlying = c.pubkey("underlying_asset_mint")
    quote = c.pubkey("quote_asset_mint")
    at = c.offset
    ua = c.u64("underlying_amount_per_contract")
    if ua == 0:
        raise c.fail("underlying_amount_per_contract", "must be > 0", at)
    at = c.offset
    qa = c.u64("quote_amount_per_contract")
    if qa == 0:
        raise c.fail("quote_amount_per_contract", "must be > 0", at)
    at = c.offset
    expiration = c.i64("expiration_unix_timestamp")
    if expiration <= 0:
        raise c.fail("expiration_unix_timestamp", f"must be a positive unix time, got {expiration}", at)
    upool = c.pubkey("underlying_asset_pool")
    qpool = c.pubkey("quote_asset_pool")
    mint_fee = c.pubkey("mint_fee_account")
    exercise_fee = c.pubkey("exercise_fee_account")
    expired = c.bool("expired")
    bump = c.u8("bump_seed")
    if option_mint == writer_mint or underlying == quote:
        raise DecodeError("OptionMarket", "mints", 8, "option/writer or underlying/quote mints are identical")
    return OptionMarket(option_mint, writer_mint, underlying, quote, ua, qa, expiration, upool, qpool, mint_fee,
                        exercise_fee, expired, bump)
