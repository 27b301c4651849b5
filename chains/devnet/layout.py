"""Where a devnet keeps its files under ``--dir`` (default ``./devnet``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from chains.devnet.manifest import MANIFEST_NAME


@dataclass(frozen=True)
class DevnetLayout:
    directory: Path

    @property
    def manifest(self) -> Path:
        return self.directory / MANIFEST_NAME

    @property
    def run_dir(self) -> Path:
        return self.directory / "run"

    @property
    def pid_file(self) -> Path:
        """The supervising ``rtrm devnet up`` process."""
        return self.run_dir / "devnet.pid"

    @property
    def supervisor_log(self) -> Path:
        """Output of a ``--detach``-ed devnet."""
        return self.run_dir / "devnet.log"

    def node_pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def node_log(self, name: str) -> Path:
        return self.run_dir / f"{name}.log"


def contracts_sidecar(state_dir: Path, chain: str) -> Path:
    """Beside anvil's ``<chain>.json`` state: the contracts deployed into that state (reused on restart)."""
    return state_dir / f"{chain}.contracts.json"
