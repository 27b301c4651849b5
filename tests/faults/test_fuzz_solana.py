"""Solana account bytes fuzzing: random, truncated and discriminator-prefixed garbage into the account decoders →
their DecodeError only; decoded markets with absurd amounts / expiries → an AdapterError with a reason or a sane
instrument (positive strike and size), never a ZeroDivision / Overflow escaping; Pyth accounts → a quote with a
positive price or an OracleFault."""

from __future__ import annotations

import contextlib
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from solders.pubkey import Pubkey

from chains.model import OracleQuote, Underlying
from chains.protocols.base import AdapterError
from chains.solana import decoders as d
from chains.solana.normalize import market_instrument, pyth_quote

FUZZ = settings(max_examples=200, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])
PREFIXES = [b"", d.PRICE_UPDATE_V2_DISCRIMINATOR, d.OPTION_MARKET_DISCRIMINATOR]
ACCOUNT_BYTES = st.builds(lambda p, body: p + body, st.sampled_from(PREFIXES), st.binary(max_size=400))
DECODERS = (d.decode_price_update_v2, d.decode_token_account, d.decode_mint, d.decode_option_market)
U64 = st.sampled_from([0, 1, 10**6, 2**63, 2**64 - 1]) | st.integers(0, 2**64 - 1)
I64 = st.sampled_from([-(2**63), -1, 0, 1, 2**63 - 1, 253402300800]) | st.integers(-(2**63), 2**63 - 1)


@FUZZ
@given(data=ACCOUNT_BYTES, cut=st.integers(0, 400))
def test_account_decoders_raise_their_decode_error_only(data: bytes, cut: int) -> None:
    for decode in DECODERS:
        for blob in (data, data[:cut]):
            with contextlib.suppress(d.DecodeError):
                decode(blob)


def _market(u: int, q: int, expiration: int) -> Any:
    key = Pubkey.default()
    return d.OptionMarket(key, key, key, key, u, q, expiration, key, key, key, key, False, 255)


@FUZZ
@given(u=U64, q=U64, expiration=I64, ud=st.integers(0, 30), qd=st.integers(0, 30),
       pair=st.sampled_from([("SOL", "USDC"), ("USDC", "SOL"), ("USDC", "USDC"), ("SOL", "BTC")]))
def test_absurd_market_values_are_rejected_with_a_reason_or_sane(u: int, q: int, expiration: int, ud: int, qd: int,
                                                                 pair: tuple[str, str]) -> None:
    try:
        inst, size = market_instrument("solana", Pubkey.default(), _market(u, q, expiration), pair[0], pair[1], ud, qd)
    except AdapterError as exc:
        assert str(exc)
        return
    assert inst.strike is not None and inst.strike > 0 and size > 0
    assert inst.expiry is not None


@FUZZ
@given(data=st.none() | ACCOUNT_BYTES)
def test_pyth_accounts_become_a_positive_quote_or_a_fault(data: bytes | None) -> None:
    out = pyth_quote("solana", Pubkey.default(), data, Underlying.SOL, 1)
    if isinstance(out, OracleQuote):
        assert out.price > 0 and out.confidence is not None and out.confidence >= Decimal(0)
