"""The ``rtrm devnet up|down|status`` commands (argparse wiring + handlers; the work lives in the runner).

Exit codes: 0 success; 1 runtime failure, or ``down``/``status`` when no devnet is running; 2 bad input
(unknown chain, malformed value, busy port, missing binary) reported as one line without a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from loguru import logger

from chains.devnet.errors import DevnetUsageError
from chains.devnet.layout import DevnetLayout
from chains.devnet.manifest import Manifest, ManifestError, load_manifest
from chains.devnet.nodes import NODE_KINDS
from chains.devnet.runner import Devnet, down, preflight, run_foreground, seed_summary, summary_lines
from chains.devnet.spec import (
    DevnetSpec,
    build_spec,
    parse_block_times,
    parse_forks,
    parse_ports,
    select_chains,
)
from chains.devnet.status import collect_status, format_status
from chains.toolchain import project_root

DETACH_TIMEOUT = 120.0
SEED_SECONDS_PER_WALLET = 0.5


def default_dir() -> str:
    from bots.settings import load_settings

    return str(load_settings().devnet_dir)


def default_out() -> Path:
    from bots.settings import load_settings

    return load_settings().out_dir or project_root() / "out"


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``devnet`` with its ``up``/``down``/``status`` subcommands."""
    devnet = subparsers.add_parser("devnet", help="local multi-chain devnet (anvil per EVM chain + Solana)")
    sub = devnet.add_subparsers(dest="devnet_command", required=True, metavar="{up,down,status}")

    up = sub.add_parser("up", help="start the devnet, deploy the plan, write the manifest")
    _add_dir(up)
    up.add_argument(
        "--chains", help="comma-separated subset of: ethereum, arbitrum, base, solana (default all)"
    )
    up.add_argument("--no-solana", action="store_true", help="do not start the Solana endpoint")
    up.add_argument(
        "--port", action="append", default=[], metavar="CHAIN=PORT", help="override a chain's port"
    )
    up.add_argument(
        "--block-time",
        action="append",
        default=[],
        metavar="CHAIN=SECONDS",
        help="interval mining (default automine)",
    )
    up.add_argument("--fork", action="append", default=[], metavar="CHAIN=URL[@BLOCK]", help="fork a chain")
    up.add_argument("--state", metavar="DIR", help="persist chain state in DIR/<chain>.json across restarts")
    up.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    up.add_argument(
        "--out", metavar="DIR", help="forge artifacts directory (default $RTRM_OUT_DIR or <project>/out)"
    )
    up.add_argument("--no-deploy", action="store_true", help="start the nodes only")
    up.add_argument(
        "--no-protocols",
        action="store_true",
        help="deploy only Multicall3 + the core plan (no protocol extensions)",
    )
    up.add_argument(
        "--detach", action="store_true", help="run in the background (stop with `rtrm devnet down`)"
    )
    up.add_argument("--ready-timeout", type=float, default=30.0, help="seconds to wait for each node")
    up.add_argument(
        "--seed",
        type=int,
        default=None,
        metavar="N",
        help="after deploying, seed N wallets with positions on every protocol (report: <dir>/seed.json)",
    )
    up.add_argument(
        "--seed-value",
        type=int,
        default=0,
        metavar="S",
        help="seed of the wallets and their books (default 0)",
    )
    up.set_defaults(handler=cmd_up)

    dn = sub.add_parser("down", help="stop the devnet started by `up` in --dir")
    _add_dir(dn)
    dn.set_defaults(handler=cmd_down)

    st = sub.add_parser("status", help="head block, head age and health of each chain")
    _add_dir(st)
    st.add_argument("--json", action="store_true", help="machine-readable output")
    st.set_defaults(handler=cmd_status)


def _add_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dir", default=None, help="devnet directory (default $RTRM_DEVNET_DIR or ./devnet)")


def _dir(args: argparse.Namespace) -> Path:
    return Path(args.dir if args.dir is not None else default_dir())


def spec_from_args(args: argparse.Namespace) -> DevnetSpec:
    """Turn parsed ``up`` options into a spec; every user mistake raises DevnetUsageError."""
    chains = select_chains(args.chains, no_solana=args.no_solana)
    explicit = set() if args.chains is None else {c.strip() for c in args.chains.split(",")}
    kept = []
    for c in chains:
        reason = NODE_KINDS[c.kind].unavailable_reason()
        if reason is None:
            kept.append(c)
        elif c.name in explicit:
            raise DevnetUsageError(f"cannot start {c.name}: {reason}")
        else:
            logger.warning("skipping {}: {}", c.name, reason)
    if not kept:
        raise DevnetUsageError("no chains left to start")
    return build_spec(
        chains=kept,
        directory=_dir(args),
        artifacts_root=Path(args.out) if args.out else default_out(),
        host=args.host,
        ports=parse_ports(args.port),
        block_times=parse_block_times(args.block_time),
        forks=parse_forks(args.fork),
        state_dir=Path(args.state) if args.state else None,
        deploy=not args.no_deploy,
        protocols=not args.no_protocols,
    )


