"""Property tests of the pure decoders: valid encodings round-trip exactly; truncated, extended or random data
raises DecodeError (never another exception); whatever does decode re-encodes to the very same bytes, so no
malformed input can turn into a silently wrong value."""

from __future__ import annotations

from decimal import Decimal

import pytest
from eth_abi import encode
from hypothesis import given, settings
from hypothesis import strategies as st

from chains.model import EXACT, Underlying
from chains.protocols.abi import decode_exact, selector
from chains.protocols.base import CallData, DecodeError
from chains.protocols.cover_market import decode_claim, decode_cover
from chains.protocols.option_amm import decode_amm_series
from chains.protocols.oracles import (
    ANSWER_UPDATED,
    SLICE_UPDATED,
    ChainlinkFeed,
    PythPrice,
    Round,
    VolFeedSpec,
    answer_updated_quote,
    chainlink_quote,
    decode_address_list,
    decode_pyth_price,
    decode_round,
    decode_svi,
    pyth_quote,
    slice_updated,
)
from chains.protocols.portfolio_margin import decode_pm_series
from chains.protocols.vault_options import (
    Action,
    ActionType,
    build_liquidate,
    build_mint_and_liquidate,
    decode_series,
    decode_vault,
)

U = lambda bits: st.integers(0, 2**bits - 1)  # noqa: E731
S = lambda bits: st.integers(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)  # noqa: E731
ADDR = st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())
FEED = "0x" + "11" * 20

rounds = st.tuples(U(80), S(256), U(256), U(256), U(80))
pyth_prices = st.tuples(S(64), U(64), S(32), U(256))
svis = st.tuples(S(256), S(256), S(256), S(256), S(256), U(256), U(64))
vaults = st.tuples(ADDR, U(64), st.booleans(), U(256), U(256), U(256))



def _named(fn, name: str):  # type: ignore[no-untyped-def]
    fn.__name__ = name
    return fn


covers = st.tuples(ADDR, ADDR, U(64), ADDR, U(255), st.just(0), U(256), U(64), U(64), U(32), st.booleans())
claims = st.tuples(U(256), ADDR, U(64), st.binary(min_size=32, max_size=32), U(32), U(64), st.integers(0, 4),
                   U(256), U(256), ADDR, U(256))
pm_series = st.tuples(ADDR, U(64), st.booleans(), st.integers(1, 2**256 - 1))
amm_series = st.tuples(st.integers(1, 2**256 - 1), U(64), st.booleans(), st.booleans(), U(256), U(256), U(256))

DECODERS = [
    (decode_round, ["uint80", "int256", "uint256", "uint256", "uint80"], rounds, False),
    (decode_pyth_price, ["(int64,uint64,int32,uint256)"], pyth_prices, True),
    (decode_svi, ["(int256,int256,int256,int256,int256,uint256,uint64)"], svis, True),
    (decode_vault, ["(address,uint64,bool,uint256,uint256,uint256)"], vaults, True),
    (_named(lambda d: decode_cover(0, d), "decode_cover"),
     ["(address,address,uint64,address,uint256,uint256,uint256,uint64,uint64,uint32,bool)"], covers, True),
    (_named(lambda d: decode_claim(0, d, 7200, 6), "decode_claim"),
     ["(uint256,address,uint64,bytes32,uint32,uint64,uint8,uint256,uint256,address,uint256)"], claims, True),
    (_named(lambda d: decode_pm_series(1, d), "decode_pm_series"), ["(address,uint64,bool,uint256)"], pm_series,
     True),
    (_named(lambda d: decode_amm_series(0, d), "decode_amm_series"),
     ["(uint256,uint64,bool,bool,uint256,uint256,uint256)"], amm_series, True),
]


def _enc(types: list[str], value: tuple, wrapped: bool) -> bytes:
    return encode(types, [value] if wrapped else list(value))


@pytest.mark.parametrize("decoder,types,strategy,wrapped", DECODERS, ids=lambda x: getattr(x, "__name__", ""))
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_truncated_or_extended_data_is_a_decode_error(decoder, types, strategy, wrapped, data) -> None:
    raw = _enc(types, data.draw(strategy), wrapped)
    cut = data.draw(st.integers(0, len(raw) - 1))
    with pytest.raises(DecodeError):
        decoder(raw[:cut])
    with pytest.raises(DecodeError):
        decoder(raw + data.draw(st.binary(min_size=1, max_size=64)))


