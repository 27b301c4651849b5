"""`rtrm status`, `rtrm actions`, `rtrm claims`: read-only views of the store and the action journal."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from bots.commands.common import add_store_args, run_command, store_url, with_store
from bots.commands.output import print_json_lines, print_table
from bots.journal import Intent
from bots.store import Store

ACTION_COLUMNS = ("bot", "kind", "chain", "protocol", "target", "key", "status", "tx_hash", "block", "updated_at")
CLAIM_COLUMNS = ("claim_id", "chain", "protocol", "entity", "account", "evidence", "loss_usd", "status",
                 "liveness_end", "updated_at")
RISK_COLUMNS = ("entity", "dollar_delta", "gamma", "vega", "theta", "value_usd", "initial_margin",
                "maintenance_margin", "worst_scenario", "worst_loss_usd", "distance_to_liquidation", "at")
HEALTH_COLUMNS = ("chain", "head", "head_age_s", "healthy", "detail", "at")
ALERT_COLUMNS = ("at", "level", "source", "chain", "message")


def action_row(i: Intent) -> dict[str, Any]:
    dry = i.state == "abandoned" and (i.reason or "").startswith("dry_run")
    return {"bot": i.bot, "kind": i.kind, "chain": i.chain, "protocol": i.protocol, "target": i.target,
            "key": i.key, "status": "dry-run" if dry else i.state, "tx_hash": i.tx_hash or None,
            "block": i.block_number, "updated_at": i.updated_at}


def _rows(models: Any, columns: tuple[str, ...]) -> list[dict[str, Any]]:
    return [{c: getattr(m, c, None) for c in columns} for m in models]


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    status = subparsers.add_parser("status", help="risk per entity, recent actions and claims, chain health")
    add_store_args(status)
    status.set_defaults(handler=cmd_status)
    actions = subparsers.add_parser("actions", help="keeper actions from the journal (newest first)")
    add_store_args(actions)
    actions.add_argument("--bot", help="only this bot's actions")
    actions.set_defaults(handler=cmd_actions)
    claims = subparsers.add_parser("claims", help="cover claims filed, disputed and settled")
    add_store_args(claims)
    claims.add_argument("--status", dest="claim_status", help="only claims in this status")
    claims.set_defaults(handler=cmd_claims)


def cmd_actions(args: argparse.Namespace) -> int:
    async def work(store: Store) -> list[dict[str, Any]]:
        return [action_row(i) for i in await store.actions(args.limit, bot=args.bot)]

    def run() -> int:
        rows = asyncio.run(with_store(store_url(args), work))
        if args.json:
            print_json_lines(rows)
        else:
            print_table("Actions", ACTION_COLUMNS, rows)
        return 0

    return run_command(run)


def cmd_claims(args: argparse.Namespace) -> int:
    async def work(store: Store) -> list[dict[str, Any]]:
        return _rows(await store.claims(args.claim_status, args.limit), CLAIM_COLUMNS)

    def run() -> int:
        rows = asyncio.run(with_store(store_url(args), work))
        if args.json:
            print_json_lines(rows)
        else:
            print_table("Claims", CLAIM_COLUMNS, rows)
        return 0

    return run_command(run)


def cmd_status(args: argparse.Namespace) -> int:
    async def work(store: Store) -> dict[str, list[dict[str, Any]]]:
        return {
            "risk": _rows(await store.latest_risk(), RISK_COLUMNS),
            "action": [action_row(i) for i in await store.actions(min(args.limit, 10))],
            "claim": _rows(await store.claims(limit=min(args.limit, 10)), CLAIM_COLUMNS),
            "chain": _rows(await store.chain_health(), HEALTH_COLUMNS),
            "alert": _rows(await store.alerts(min(args.limit, 10)), ALERT_COLUMNS),
        }

    titles = {"risk": ("Risk per entity", RISK_COLUMNS), "action": ("Recent actions", ACTION_COLUMNS),
              "claim": ("Recent claims", CLAIM_COLUMNS), "chain": ("Chain health", HEALTH_COLUMNS),
              "alert": ("Recent alerts", ALERT_COLUMNS)}

    def run() -> int:
        sections = asyncio.run(with_store(store_url(args), work))
        if args.json:
            print_json_lines([{"section": name, **row} for name, rows in sections.items() for row in rows])
            return 0
        for name, rows in sections.items():
            title, columns = titles[name]
            print_table(title, columns, rows)
        return 0

    return run_command(run)
