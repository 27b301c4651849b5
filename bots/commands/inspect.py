"""``rtrm inspect positions|oracles|accounts|health``: what the chain adapters see right now.

Why: before trusting the bots, a user (or a test, or a script) checks their view of the world — every position
with its entity, every oracle reading with the block/slot it was read at, and each chain's freshness. The
reading itself is :mod:`chains.collect`; this module only filters and prints (a table, or ``--json`` lines with
every normalized field: Decimals as strings, datetimes ISO 8601, enums by value).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import IO, Any

from bots.commands.common import CommandError, run_command
from bots.commands.output import print_table

WHAT = ("positions", "oracles", "accounts", "health")


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    p = subparsers.add_parser(
        "inspect", help="print what the chain adapters see now (positions, oracles, ...)"
    )
    add_arguments(p)
    p.set_defaults(handler=lambda args: run_command(lambda: cmd_inspect(args)))


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("what", choices=WHAT, help="what to show")
    p.add_argument("--chain", help="only this chain (a name from the devnet manifest)")
    p.add_argument("--protocol", help="only this protocol (positions, accounts, oracles)")
    p.add_argument(
        "--entity", help="only this entity's positions/accounts (it ties EVM and Solana addresses)"
    )
    p.add_argument("--json", action="store_true", help="one JSON object per line, every normalized field")
    p.add_argument("--dir", default=None, help="devnet directory (default $RTRM_DEVNET_DIR or ./devnet)")


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``inspect`` without the rest of the CLI (tests, scripts): ``main(["positions", "--json"])``."""
    parser = argparse.ArgumentParser(prog="rtrm inspect", allow_abbrev=False, exit_on_error=False)
    add_arguments(parser)
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except (argparse.ArgumentError, SystemExit) as exc:
        if isinstance(exc, SystemExit):
            return exc.code if isinstance(exc.code, int) else 2
        print(f"rtrm inspect: error: {exc} (see `rtrm inspect --help`)", file=sys.stderr)
        return 2
    return run_command(lambda: cmd_inspect(args))


