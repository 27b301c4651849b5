"""Devnet smoke check (`python -m chains.devnet.smoke`): bring a complete devnet up in a
temporary directory on free non-default ports, show every chain live, take it down again.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from chains.devnet.nodes import NODE_KINDS
from chains.devnet.process import free_port
from chains.devnet.runner import Devnet
from chains.devnet.spec import KNOWN_CHAINS, build_spec
from chains.devnet.status import collect_status
from chains.toolchain import project_root


def _free_distinct_ports(n: int) -> list[int]:
    ports: set[int] = set()
    while len(ports) < n:
        p = free_port()
        if p not in {c.default_port for c in KNOWN_CHAINS.values()}:
            ports.add(p)
    return sorted(ports)


async def run_smoke(echo: Callable[[str], None] = print) -> int:
    """Returns 0 when every chain answered healthy with its expected chain id."""
    chains = [c for c in KNOWN_CHAINS.values() if NODE_KINDS[c.kind].unavailable_reason() is None]
    skipped = [c.name for c in KNOWN_CHAINS.values() if c not in chains]
    ports = dict(zip((c.name for c in chains), _free_distinct_ports(len(chains)), strict=True))
    tmp = Path(tempfile.mkdtemp(prefix="rtrm-demo-"))
    spec = build_spec(
        chains=chains, directory=tmp / "devnet", artifacts_root=project_root() / "out", ports=ports
    )
    devnet = Devnet(spec)
    t0 = time.monotonic()
    try:
        manifest = await devnet.start()
        echo(
            f"devnet up in {time.monotonic() - t0:.2f}s ({tmp})"
            + (f"; skipped: {', '.join(skipped)}" if skipped else "")
        )
        rows = await collect_status(manifest)
        for row in rows:
            entry = manifest.chain(row.name)
            cid = f"chain_id={row.chain_id}" if row.chain_id is not None else "chain_id=-"
            echo(f"{row.name:<9} {cid:<15} head={row.head}  {entry.rpc_url}  health: {row.reason}")
            for name, c in entry.contracts.items():
                echo(f"    {name:<12} {c.address}")
        return 0 if all(r.healthy for r in rows) else 1
    finally:
        devnet.stop()
        echo("devnet down")
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    return asyncio.run(run_smoke())


if __name__ == "__main__":
    raise SystemExit(main())
