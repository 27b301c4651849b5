"""`rtrm config check [--config F]`: validate and print the resolved configuration, secrets masked.

Exit 0 when valid, 2 with `file: field: expected …` on one line when not.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from bots.commands.common import CommandError, run_command
from bots.config import ConfigError, load_config, load_with_manifest, resolved_view
from chains.devnet.manifest import ManifestError


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    config = subparsers.add_parser("config", help="keeper configuration (rtrm.toml)")
    sub = config.add_subparsers(dest="config_command", required=True, metavar="{check}")
    check = sub.add_parser("check", help="validate rtrm.toml and print the resolved config (secrets masked)")
    check.add_argument("--config", default="rtrm.toml", help="config file (default rtrm.toml)")
    check.add_argument("--json", action="store_true", help="print the resolved config as one JSON object")
    check.set_defaults(handler=cmd_config_check)


def _lines(prefix: str, value: Any, out: list[str]) -> None:
    if isinstance(value, dict) and value:
        for k, v in value.items():
            _lines(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        out.append(f"{prefix} = {json.dumps(value)}")


def cmd_config_check(args: argparse.Namespace) -> int:
    def run() -> int:
        try:
            cfg = load_config(args.config)
        except ConfigError as exc:
            raise CommandError(str(exc)) from None
        if cfg.devnet.manifest is not None:
            try:
                cfg = load_with_manifest(args.config)
            except ManifestError as exc:  # the file is valid; addresses resolve once the devnet runs
                print(f"rtrm: note: from_manifest addresses unresolved: {exc}", file=sys.stderr)
            except ConfigError as exc:
                raise CommandError(str(exc)) from None
        view = resolved_view(cfg)
        if args.json:
            sys.stdout.write(json.dumps(view, sort_keys=True) + "\n")
            return 0
        lines: list[str] = []
        _lines("", view, lines)
        sys.stdout.write(f"# {args.config}: valid ({len(cfg.bots.configured())} bots, {len(cfg.protocols)} protocols, "
                         f"{len(cfg.chains)} chains)\n" + "\n".join(lines) + "\n")
        return 0

    return run_command(run)
