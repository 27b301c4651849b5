"""Listing output shared by the commands: rich tables when installed, plain aligned text otherwise, or JSON lines.

Why JSON lines: `--json` output is for scripts and `jq`; one object per line streams and greps well.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import IO, Any


def jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def print_json_lines(rows: Sequence[Mapping[str, Any]], out: IO[str] | None = None) -> None:
    stream = out or sys.stdout
    for row in rows:
        stream.write(json.dumps({k: jsonable(v) for k, v in row.items()}, separators=(",", ":")) + "\n")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.4f}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def print_table(title: str, columns: Sequence[str], rows: Sequence[Mapping[str, Any]],
                out: IO[str] | None = None) -> None:
    """A titled table of `columns` (keys of each row); says "(none)" for an empty listing."""
    stream = out or sys.stdout
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # plain text fallback
        stream.write(f"{title}\n")
        if not rows:
            stream.write("  (none)\n")
            return
        cells = [[_cell(r.get(c)) for c in columns] for r in rows]
        widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
        stream.write("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip() + "\n")
        for row in cells:
            stream.write("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() + "\n")
        return
    table = Table(title=title, title_justify="left")
    for c in columns:
        table.add_column(c, overflow="fold")
    for r in rows:
        table.add_row(*(_cell(r.get(c)) for c in columns))
    if not rows:
        table.add_row("(none)", *([""] * (len(columns) - 1)))
    Console(file=stream, width=200).print(table)
