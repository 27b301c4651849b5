"""Scan run artifacts (logs, SQLite files, JSON, HTML, images, captured MQTT) for key material.

Why a byte-level scanner: redaction in the logger covers what passes through the logger; a key can also leak
through a database row, a report, a bus payload or a traceback written by something else. This module looks at
the bytes every artifact holds, in every common encoding of each secret, and says *where* (file, offset,
encoding) — never *what*: a Finding carries the secret's index, not the secret, so a failing test or a report
listing findings cannot leak it either. Rotated logs compressed with gzip are decompressed and scanned too.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import base58

_HEX = re.compile(r"^(0x)?[0-9a-fA-F]+$")


@dataclass(frozen=True, slots=True)
class Finding:
    """One occurrence of a secret: the file, the byte offset, the encoding it was found in and which secret
    (its index in the list given to the scan). The secret itself is deliberately absent."""

    file: Path
    offset: int
    encoding: str
    secret: int


@dataclass(frozen=True, slots=True)
class _Needle:
    encoding: str
    pattern: re.Pattern[bytes]
    casefold: bool = False  # searched in the lower-cased bytes (hex in any letter case)


def _literal(encoding: str, raw: bytes, casefold: bool = False) -> _Needle:
    return _Needle(encoding, re.compile(re.escape(raw.lower() if casefold else raw)), casefold)


def _raw_forms(label: str, raw: bytes) -> list[_Needle]:
    """Raw bytes, hex (any case, with or without 0x), standard and URL-safe base64 (no padding)."""
    return [_literal(f"{label} raw bytes", raw),
            _literal(f"{label} hex", raw.hex().encode(), casefold=True),
            _literal(f"{label} base64", base64.b64encode(raw).rstrip(b"=")),
            _literal(f"{label} base64url", base64.urlsafe_b64encode(raw).rstrip(b"="))]


def _json_array(raw: bytes) -> _Needle:
    body = rb"\s*,\s*".join(str(b).encode() for b in raw)
    return _Needle("json byte array", re.compile(rb"\[\s*" + body + rb"\s*\]"))


def needles(secret: str) -> list[_Needle]:
    """Every encoding searched for one secret: an EVM key (64 hex digits), a Solana keypair (base58 of 64 bytes
    or its JSON byte array), or any other string (searched literally and as base64)."""
    s = secret.strip()
    if _HEX.match(s) and len(s.removeprefix("0x")) == 64:
        return _raw_forms("evm key", bytes.fromhex(s.removeprefix("0x")))
    keypair = _solana_keypair(s)
    if keypair is not None:
        b58 = base58.b58encode(keypair)
        return [_literal("solana keypair base58", b58), _json_array(keypair),
                *_raw_forms("solana keypair", keypair), *_raw_forms("solana seed", keypair[:32])]
    raw = s.encode()
    return [_literal("literal", raw), _literal("literal base64", base64.b64encode(raw).rstrip(b"="))]


def _solana_keypair(s: str) -> bytes | None:
    if s.startswith("["):
        try:
            values = json.loads(s)
        except ValueError:
            return None
        if isinstance(values, list) and len(values) == 64 and all(isinstance(v, int) and 0 <= v < 256
                                                                    for v in values):
            return bytes(values)
        return None
    try:
        raw = base58.b58decode(s)
    except ValueError:
        return None
    return raw if len(raw) == 64 else None


def _files(paths: Sequence[Path]) -> Iterator[Path]:
    for p in paths:
        if p.is_file():
            yield p
        elif p.is_dir():
            yield from sorted(f for f in p.rglob("*") if f.is_file())


def _contents(path: Path) -> Iterator[tuple[str, bytes]]:
    """The file's bytes, plus its decompressed bytes when it is gzip/zlib data (rotated logs)."""
    data = path.read_bytes()
    yield "", data
    if data[:2] == b"\x1f\x8b":
        try:
            yield " (gunzipped)", gzip.decompress(data)
        except (OSError, EOFError, zlib.error):
            return


def scan_artifacts(paths: Sequence[Path], secrets: Sequence[str]) -> list[Finding]:
    """Every occurrence of any secret, in any of its encodings, in any file under `paths` (recursively)."""
    per_secret = [needles(s) for s in secrets if s.strip()]
    found: list[Finding] = []
    for path in _files(paths):
        try:
            contents = list(_contents(path))
        except OSError:
            continue  # vanished or unreadable (a socket, a lock file): nothing to read
        for suffix, data in contents:
            lowered = data.lower()
            for index, group in enumerate(per_secret):
                for needle in group:
                    haystack = lowered if needle.casefold else data
                    found.extend(Finding(path, m.start(), needle.encoding + suffix, index)
                                 for m in needle.pattern.finditer(haystack))
    return found
