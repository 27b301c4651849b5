"""`rtrm` command line entry point (subcommands are registered by the devnet, inspect and bot modules)."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rtrm", description="Real-time risk management keepers for crypto options")
    parser.add_argument("--version", action="version", version="rtrm 0.1.0")
    parser.add_subparsers(dest="command")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
