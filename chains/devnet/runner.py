"""Bring a devnet up (start nodes, wait until ready, deploy, write the manifest) and take it down again.

One :class:`Devnet` object owns the child processes it started; ``stop()`` always stops all of them (SIGTERM
first, so anvil writes its ``--state``), and marks the manifest stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loguru import logger

from chains.devnet.errors import DevnetUsageError
from chains.devnet.layout import DevnetLayout
from chains.devnet.manifest import (
    ChainEntry,
    ForkEntry,
    Manifest,
    ManifestError,
    ProcessEntry,
    load_manifest,
    utcnow,
    write_manifest,
)
from chains.devnet.nodes import node_kind, wait_ready
from chains.devnet.process import (
    Started,
    is_our_process,
    port_free,
    read_cmdline,
    read_pid_file,
    signal_recorded,
    start_process,
    stop_process,
    wait_gone,
    write_pid_file,
)
from chains.devnet.spec import DevnetSpec, public_argv, public_url
from chains.toolchain import project_root

if TYPE_CHECKING:
    from chains.devnet.deployer import DeployResult


def live_processes(layout: DevnetLayout) -> dict[str, int]:
    """Processes recorded in this directory's manifest that still run what we started (name → pid)."""
    try:
        manifest = load_manifest(layout.manifest)
    except ManifestError:
        return {}
    return {n: p.pid for n, p in manifest.processes.items() if is_our_process(p.pid, p.cmdline)}


def preflight(spec: DevnetSpec) -> None:
    """Refuse to start over a running devnet or on busy ports (usage errors, exit 2)."""
    live = live_processes(DevnetLayout(spec.directory))
    if "supervisor" in live:
        raise DevnetUsageError(
            f"a devnet is already running from {spec.directory} (pid {live['supervisor']}); "
            f"run `rtrm devnet down --dir {spec.directory}` first"
        )
    if live:
        names = ", ".join(f"{n} (pid {p})" for n, p in live.items())
        raise DevnetUsageError(
            f"leftover devnet processes from {spec.directory} are still running: {names}; "
            f"run `rtrm devnet down --dir {spec.directory}` first"
        )
    for node in spec.nodes:
        if not port_free(node.host, node.port):
            raise DevnetUsageError(
                f"port {node.port} for chain {node.name} is busy; stop what uses it or pick another with "
                f"--port {node.name}=N"
            )


@dataclass
class Devnet:
    """A devnet started by this process."""

    spec: DevnetSpec
    started: dict[str, Started] = field(default_factory=dict)
    manifest: Manifest | None = None
    seed_wallets: int | None = None  # `up --seed N`: seed N wallets after deploying (report in seed.json)
    seed_value: int = 0
    seed_report: dict[str, Any] | None = None

    @property
    def layout(self) -> DevnetLayout:
        return DevnetLayout(self.spec.directory)

    async def start(self, *, ready_timeout: float = 30.0) -> Manifest:
        """Start every node, wait for readiness, deploy, write the manifest. Stops everything on failure."""
        preflight(self.spec)  # before the try: a refused start must not touch another devnet's files
        started_at = utcnow()
        try:
            self.layout.run_dir.mkdir(parents=True, exist_ok=True)
            if self.spec.state_dir is not None:
                self.spec.state_dir.mkdir(parents=True, exist_ok=True)
            argvs = {n.name: node_kind(n).argv(n) for n in self.spec.nodes}
            for node in self.spec.nodes:
                log = self.layout.node_log(node.name)
                self.started[node.name] = start_process(node.name, argvs[node.name], log_path=log)
                write_pid_file(self.layout.node_pid_file(node.name), self.started[node.name].pid)
            write_pid_file(self.layout.pid_file, os.getpid())
            self._write(started_at, "starting", {})
            await asyncio.gather(
                *(
                    wait_ready(
                        n,
                        self.started[n.name].proc,
                        timeout=ready_timeout,
                        log_path=self.layout.node_log(n.name),
                    )
                    for n in self.spec.nodes
                )
            )
            deployed = await self._deploy_all()
            if self.seed_wallets is not None:  # readers wait for "running", so seed while still "starting"
                self.seed_report = await self._seed(self._write(started_at, "starting", deployed))
            self.manifest = self._write(started_at, "running", deployed)
            return self.manifest
        except BaseException:
            self.stop()
            raise

    async def _deploy_all(self) -> dict[str, DeployResult]:
        if not self.spec.deploy:
            return {}
        # imported here: web3 costs ~0.5 s of start-up that `rtrm devnet status/down` do not need
        from chains.devnet.deployment import deploy_devnet
        from chains.devnet.extensions import load_extensions

        return await deploy_devnet(
            self.spec.nodes,
            root=project_root(),
            out_dir=self.spec.artifacts_root,
            state_dir=self.spec.state_dir,
            extensions=load_extensions() if self.spec.protocols else [],
        )

    async def _seed(self, manifest: Manifest) -> dict[str, Any]:
        """Seed the wallets; the report lands next to the manifest (``seed.json``)."""
        from chains.devnet.seed import seed_devnet

        assert self.seed_wallets is not None
        return await seed_devnet(
            manifest,
            wallets=self.seed_wallets,
            seed=self.seed_value,
            root=project_root(),
            out_dir=self.spec.artifacts_root,
        )

    def _write(self, started_at: datetime, status: str, deployed: dict[str, DeployResult]) -> Manifest:
        chains: dict[str, ChainEntry] = {}
        for node in self.spec.nodes:
            rpc_url, ws_url = node_kind(node).urls(node)
            result = deployed.get(node.name)
            chains[node.name] = ChainEntry(
                name=node.name,
                kind=node.chain.kind,
                chain_id=node.chain.chain_id,
                rpc_url=rpc_url,
                ws_url=ws_url,
                pid=self.started[node.name].pid if node.name in self.started else None,
                block_time=node.block_time,
                fork=ForkEntry(url=public_url(node.fork.url), block=node.fork.block) if node.fork else None,
                state_file=str(node.state_file) if node.state_file else None,
                deploy_block=result.last_block if result else None,
                contracts=result.contracts if result else {},
            )
        processes = {
            name: ProcessEntry(pid=s.pid, cmdline=public_argv(s.argv)) for name, s in self.started.items()
        }
        own = public_argv(read_cmdline(os.getpid()) or [])
        processes["supervisor"] = ProcessEntry(pid=os.getpid(), cmdline=own)
        seed = None
        if self.seed_report is not None:
            from chains.devnet.seed import SEED_FILE

            seed = {
                "report": str((self.spec.directory / SEED_FILE).resolve()),
                "wallets": len(self.seed_report.get("wallets", [])),
                "seed": int(self.seed_report.get("seed", 0)),
                "counts": {k: int(v["count"]) for k, v in self.seed_report.items()
                           if isinstance(v, dict) and isinstance(v.get("count"), int)},
            }
        manifest = Manifest.model_validate(
            {
                "seed": seed,
                "status": status,
                "started_at": started_at,
                "supervisor_pid": os.getpid(),
                "directory": str(self.spec.directory.resolve()),
                "chains": chains,
                "processes": processes,
            }
        )
        write_manifest(manifest, self.layout.manifest)
        return manifest

    def dead_children(self) -> list[str]:
        """Names of nodes that exited on their own (a foreground devnet shuts down when one dies)."""
        return [name for name, s in self.started.items() if s.proc.poll() is not None]

    def stop(self) -> None:
        """Stop all children (reverse start order), mark the manifest stopped, remove pid files."""
        for name in reversed(list(self.started)):
            code = stop_process(self.started[name])
            logger.debug("{} stopped (exit code {})", name, code)
            self.layout.node_pid_file(name).unlink(missing_ok=True)
        if read_pid_file(self.layout.pid_file) == os.getpid():
            self.layout.pid_file.unlink(missing_ok=True)
        try:
            current = load_manifest(self.layout.manifest)
        except ManifestError:
            return
        if current.supervisor_pid == os.getpid():
            write_manifest(
                current.model_copy(update={"status": "stopped", "stopped_at": utcnow()}), self.layout.manifest
            )


