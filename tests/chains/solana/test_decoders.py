"""Decoders vs the independent struct.pack encoders in layouts.py: equal on valid input, DecodeError otherwise."""

from __future__ import annotations

import contextlib
import struct
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from solders.pubkey import Pubkey

from chains.devnet import solana_seed
from chains.protocols.base import DecodeError as AnyDecodeError
from chains.solana.decoders import (
    DecodeError,
    TokenAccountState,
    VerificationLevel,
    decode_mint,
    decode_option_market,
    decode_price_update_v2,
    decode_token_account,
)
from tests.chains.solana import layouts

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
keys = st.binary(min_size=32, max_size=32)
i64 = st.integers(-(2**63), 2**63 - 1)
u64 = st.integers(0, 2**64 - 1)
positive_i64 = st.integers(1, 2**63 - 1)


@st.composite
def price_updates(draw: st.DrawFn) -> dict:
    return {
        "authority": draw(keys), "feed_id": draw(keys), "price": draw(i64), "conf": draw(u64),
        "exponent": draw(st.integers(-64, 64)), "publish_time": draw(i64), "prev_publish_time": draw(i64),
        "ema_price": draw(i64), "ema_conf": draw(u64), "posted_slot": draw(u64),
        "partial_signatures": draw(st.none() | st.integers(0, 255)),
    }


@given(price_updates(), st.integers(0, 40))
@FAST
def test_price_update_v2_decodes_what_was_encoded(f: dict, extra_pad: int) -> None:
    raw = layouts.price_update_v2(**f, pad_to=134 + extra_pad)
    got = decode_price_update_v2(raw)
    assert bytes(got.write_authority) == f["authority"] and got.feed_id == f["feed_id"]
    assert (got.price_raw, got.conf_raw, got.exponent) == (f["price"], f["conf"], f["exponent"])
    assert (got.publish_time, got.prev_publish_time, got.posted_slot) == (
        f["publish_time"], f["prev_publish_time"], f["posted_slot"])
    assert (got.ema_price_raw, got.ema_conf_raw) == (f["ema_price"], f["ema_conf"])
    if f["partial_signatures"] is None:
        assert got.verification is VerificationLevel.FULL and got.num_signatures is None
    else:
        assert got.verification is VerificationLevel.PARTIAL and got.num_signatures == f["partial_signatures"]
    # the exponent is applied exactly: scaling back gives the integer
    assert got.price * (Decimal(10) ** -f["exponent"]) == f["price"]


def test_price_exponent_exact_and_offsets_shift_with_level() -> None:
    common: dict[str, Any] = dict(authority=bytes(range(32)), feed_id=b"\x07" * 32, price=15_012_345_678, conf=1_234, exponent=-8,
                  publish_time=1_700_000_000, prev_publish_time=1_699_999_999, ema_price=1, ema_conf=2,
                  posted_slot=99)
    full = decode_price_update_v2(layouts.price_update_v2(**common, partial_signatures=None))
    part = decode_price_update_v2(layouts.price_update_v2(**common, partial_signatures=5))
    assert full.price == part.price == Decimal("150.12345678")
    assert full.conf == Decimal("0.00001234")
    assert (full.posted_slot, part.posted_slot, part.num_signatures) == (99, 99, 5)
    # a Partial account read as if Full would shift the feed id by one byte; the tag prevents it
    assert part.feed_id == b"\x07" * 32


def test_price_update_matches_the_devnet_seeder() -> None:
    """The seeder writes what production writes; our decoder must read exactly those values."""
    fid = bytes.fromhex("ef0d8b6fda2ceba41da15d4095d1da392a0d2f8ed0c6c7bc0f4cfac8c280b56d")
    raw = solana_seed.price_update_v2_bytes(fid, 15_000_000_000, 7_500_000, -8, 1_800_000_000, 4242)
    got = decode_price_update_v2(raw)
    assert (got.price, got.conf, got.publish_time, got.posted_slot) == (
        Decimal("150.00000000"), Decimal("0.075"), 1_800_000_000, 4242)
    assert got.verification is VerificationLevel.FULL and got.feed_id == fid


@given(price_updates(), st.data())
@FAST
def test_truncated_price_update_is_a_decode_error(f: dict, data: st.DataObject) -> None:
    raw = layouts.price_update_v2(**f, pad_to=0)
    cut = data.draw(st.integers(0, len(raw) - 1))
    with pytest.raises(DecodeError) as e:
        decode_price_update_v2(raw[:cut])
    assert e.value.offset <= cut and "PriceUpdateV2" in str(e.value)


