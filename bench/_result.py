"""Machine-readable benchmark results: each bench prints `RESULT {json}` lines; `bench/run_all.py` collects them
into bench/RESULTS.md. Why a line protocol: every bench runs in its own interpreter, and stdout is the one channel
that needs no shared state; the human-readable table stays on the lines around it."""

from __future__ import annotations

import json
from typing import Any

PREFIX = "RESULT "


def emit(workload: str, result: str, baseline: str = "", ratio: str = "", **data: Any) -> dict[str, Any]:
    """One table row (workload, result, same-run baseline / target, ratio) plus raw figures, printed as JSON."""
    row = {"workload": workload, "result": result, "baseline": baseline, "ratio": ratio, "data": data}
    print(PREFIX + json.dumps(row, default=str), flush=True)
    return row


def parse(line: str) -> dict[str, Any] | None:
    """The row of a `RESULT` line, None for any other line (or a malformed one, which the runner reports)."""
    if not line.startswith(PREFIX):
        return None
    row = json.loads(line[len(PREFIX):])
    if not isinstance(row, dict) or "workload" not in row:
        raise ValueError(f"RESULT line without a workload: {line[:120]!r}")
    return row
