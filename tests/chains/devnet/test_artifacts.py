"""Artifact loading: forge and hardhat layouts, and clear errors for unusable ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chains.devnet.artifacts import ArtifactError, ArtifactMissingError, load_artifact, resolve_artifact
from chains.toolchain import project_root

ROOT = project_root()
OUT = ROOT / "out"
UNISWAP_FACTORY = (
    "node_modules/@uniswap/v3-core/artifacts/contracts/UniswapV3Factory.sol/UniswapV3Factory.json"
)


def test_resolve_references(tmp_path: Path) -> None:
    assert (
        resolve_artifact("TestToken", root=tmp_path, out_dir=tmp_path / "out")
        == tmp_path / "out/TestToken.sol/TestToken.json"
    )
    assert (
        resolve_artifact("Roles.sol:KeeperRegistry", root=tmp_path, out_dir=tmp_path / "o")
        == tmp_path / "o/Roles.sol/KeeperRegistry.json"
    )
    assert resolve_artifact("a/b.json", root=tmp_path, out_dir=tmp_path) == tmp_path / "a/b.json"


@pytest.mark.skipif(
    not (OUT / "TestToken.sol" / "TestToken.json").is_file(), reason="forge build output missing"
)
def test_forge_artifact() -> None:
    art = load_artifact("TestToken", root=ROOT, out_dir=OUT)
    assert art.bytecode.startswith("0x6") and len(art.bytecode) > 1000
    assert any(e.get("name") == "mint" for e in art.abi)


def test_hardhat_artifact() -> None:
    art = load_artifact(UNISWAP_FACTORY, root=ROOT, out_dir=OUT)
    raw = json.loads((ROOT / UNISWAP_FACTORY).read_text())
    assert art.bytecode == raw["bytecode"]
    assert any(e.get("name") == "createPool" for e in art.abi)


def _write(tmp_path: Path, doc: object) -> str:
    p = tmp_path / "x.json"
    p.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    return str(p)


@pytest.mark.parametrize(
    ("doc", "needle"),
    [
        ("{oops", "not valid JSON"),
        ({"bytecode": "0x00"}, "no 'abi' list"),
        ({"abi": []}, "no creation bytecode"),
        ({"abi": [], "bytecode": {"object": "0x"}}, "empty bytecode (an interface"),
        ({"abi": [], "bytecode": "0xzz"}, "not hex"),
        ({"abi": [], "bytecode": "0x60__$abc$__00"}, "unlinked library"),
        (
            {"abi": [], "bytecode": {"object": "0x6000", "linkReferences": {"src/L.sol": {}}}},
            "needs linked libraries (src/L.sol)",
        ),
    ],
)
def test_unusable_artifacts(tmp_path: Path, doc: object, needle: str) -> None:
    ref = _write(tmp_path, doc)
    with pytest.raises(ArtifactError) as err:
        load_artifact(ref, root=tmp_path, out_dir=tmp_path)
    assert needle in str(err.value)
    assert not isinstance(err.value, ArtifactMissingError)


def test_missing_artifact(tmp_path: Path) -> None:
    with pytest.raises(
        ArtifactMissingError,
        match=r"artifact 'VaultOptions' not found at .*VaultOptions.sol/VaultOptions.json",
    ):
        load_artifact("VaultOptions", root=tmp_path, out_dir=tmp_path / "out")


def test_bytecode_without_prefix_is_normalised(tmp_path: Path) -> None:
    ref = _write(tmp_path, {"abi": [], "bytecode": "6080"})
    assert load_artifact(ref, root=tmp_path, out_dir=tmp_path).bytecode == "0x6080"
