"""`bots.security.scan_artifacts`: finds a planted key in each encoding, in text and binary files (SQLite, gzip,
PNG-like bytes), reports where without ever carrying the secret, and finds nothing in a clean tree."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import sqlite3
from pathlib import Path

import base58
import pytest
from eth_account import Account
from solders.keypair import Keypair

from bots.security import Finding, needles, scan_artifacts

EVM_KEY = "0x" + bytes(range(101, 133)).hex()  # a throwaway test key, never funded anywhere
RAW = bytes.fromhex(EVM_KEY[2:])
SOL = Keypair.from_seed(bytes(range(7, 39)))
SOL_B58 = str(SOL)  # base58 of the 64-byte secret
SOL_RAW = bytes(SOL)


ENCODINGS = {
    "evm key hex": EVM_KEY.encode(),
    "evm key hex ": EVM_KEY[2:].upper().encode(),  # upper case, no 0x: same encoding name
    "evm key raw bytes": b"\x00\x01" + RAW + b"\xff",
    "evm key base64": base64.b64encode(RAW),
    "evm key base64url": base64.urlsafe_b64encode(RAW),
}


@pytest.mark.parametrize("name", list(ENCODINGS))
def test_each_evm_encoding_is_found_with_its_offset(tmp_path: Path, name: str) -> None:
    prefix = b"log line: something went wrong with "
    (tmp_path / "artifact.bin").write_bytes(prefix + ENCODINGS[name] + b" end")
    found = scan_artifacts([tmp_path], [EVM_KEY])
    assert [(f.encoding, f.secret) for f in found] == [(name.strip(), 0)]
    assert found[0].file == tmp_path / "artifact.bin"
    skip = 2 if name in ("evm key raw bytes", "evm key hex") else 0  # two bytes before the key / the "0x"
    assert found[0].offset == len(prefix) + skip


def test_solana_keypair_forms_are_found(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text(f"keypair={SOL_B58}")
    (tmp_path / "b.json").write_text(json.dumps({"wallet": list(SOL_RAW)}, indent=2))  # multi-line array
    (tmp_path / "c.json").write_text(json.dumps(list(SOL_RAW), separators=(",", ":")))
    (tmp_path / "d.bin").write_bytes(b"\x89PNG\r\n" + SOL_RAW[:32] + b"IEND")  # the seed alone, raw
    found = {(f.file.name, f.encoding) for f in scan_artifacts([tmp_path], [SOL_B58])}
    assert found == {("a.txt", "solana keypair base58"), ("b.json", "json byte array"),
                     ("c.json", "json byte array"), ("d.bin", "solana seed raw bytes")}
    # the JSON array form is a secret spelling too
    assert {f.file.name for f in scan_artifacts([tmp_path], [json.dumps(list(SOL_RAW))])} == {
        "a.txt", "b.json", "c.json", "d.bin"}


def test_secret_in_sqlite_and_in_a_rotated_gzip_log(tmp_path: Path) -> None:
    db = tmp_path / "rtrm.db"
    with sqlite3.connect(db) as conn:
        conn.execute("create table t (note text, blob blob)")
        conn.execute("insert into t values (?, ?)", ("ok", RAW))  # a blob column holding the raw key
        conn.execute("insert into t values (?, ?)", (f"oops {EVM_KEY[2:]}", b""))
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "rtrm.2024.log.gz").write_bytes(gzip.compress(f'{{"msg": "{EVM_KEY}"}}'.encode()))
    found = scan_artifacts([db, tmp_path / "logs"], [EVM_KEY])
    assert {(f.file.name, f.encoding) for f in found} == {
        ("rtrm.db", "evm key raw bytes"), ("rtrm.db", "evm key hex"),
        ("rtrm.2024.log.gz", "evm key hex (gunzipped)")}


def test_findings_never_carry_the_secret(tmp_path: Path) -> None:
    (tmp_path / "x.log").write_text(EVM_KEY)
    found = scan_artifacts([tmp_path], ["unrelated-secret-value", EVM_KEY])
    assert found and all(isinstance(f, Finding) and f.secret == 1 for f in found)
    shown = repr(found) + str(found)
    for form in (EVM_KEY, EVM_KEY[2:], base64.b64encode(RAW).decode()):
        assert form not in shown and form.lower() not in shown.lower()


def test_clean_tree_has_no_findings(tmp_path: Path) -> None:
    """Look-alikes: other keys, tx hashes, addresses, the public key, random bytes — none is the secret."""
    other = Account.create()
    addr = Account.from_key(EVM_KEY).address
    (tmp_path / "keeper.log").write_text(
        f"signer {addr} tx 0x{'ab' * 32} other key {other.key.hex()} pubkey {SOL.pubkey()}\n" * 50)
    noise = b"".join(hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(512))
    (tmp_path / "noise.bin").write_bytes(noise + RAW[:31])  # pseudo-random bytes, then all but the key's last byte
    with sqlite3.connect(tmp_path / "store.db") as conn:
        conn.execute("create table a (k text)")
        conn.executemany("insert into a values (?)", [(f"0x{i:064x}",) for i in range(200)])
    (tmp_path / "report.html").write_text(f"<p>{base58.b58encode(bytes(64)).decode()}</p>")
    assert scan_artifacts([tmp_path], [EVM_KEY, SOL_B58]) == []


def test_encodings_listed_per_secret_kind() -> None:
    assert {n.encoding for n in needles(EVM_KEY)} == {
        "evm key raw bytes", "evm key hex", "evm key base64", "evm key base64url"}
    assert "solana keypair base58" in {n.encoding for n in needles(SOL_B58)}
    assert {n.encoding for n in needles("hunter2-password")} == {"literal", "literal base64"}
