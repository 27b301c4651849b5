"""Config fuzzing: mutations of rtrm.example.toml (deleted keys, wrong types, garbage, truncation, random bytes) →
the loader returns a Config or raises ConfigError naming the file and, when the TOML parsed, the field; never any
other exception. A handful through `rtrm config check` as a subprocess: exit 2, one `rtrm: error:` line."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tomllib
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bots.config import Config, ConfigError, load_config, parse_config

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = (ROOT / "rtrm.example.toml").read_text()
BASE = tomllib.loads(EXAMPLE)
FUZZ = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
DEEP = settings(FUZZ, max_examples=2000)


# ------------------------------------------------------------------------------------- a tiny TOML writer
def _key(k: str) -> str:
    return json.dumps(k, ensure_ascii=False).replace("\x7f", "\\u007f")  # TOML also forbids a raw DEL


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, str):
        return _key(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, datetime | date):
        return v.isoformat()
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(type(v))


def dumps(doc: dict[str, Any]) -> str:
    """Every table written inline under its top-level key: enough to round-trip any tomllib document."""
    return "\n".join(f"{_key(k)} = {_value(v)}" for k, v in doc.items()) + "\n"


def test_writer_round_trips_the_example() -> None:
    assert tomllib.loads(dumps(BASE)) == BASE


# ------------------------------------------------------------------------------------- mutations
SCALARS = st.one_of(st.integers(-(2**70), 2**70), st.floats(allow_nan=True), st.booleans(),
                    st.text(max_size=30), st.datetimes(), st.dates())
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=6)


def _paths(doc: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out.append((*prefix, k))
            out.extend(_paths(v, (*prefix, k)))
    return out


PATHS = _paths(BASE)


def _mutate(doc: dict[str, Any], path: tuple[str, ...], op: str, new: Any, name: str) -> dict[str, Any]:
    doc = json.loads(json.dumps(doc, default=str))  # deep copy (dates become strings: fine, also a mutation)
    parent: Any = doc
    for k in path[:-1]:
        parent = parent[k]
    if op == "delete":
        del parent[path[-1]]
    elif op == "retype":
        parent[path[-1]] = new
    elif op == "add":
        parent[name] = new
    return doc


def _check(text: str, file: str = "rtrm.toml") -> Config | ConfigError:
    try:
        return parse_config(text, file)
    except ConfigError as exc:
        msg = str(exc)
        assert msg.startswith(f"{file}: ") and "\n" not in msg, msg
        return exc


@FUZZ
@given(path=st.sampled_from(PATHS), op=st.sampled_from(["delete", "retype", "add"]), new=VALUES,
       name=st.text(min_size=1, max_size=12))
def test_structural_mutation_is_a_config_or_a_config_error_naming_the_field(
        path: tuple[str, ...], op: str, new: Any, name: str) -> None:
    result = _check(dumps(_mutate(BASE, path, op, new, name)))
    if isinstance(result, ConfigError):
        assert result.field not in ("", "<syntax>"), str(result)  # the TOML parsed: a field is named


@FUZZ
@given(cut=st.integers(0, len(EXAMPLE)), junk=st.text(max_size=40), at=st.integers(0, len(EXAMPLE)))
def test_truncated_or_garbled_text_is_a_config_error(cut: int, junk: str, at: int) -> None:
    _check(EXAMPLE[:cut])
    _check(EXAMPLE[:at] + junk + EXAMPLE[at:])


@FUZZ
@given(data=st.binary(max_size=400), at=st.integers(0, len(EXAMPLE)))
def test_random_bytes_in_the_file_are_a_config_error(tmp_path: Path, data: bytes, at: int) -> None:
    f = tmp_path / "fuzz.toml"
    raw = EXAMPLE.encode()
    f.write_bytes(raw[:at] + data + raw[at:])
    try:
        load_config(f)
    except ConfigError as exc:
        assert str(exc).startswith(f"{f}: ") and "\n" not in str(exc)


def test_a_non_utf8_file_names_the_file(tmp_path: Path) -> None:
    f = tmp_path / "latin1.toml"
    f.write_bytes(b"dry_run = true\n\xff\xfe\n")
    with pytest.raises(ConfigError, match=r"latin1.toml: <file>: UTF-8 text"):
        load_config(f)


# each subprocess imports the whole CLI (seconds on a loaded machine): one in the default suite, the rest `faults`
@pytest.mark.parametrize("text", [
    EXAMPLE.replace("[signers.keeper]", "[signers.keeper]\nprivate_key = \"0x" + "ab" * 32 + "\""),
    *(pytest.param(t, marks=pytest.mark.faults) for t in (
        EXAMPLE[: len(EXAMPLE) // 2],
        EXAMPLE.replace('chain_id = 1\n', 'chain_id = "one"\n'),
        EXAMPLE.replace("confirmations = 1", "confirmations = [1, 2]"),
        EXAMPLE + "\n[bots.liquidator.protocols.nowhere]\nmin_profit_usd = 1\n",
        "\x00\x01 not toml \x1b[31m")),
])
def test_config_check_subprocess_prints_one_error_line(tmp_path: Path, text: str) -> None:
    f = tmp_path / "rtrm.toml"
    f.write_text(text)
    proc = subprocess.run([sys.executable, "-m", "bots.cli", "config", "check", "--config", str(f)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rtrm: error: ") and str(f) in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr and "ab" * 32 not in proc.stderr


@pytest.mark.faults
@DEEP
@given(path=st.sampled_from(PATHS), op=st.sampled_from(["delete", "retype", "add"]), new=VALUES,
       name=st.text(min_size=1, max_size=12))
def test_structural_mutation_deep(path: tuple[str, ...], op: str, new: Any, name: str) -> None:
    test_structural_mutation_is_a_config_or_a_config_error_naming_the_field.hypothesis.inner_test(  # type: ignore[attr-defined]
        path, op, new, name)
