"""Strict ABI helpers: selectors, encoding, and decoding that fails loudly with a typed error.

Return data from a node can be truncated (a proxy, a wrong target, an EOA returns 0x) or padded with garbage.
`decode_exact` refuses both: static return types must have exactly their encoded length and clean padding
(decoded word by word here), dynamic ones must decode in eth_abi's strict mode and re-encode to the very same
bytes; every failure is a `DecodeError` naming the call.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from eth_abi import decode, encode
from eth_abi.exceptions import DecodingError
from eth_utils import keccak, to_checksum_address

from chains.model import EXACT
from chains.protocols.base import DecodeError

_WORD = 32
_STATIC_WORDS = {"address", "bool"}


@lru_cache(maxsize=512)
def selector(signature: str) -> bytes:
    """First 4 bytes of keccak(signature), e.g. ``selector("liquidate(uint256,uint256,uint80)")``."""
    return keccak(text=signature)[:4]


def topic(signature: str) -> str:
    """Event topic0 as 0x-hex."""
    return "0x" + keccak(text=signature).hex()


def encode_call(signature: str, types: Sequence[str], args: Sequence[Any]) -> bytes:
    return selector(signature) + encode(list(types), list(args))


def encode_uint_call(sel: bytes, *args: int) -> bytes:
    """selector + uint256 words without the generic encoder (hot path: one call per account per read)."""
    return sel + b"".join(a.to_bytes(32, "big") for a in args)


def _static_size(types: Sequence[str]) -> int | None:
    """Encoded size of a purely static type list, None when any member is dynamic."""
    total = 0
    for t in types:
        if t.startswith("(") and t.endswith(")"):
            inner = _split_tuple(t[1:-1])
            size = _static_size(inner)
            if size is None:
                return None
            total += size
        elif t in _STATIC_WORDS or t.startswith(("uint", "int")) or (t.startswith("bytes") and t != "bytes"):
            if t.endswith("]"):
                return None
            total += _WORD
        else:
            return None
    return total


@lru_cache(maxsize=256)
def _split_tuple(body: str) -> tuple[str, ...]:
    parts, depth, cur = [], 0, ""
    for ch in body:
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += ch == "("
        depth -= ch == ")"
        cur += ch
    if cur:
        parts.append(cur)
    return tuple(parts)


@lru_cache(maxsize=256)
def _static_plan(types: tuple[str, ...]) -> tuple[tuple[str, ...], int] | None:
    """Flattened word types and total size for a static type list (None when dynamic)."""
    size = _static_size(types)
    if size is None:
        return None
    flat: list[str] = []

    def walk(ts: Sequence[str]) -> None:
        for t in ts:
            if t.startswith("("):
                walk(_split_tuple(t[1:-1]))
            else:
                flat.append(t)

    walk(types)
    return tuple(flat), size


@lru_cache(maxsize=4096)
def checksum(raw20: bytes) -> str:
    """EIP-55 address of 20 raw bytes (cached: the same owners and tokens recur across thousands of rows)."""
    return to_checksum_address(raw20)


def _word(t: str, w: bytes, where: str, i: int) -> Any:
    """One strictly validated 32-byte word (the same rules as eth_abi's strict mode)."""
    if t == "address":
        if any(w[:12]):
            raise DecodeError(where, f"word {i}: address with non-zero padding")
        return checksum(w[12:])
    if t == "bool":
        v = int.from_bytes(w, "big")
        if v > 1:
            raise DecodeError(where, f"word {i}: bool must be 0 or 1, got {v}")
        return v == 1
    if t.startswith("uint"):
        v = int.from_bytes(w, "big")
        if v >> int(t[4:] or 256):
            raise DecodeError(where, f"word {i}: {t} value out of range (dirty high bits)")
        return v
    if t.startswith("int"):
        v = int.from_bytes(w, "big", signed=True)
        bits = int(t[3:] or 256)
        if not -(1 << (bits - 1)) <= v < 1 << (bits - 1):
            raise DecodeError(where, f"word {i}: {t} value out of range (bad sign extension)")
        return v
    n = int(t[5:])  # bytesN: left-aligned, zero right padding
    if any(w[n:]):
        raise DecodeError(where, f"word {i}: {t} with non-zero padding")
    return bytes(w[:n])


def _shape(types: Sequence[str]) -> tuple[Any, ...]:
    """Nesting of a static type list: None for a word, a nested tuple for a tuple type."""
    return tuple(_shape(_split_tuple(t[1:-1])) if t.startswith("(") else None for t in types)


def _regroup(shape: tuple[Any, ...], flat: Iterator[Any]) -> tuple[Any, ...]:
    return tuple(next(flat) if sub is None else _regroup(sub, flat) for sub in shape)


class StaticCodec:
    """A precompiled strict decoder for one static type list (the per-account hot path of every read)."""

    __slots__ = ("flat", "shape", "size", "types")

    def __init__(self, types: Sequence[str]) -> None:
        plan = _static_plan(tuple(types))
        if plan is None:
            raise ValueError(f"{list(types)} is not a static type list")
        self.types = tuple(types)
        self.flat, self.size = plan
        self.shape = _shape(self.types)

    def decode(self, data: bytes, where: str) -> tuple[Any, ...]:
        if not isinstance(data, bytes | bytearray):
            raise DecodeError(where, f"expected bytes, got {type(data).__name__}")
        if len(data) != self.size:
            raise DecodeError(where, f"expected {self.size} bytes of return data, got {len(data)}")
        words = [_word(t, data[i * _WORD:(i + 1) * _WORD], where, i) for i, t in enumerate(self.flat)]
        return _regroup(self.shape, iter(words))


@lru_cache(maxsize=256)
def static_codec(types: tuple[str, ...]) -> StaticCodec | None:
    return StaticCodec(types) if _static_plan(types) is not None else None


def decode_exact(types: Sequence[str], data: bytes, where: str) -> tuple[Any, ...]:
    """Decode `data` as `types`; a wrong length, bad padding or out-of-range value raises DecodeError.

    Static types (every view the adapters read per account) are decoded word by word here: eth_abi's generic
    decoder costs ~10x more, which matters at 10k accounts per read."""
    codec = static_codec(tuple(types))
    if codec is not None:
        return codec.decode(data, where)
    if not isinstance(data, bytes | bytearray):
        raise DecodeError(where, f"expected bytes, got {type(data).__name__}")
    if len(data) < _WORD or len(data) % _WORD:
        raise DecodeError(where, f"return data of {len(data)} bytes is not a whole number of 32-byte words")
    try:
        values = tuple(decode(list(types), bytes(data), strict=True))
        # Dynamic data can decode from non-canonical layouts (odd offsets, trailing words); Solidity never
        # returns those, so anything that does not re-encode to the same bytes is refused, not trusted.
        if encode(list(types), list(values)) != bytes(data):
            raise DecodeError(where, "non-canonical ABI encoding (unexpected offsets or trailing data)")
        return values
    except (DecodingError, OverflowError, ValueError, TypeError, UnicodeError) as exc:
        raise DecodeError(where, f"{type(exc).__name__}: {exc}") from None


def decode_uint256(data: bytes, where: str) -> int:
    """The commonest return value, without any generic machinery."""
    if not isinstance(data, bytes | bytearray) or len(data) != _WORD:
        raise DecodeError(where, f"expected 32 bytes of return data, got {len(data) if data else 0}")
    return int.from_bytes(data, "big")


def hex_to_bytes(value: Any, where: str) -> bytes:
    """0x-hex string (JSON-RPC) or bytes-like (web3 AttributeDict) to bytes."""
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):
        try:
            return bytes.fromhex(value.removeprefix("0x"))
        except ValueError:
            raise DecodeError(where, f"not hex: {value[:20]!r}") from None
    raise DecodeError(where, f"expected hex, got {type(value).__name__}")


