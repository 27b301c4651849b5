"""RPC payload fuzzing: wrong JSON types from a node, truncated / garbage return data, malformed logs → the
project's typed errors (RpcTransportError, DecodeError/AdapterError, MulticallError, OracleValueError), never an
IndexError / KeyError / TypeError / AttributeError escaping into the engine.

The node is the input here, so it is an in-process stand-in provider returning hypothesis-generated JSON.
"""

from __future__ import annotations

import contextlib
import inspect
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chains.evm.multicall import Call, MulticallError, MulticallReader, decode_aggregate3_fast
from chains.evm.rpc import RawRpc, RpcFailure, RpcTransportError
from chains.model import Underlying
from chains.protocols import cover_market, option_amm, oracles, portfolio_margin, uniswap_v3, vault_options
from chains.protocols.base import AdapterError

FUZZ = settings(max_examples=200, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])

JSON = st.recursive(st.none() | st.booleans() | st.integers(-(2**300), 2**300) | st.floats() | st.text(max_size=20)
                    | st.sampled_from(["0x", "0x1", "0xzz", "0x" + "f" * 64, "-0x1", ""]),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
                        st.sampled_from(["result", "error", "code", "message", "data", "baseFeePerGas", "reward",
                                         "hash", "jsonrpc", "id"]), inner, max_size=4), max_leaves=10)


class NodeStandIn:
    """Answers every request with the next fuzzed value (the response object itself, not just `result`)."""

    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers

    async def make_request(self, method: str, params: list[Any]) -> Any:
        return self.answers.pop(0) if self.answers else {"result": None}


def _rpc(answers: list[Any]) -> RawRpc:
    return RawRpc(SimpleNamespace(provider=NodeStandIn(answers)))  # type: ignore[arg-type]


CALLS = [("request", ("eth_call", [])), ("expect", ("eth_call", [])), ("nonce_counts", ("0x" + "11" * 20,)),
         ("fee_market", ()), ("head", ()), ("block_hash", (1,)), ("receipt", ("0x" + "22" * 32,)),
         ("transaction", ("0x" + "22" * 32,))]


@FUZZ
@given(answers=st.lists(JSON | st.builds(lambda r: {"jsonrpc": "2.0", "id": 1, "result": r}, JSON)
                        | st.builds(lambda e: {"jsonrpc": "2.0", "id": 1, "error": e}, JSON), min_size=1, max_size=3))
async def test_raw_rpc_turns_any_node_answer_into_a_value_or_a_transport_error(answers: list[Any]) -> None:
    for name, args in CALLS:
        with contextlib.suppress(RpcTransportError):
            await getattr(_rpc(list(answers)), name)(*args)


@FUZZ
@given(result=JSON | st.text(alphabet="0123456789abcdefx", max_size=300), n=st.integers(1, 3))
async def test_multicall_reader_with_garbage_replies_is_a_result_or_a_multicall_error(result: Any, n: int) -> None:
    class Stand:
        async def request(self, method: str, params: list[Any]) -> Any:
            return result

        async def expect(self, method: str, params: list[Any]) -> Any:
            return result

    reader = MulticallReader(Stand(), batch_size=n)
    try:
        out = await reader.read([Call("0x" + "33" * 20, b"\x01\x02")] * n)
        assert len(out) == n
    except MulticallError:
        pass


@FUZZ
@given(data=st.binary(max_size=400) | st.text(max_size=200))
def test_aggregate3_decoder_on_garbage_raises_multicall_error(data: bytes | str) -> None:
    hexed = data if isinstance(data, str) else "0x" + data.hex()
    with contextlib.suppress(MulticallError):
        decode_aggregate3_fast(hexed)


# ------------------------------------------------------------------------------------------- return data
def _words(draw: Any) -> bytes:
    n = draw(st.integers(0, 16))
    word = st.sampled_from([bytes(32), (1).to_bytes(32, "big"), b"\xff" * 32, (2**255).to_bytes(32, "big"),
                            (32).to_bytes(32, "big"), (10**30).to_bytes(32, "big")]) | st.binary(min_size=32,
                                                                                               max_size=32)
    body = b"".join(draw(word) for _ in range(n))
    return body + draw(st.binary(max_size=3)) if draw(st.booleans()) else body


WORDS = st.composite(lambda draw: _words(draw))()
DECODERS = [f for m in (vault_options, portfolio_margin, cover_market, option_amm, oracles, uniswap_v3)
            for n, f in vars(m).items() if n.startswith("decode_") and inspect.isfunction(f)
            and f.__module__ == m.__name__]


def _call(fn: Any, data: bytes) -> Any:
    kw: dict[str, Any] = {}
    for name in inspect.signature(fn).parameters:
        if name == "data":
            kw[name] = data
        elif name.endswith("_id"):
            kw[name] = 7
        elif name in ("liveness", "decimals"):
            kw[name] = 6
        elif name == "where":
            kw[name] = "fuzz"
    return fn(**kw)


def test_every_decoder_is_fuzzed() -> None:
    assert len(DECODERS) >= 15, [f.__name__ for f in DECODERS]


@pytest.mark.parametrize("fn", DECODERS, ids=lambda f: f"{f.__module__.rsplit('.', 1)[1]}.{f.__name__}")
@settings(FUZZ, max_examples=60)
@given(data=WORDS)
def test_return_data_decoders_raise_decode_errors_only(fn: Any, data: bytes) -> None:
    with contextlib.suppress(AdapterError):
        _call(fn, data)


# ------------------------------------------------------------------------------------------- logs
TOPIC = st.sampled_from(["0x" + "00" * 32, "0x" + "ff" * 32, "0x12", "zz", "", "0x" + "00" * 12 + "11" * 20]) \
    | st.binary(min_size=0, max_size=40).map(lambda b: "0x" + b.hex()) | st.integers() | st.none()
LOGS = st.fixed_dictionaries({}, optional={
    "topics": st.lists(TOPIC, max_size=5) | JSON, "data": TOPIC | WORDS.map(lambda b: "0x" + b.hex()) | JSON,
    "blockNumber": st.sampled_from(["0x10", "0xzz", None, 5, -1, "10"]) | JSON,
    "transactionHash": TOPIC, "logIndex": TOPIC})
FEED = oracles.ChainlinkFeed("0x" + "44" * 20, Underlying.ETH, decimals=8)
VOL = oracles.VolFeedSpec("0x" + "55" * 20, {"0x" + "11" * 20: Underlying.ETH})


@FUZZ
@given(log=LOGS)
def test_log_decoders_on_malformed_logs_raise_decode_errors_only(log: dict[str, Any]) -> None:
    for decode in (lambda: oracles.answer_updated_quote(log, FEED, "c"), lambda: oracles.slice_updated(log, VOL, "c")):
        with contextlib.suppress(AdapterError):
            decode()


async def test_rpc_failure_code_of_a_wrong_type_is_still_a_failure() -> None:
    out = await _rpc([{"error": {"code": "not-a-number", "message": ["x"], "data": 5}}]).request("eth_call", [])
    assert isinstance(out, RpcFailure) and out.code == 0
