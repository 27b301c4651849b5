"""`rtrm` command line entry point. Subcommands are registered by their owning modules (``register(sub)``).

User errors print one line ``rtrm: error: ...`` and exit 2; bugs keep their traceback.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, NoReturn, get_args

from bots.logging import configure_logging, redactor
from bots.settings import LogLevel, SettingsError, load_settings
from chains.devnet.errors import DevnetError, DevnetUsageError
from chains.devnet.manifest import ManifestError
from chains.toolchain import ToolNotFoundError


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is a single line that points at --help, and options are never abbreviated
    (``up --detach`` re-runs itself without ``--detach``; an abbreviation like ``--det`` would slip through)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


# Subcommand modules, each exposing register(subparsers). A registry instead of an if-chain: a new command is
# one line here.
COMMAND_MODULES = (
    "bots.commands.config_check",
    "bots.commands.listings",
    "bots.commands.inspect",
    "bots.commands.run",
    "bots.commands.chaos",
    "bots.commands.demo",
)


def _optional_registrations() -> list[Any]:
    import importlib

    registrations = []
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # a real missing dependency inside the module must not be hidden
                raise
            continue
        registrations.append(module.register)
    return registrations


def build_parser() -> argparse.ArgumentParser:
    from chains.devnet.commands import register as register_devnet

    parser = OneLineParser(prog="rtrm", description="Real-time risk management keepers for crypto options")
    parser.add_argument("--version", action="version", version="rtrm 0.1.0")
    parser.add_argument(
        "--log-level",
        type=str.upper,
        choices=get_args(LogLevel),
        default=None,
        help="stderr log level (default $RTRM_LOG_LEVEL or INFO)",
    )
    sub = parser.add_subparsers(dest="command", parser_class=OneLineParser)
    register_devnet(sub)
    for register in _optional_registrations():
        register(sub)
    return parser


def _fail(message: str, code: int) -> int:
    print(f"rtrm: error: {redactor().text(message)}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(raw)
    except SystemExit as exc:  # --help / --version / usage error (already printed as one line)
        return exc.code if isinstance(exc.code, int) else 2
    if args.command is None:
        parser.print_help()
        return 2
    args.raw_argv = raw
    try:
        settings = load_settings()
        configure_logging(level=args.log_level or settings.log_level, json_path=settings.log_json)
        return int(args.handler(args))
    except (DevnetUsageError, ToolNotFoundError, SettingsError) as exc:
        return _fail(str(exc), 2)
    except (ManifestError, DevnetError) as exc:
        return _fail(str(exc), 1)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)


if __name__ == "__main__":
    sys.exit(main())