@pytest.mark.parametrize("decoder,types,strategy,wrapped", DECODERS, ids=lambda x: getattr(x, "__name__", ""))
@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_random_words_either_fail_typed_or_round_trip(decoder, types, strategy, wrapped, data) -> None:
    size = len(_enc(types, data.draw(strategy), wrapped))
    words = [data.draw(st.sampled_from([bytes(32), b"\xff" * 32, bytes(31) + b"\x01", bytes(24) + b"\x80" + bytes(7)])
                       | st.binary(min_size=32, max_size=32)) for _ in range(size // 32)]
    raw = b"".join(words)
    try:
        decoded = decode_exact(types, raw, "x")
    except DecodeError:
        return
    assert encode(types, list(decoded)) == raw  # accepted ⇒ the bytes meant exactly this value
    try:
        decoder(raw)
    except DecodeError as exc:  # semantic refusals (e.g. a short without a series) are typed too
        assert exc.where


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=200))
def test_dynamic_decoder_never_crashes_and_is_canonical(raw: bytes) -> None:
    try:
        out = decode_address_list(raw, "underlyings")
    except DecodeError:
        return
    assert encode(["address[]"], [out]) == raw


@settings(max_examples=60, deadline=None)
@given(st.lists(ADDR, max_size=5), st.binary(min_size=32, max_size=32))
def test_dynamic_trailing_garbage_is_refused(addrs: list[str], extra: bytes) -> None:
    raw = encode(["address[]"], [addrs])
    assert [a.lower() for a in decode_address_list(raw, "u")] == addrs
    with pytest.raises(DecodeError, match="non-canonical"):
        decode_address_list(raw + extra, "u")


@settings(max_examples=100, deadline=None)
@given(rounds, st.integers(0, 18))
def test_chainlink_quote_is_exact_or_refused(r: tuple, decimals: int) -> None:
    rnd = decode_round(encode(["uint80", "int256", "uint256", "uint256", "uint80"], list(r)))
    assert rnd == Round(*r)
    try:
        q = chainlink_quote(rnd, decimals, Underlying.ETH, "c", 1, FEED)
    except DecodeError as exc:
        assert rnd.answer <= 0 or "timestamp" in str(exc)
        return
    assert q.price > 0 and q.price.scaleb(decimals, context=EXACT) == rnd.answer  # exact, no rounding


@settings(max_examples=100, deadline=None)
@given(pyth_prices)
def test_pyth_expo_applied_exactly(p: tuple) -> None:
    price = decode_pyth_price(encode(["(int64,uint64,int32,uint256)"], [p]))
    assert price == PythPrice(*p)
    try:
        q = pyth_quote(price, Underlying.SOL, "c", 1, "id")
    except DecodeError:
        assert price.price <= 0 or price.publish_time > 253402300799 or abs(price.expo) > 36
        return
    assert q.price.scaleb(-price.expo, context=EXACT) == price.price and q.confidence is not None
    assert q.confidence.scaleb(-price.expo, context=EXACT) == price.conf


def _log(topics: list[str], data: bytes, block: int = 7) -> dict:
    return {"address": FEED, "topics": topics, "data": "0x" + data.hex(), "blockNumber": hex(block)}


