"""``python -m chains.devnet.solana``: run the local endpoint in the foreground until SIGTERM/SIGINT.

Prints one line ``ready http=<url> ws=<url> slot=<n>`` on stdout once it accepts requests; exits 0 on a
signal, 2 on a usage problem (e.g. the port is busy or the state file is unusable).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from loguru import logger

from .server import serve_solana
from .state_file import StateFileError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m chains.devnet.solana", description=__doc__)
    ap.add_argument(
        "--host", default="127.0.0.1", help="bind address (default 127.0.0.1; admin is loopback-only)"
    )
    ap.add_argument("--port", type=int, default=8899, help="HTTP and WebSocket port (0 = pick a free one)")
    ap.add_argument(
        "--state", type=Path, default=None, help="load accounts from FILE at start, save on shutdown"
    )
    ap.add_argument(
        "--tick", type=float, default=0.4, help="seconds per time-driven slot; 0 disables (default 0.4)"
    )
    ap.add_argument(
        "--no-slot-per-tx", action="store_true", help="do not advance a slot per landed transaction"
    )
    return ap.parse_args(argv)


async def run(args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with serve_solana(
        args.host,
        args.port,
        tick_interval=args.tick,
        slot_per_tx=not args.no_slot_per_tx,
        state_file=args.state,
    ) as ep:
        print(f"ready http={ep.url} ws={ep.ws_url} slot={ep.chain.slot}", flush=True)
        await stop.wait()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logger.remove()
    logger.add(sys.stderr, level="INFO", diagnose=False)
    try:
        return asyncio.run(run(args))
    except (OSError, StateFileError) as exc:
        print(f"solana endpoint: cannot start on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
