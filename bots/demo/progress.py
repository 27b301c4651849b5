"""The demo's live display: phase, what the market is doing, chain heads, actions per bot (rich), or plain
lines when stdout is not a terminal (CI logs stay readable)."""

from __future__ import annotations

import time

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from bots.demo.orchestrator import View


class RichView(View):
    def __init__(self, console: Console) -> None:
        self.console = console
        self.t0 = time.monotonic()
        self.name, self.note = "start", ""
        self.head_map: dict[str, int] = {}
        self.counts: dict[str, int] = {}
        self.lines: list[str] = []
        self.live: Live | None = None
        if console.is_terminal:
            self.live = Live(self._render(), console=console, refresh_per_second=4, transient=False)
            self.live.start()

    def close(self) -> None:
        if self.live is not None:
            self.live.update(self._render())
            self.live.stop()
            self.live = None

    def _render(self) -> Group:
        t = Table.grid(padding=(0, 2))
        t.add_row(Text(f"{time.monotonic() - self.t0:6.1f}s", style="dim"), Text(self.name, style="bold cyan"),
                  Text(self.note))
        heads = "  ".join(f"{c} #{h}" for c, h in sorted(self.head_map.items())) or "—"
        acts = "  ".join(f"{b} {n}" for b, n in sorted(self.counts.items()) if b != "setup") or "—"
        t.add_row("", Text("heads", style="dim"), heads)
        t.add_row("", Text("actions", style="dim"), acts)
        return Group(t, *(Text(line, style="dim") for line in self.lines[-4:]))

    def _refresh(self) -> None:
        if self.live is not None:
            self.live.update(self._render())

    def phase(self, name: str, note: str) -> None:
        self.name, self.note = name, note
        if self.live is None:
            self.console.print(f"[{time.monotonic() - self.t0:6.1f}s] {name}: {note}", markup=False)
        self._refresh()

    def heads(self, heads: dict[str, int]) -> None:
        self.head_map = dict(heads)
        self._refresh()

    def actions(self, counts: dict[str, int]) -> None:
        self.counts = dict(counts)
        self._refresh()

    def log(self, line: str) -> None:
        self.lines.append(line)
        if self.live is None:
            self.console.print(f"[{time.monotonic() - self.t0:6.1f}s] {line}", markup=False)
        self._refresh()
