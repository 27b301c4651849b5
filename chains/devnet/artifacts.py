"""Read compiled contract artifacts: forge (``out/<File>.sol/<Contract>.json``, ``bytecode.object``) and
hardhat-style (top-level ``"bytecode"`` string, e.g. the Uniswap v3 npm artifacts). Nothing is hard-coded.

Artifact references used in deploy plans:
- ``"TestToken"`` → ``<out>/TestToken.sol/TestToken.json``
- ``"Roles.sol:KeeperRegistry"`` → ``<out>/Roles.sol/KeeperRegistry.json``
- ``"node_modules/@uniswap/v3-core/artifacts/contracts/UniswapV3Factory.sol/UniswapV3Factory.json"`` → that
  file, relative to the project root (any reference ending in ``.json``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chains.devnet.errors import DevnetError


class ArtifactError(DevnetError):
    """An artifact exists but cannot be used (bad JSON, no bytecode, unlinked libraries)."""


class ArtifactMissingError(ArtifactError):
    """The artifact file does not exist (yet): plan steps using it are skipped with a warning."""


@dataclass(frozen=True)
class Artifact:
    """ABI and creation bytecode of one contract."""

    ref: str
    path: Path
    abi: list[dict[str, Any]]
    bytecode: str  # 0x-prefixed creation code


_HEX = re.compile(r"^(0x)?[0-9a-fA-F]*$")


def resolve_artifact(ref: str, *, root: Path, out_dir: Path) -> Path:
    """Map a plan's artifact reference to a file path (see module docstring)."""
    if ref.endswith(".json"):
        p = Path(ref)
        return p if p.is_absolute() else root / p
    file, sep, contract = ref.partition(":")
    if sep:
        return out_dir / file / f"{contract}.json"
    return out_dir / f"{ref}.sol" / f"{ref}.json"


def _bytecode_of(data: dict[str, Any], path: Path) -> str:
    bc = data.get("bytecode")
    if isinstance(bc, dict):  # forge / solc standard JSON
        obj = bc.get("object")
        if isinstance(bc.get("linkReferences"), dict) and bc["linkReferences"]:
            libs = ", ".join(sorted(bc["linkReferences"]))
            raise ArtifactError(
                f"{path}: bytecode needs linked libraries ({libs}); the deployer does not link"
            )
        bc = obj
    if not isinstance(bc, str):
        raise ArtifactError(
            f"{path}: no creation bytecode (expected bytecode.object or a top-level 'bytecode' string)"
        )
    if "__" in bc:
        raise ArtifactError(f"{path}: bytecode contains unlinked library placeholders")
    if not _HEX.match(bc):
        raise ArtifactError(f"{path}: bytecode is not hex")
    bc = bc if bc.startswith("0x") else "0x" + bc
    if len(bc) <= 2:
        raise ArtifactError(f"{path}: empty bytecode (an interface or abstract contract cannot be deployed)")
    return bc


def load_artifact(ref: str, *, root: Path, out_dir: Path) -> Artifact:
    """Load an artifact; :class:`ArtifactMissingError` if absent, :class:`ArtifactError` if unusable."""
    path = resolve_artifact(ref, root=root, out_dir=out_dir)
    if not path.is_file():
        raise ArtifactMissingError(f"artifact {ref!r} not found at {path} (run `forge build` / `make setup`)")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("abi"), list):
        raise ArtifactError(f"{path}: no 'abi' list; not a contract artifact")
    return Artifact(ref=ref, path=path, abi=data["abi"], bytecode=_bytecode_of(data, path))