def test_log_decoders_refuse_malformed_logs() -> None:
    feed = ChainlinkFeed(FEED, Underlying.ETH, 8)
    good = _log([ANSWER_UPDATED, "0x" + (300012345678).to_bytes(32, "big").hex(), "0x" + (5).to_bytes(32, "big").hex()],
                encode(["uint256"], [1_700_000_000]))
    q = answer_updated_quote(good, feed, "c")
    assert q.price == Decimal("3000.12345678") and q.block == 7
    negative = dict(good, topics=[ANSWER_UPDATED, "0x" + (-1).to_bytes(32, "big", signed=True).hex(), good["topics"][2]])
    for bad in (dict(good, topics=good["topics"][:2]), dict(good, data="0x1234"), dict(good, data="zz"),
                dict(good, blockNumber=None), negative, dict(good, topics=[ANSWER_UPDATED, "0x12", "0x34"])):
        with pytest.raises(DecodeError):
            answer_updated_quote(bad, feed, "c")
    with pytest.raises(DecodeError, match="decimals unknown"):
        answer_updated_quote(good, ChainlinkFeed(FEED, Underlying.ETH), "c")
    spec = VolFeedSpec(FEED, {"0x" + "22" * 20: Underlying.ETH})
    body = encode(["int256"] * 5 + ["uint256", "uint64"], [1, 2, 3, 4, 5, 6, 7])
    ok = _log([SLICE_UPDATED, "0x" + bytes(12).hex() + "22" * 20, "0x" + (2_000_000_000).to_bytes(32, "big").hex()],
              body)
    assert slice_updated(ok, spec, "c").sigma == Decimal("5E-18")
    dirty_addr = dict(ok, topics=[SLICE_UPDATED, "0x" + "ff" * 12 + "22" * 20, ok["topics"][2]])
    for bad in (dirty_addr, dict(ok, data="0x" + body[:-1].hex()), dict(ok, topics=ok["topics"][:1])):
        with pytest.raises(DecodeError):
            slice_updated(bad, spec, "c")


def test_series_decoder_and_builders_validate() -> None:
    raw = encode(["(address,address,uint64,bool,uint256)"], [("0x" + "33" * 20, "0x" + "44" * 20, 9, True, 10**21)])
    s = decode_series(3, raw)
    assert s.series_id == 3 and s.strike == 10**21 and s.is_put
    with pytest.raises(DecodeError, match="zero strike"):
        decode_series(3, encode(["(address,address,uint64,bool,uint256)"], [("0x" + "33" * 20, "0x" + "44" * 20, 9,
                                                                              True, 0)]))
    call = build_liquidate(FEED, 4, 10**8, (1 << 64) | 3)
    assert isinstance(call, CallData) and call.to == FEED and call.value == 0
    assert call.data[:4] == selector("liquidate(uint256,uint256,uint80)")
    assert decode_exact(["uint256", "uint256", "uint80"], call.data[4:], "args") == (4, 10**8, (1 << 64) | 3)
    for args in ((-1, 1, 1), (1, 1, 1 << 80), (True, 1, 1)):
        with pytest.raises(ValueError):
            build_liquidate(FEED, *args)
    with pytest.raises(ValueError, match=">= 0"):
        Action(ActionType.DEPOSIT, amount=-1).as_tuple()
    assert len(build_mint_and_liquidate(FEED, 1, 10, 1, 10**8, 5).data) == 4 + 32 * 2 + 4 * 5 * 32


# ---------------------------------------------------------------------------------------------- codecs vs eth_abi
STATIC_LISTS = [
    ["(address,uint64,bool,uint256,uint256,uint256)"],
    ["uint80", "int256", "uint256", "uint256", "uint80"],
    ["(int64,uint64,int32,uint256)"],
    ["bytes4", "int8", "uint8", "address"],
]


@pytest.mark.parametrize("types", STATIC_LISTS, ids=lambda t: ",".join(t))
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_fast_static_decoder_agrees_with_eth_abi_strict(types: list[str], data) -> None:
    from eth_abi import decode as abi_decode

    words = data.draw(st.lists(st.sampled_from([bytes(32), b"\xff" * 32, bytes(31) + b"\x01", b"\x80" + bytes(31),
                                                bytes(4) + b"\xff" * 28, bytes(12) + b"\x01" * 20])
                               | st.binary(min_size=32, max_size=32), min_size=9, max_size=9))
    size = 32 * sum(len(t.strip("()").split(",")) for t in types)
    raw = b"".join(words)[:size]
    try:
        expected = abi_decode(types, raw, strict=True)
    except Exception:
        expected = None
    try:
        got = decode_exact(types, raw, "x")
    except DecodeError:
        got = None
    norm = lambda v: tuple(norm(x) for x in v) if isinstance(v, tuple) else (v.lower() if isinstance(v, str) else v)  # noqa: E731
    assert (got is None) == (expected is None)
    if got is not None:
        assert norm(got) == norm(tuple(expected))