@pytest.mark.parametrize("tag", [2, 3, 255])
def test_unknown_verification_level(tag: int) -> None:
    raw = bytearray(layouts.price_update_v2(
        authority=b"\x01" * 32, feed_id=b"\x02" * 32, price=1, conf=1, exponent=-8, publish_time=1,
        prev_publish_time=1, ema_price=1, ema_conf=1, posted_slot=1, partial_signatures=None))
    raw[40] = tag
    with pytest.raises(DecodeError, match="verification_level at offset 40"):
        decode_price_update_v2(bytes(raw))


def test_wrong_discriminator_and_wild_exponent() -> None:
    good = layouts.price_update_v2(authority=b"\x01" * 32, feed_id=b"\x02" * 32, price=1, conf=1, exponent=-8,
                                   publish_time=1, prev_publish_time=1, ema_price=1, ema_conf=1, posted_slot=1,
                                   partial_signatures=None)
    with pytest.raises(DecodeError, match="discriminator"):
        decode_price_update_v2(b"\x00" * 8 + good[8:])
    bad = bytearray(good)
    struct.pack_into("<i", bad, 8 + 32 + 1 + 32 + 16, -1000)
    with pytest.raises(DecodeError, match="exponent at offset 89"):
        decode_price_update_v2(bytes(bad))


@given(st.binary(max_size=400))
@FAST
def test_garbage_never_crashes(blob: bytes) -> None:
    for decode in (decode_price_update_v2, decode_token_account, decode_mint, decode_option_market):
        with contextlib.suppress(DecodeError):  # anything else (IndexError, struct.error...) fails the test
            decode(blob)


def test_decode_error_is_the_adapters_decode_error() -> None:
    with pytest.raises(AnyDecodeError):
        decode_mint(b"")


# ------------------------------------------------------------------------------------------------ SPL
opt_key = st.none() | keys


@st.composite
def token_accounts(draw: st.DrawFn) -> dict:
    delegate = draw(opt_key)
    return {"mint": draw(keys), "owner": draw(keys), "amount": draw(u64), "delegate": delegate,
            "state": draw(st.sampled_from([1, 2])), "native": draw(st.none() | u64),
            "delegated": draw(u64) if delegate else 0, "close": draw(opt_key),
            "token_2022_tlv": draw(st.none() | st.binary(max_size=60))}


@given(token_accounts())
@FAST
def test_token_account_decodes_what_was_encoded(f: dict) -> None:
    got = decode_token_account(layouts.token_account(**f))
    assert (bytes(got.mint), bytes(got.owner), got.amount) == (f["mint"], f["owner"], f["amount"])
    assert (bytes(got.delegate) if got.delegate else None) == f["delegate"]
    assert (bytes(got.close_authority) if got.close_authority else None) == f["close"]
    assert got.state is TokenAccountState(f["state"]) and got.is_native == f["native"]
    assert got.delegated_amount == f["delegated"] and got.extensions == (f["token_2022_tlv"] or b"")


@given(st.integers(0, 2**64 - 1), st.integers(0, 255), opt_key, opt_key, st.none() | st.binary(max_size=60))
@FAST
def test_mint_decodes_what_was_encoded(supply: int, decimals: int, auth: bytes | None, freeze: bytes | None,
                                       tlv: bytes | None) -> None:
    got = decode_mint(layouts.mint(supply=supply, decimals=decimals, authority=auth, freeze=freeze,
                                   token_2022_tlv=tlv))
    assert (got.supply, got.decimals) == (supply, decimals)
    assert (bytes(got.mint_authority) if got.mint_authority else None) == auth
    assert (bytes(got.freeze_authority) if got.freeze_authority else None) == freeze
    assert got.extensions == (tlv or b"")


def test_seeder_token_layouts_decode() -> None:
    m, o = Pubkey.new_unique(), Pubkey.new_unique()
    acct = decode_token_account(solana_seed.token_account_bytes(m, o, 12345))
    assert (acct.mint, acct.owner, acct.amount, acct.delegate) == (m, o, 12345, None)
    mint = decode_mint(solana_seed.mint_bytes(777, 9, o))
    assert (mint.supply, mint.decimals, mint.mint_authority, mint.freeze_authority) == (777, 9, o, None)


@given(token_accounts(), st.data())
@FAST
def test_truncated_token_account(f: dict, data: st.DataObject) -> None:
    raw = layouts.token_account(**{**f, "token_2022_tlv": None})
    with pytest.raises(DecodeError, match="TokenAccount"):
        decode_token_account(raw[: data.draw(st.integers(0, 164))])


@pytest.mark.parametrize(
    ("offset", "value", "match"),
    [
        (72, 7, r"delegate\.tag at offset 72"),
        (108, 0, "state at offset 108.*not initialized"),
        (108, 3, "state at offset 108.*unknown"),
        (109, 2, r"is_native\.tag at offset 109"),
        (129, 2, r"close_authority\.tag at offset 129"),
    ],
)
def test_token_account_bad_tags(offset: int, value: int, match: str) -> None:
    raw = bytearray(layouts.token_account(mint=b"\x01" * 32, owner=b"\x02" * 32, amount=5))
    raw[offset] = value
    with pytest.raises(DecodeError, match=match):
        decode_token_account(bytes(raw))


