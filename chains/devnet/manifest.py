"""The devnet manifest (``<devnet dir>/manifest.json``): the one place other components learn where the
devnet's chains and contracts are. Read it with :func:`load_manifest`; only the devnet runner writes it.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from eth_typing import ChecksumAddress
from eth_utils import is_checksum_address
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

MANIFEST_NAME = "manifest.json"
SCHEMA_VERSION = 1


class ManifestError(RuntimeError):
    """The manifest is missing, corrupt, or lacks what was asked for; the message says what to do."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ContractEntry(_Frozen):
    """A deployed contract: address (checksummed), the block it was mined in, and the artifact it came from."""

    address: ChecksumAddress
    block: int = Field(ge=0)
    artifact: str

    @field_validator("address", mode="before")
    @classmethod
    def _checksummed(cls, v: object) -> object:
        if not isinstance(v, str) or not is_checksum_address(v):
            raise ValueError(f"{v!r} is not a checksummed 20-byte address")
        return v


class ForkEntry(_Frozen):
    url: str
    block: int | None = None


class ChainEntry(_Frozen):
    """One chain of the devnet and its endpoints."""

    name: str
    kind: Literal["evm", "solana"]
    chain_id: int | None = None
    rpc_url: str
    ws_url: str | None = None
    pid: int | None = None
    block_time: float | None = None
    fork: ForkEntry | None = None
    state_file: str | None = None
    deploy_block: int | None = None
    contracts: dict[str, ContractEntry] = Field(default_factory=dict)

    def address(self, contract: str) -> ChecksumAddress:
        """Address of ``contract`` on this chain, or a :class:`ManifestError` naming the ones that exist."""
        try:
            return self.contracts[contract].address
        except KeyError:
            have = ", ".join(sorted(self.contracts)) or "none"
            raise ManifestError(
                f"no contract {contract!r} on {self.name} in the devnet manifest (have: {have})"
            ) from None


class ProcessEntry(_Frozen):
    """A process the devnet started; ``cmdline`` lets ``down`` check a pid still belongs to us."""

    pid: int
    cmdline: list[str]


class SeedEntry(_Frozen):
    """What `up --seed N` put on the devnet: the full report lives in ``report`` (seed.json beside the manifest)."""

    report: str
    wallets: int
    seed: int
    counts: dict[str, int] = Field(default_factory=dict)  # protocol → seeded accounts/covers/holders


class Manifest(_Frozen):
    version: int = SCHEMA_VERSION
    status: Literal["starting", "running", "stopped"]
    started_at: datetime
    stopped_at: datetime | None = None
    supervisor_pid: int
    directory: str
    chains: dict[str, ChainEntry] = Field(default_factory=dict)
    processes: dict[str, ProcessEntry] = Field(default_factory=dict)
    seed: SeedEntry | None = None

    def chain(self, name: str) -> ChainEntry:
        """The entry for chain ``name``, or a :class:`ManifestError` listing the chains present."""
        try:
            return self.chains[name]
        except KeyError:
            have = ", ".join(self.chains) or "none"
            raise ManifestError(f"chain {name!r} is not in the devnet manifest (have: {have})") from None

    def evm_chains(self) -> list[ChainEntry]:
        return [c for c in self.chains.values() if c.kind == "evm"]


def manifest_path(directory: str | os.PathLike[str] | None = None) -> Path:
    """Accept a devnet directory or the manifest file itself; None means ``$RTRM_DEVNET_DIR`` or ``./devnet``."""
    p = Path(directory if directory is not None else os.environ.get("RTRM_DEVNET_DIR") or "devnet")
    return p if p.suffix == ".json" else p / MANIFEST_NAME


def load_manifest(
    directory: str | os.PathLike[str] | None = None, *, require_running: bool = False
) -> Manifest:
    """Read and validate the manifest (default location: see :func:`manifest_path`); raise
    :class:`ManifestError` with a fix when it is missing or corrupt."""
    path = manifest_path(directory)
    try:
        raw = path.read_text()
    except FileNotFoundError:
        raise ManifestError(f"no devnet manifest at {path}; start one with `rtrm devnet up`") from None
    except OSError as exc:
        raise ManifestError(f"cannot read devnet manifest {path}: {exc.strerror}") from None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ManifestError(
            f"devnet manifest {path} is not valid JSON (line {exc.lineno}: {exc.msg}); restart with `rtrm devnet up`"
        ) from None
    if isinstance(data, dict) and data.get("version") not in (None, SCHEMA_VERSION):
        raise ManifestError(
            f"devnet manifest {path} has schema version {data.get('version')}, expected {SCHEMA_VERSION}; "
            "restart with `rtrm devnet up`"
        )
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"]) or "<root>"
        raise ManifestError(
            f"devnet manifest {path} is invalid at {where}: {first['msg']} ({exc.error_count()} error(s)); "
            "restart with `rtrm devnet up`"
        ) from None
    if require_running and manifest.status != "running":
        raise ManifestError(
            f"the devnet in {path.parent} is {manifest.status}; start it with `rtrm devnet up`"
        )
    return manifest


def write_manifest(manifest: Manifest, directory: str | os.PathLike[str]) -> Path:
    """Write atomically (temp file + rename) so readers never see a half-written manifest."""
    path = manifest_path(directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(manifest.model_dump_json(indent=2) + "\n")
    os.replace(tmp, path)
    return path


def utcnow() -> datetime:
    return datetime.now(UTC)
