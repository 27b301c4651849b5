"""`rtrm run --config rtrm.toml [--dry-run]`: start the keeper and run until SIGINT/SIGTERM.

Exit 0 after a clean stop, 2 with one `rtrm: error:` line when the config cannot be turned into a keeper (invalid
file, missing signer variable, unknown protocol address).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path
from typing import Any

from loguru import logger

from bots.commands.common import CommandError, run_command
from bots.config import ConfigError, load_with_manifest
from bots.runner import RunnerError, Runtime
from chains.devnet.manifest import ManifestError
from chains.evm.signer import SignerError


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    run = subparsers.add_parser("run", help="run the keeper bots configured in rtrm.toml")
    run.add_argument("--config", default="rtrm.toml", help="config file (default rtrm.toml)")
    run.add_argument("--dry-run", action="store_true", help="decide and record everything, send nothing")
    run.add_argument("--no-bus", action="store_true", help="do not publish on MQTT (no broker is started)")
    run.set_defaults(handler=cmd_run)


async def _serve(rt: Runtime) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    logger.info("keeper running (dry_run={}); Ctrl-C to stop", rt.config.dry_run)
    await rt.run_until(stop)
    logger.info("keeper stopped")


def cmd_run(args: argparse.Namespace) -> int:
    def run() -> int:
        try:
            cfg = load_with_manifest(args.config)
        except (ConfigError, ManifestError) as exc:
            raise CommandError(str(exc)) from None
        if args.dry_run:
            cfg = cfg.model_copy(update={"dry_run": True})
        rt = Runtime(cfg, config_path=Path(args.config), use_bus=not args.no_bus)
        try:
            asyncio.run(_serve(rt))
        except (RunnerError, SignerError) as exc:
            raise CommandError(str(exc)) from None
        return 0

    return run_command(run)
