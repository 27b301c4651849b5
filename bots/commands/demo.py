"""`rtrm demo [--seed N] [--wallets M] [--scenario crash|squeeze|grind] [--keep-running]`: the market-crash demo.

Exit 0 when the run finished and (for the crash scenario) showed every outcome issue 8 asks for; 1 when it
finished without one of them (the summary says which); 130 on Ctrl-C — every process the demo started is
stopped first and the SQLite store is left closed and consistent, with a report of what was recorded.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import signal
from pathlib import Path
from typing import Any

from rich.console import Console

from bots.commands.common import CommandError

MIN_WALLETS = 12  # enough seeded wallets for a covered thin-margin account, a second cover holder and the rest


def _positive(kind: str, low: int) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{kind} must be an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{kind} must be >= {low}, got {value}")
        return value

    return parse


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    from bots.demo.scenarios import SCENARIOS

    demo = subparsers.add_parser("demo", help="run the market-crash demo on a local devnet (no setup needed)")
    demo.add_argument("--seed", type=_positive("--seed", 0), default=7, help="market and wallet seed (default 7)")
    demo.add_argument("--wallets", type=_positive("--wallets", MIN_WALLETS), default=200,
                      help=f"seeded wallets / entities (default 200, min {MIN_WALLETS})")
    demo.add_argument("--scenario", choices=SCENARIOS, default="crash", help="market script (default crash)")
    demo.add_argument("--keep-running", action="store_true",
                      help="leave the devnet up after the run (Ctrl-C stops it) to rerun the generated configs")
    demo.add_argument("--reports-dir", type=Path, default=Path("reports"), help="where runs go (default reports/)")
    demo.add_argument("--fork", action="append", default=[], metavar="CHAIN=URL[@BLOCK]",
                      help="fork a chain from your own RPC (the demo's protocols are deployed on top)")
    demo.set_defaults(handler=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from bots.demo.orchestrator import Demo, DemoOptions
    from bots.demo.progress import RichView
    from chains.devnet.spec import parse_forks

    parse_forks(args.fork)  # a malformed --fork is a usage error before anything starts (exit 2)
    console = Console()
    if not console.is_terminal:  # logs and CI: wide enough that the summary tables do not wrap
        console = Console(width=160)
    view = RichView(console)
    demo = Demo(DemoOptions(seed=args.seed, wallets=args.wallets, scenario=args.scenario,
                            keep_running=args.keep_running, reports_dir=args.reports_dir, forks=args.fork), view)

    async def main() -> str:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        assert task is not None
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        try:
            return (await demo.run()).status
        except asyncio.CancelledError:
            return "interrupted"
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    try:
        status = asyncio.run(main())
    finally:
        view.close()
    code = _report(demo, console, args.scenario, status)
    if args.keep_running and demo.devnet is not None:
        _hold_devnet(demo, console)
    return code


def _report(demo: Any, console: Console, scenario: str, status: str) -> int:
    from bots.demo.collect import collect
    from bots.demo.expect import counts, missing
    from bots.demo.report import render_report
    from bots.demo.summary import print_summary

    if not demo.store_path.exists():
        raise CommandError(f"the demo stopped before its store was created ({status})")
    data = collect(demo.store_path, demo.run_dir / "rtrm.toml")
    page = render_report(data, demo.run_dir)
    print_summary(data, console, page)
    got = counts(data.actions)
    console.print("outcomes: " + ", ".join(f"{k} {v}" for k, v in got.items()), markup=False)
    console.print(f"run {status} in {data.duration_s:.1f}s; reports/latest → {demo.run_id}", markup=False)
    if status == "interrupted":
        return 130
    if status != "finished":
        return 1
    lacking = missing(data.actions)
    if scenario == "crash" and lacking:
        console.print(f"rtrm: error: the crash demo did not show: {', '.join(lacking)}", markup=False)
        return 1
    return 0


def _hold_devnet(demo: Any, console: Console) -> None:
    assert demo.manifest is not None
    console.print(f"devnet left running (manifest {demo.manifest.directory}); rerun the keeper with\n"
                  f"  RTRM_DEMO_KEEPER_KEY=$(python -m bots.demo.keys keeper --seed {demo.opts.seed}) "
                  f"rtrm run --config {demo.run_dir / 'rtrm.toml'}\nCtrl-C stops the devnet.", markup=False)
    with contextlib.suppress(KeyboardInterrupt):
        signal.pause()
    demo.devnet.stop()
    if demo.tmp is not None:
        shutil.rmtree(demo.tmp, ignore_errors=True)