items_st = st.lists(st.tuples(st.booleans(), st.binary(max_size=80)), max_size=6)


@settings(max_examples=150, deadline=None)
@given(items_st, st.data())
def test_fast_aggregate3_codec_matches_eth_abi(items: list[tuple[bool, bytes]], data) -> None:
    from eth_abi import decode as abi_decode

    from chains.evm.multicall import Call, decode_aggregate3_fast, encode_aggregate3, encode_aggregate3_fast

    calls = [Call("0x" + bytes([i + 1]) .hex() * 20, d) for i, (_, d) in enumerate(items)]
    assert encode_aggregate3_fast(calls) == encode_aggregate3(calls)
    raw = encode(["(bool,bytes)[]"], [items])
    assert [(r.ok, r.data) for r in decode_aggregate3_fast("0x" + raw.hex())] == items
    # a corrupted reply: the fast path must agree with eth_abi or raise, never invent results
    if raw:
        pos = data.draw(st.integers(0, len(raw) - 1))
        bad = raw[:pos] + bytes([raw[pos] ^ data.draw(st.integers(1, 255))]) + raw[pos + 1:]
        try:
            expected = [(bool(o), bytes(d)) for o, d in abi_decode(["(bool,bytes)[]"], bad, strict=True)[0]]
        except Exception:
            expected = None
        try:
            got = [(r.ok, r.data) for r in decode_aggregate3_fast("0x" + bad.hex())]
        except Exception:
            got = None
        assert got is None or got == expected


def test_registry_lists_every_protocol_and_factories_validate_config() -> None:
    from chains.protocols.base import AdapterError
    from chains.protocols.registry import REGISTRY, create_adapter

    assert set(REGISTRY) == {"vault_options", "portfolio_margin", "cover_market", "option_amm", "uniswap_v3"}
    for name in REGISTRY:
        with pytest.raises(AdapterError, match="config needs"):
            create_adapter(name, "base", None, {})  # type: ignore[arg-type]


@settings(max_examples=100, deadline=None)
@given(covers | st.tuples(ADDR, ADDR, U(64), ADDR, U(256), U(256), U(256), U(64), U(64), U(32), st.booleans()))
def test_cover_decoder_valid_values_round_trip(c: tuple) -> None:
    raw = encode(["(address,address,uint64,address,uint256,uint256,uint256,uint64,uint64,uint32,bool)"], [c])
    try:
        rec = decode_cover(5, raw)
    except DecodeError as exc:
        assert c[5] > c[4] and "exceeds" in str(exc)  # paid out more than the cover: refused, not trusted
        return
    assert (rec.holder.lower(), rec.amount, rec.paid_out, rec.released) == (c[0], c[4], c[5], c[10])


def test_mid_price_is_exact_for_a_known_pool_price() -> None:
    from chains.protocols.uniswap_v3 import mid_price

    # WETH (18 dec, token0) at 3000 USDC (6 dec): raw token1/token0 = 3000e6/1e18 = 3e-9; sqrtP·2^96 = 2^96·sqrt(3e-9)
    sqrt_p = 4339505179874779489431521  # floor(2^96 · sqrt(3e-9))
    price = mid_price(sqrt_p, True, 18, 6)
    assert abs(price - 3000) < Decimal("1e-9")
    assert abs(mid_price(sqrt_p, False, 6, 18) * price - 1) < Decimal("1e-30")
    with pytest.raises(DecodeError):
        mid_price(0, True, 18, 6)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(list(ActionType)), U(64), U(64), U(128), U(80)), min_size=1, max_size=6))
def test_operate_call_data_decodes_back_to_the_actions(rows: list[tuple]) -> None:
    from eth_abi import decode as abi_decode

    from chains.protocols.vault_options import build_operate

    call = build_operate(FEED, [Action(k, v, s, a, r) for k, v, s, a, r in rows])
    assert call.data[:4] == selector("operate((uint8,uint256,uint256,uint256,uint80)[])")
    (decoded,) = abi_decode(["(uint8,uint256,uint256,uint256,uint80)[]"], call.data[4:])
    assert [tuple(d) for d in decoded] == [(int(k), v, s, a, r) for k, v, s, a, r in rows]
