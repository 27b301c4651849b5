"""`rtrm inspect` without a devnet: JSON conversion, rows, and one-line errors with exit 2.
(The end-to-end run against a real seeded devnet is tests/chains/test_collect_devnet.py.)"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Literal

import pytest

from bots.commands import inspect as inspect_cmd
from bots.commands.inspect import account_rows, entity_of, main, oracle_rows, plain, position_rows
from chains.collect import ChainRead, Snapshot
from chains.devnet.manifest import ChainEntry, Manifest, write_manifest
from chains.model import (
    AccountState,
    ExerciseStyle,
    Instrument,
    InstrumentKind,
    OptionType,
    OracleQuote,
    OracleSource,
    Position,
    Underlying,
    VolSlice,
)
from chains.protocols.base import OracleFault, OracleReadings

T = datetime(2026, 11, 27, 8, tzinfo=UTC)
INST = Instrument(
    Underlying.ETH,
    InstrumentKind.OPTION,
    "ethereum",
    "vault_options",
    "0xSeries",
    "USDC",
    OptionType.PUT,
    Decimal("2700.000000000000000000"),
    T,
    Decimal(1),
    ExerciseStyle.EUROPEAN,
)


def _snapshot() -> Snapshot:
    pos = Position("0xAbC", "alice", INST, Decimal("-1.50000000"), "7", Decimal("123.456789"))
    state = AccountState(
        "ethereum",
        "vault_options",
        "7",
        "0xAbC",
        42,
        MappingProxyType({"USDC": Decimal("123.456789")}),
        (pos,),
        MappingProxyType({"requirement": Decimal("99.5")}),
        "0xhash",
        T,
    )
    cover = AccountState(
        "base", "cover_market", "3", "0xaBc", 9, params=MappingProxyType({"amount": Decimal(5)})
    )
    q = OracleQuote(
        OracleSource.CHAINLINK, Underlying.ETH, Decimal("3000.00000000"), T, "ethereum", 42, None, "0xF"
    )
    v = VolSlice(
        Underlying.ETH,
        T,
        Decimal("0.1"),
        Decimal("0.2"),
        Decimal("-0.3"),
        Decimal(0),
        Decimal("0.2"),
        Decimal(3000),
        T,
        "ethereum",
        42,
    )
    feeds = OracleReadings(
        42, (q,), (v,), (), (OracleFault("0xBad", "chainlink", "answer 0 is not positive"),)
    )
    again = OracleReadings(42, (q,))  # the same feed seen by a protocol adapter: listed once
    eth = ChainRead("ethereum", "evm", 42, "0xhash", T, (state,), {"oracles": feeds, "vault_options": again})
    base = ChainRead("base", "evm", 9, "0xh2", T, (cover,), {})
    return Snapshot((eth, base))


def test_plain_is_exact_and_json_ready() -> None:
    row = plain(
        {
            "d": Decimal("0.100000000000000000000000000001"),
            "t": T,
            "e": Underlying.SOL,
            "m": MappingProxyType({"x": (Decimal(1), b"\x01")}),
            "nan": float("nan"),
        }
    )
    assert row == {
        "d": "0.100000000000000000000000000001",
        "t": "2026-11-27T08:00:00+00:00",
        "e": "SOL",
        "m": {"x": ["1", "0x01"]},
        "nan": None,
    }
    json.dumps(row)


def test_position_rows_carry_every_normalized_field_and_the_read_block() -> None:
    (row,) = position_rows(_snapshot())
    assert (row["chain"], row["protocol"], row["block"], row["block_hash"]) == (
        "ethereum",
        "vault_options",
        42,
        "0xhash",
    )
    assert row["size"] == Decimal("-1.50000000") and row["entity"] == "alice" and row["account_id"] == "7"
    inst = json.loads(json.dumps(plain(row)))["instrument"]
    assert inst == {
        "underlying": "ETH",
        "kind": "option",
        "chain": "ethereum",
        "protocol": "vault_options",
        "venue_id": "0xSeries",
        "settlement_asset": "USDC",
        "option_type": "put",
        "strike": "2700.000000000000000000",
        "expiry": "2026-11-27T08:00:00+00:00",
        "multiplier": "1",
        "exercise": "european",
        "key": "ethereum:vault_options:0xSeries",
    }


def test_account_rows_find_the_entity_of_accounts_without_positions() -> None:
    rows = account_rows(_snapshot(), {"0xABC": "alice"})
    assert [(r["protocol"], r["entity"]) for r in rows] == [
        ("vault_options", "alice"),
        ("cover_market", "alice"),
    ]
    assert rows[0]["collateral"] == {"USDC": "123.456789"} and rows[1]["params"] == {"amount": "5"}
    assert entity_of("So1Case", {"so1case": "x"}) == "So1Case"  # base58 is case-sensitive
    assert entity_of("0xabc", {}) == "0xabc"


def test_oracle_rows_list_quotes_slices_and_faults_once() -> None:
    rows = oracle_rows(_snapshot())
    assert [r["type"] for r in rows] == ["quote", "vol_slice", "fault"]
    assert rows[0]["price"] == "3000.00000000" and rows[0]["block"] == 42 and rows[0]["origin"] == "oracles"
    assert rows[2]["reason"] == "answer 0 is not positive" and rows[2]["chain"] == "ethereum"


def test_tables_render_every_kind(capsys: pytest.CaptureFixture[str]) -> None:
    import io

    out = io.StringIO()
    inspect_cmd._table("positions", position_rows(_snapshot()), out)
    inspect_cmd._table("oracles", oracle_rows(_snapshot()), out)
    text = out.getvalue()
    assert "ETH P 2700 2026-11-27" in text and "-1.5" in text and "3000.00000000" in text


def _stopped_manifest(tmp_path: Path, status: Literal["running", "stopped"] = "stopped") -> Path:
    m = Manifest(
        status=status,
        started_at=datetime.now(UTC),
        supervisor_pid=1,
        directory=str(tmp_path),
        chains={"ethereum": ChainEntry(name="ethereum", kind="evm", rpc_url="http://127.0.0.1:9")},
    )
    write_manifest(m, tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["positions", "--dir", "{missing}"], "no devnet manifest at"),
        (["positions", "--dir", "{stopped}"], "is stopped; start it with `rtrm devnet up`"),
        (["positions", "--dir", "{running}", "--chain", "optimism"], "unknown chain 'optimism'"),
        (["positions", "--dir", "{running}", "--protocol", "aave"], "unknown protocol 'aave'"),
        (
            ["oracles", "--dir", "{running}", "--entity", "alice"],
            "--entity applies to positions and accounts",
        ),
        (["health", "--dir", "{running}", "--protocol", "vault_options"], "--protocol applies to"),
        (
            ["positions", "--dir", "{running}"],
            "cannot read the devnet",
        ),  # manifest says running, node is gone
        (["balances"], "invalid choice"),
    ],
)
def test_user_errors_are_one_line_and_exit_2(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dirs = {
        "missing": str(tmp_path / "nope"),
        "stopped": str(_stopped_manifest(tmp_path / "s")),
        "running": str(_stopped_manifest(tmp_path / "r", "running")),
    }
    code = main([a.format(**dirs) for a in argv])
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_registers_with_the_rtrm_parser() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    inspect_cmd.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["inspect", "accounts", "--chain", "base", "--json"])
    assert (args.what, args.chain, args.json, args.entity) == ("accounts", "base", True, None)
    assert callable(args.handler)


def test_a_seed_report_from_an_earlier_devnet_is_ignored(tmp_path: Path) -> None:
    """seed.json older than the manifest's start belongs to a previous run (fresh chains): its entities and
    mints would be wrong, so inspect reads without it; with persisted chain state it is still valid."""
    import os

    from chains.devnet.manifest import load_manifest

    d = _stopped_manifest(tmp_path, "running")
    seed = d / "seed.json"
    seed.write_text(json.dumps({"seed": 1, "entities": {"a": {"evm": "0x1", "solana": None}}}))
    m = load_manifest(d)
    assert inspect_cmd._seed_report(d, m) is not None
    old = m.started_at.timestamp() - 60
    os.utime(seed, (old, old))
    assert inspect_cmd._seed_report(d, m) is None
    persisted = m.model_copy(
        update={"chains": {"ethereum": m.chains["ethereum"].model_copy(update={"state_file": "/x/eth.json"})}}
    )
    assert inspect_cmd._seed_report(d, persisted) is not None
    seed.write_text("{not json")
    with pytest.raises(inspect_cmd.CommandError, match="cannot read .*seed.json"):
        inspect_cmd._seed_report(d, persisted)
