"""Pure rules of the Solana adapter: market -> instrument (call/put, strike, size) and Pyth account -> quote/fault."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from solders.pubkey import Pubkey

from chains.model import OptionType, Underlying
from chains.protocols.base import OracleFault
from chains.solana.decoders import OptionMarket
from chains.solana.normalize import market_instrument, pyth_quote
from tests.chains.solana import layouts

KEYS = [Pubkey.new_unique() for _ in range(9)]
FEED = b"\x11" * 32


def market(ua: int, qa: int, expiry: int = 1_900_000_000) -> OptionMarket:
    k = KEYS
    return OptionMarket(k[1], k[2], k[3], k[4], ua, qa, expiry, k[5], k[6], k[7], k[8], False, 255)


@given(st.integers(1, 2**64 - 1), st.integers(1, 2**64 - 1), st.integers(0, 12), st.integers(0, 12),
       st.booleans())
@settings(max_examples=200, deadline=None)
def test_strike_times_size_is_the_quote_side_exactly(ua: int, qa: int, udec: int, qdec: int, is_call: bool) -> None:
    usym, qsym = ("SOL", "USDC") if is_call else ("USDC", "SOL")
    inst, size = market_instrument("solana", KEYS[0], market(ua, qa), usym, qsym, udec, qdec)
    assert inst.underlying is Underlying.SOL
    assert inst.option_type is (OptionType.CALL if is_call else OptionType.PUT)
    sol_side, usd_side = (Decimal(ua).scaleb(-udec), Decimal(qa).scaleb(-qdec)) if is_call else (
        Decimal(qa).scaleb(-qdec), Decimal(ua).scaleb(-udec))
    assert size == sol_side and inst.strike is not None
    assert abs(inst.strike * size - usd_side) <= usd_side * Decimal("1e-150")  # exact up to 160 digits
    assert inst.expiry == datetime.fromtimestamp(1_900_000_000, UTC)


def _pyth(price: int, publish_time: int = 1_800_000_000, feed: bytes = FEED) -> bytes:
    return layouts.price_update_v2(authority=bytes(32), feed_id=feed, price=price, conf=5, exponent=-2,
                                   publish_time=publish_time, prev_publish_time=0, ema_price=price, ema_conf=5,
                                   posted_slot=9, partial_signatures=None)


@pytest.mark.parametrize(
    ("data", "feed_id", "kind"),
    [
        (None, None, "missing"),
        (b"\x00" * 10, None, "malformed"),
        (_pyth(0), None, "non_positive"),
        (_pyth(-5), None, "non_positive"),
        (_pyth(100, feed=b"\x22" * 32), FEED, "wrong_feed"),
        (_pyth(100, publish_time=2**62), None, "malformed"),
    ],
)
def test_pyth_faults(data: bytes | None, feed_id: bytes | None, kind: str) -> None:
    got = pyth_quote("solana", KEYS[0], data, Underlying.SOL, 7, feed_id)
    assert isinstance(got, OracleFault) and got.kind == kind and got.feed == str(KEYS[0])


def test_pyth_quote_fields() -> None:
    q = pyth_quote("solana", KEYS[0], _pyth(15_025), Underlying.SOL, 7, FEED)
    assert not isinstance(q, OracleFault)
    assert (q.price, q.confidence, q.block, q.feed_id, q.chain) == (Decimal("150.25"), Decimal("0.05"), 7,
                                                                     FEED.hex(), "solana")
    assert q.publish_time == datetime.fromtimestamp(1_800_000_000, UTC)
    assert q.confidence_ratio() == Decimal("0.05") / Decimal("150.25")


def test_holdings_index_follows_owner_changes() -> None:
    from chains.solana.normalize import Holding, Holdings

    acct, mint, a, b = (Pubkey.new_unique() for _ in range(4))
    hs = Holdings()
    hs.put(Holding(acct, a, mint, 5))
    hs.put(Holding(acct, b, mint, 5))  # SetAuthority(owner): the account moves to b
    assert hs.of_owner(a) == [] and [h.amount for h in hs.of_owner(b)] == [5] and a not in hs.by_owner
    hs.drop_mints(lambda m: m != mint)
    assert hs.values() == [] and hs.by_owner == {}