# ---------------------------------------------------------------------------------------------- plain values
def plain(value: Any) -> Any:
    """JSON-ready: Decimal -> str (exact), datetime -> ISO, enum -> value, dataclass/mapping -> dict."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if isinstance(value, float) and value != value:  # NaN is not JSON
        return None
    return value


# ---------------------------------------------------------------------------------------------- rows (pure)
def entity_of(owner: str, entities: Mapping[str, str]) -> str:
    """EVM addresses compare case-insensitively, Solana pubkeys exactly; unmapped owners are their own entity."""
    if owner in entities:
        return entities[owner]
    if owner.startswith("0x"):
        low = {k.lower(): v for k, v in entities.items() if k.startswith("0x")}
        return low.get(owner.lower(), owner)
    return owner


def position_rows(snapshot: Any) -> list[dict[str, Any]]:
    rows = []
    for state in snapshot.accounts:
        for p in state.positions:
            rows.append(
                {
                    "chain": state.chain,
                    "protocol": state.protocol,
                    "block": state.block,
                    "block_hash": state.block_hash,
                    "read_at": state.read_at,
                    "account_id": p.account_id,
                    "protocol_account_id": state.account_id,
                    "owner": p.owner,
                    "entity": p.entity,
                    "size": p.size,
                    "collateral": p.collateral,
                    "key": p.key,
                    "instrument": plain(p.instrument) | {"key": p.instrument.key},
                }
            )
    return rows


def account_rows(snapshot: Any, entities: Mapping[str, str]) -> list[dict[str, Any]]:
    rows = []
    for s in snapshot.accounts:
        entity = s.positions[0].entity if s.positions else entity_of(s.owner, entities)
        rows.append(
            {
                "chain": s.chain,
                "protocol": s.protocol,
                "account_id": s.account_id,
                "owner": s.owner,
                "entity": entity,
                "block": s.block,
                "block_hash": s.block_hash,
                "read_at": s.read_at,
                "collateral": plain(s.collateral),
                "params": plain(s.params),
                "positions": [plain(p) for p in s.positions],
            }
        )
    return rows


def oracle_rows(snapshot: Any) -> list[dict[str, Any]]:
    """Quotes, vol slices, sequencer statuses and faults of every origin; the same feed read twice is listed once."""
    rows: list[dict[str, Any]] = []
    seen: set[tuple[Any, ...]] = set()
    for c in snapshot.chains:
        for origin, r in c.oracles.items():
            for q in r.quotes:
                k = ("quote", q.chain, q.source, q.asset, q.feed_id)
                if k not in seen:
                    seen.add(k)
                    rows.append({"type": "quote", "origin": origin, **plain(q)})
            for v in r.vol_slices:
                k = ("vol", v.chain, v.asset, v.expiry, None)
                if k not in seen:
                    seen.add(k)
                    rows.append({"type": "vol_slice", "origin": origin, **plain(v)})
            for st in r.sequencers:
                rows.append({"type": "sequencer", "origin": origin, **plain(st)})
            for f in r.faults:
                rows.append(
                    {"type": "fault", "origin": origin, "chain": c.chain, "block": r.block, **plain(f)}
                )
    return rows


def health_rows(health: Sequence[Any]) -> list[dict[str, Any]]:
    return [plain(h) for h in health]


# ---------------------------------------------------------------------------------------------- tables
def _short(s: str, n: int = 14) -> str:
    return s if len(s) <= n else f"{s[:8]}…{s[-4:]}"


def _num(d: Decimal) -> str:
    """Plain notation without trailing zeros (never 1E+1)."""
    return f"{d.normalize():f}"


def _instrument_label(i: Mapping[str, Any]) -> str:
    if i.get("kind") != "option":
        return f"{i.get('underlying')} {i.get('kind')}"
    return f"{i['underlying']} {str(i['option_type']).upper()[0]} {_num(Decimal(i['strike']))} {i['expiry'][:10]}"


def _table(what: str, rows: list[dict[str, Any]], out: IO[str]) -> None:
    if what == "positions":
        cols = ["chain", "protocol", "block", "account", "entity", "instrument", "size", "collateral"]
        view = [
            {
                "chain": r["chain"],
                "protocol": r["protocol"],
                "block": r["block"],
                "account": _short(str(r["account_id"])),
                "entity": _short(r["entity"], 18),
                "instrument": _instrument_label(r["instrument"]),
                "size": _num(r["size"]),
                "collateral": _num(r["collateral"]),
            }
            for r in rows
        ]
    elif what == "accounts":
        cols = ["chain", "protocol", "block", "account", "entity", "positions", "collateral", "params"]
        view = [
            {
                "chain": r["chain"],
                "protocol": r["protocol"],
                "block": r["block"],
                "account": _short(r["account_id"]),
                "entity": _short(r["entity"], 18),
                "positions": len(r["positions"]),
                "collateral": " ".join(f"{k}={_num(Decimal(v))}" for k, v in r["collateral"].items()),
                "params": " ".join(f"{k}={_num(Decimal(v))}" for k, v in list(r["params"].items())[:3]),
            }
            for r in rows
        ]
    elif what == "oracles":
        cols = ["chain", "block", "type", "origin", "source", "asset", "value", "time", "feed"]
        view = [
            {
                "chain": r.get("chain"),
                "block": r.get("block"),
                "type": r["type"],
                "origin": r["origin"],
                "source": r.get("source", r.get("kind", "")),
                "asset": r.get("asset", ""),
                "value": _oracle_value(r),
                "time": r.get("publish_time") or r.get("updated_at") or "",
                "feed": _short(str(r.get("feed_id") or r.get("feed") or r.get("expiry") or ""), 22),
            }
            for r in rows
        ]
    else:
        cols = ["chain", "kind", "head", "head_age_s", "healthy", "endpoints"]
        view = [
            {
                "chain": r["chain"],
                "kind": r["kind"],
                "head": r["head"],
                "head_age_s": "" if r["head_age_s"] is None else f"{r['head_age_s']:.1f}",
                "healthy": "yes" if r["healthy"] else f"NO {r['error'][:60]}",
                "endpoints": "; ".join(_endpoint_label(e) for e in r["endpoints"]),
            }
            for r in rows
        ]
    print_table(f"{what} ({len(rows)})", cols, view, out)


def _oracle_value(r: Mapping[str, Any]) -> str:
    if r["type"] == "quote":
        conf = f" ±{r['confidence']}" if r.get("confidence") is not None else ""
        return f"{r['price']}{conf}"
    if r["type"] == "vol_slice":
        return f"fwd {r['forward']} (svi a={r['a']} b={r['b']})"
    if r["type"] == "sequencer":
        return "up" if r["up"] else "DOWN"
    return str(r.get("reason", ""))[:60]


def _endpoint_label(e: Mapping[str, Any]) -> str:
    up = "up" if e.get("up") else "DOWN"
    lat = e.get("latency_ms", None)
    lat_s = f" {lat:.1f}ms" if isinstance(lat, int | float) else ""
    return f"{e.get('url')} {up}{lat_s} err={e.get('errors', 0)}"


# ---------------------------------------------------------------------------------------------- command
def _seed_report(directory: Path, manifest: Any) -> dict[str, Any] | None:
    """`seed.json` of this devnet; a file older than the devnet's start belongs to an earlier run (unless the
    chains persist state, in which case the old seeding is still on-chain)."""
    from chains.devnet.seed import SEED_FILE, load_seed_report

    path = directory / SEED_FILE
    if not path.is_file():
        return None
    persisted = any(c.state_file for c in manifest.chains.values())
    if not persisted and path.stat().st_mtime < manifest.started_at.timestamp():
        return None
    try:
        return load_seed_report(directory)
    except (OSError, ValueError) as exc:
        raise CommandError(f"cannot read {path}: {exc}", code=2) from None


def _validate(args: argparse.Namespace) -> None:
    if args.what in ("oracles", "health") and args.entity is not None:
        raise CommandError(f"--entity applies to positions and accounts, not {args.what}")
    if args.what == "health" and args.protocol is not None:
        raise CommandError("--protocol applies to positions, accounts and oracles, not health")


def cmd_inspect(args: argparse.Namespace, out: IO[str] | None = None) -> int:
    from chains.collect import CollectError, Collector, check_protocol, entity_map, select_chains
    from chains.devnet.commands import default_dir
    from chains.devnet.manifest import ManifestError, load_manifest

    stream = out or sys.stdout
    _validate(args)
    directory = Path(args.dir if args.dir is not None else default_dir())
    try:
        manifest = load_manifest(directory, require_running=True)
        chains = select_chains(manifest, args.chain)
        check_protocol(args.protocol)
    except (ManifestError, CollectError) as exc:
        raise CommandError(str(exc), code=2) from None
    seed = _seed_report(directory, manifest)
    entities = entity_map(seed)
    protocols = [args.protocol] if args.protocol else None

    async def read() -> tuple[list[dict[str, Any]], dict[str, str]]:
        async with Collector(manifest, seed, chains=chains, protocols=protocols) as col:
            if args.what == "health":
                return health_rows(await col.health()), {}
            snap = await col.snapshot(oracles=args.what == "oracles", accounts=args.what != "oracles")
            errors = {f"{c.chain}/{p}": e for c in snap.chains for p, e in c.errors.items()}
            if args.what == "positions":
                return position_rows(snap), errors
            if args.what == "accounts":
                return account_rows(snap, entities), errors
            return oracle_rows(snap), errors

    try:
        rows, errors = asyncio.run(read())
    except CollectError as exc:
        raise CommandError(str(exc), code=2) from None
    except Exception as exc:  # noqa: BLE001 - a dead node/endpoint: one line, not a traceback
        raise CommandError(
            f"cannot read the devnet in {directory} ({type(exc).__name__}: {exc}); "
            "is it running? check `rtrm devnet status`",
            code=2,
        ) from None
    if args.entity is not None:
        rows = [r for r in rows if r["entity"] == args.entity]
        if not rows and args.entity not in set(entities.values()):
            raise CommandError(f"unknown entity {args.entity!r}: no position or seeded entity has that name")
    if args.json:
        for r in rows:
            stream.write(json.dumps(plain(r), separators=(",", ":")) + "\n")
    else:
        _table(args.what, rows, stream)
    for where, err in errors.items():
        print(f"rtrm: warning: {where} could not be read: {err}", file=sys.stderr)
    return 1 if errors else 0