def word_int(value: Any, where: str, signed: bool = False) -> int:
    """A 32-byte topic as an integer (two's complement when `signed`)."""
    raw = hex_to_bytes(value, where)
    if len(raw) != _WORD:
        raise DecodeError(where, f"a topic must be 32 bytes, got {len(raw)}")
    return int.from_bytes(raw, "big", signed=signed)


def topic_address(value: Any, where: str) -> str:
    raw = hex_to_bytes(value, where)
    if len(raw) != _WORD or any(raw[:12]):
        raise DecodeError(where, "an address topic must be 32 bytes with 12 zero bytes of padding")
    return to_checksum_address(raw[12:])


def log_int(log: dict[str, Any], key: str, where: str) -> int:
    value = log.get(key)
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value, 16)
        except ValueError:
            pass
    raise DecodeError(where, f"log field {key!r} missing or not a number: {value!r}")


def fixed(value: int, decimals: int) -> Decimal:
    """Exact Decimal of a signed fixed-point integer (1e18 SVI params, 8-decimal answers)."""
    return Decimal(value).scaleb(-decimals, context=EXACT)


def utc(ts: int, where: str) -> datetime:
    """Unix seconds to an aware UTC datetime; absurd values (beyond year 9999) are a DecodeError."""
    try:
        return datetime.fromtimestamp(ts, UTC)
    except (OverflowError, OSError, ValueError):
        raise DecodeError(where, f"timestamp {ts} is out of range") from None
