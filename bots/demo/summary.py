"""The demo's terminal summary: what each bot did and what happened to the book, in two rich tables, then
where the SQLite store and the report are so the reader can dig further.

Per-entity rows are limited to the keeper, the pools and the most affected entities (a run has hundreds of
wallets); the table says how many were left out. The report page uses the same selection.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bots.demo.data import BotRow, EntityRow, ReportData

MOST_AFFECTED = 10
_LONG_ID = re.compile(r"(0x[0-9a-fA-F]{4}|[1-9A-HJ-NP-Za-km-z]{4})[0-9a-zA-Z]{12,}([0-9a-zA-Z]{4})")


def compact(x: float) -> str:
    """Short, sign-aware number for table cells: 1.23M, -45.6k, 0.0123 (never "-0")."""
    x = x + 0.0  # -0.0 + 0.0 == +0.0
    ax = abs(x)
    if ax >= 1e6:
        return f"{x / 1e6:.2f}M"
    if ax >= 1e4:
        return f"{x / 1e3:.1f}k"
    if ax >= 100:
        return f"{x:,.0f}"
    return f"{x:.4g}"


def usd(x: float) -> str:
    cents = round(x, 2) + 0.0
    return ("-$" if cents < 0 else "$") + f"{abs(cents):,.2f}"


def short_entity(name: str) -> str:
    """Long hex addresses / base58 keys → first and last 4 characters, so terminal rows fit."""
    return _LONG_ID.sub(lambda m: f"{m.group(1)}…{m.group(2)}", name)


def is_pinned(entity: str) -> bool:
    """The keeper and the pools are always shown: they are what the reader came to see."""
    return entity == "keeper" or entity.startswith("pool")


def _impact(row: EntityRow) -> tuple[float, float, int]:
    return (abs(row.after.value_usd - row.before.value_usd), abs(row.worst_loss_usd), row.claims)


def select_entities(rows: Sequence[EntityRow], limit: int = MOST_AFFECTED) -> tuple[list[EntityRow], int]:
    """Keeper and pools first, then the `limit` most affected others (value change, worst loss, claims)."""
    pinned = sorted((r for r in rows if is_pinned(r.entity)), key=lambda r: (r.entity != "keeper", r.entity))
    others = sorted((r for r in rows if not is_pinned(r.entity)), key=lambda r: (_impact(r), r.entity),
                    reverse=True)
    shown = others[: max(0, limit)]
    return pinned + shown, len(others) - len(shown)


def native_unit(chain: str) -> str:
    return "SOL" if chain.startswith("solana") else "ETH"


def gas_cell(gas_native: dict[str, float]) -> str:
    spent = [(c, v) for c, v in sorted(gas_native.items()) if v]
    return ", ".join(f"{c} {v:.6g} {native_unit(c)}" for c, v in spent) or "—"


def bot_table(bots: Sequence[BotRow]) -> Table:
    table = Table(title="Bots", title_justify="left", show_footer=len(bots) > 1)
    totals = (sum(b.actions for b in bots), sum(b.succeeded for b in bots), sum(b.outcompeted for b in bots))
    table.add_column("bot", footer="total")
    for name, total in zip(("actions", "succeeded", "outcompeted"), totals, strict=True):
        table.add_column(name, justify="right", footer=str(total))
    table.add_column("gas (native)")
    table.add_column("P&L at decision", justify="right", footer=usd(sum(b.pnl_usd for b in bots)))
    for b in bots:
        table.add_row(escape(b.bot), str(b.actions), str(b.succeeded), str(b.outcompeted), escape(gas_cell(b.gas_native)),
                      usd(b.pnl_usd))
    if not bots:
        table.add_row("(no bot acted)", "0", "0", "0", "—", usd(0.0))
    return table


def _before_after(row: EntityRow, attr: str) -> str:
    return f"{compact(getattr(row.before, attr))} → {compact(getattr(row.after, attr))}"


def entity_table(entities: Sequence[EntityRow], limit: int = MOST_AFFECTED) -> Table:
    rows, omitted = select_entities(entities, limit)
    caption = (f"{omitted} less affected entities omitted; all are in the report and the store" if omitted
               else None)
    table = Table(title="Entities (before → after the run)", title_justify="left", caption=caption,
                  caption_justify="left")
    table.add_column("entity")
    for name in ("$delta", "gamma", "vega", "theta", "value $"):
        table.add_column(name, justify="right")
    table.add_column("worst scenario")
    table.add_column("worst loss", justify="right")
    table.add_column("claims", justify="right")
    for r in rows:
        table.add_row(escape(short_entity(r.entity)), *(_before_after(r, a) for a in ("dollar_delta", "gamma", "vega", "theta",
                                                                 "value_usd")),
                      escape(r.worst_scenario) or "—", usd(r.worst_loss_usd), str(r.claims))
    if not rows:
        table.add_row("(no entities)", *["—"] * 8)
    return table


def summary_tables(data: ReportData) -> list[Table]:
    return [bot_table(data.bots), entity_table(data.entities)]


def print_summary(data: ReportData, console: Console, report: Path | None = None) -> None:
    """Print both tables, then where to look next (store, report, the inspection command)."""
    console.print(f"run {data.run_id} — scenario {data.scenario}, seed {data.seed}, {data.wallets} wallets, "
                  f"{data.duration_s:.1f} s, chains: {', '.join(data.chains) or 'none'}",
                  style="bold", highlight=False, markup=False)
    for table in summary_tables(data):
        console.print(table)
    for note in data.notes:
        console.print(f"note: {note}", highlight=False, markup=False)
    console.print(f"SQLite store: {data.store_path}", highlight=False, markup=False)
    if report is not None:
        console.print(f"Report:       {report}", highlight=False, markup=False)
    console.print(f"Inspect:      rtrm actions --json --store {data.store_path}", highlight=False, markup=False)
