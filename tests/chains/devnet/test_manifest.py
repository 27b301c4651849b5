"""The manifest loader: round trip, and one clear error for each way the file can be wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_typing import ChecksumAddress, HexAddress, HexStr

from chains.devnet.manifest import (
    ChainEntry,
    ContractEntry,
    Manifest,
    ManifestError,
    load_manifest,
    utcnow,
    write_manifest,
)


def _manifest(status: str = "running") -> Manifest:
    usdc = ContractEntry(
        address=ChecksumAddress(HexAddress(HexStr("0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"))),
        block=2,
        artifact="TestToken",
    )
    eth = ChainEntry(
        name="ethereum", kind="evm", chain_id=1, rpc_url="http://127.0.0.1:8545", contracts={"USDC": usdc}
    )
    sol = ChainEntry(name="solana", kind="solana", rpc_url="http://127.0.0.1:8899")
    return Manifest.model_validate(
        {
            "status": status,
            "started_at": utcnow(),
            "supervisor_pid": 1,
            "directory": "/x",
            "chains": {"ethereum": eth, "solana": sol},
        }
    )


def test_round_trip_and_lookups(tmp_path: Path) -> None:
    m = _manifest()
    write_manifest(m, tmp_path)
    loaded = load_manifest(tmp_path)
    assert loaded == m
    assert load_manifest(tmp_path / "manifest.json") == m
    assert loaded.chain("ethereum").address("USDC") == "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
    assert [c.name for c in loaded.evm_chains()] == ["ethereum"]
    with pytest.raises(
        ManifestError, match=r"chain 'base' is not in the devnet manifest \(have: ethereum, solana\)"
    ):
        loaded.chain("base")
    with pytest.raises(ManifestError, match=r"no contract 'WETH' on ethereum .*\(have: USDC\)"):
        loaded.chain("ethereum").address("WETH")


def test_missing_says_how_to_start(tmp_path: Path) -> None:
    with pytest.raises(
        ManifestError, match=r"no devnet manifest at .*manifest.json; start one with `rtrm devnet up`"
    ):
        load_manifest(tmp_path)


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("{not json", "is not valid JSON (line 1"),
        ("[]", "is invalid at <root>"),
        (json.dumps({"version": 99}), "schema version 99, expected 1"),
    ],
)
def test_corrupt(tmp_path: Path, content: str, needle: str) -> None:
    (tmp_path / "manifest.json").write_text(content)
    with pytest.raises(ManifestError) as err:
        load_manifest(tmp_path)
    assert needle in str(err.value)
    assert "rtrm devnet up" in str(err.value)


def test_invalid_field_is_located(tmp_path: Path) -> None:
    doc = json.loads(_manifest().model_dump_json())
    doc["chains"]["ethereum"]["contracts"]["USDC"]["block"] = -3
    (tmp_path / "manifest.json").write_text(json.dumps(doc))
    with pytest.raises(ManifestError, match=r"invalid at chains\.ethereum\.contracts\.USDC\.block"):
        load_manifest(tmp_path)


def test_address_must_be_checksummed(tmp_path: Path) -> None:
    doc = json.loads(_manifest().model_dump_json())
    doc["chains"]["ethereum"]["contracts"]["USDC"]["address"] = "0xe7f1725e7734ce288f8367e1bb143e90bb3f0512"
    (tmp_path / "manifest.json").write_text(json.dumps(doc))
    with pytest.raises(
        ManifestError, match=r"contracts\.USDC\.address: Value error, '0xe7f1.*' is not a checksummed"
    ):
        load_manifest(tmp_path)


def test_require_running(tmp_path: Path) -> None:
    write_manifest(_manifest("stopped"), tmp_path)
    assert load_manifest(tmp_path).status == "stopped"
    with pytest.raises(ManifestError, match="is stopped; start it with `rtrm devnet up`"):
        load_manifest(tmp_path, require_running=True)


def test_write_is_atomic_no_temp_left(tmp_path: Path) -> None:
    write_manifest(_manifest(), tmp_path)
    write_manifest(_manifest("stopped"), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json"]


def test_default_location_follows_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_manifest(_manifest(), tmp_path / "elsewhere")
    monkeypatch.setenv("RTRM_DEVNET_DIR", str(tmp_path / "elsewhere"))
    assert load_manifest().status == "running"
    monkeypatch.delenv("RTRM_DEVNET_DIR")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ManifestError, match=r"no devnet manifest at devnet/manifest.json"):
        load_manifest()
