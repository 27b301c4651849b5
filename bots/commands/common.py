"""Resolving which store a read-only command opens, and failing in one line when it cannot."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from bots.config import ConfigError, load_config
from bots.db import StoreUrlError, normalize_url, redacted
from bots.store import Store

T = TypeVar("T")


class CommandError(Exception):
    """A user-facing failure: printed as one `rtrm: error:` line with the exit code."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def add_store_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", help="storage path or URL (default: [storage] url of --config, else rtrm.db)")
    parser.add_argument("--config", help="rtrm.toml to take the storage url from")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--limit", type=int, default=50, help="rows per listing (default 50)")


def store_url(args: argparse.Namespace) -> str:
    if args.store:
        return str(args.store)
    if args.config:
        try:
            return load_config(args.config).storage.url
        except ConfigError as exc:
            raise CommandError(str(exc)) from None
    return "rtrm.db"


async def with_store(url: str, work: Callable[[Store], Awaitable[T]]) -> T:
    """Open an existing store (never create one for a read) and run `work` on it."""
    try:
        normalized = normalize_url(url)
    except StoreUrlError as exc:
        raise CommandError(str(exc)) from None
    if normalized.startswith("sqlite"):
        path = Path(normalized.split(":///", 1)[1])
        if not path.is_file():
            raise CommandError(f"no store at {path}; run the keeper first or pass --store PATH", code=1)
    store = Store(url)
    try:
        await store.open()
        return await work(store)
    except CommandError:
        raise
    except Exception as exc:
        raise CommandError(f"cannot read store {redacted(url)}: {type(exc).__name__}: {exc}", code=1) from None
    finally:
        await store.close()


def run_command(fn: Callable[[], int]) -> int:
    try:
        return fn()
    except CommandError as exc:
        print(f"rtrm: error: {exc}", file=sys.stderr)
        return exc.code