def test_token_2022_type_byte_checked() -> None:
    acct = layouts.token_account(mint=b"\x01" * 32, owner=b"\x02" * 32, amount=5, token_2022_tlv=b"\x00" * 4)
    as_mint = bytearray(acct)
    as_mint[165] = 1
    with pytest.raises(DecodeError, match="account_type at offset 165.*MINT"):
        decode_token_account(bytes(as_mint))
    with pytest.raises(DecodeError, match="<length>"):  # 92 bytes: neither a base mint nor Token-2022
        decode_mint(layouts.mint(supply=1, decimals=6, authority=None) + b"\x00" * 10)
    padded = bytearray(layouts.mint(supply=1, decimals=6, authority=None, token_2022_tlv=b""))
    padded[100] = 9
    with pytest.raises(DecodeError, match="<padding> at offset 82"):
        decode_mint(bytes(padded))


def test_uninitialized_mint() -> None:
    raw = bytearray(layouts.mint(supply=1, decimals=6, authority=None))
    raw[45] = 0
    with pytest.raises(DecodeError, match="is_initialized at offset 45"):
        decode_mint(bytes(raw))
    raw[45] = 2
    with pytest.raises(DecodeError, match="bool must be 0 or 1"):
        decode_mint(bytes(raw))


# ------------------------------------------------------------------------------------------------ options
@st.composite
def markets(draw: st.DrawFn) -> dict:
    mints = draw(st.lists(keys, min_size=4, max_size=4, unique=True))
    return {"option_mint": mints[0], "writer_mint": mints[1], "underlying_mint": mints[2], "quote_mint": mints[3],
            "underlying_amount": draw(st.integers(1, 2**64 - 1)), "quote_amount": draw(st.integers(1, 2**64 - 1)),
            "expiration": draw(positive_i64), "underlying_pool": draw(keys), "quote_pool": draw(keys),
            "mint_fee": draw(keys), "exercise_fee": draw(keys), "expired": draw(st.booleans()),
            "bump": draw(st.integers(0, 255))}


@given(markets(), st.binary(max_size=30))
@FAST
def test_option_market_decodes_what_was_encoded(f: dict, pad: bytes) -> None:
    got = decode_option_market(layouts.option_market(**f) + pad)
    assert [bytes(k) for k in (got.option_mint, got.writer_token_mint, got.underlying_mint, got.quote_mint)] == [
        f["option_mint"], f["writer_mint"], f["underlying_mint"], f["quote_mint"]]
    assert (got.underlying_amount_per_contract, got.quote_amount_per_contract, got.expiration) == (
        f["underlying_amount"], f["quote_amount"], f["expiration"])
    assert [bytes(k) for k in (got.underlying_pool, got.quote_pool, got.mint_fee_account,
                               got.exercise_fee_account)] == [f["underlying_pool"], f["quote_pool"], f["mint_fee"],
                                                              f["exercise_fee"]]
    assert (got.expired, got.bump) == (f["expired"], f["bump"])


@given(markets(), st.data())
@FAST
def test_truncated_option_market(f: dict, data: st.DataObject) -> None:
    raw = layouts.option_market(**f)
    cut = data.draw(st.integers(0, len(raw) - 1))
    with pytest.raises(DecodeError, match="OptionMarket"):
        decode_option_market(raw[:cut])


def test_option_market_matches_seeder_and_rejects_zero_amounts() -> None:
    k = [Pubkey.new_unique() for _ in range(9)]
    m = solana_seed.OptionMarket(k[0], k[1], k[2], k[3], k[4], 10**9, 165_000_000, 1_900_000_000, k[5], k[6], k[7],
                                 k[8])
    got = decode_option_market(solana_seed.option_market_bytes(m))
    assert (got.option_mint, got.writer_token_mint, got.underlying_mint, got.quote_mint) == (k[1], k[2], k[3], k[4])
    assert (got.underlying_amount_per_contract, got.quote_amount_per_contract, got.expiration) == (
        10**9, 165_000_000, 1_900_000_000)
    assert (got.underlying_pool, got.exercise_fee_account, got.expired, got.bump) == (k[5], k[8], False, 255)
    raw = bytearray(solana_seed.option_market_bytes(m))
    raw[136:144] = bytes(8)
    with pytest.raises(DecodeError, match="underlying_amount_per_contract at offset 136"):
        decode_option_market(bytes(raw))
    raw = bytearray(solana_seed.option_market_bytes(m))
    raw[288] = 5
    with pytest.raises(DecodeError, match="expired at offset 288"):
        decode_option_market(bytes(raw))
