"""Reading and validating JSON-RPC positional params (pubkeys, configs, commitments, filters).

Every accessor raises a -32602 :class:`RpcError` that names the parameter and what was wrong with it,
so clients get the same kind of answer a real node gives instead of a server-side traceback.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import base58
from solders.pubkey import Pubkey
from solders.signature import Signature

from .errors import invalid_params

COMMITMENTS = frozenset(
    {"processed", "confirmed", "finalized", "recent", "single", "singleGossip", "root", "max"}
)
ACCOUNT_ENCODINGS = frozenset({"binary", "base58", "base64", "jsonParsed"})


def parse_pubkey(value: Any, where: str) -> Pubkey:
    if not isinstance(value, str):
        raise invalid_params(f"{where}: expected a base58 public key string, got {type(value).__name__}")
    try:
        raw = base58.b58decode(value)
    except ValueError:
        raise invalid_params(f"{where}: not valid base58: {value[:64]!r}") from None
    if len(raw) != 32:
        raise invalid_params(f"{where}: a public key is 32 bytes, {value[:64]!r} decodes to {len(raw)}")
    return Pubkey.from_bytes(raw)


def parse_signature(value: Any, where: str) -> Signature:
    if not isinstance(value, str):
        raise invalid_params(f"{where}: expected a base58 signature string, got {type(value).__name__}")
    try:
        raw = base58.b58decode(value)
    except ValueError:
        raise invalid_params(f"{where}: not valid base58: {value[:100]!r}") from None
    if len(raw) != 64:
        raise invalid_params(f"{where}: a signature is 64 bytes, {value[:100]!r} decodes to {len(raw)}")
    return Signature.from_bytes(raw)


def decode_bytes(value: Any, encoding: str, where: str) -> bytes:
    """Decode base58/base64 text (memcmp bytes, serialized transactions, admin account data)."""
    if not isinstance(value, str):
        raise invalid_params(f"{where}: expected a {encoding} string, got {type(value).__name__}")
    try:
        if encoding == "base64":
            return base64.b64decode(value, validate=True)
        if encoding == "base58":
            return base58.b58decode(value)
    except ValueError:
        raise invalid_params(f"{where}: not valid {encoding}") from None
    raise invalid_params(f"{where}: unsupported encoding {encoding!r} (use base58 or base64)")


def as_uint(value: Any, where: str, maximum: int = 2**64 - 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise invalid_params(f"{where}: expected an integer in [0, {maximum}], got {value!r}")
    return value


@dataclass(frozen=True)
class DataSlice:
    offset: int
    length: int

    def apply(self, data: bytes) -> bytes:
        return data[self.offset : self.offset + self.length]


@dataclass(frozen=True)
class Filter:
    """A getProgramAccounts filter: exact data size, or bytes equal at an offset."""

    data_size: int | None = None
    offset: int = 0
    bytes_: bytes = b""

    def matches(self, data: bytes) -> bool:
        if self.data_size is not None:
            return len(data) == self.data_size
        return data[self.offset : self.offset + len(self.bytes_)] == self.bytes_


class Params:
    """Positional params of one call, with typed accessors that report which param is wrong."""

    def __init__(self, method: str, raw: Any) -> None:
        if raw is None:
            raw = []
        if not isinstance(raw, list):
            raise invalid_params(f"{method} takes positional params (a JSON array), got {type(raw).__name__}")
        self.method = method
        self.raw = raw

    def _name(self, index: int, name: str) -> str:
        return f"param {index} ({name}) of {self.method}"

    def get(self, index: int) -> Any:
        return self.raw[index] if index < len(self.raw) else None

    def require(self, index: int, name: str) -> Any:
        if index >= len(self.raw):
            raise invalid_params(f"missing {self._name(index, name)}")
        return self.raw[index]

    def max_count(self, count: int) -> None:
        if len(self.raw) > count:
            raise invalid_params(f"{self.method} takes at most {count} params, got {len(self.raw)}")

    def pubkey(self, index: int, name: str = "pubkey") -> Pubkey:
        return parse_pubkey(self.require(index, name), self._name(index, name))

    def uint(self, index: int, name: str) -> int:
        return as_uint(self.require(index, name), self._name(index, name))

    def config(self, index: int) -> dict[str, Any]:
        """The optional config object; a bare commitment string (legacy form) is accepted too."""
        value = self.get(index)
        where = self._name(index, "config")
        if value is None:
            return {}
        if isinstance(value, str):
            value = {"commitment": value}
        if not isinstance(value, dict):
            raise invalid_params(f"{where}: expected an object, got {type(value).__name__}")
        commitment = value.get("commitment")
        if commitment is not None and commitment not in COMMITMENTS:
            raise invalid_params(f"{where}: unknown commitment {commitment!r}")
        mcs = value.get("minContextSlot")
        if mcs is not None:
            as_uint(mcs, f"{where}.minContextSlot")
        return value

    def encoding(self, config: dict[str, Any], index: int, default: str, allowed: frozenset[str]) -> str:
        enc = config.get("encoding", default) or default
        if enc not in allowed:
            raise invalid_params(
                f"{self._name(index, 'config')}.encoding: {enc!r} not supported (use one of {sorted(allowed)})"
            )
        return str(enc)

    def data_slice(self, config: dict[str, Any], index: int) -> DataSlice | None:
        ds = config.get("dataSlice")
        if ds is None:
            return None
        where = f"{self._name(index, 'config')}.dataSlice"
        if not isinstance(ds, dict):
            raise invalid_params(f"{where}: expected {{offset, length}}")
        if config.get("encoding") == "jsonParsed":
            raise invalid_params(f"{where}: sliced account data can only be encoded using base58 or base64")
        return DataSlice(
            as_uint(ds.get("offset"), f"{where}.offset"), as_uint(ds.get("length"), f"{where}.length")
        )

    def filters(self, config: dict[str, Any], index: int) -> list[Filter]:
        raw = config.get("filters")
        where = f"{self._name(index, 'config')}.filters"
        if raw is None:
            return []
        if not isinstance(raw, list) or len(raw) > 4:
            raise invalid_params(f"{where}: expected an array of at most 4 filters")
        out: list[Filter] = []
        for i, f in enumerate(raw):
            fw = f"{where}[{i}]"
            if not isinstance(f, dict) or len(f) != 1:
                raise invalid_params(f"{fw}: expected {{dataSize: n}} or {{memcmp: {{offset, bytes}}}}")
            if "dataSize" in f:
                out.append(Filter(data_size=as_uint(f["dataSize"], f"{fw}.dataSize")))
            elif "memcmp" in f and isinstance(f["memcmp"], dict):
                m = f["memcmp"]
                enc = m.get("encoding", "base58")
                data = decode_bytes(m.get("bytes"), enc, f"{fw}.memcmp.bytes")
                if enc == "base58" and len(str(m.get("bytes"))) > 175:
                    raise invalid_params(f"{fw}.memcmp.bytes: base58 filter data is limited to 128 bytes")
                out.append(Filter(offset=as_uint(m.get("offset"), f"{fw}.memcmp.offset"), bytes_=data))
            else:
                raise invalid_params(
                    f"{fw}: unsupported filter {sorted(f)} (dataSize and memcmp are supported)"
                )
        return out