async def run_foreground(devnet: Devnet, stop_event: asyncio.Event, *, poll: float = 0.2) -> int:
    """Wait until asked to stop (signal) or a node dies; then stop everything. Returns the exit code."""
    try:
        while not stop_event.is_set():
            dead = devnet.dead_children()
            if dead:
                logger.error("node(s) exited unexpectedly: {}; stopping the devnet", ", ".join(dead))
                return 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop_event.wait(), timeout=poll)
        return 0
    finally:
        devnet.stop()


@dataclass(frozen=True)
class DownResult:
    stopped: list[str]
    message: str


def down(directory: Path, *, timeout: float = 30.0) -> DownResult:
    """Stop what ``up`` started in ``directory`` (recorded pids whose cmdline still matches)."""
    layout = DevnetLayout(directory)
    try:
        manifest = load_manifest(layout.manifest)
    except ManifestError as exc:
        return DownResult([], f"no devnet running in {directory} ({exc})")
    alive = [
        n for n, p in manifest.processes.items() if n != "supervisor" and is_our_process(p.pid, p.cmdline)
    ]
    stopped: list[str] = []
    sup = manifest.processes.get("supervisor")
    if sup is not None and is_our_process(sup.pid, sup.cmdline):
        os.kill(sup.pid, signal.SIGTERM)
        if not wait_gone(sup.pid, sup.cmdline, timeout):
            signal_recorded(sup.pid, sup.cmdline, timeout=1.0)
        stopped.append(f"supervisor (pid {sup.pid})")
    for name, proc in manifest.processes.items():
        if name != "supervisor":
            signal_recorded(proc.pid, proc.cmdline)  # no-op when the supervisor already stopped it
            if name in alive:
                stopped.append(name)
        layout.node_pid_file(name).unlink(missing_ok=True)
    layout.pid_file.unlink(missing_ok=True)
    current = load_manifest(layout.manifest)
    if current.status != "stopped":
        write_manifest(
            current.model_copy(update={"status": "stopped", "stopped_at": utcnow()}), layout.manifest
        )
    if not stopped:
        return DownResult(
            [], f"no devnet running in {directory} (manifest says {manifest.status}; no live processes)"
        )
    return DownResult(stopped, f"stopped devnet in {directory}: {', '.join(stopped)}")


def seed_summary(report: dict[str, Any]) -> str:
    """One line: wallets, seed and the count per seeded protocol (from the seed report)."""
    counts = ", ".join(f"{k}={v['count']}" for k, v in report.items() if isinstance(v, dict) and "count" in v)
    return f"seeded {len(report.get('wallets', []))} wallets (seed {report.get('seed')}): {counts}"


def summary_lines(manifest: Manifest) -> list[str]:
    """Human summary of a running devnet: one line per chain, then one per contract."""
    lines = []
    for c in manifest.chains.values():
        extra = f" chain_id={c.chain_id}" if c.chain_id is not None else ""
        extra += f" block_time={c.block_time:g}s" if c.block_time else ""
        extra += (
            f" fork={c.fork.url}@{c.fork.block if c.fork.block is not None else 'head'}" if c.fork else ""
        )
        lines.append(f"{c.name:<9} {c.kind:<6} {c.rpc_url}{extra}")
        for name, entry in c.contracts.items():
            lines.append(f"    {name:<12} {entry.address}  (block {entry.block})")
    return lines