def check_seed_args(args: argparse.Namespace) -> None:
    """``--seed N`` needs N >= 1, a non-negative seed value, and the protocols deployed."""
    if args.seed is None:
        if args.seed_value != 0:
            raise DevnetUsageError("--seed-value needs --seed N")
        return
    if args.seed < 1:
        raise DevnetUsageError(f"--seed must be a positive number of wallets, got {args.seed}")
    if args.seed_value < 0:
        raise DevnetUsageError(f"--seed-value must be >= 0, got {args.seed_value}")
    if args.no_deploy or args.no_protocols:
        raise DevnetUsageError("--seed needs the protocols deployed; drop --no-deploy/--no-protocols")


def cmd_up(args: argparse.Namespace) -> int:
    t0 = time.monotonic()
    check_seed_args(args)
    spec = spec_from_args(args)
    if args.detach:
        return _detach(args, spec, t0)
    return asyncio.run(_up_foreground(spec, args.ready_timeout, t0, args.seed, args.seed_value))


async def _up_foreground(
    spec: DevnetSpec, ready_timeout: float, t0: float, seed: int | None = None, seed_value: int = 0
) -> int:
    devnet = Devnet(spec, seed_wallets=seed, seed_value=seed_value)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    starting = asyncio.current_task()
    phase = {"starting": True}

    def on_signal() -> None:
        if phase["starting"] and starting is not None:
            starting.cancel()
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    try:
        manifest = await devnet.start(ready_timeout=ready_timeout)
    except asyncio.CancelledError:
        print("rtrm: devnet start interrupted; all nodes stopped", file=sys.stderr)
        return 130
    phase["starting"] = False
    if devnet.seed_report is not None:
        print(seed_summary(devnet.seed_report))
    _print_ready(manifest, time.monotonic() - t0)
    print("press Ctrl-C to stop", flush=True)
    code = await run_foreground(devnet, stop)
    print("devnet stopped", flush=True)
    return code


def _print_ready(manifest: Manifest, seconds: float) -> None:
    for line in summary_lines(manifest):
        print(line)
    print(
        f"devnet ready in {seconds:.2f}s; manifest: {Path(manifest.directory) / 'manifest.json'}", flush=True
    )


def _detach(args: argparse.Namespace, spec: DevnetSpec, t0: float) -> int:
    """Re-run ``up`` without --detach in a new session, wait until its manifest says running."""
    preflight(spec)
    layout = DevnetLayout(spec.directory)
    layout.run_dir.mkdir(parents=True, exist_ok=True)
    argv = [a for a in args.raw_argv if a != "--detach"]
    with open(layout.supervisor_log, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bots.cli", *argv],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=Path.cwd(),
        )
    # seeding runs before the manifest says running: allow for it (~0.1 s per wallet on a loaded machine)
    timeout = DETACH_TIMEOUT + (args.seed or 0) * SEED_SECONDS_PER_WALLET
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = proc.poll()
        if code is not None:
            print(
                f"rtrm: error: detached devnet exited with code {code}: {_last_line(layout)}", file=sys.stderr
            )
            return code if code != 0 else 1
        try:
            manifest = load_manifest(layout.manifest)
        except ManifestError:
            manifest = None
        if manifest is not None and manifest.supervisor_pid == proc.pid and manifest.status == "running":
            seed_line = _seed_line(spec.directory)
            if args.seed is not None and seed_line:
                print(seed_line)
            _print_ready(manifest, time.monotonic() - t0)
            print(f"detached (pid {proc.pid}); stop with `rtrm devnet down --dir {spec.directory}`")
            return 0
        time.sleep(0.1)
    proc.terminate()
    proc.wait(timeout=30)
    print(
        f"rtrm: error: detached devnet not ready within {timeout:g}s; see {layout.supervisor_log}",
        file=sys.stderr,
    )
    return 1


def _seed_line(directory: Path) -> str:
    from chains.devnet.seed import load_seed_report

    try:
        return seed_summary(load_seed_report(directory))
    except (OSError, ValueError):
        return ""


def _last_line(layout: DevnetLayout) -> str:
    try:
        lines = [ln for ln in layout.supervisor_log.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "(no log)"
    return lines[-1] if lines else "(empty log)"


def cmd_down(args: argparse.Namespace) -> int:
    result = down(_dir(args))
    if result.stopped:
        print(result.message)
        return 0
    print(f"rtrm: {result.message}", file=sys.stderr)
    return 1


def cmd_status(args: argparse.Namespace) -> int:
    directory = _dir(args)
    try:
        manifest = load_manifest(directory)
    except ManifestError as exc:
        print(f"rtrm: {exc}", file=sys.stderr)
        return 1
    rows = asyncio.run(collect_status(manifest))
    if args.json:
        doc = {
            "status": manifest.status,
            "directory": manifest.directory,
            "chains": [r.as_dict() for r in rows],
        }
        print(json.dumps(doc, indent=2))
    else:
        print(
            f"devnet {manifest.status} (started {manifest.started_at:%Y-%m-%d %H:%M:%S} UTC) in {manifest.directory}"
        )
        for line in format_status(rows):
            print(line)
    return 0 if manifest.status == "running" and all(r.healthy for r in rows) else 1
