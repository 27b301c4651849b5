"""Redaction: a private key, a mnemonic or a secret env value never reaches stderr or the JSON file."""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from loguru import logger

from bots.logging import Redactor, configure_logging, register_secret

KEY = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"  # random test value, not a real account
MNEMONIC = "abandon ability able about above absent absorb abstract absurd abuse access accident"


@pytest.fixture
def sinks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[io.StringIO, Path]]:
    monkeypatch.setenv("RTRM_SIGNER_PRIVATE_KEY", "hunter2-very-secret")
    monkeypatch.setenv("RTRM_SLOT", "hunter3-not-a-secret-name")
    stream, path = io.StringIO(), tmp_path / "logs" / "rtrm.jsonl"
    configure_logging(level="DEBUG", json_path=path, stream=stream)
    yield stream, path
    configure_logging(level="WARNING")


def _json_lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_key_in_message_extra_and_exception_is_redacted(sinks: tuple[io.StringIO, Path]) -> None:
    stream, path = sinks
    logger.bind(signer=KEY, nested={"keys": [KEY]}).info("loaded signer {}", KEY)
    try:
        raise ValueError(f"cannot parse key {KEY}")
    except ValueError:
        logger.exception("signing failed")
    err, raw = stream.getvalue(), path.read_text()
    for text in (err, raw):
        assert KEY not in text and KEY[2:] not in text
        assert "0x4c08…[REDACTED:hex64]" in text
    assert "Traceback" in err and "ValueError: cannot parse key 0x4c08…[REDACTED:hex64]" in err
    first, second = _json_lines(path)
    assert first["extra"] == {
        "signer": "0x4c08…[REDACTED:hex64]",
        "nested": {"keys": ["0x4c08…[REDACTED:hex64]"]},
    }
    exc = second["exception"]
    assert (
        isinstance(exc, dict)
        and exc["type"] == "ValueError"
        and "ValueError: cannot parse key" in exc["traceback"]
    )
    assert second["level"] == "ERROR" and second["message"] == "signing failed"


def test_exception_with_custom_str_and_chained_cause(sinks: tuple[io.StringIO, Path]) -> None:
    stream, path = sinks

    class Leaky(Exception):
        def __str__(self) -> str:
            return "leak " + KEY[2:]  # bare hex, no 0x

    try:
        try:
            raise Leaky()
        except Leaky as inner:
            raise RuntimeError("wrapper") from inner
    except RuntimeError:
        logger.opt(exception=True).warning("boom")
    assert KEY[2:] not in stream.getvalue() and KEY[2:] not in path.read_text()
    assert "leak 4c08…[REDACTED:hex64]" in stream.getvalue()


def test_env_secret_values_and_mnemonic_redacted(sinks: tuple[io.StringIO, Path]) -> None:
    stream, path = sinks
    logger.info("password is hunter2-very-secret; slot hunter3-not-a-secret-name")
    logger.info("seed: " + MNEMONIC.upper())
    logger.info("the keeper could not find any position to liquidate because the oracle was stale")
    err = stream.getvalue()
    assert "hunter2-very-secret" not in err and "[REDACTED:RTRM_SIGNER_PRIVATE_KEY]" in err
    assert "hunter3-not-a-secret-name" in err  # only secret-looking names are treated as secrets
    assert "abandon" not in err.lower() and "seed: [REDACTED:mnemonic]" in err
    assert "because the oracle was stale" in err  # ordinary prose is untouched
    assert "hunter2-very-secret" not in path.read_text()


def test_register_secret(sinks: tuple[io.StringIO, Path]) -> None:
    stream, _ = sinks
    register_secret("file-loaded-passphrase")
    logger.warning("using file-loaded-passphrase")
    assert "file-loaded-passphrase" not in stream.getvalue()


def test_levels_and_json_shape(sinks: tuple[io.StringIO, Path], tmp_path: Path) -> None:
    stream, path = sinks
    configure_logging(
        level="WARNING", json_path=path, stream=stream
    )  # reconfigure: idempotent, no duplicates
    logger.debug("only in file {n}", n=1)
    logger.warning("everywhere")
    assert "only in file" not in stream.getvalue() and stream.getvalue().count("everywhere") == 1
    lines = _json_lines(path)
    assert [ln["message"] for ln in lines] == ["only in file 1", "everywhere"]
    assert set(lines[0]) == {
        "time",
        "level",
        "message",
        "name",
        "function",
        "line",
        "process",
        "extra",
        "exception",
    }


def test_rotation_compresses_old_files(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    configure_logging(level="ERROR", json_path=path, rotation="2 KB", retention=2, stream=io.StringIO())
    try:
        for i in range(200):
            logger.info("line {} {}", i, KEY)
    finally:
        configure_logging(level="WARNING")
    archives = sorted(tmp_path.glob("r.*.jsonl.gz"))
    assert len(archives) in (1, 2)  # retention keeps at most 2
    for a in archives:
        text = gzip.decompress(a.read_bytes()).decode()
        assert KEY not in text and all(json.loads(x)["level"] == "INFO" for x in text.splitlines())


def test_redactor_pure_cases() -> None:
    r = Redactor({"API_TOKEN": "tok-123456"})
    assert (
        r.text("addr 0x00000000000000000000000000000000000A11CE")
        == "addr 0x00000000000000000000000000000000000A11CE"
    )
    assert "[REDACTED:API_TOKEN]" in r.text("Bearer tok-123456")
    assert r.text("x" * 3) == "xxx"
    assert Redactor({"SHORT_KEY": "abc"}).text("abc") == "abc"  # too short to redact safely
    assert r.value({"a": (KEY, 3, None)}) == {"a": ("0x4c08…[REDACTED:hex64]", 3, None)}
    assert r.text("pk=" + KEY[2:] + ".") == "pk=4c08…[REDACTED:hex64]."
    assert r.text("pk" + KEY[2:]) == "pk4c08…[REDACTED:hex64]"  # 'k' is not a hex digit
    calldata = "0xa9059cbb" + "00" * 64
    assert r.text(calldata) == calldata  # longer hex runs (calldata) are left alone


@given(st.binary(min_size=32, max_size=32), st.text(max_size=20), st.text(max_size=20), st.booleans())
def test_any_32_byte_hex_is_redacted(secret: bytes, before: str, after: str, prefix: bool) -> None:
    h = ("0x" if prefix else "") + secret.hex()
    out = Redactor().text(f"{before} {h} {after}")
    assert secret.hex() not in out
