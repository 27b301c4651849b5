"""The demo report: one self-contained `index.html` (inline CSS, no script, no external URL) next to its PNG
charts, written from a `ReportData` so a reader understands the run from the page alone.

Every string that came from the run (entity names, targets, notes, paths) is HTML-escaped; the page holds
no generation timestamp, so the same data gives the same page.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bots.demo import charts
from bots.demo.data import Action, ReportData
from bots.demo.summary import compact, gas_cell, native_unit, select_entities, usd

ENTITY_ROWS = 30  # the page shows more entities than the terminal, still not hundreds
ACTION_ROWS = 1000


@dataclass(frozen=True)
class Chart:
    file: str
    title: str
    explain: str
    draw: charts.ChartFn
    height: Callable[[ReportData], float]


def _fixed(h: float) -> Callable[[ReportData], float]:
    return lambda _data: h


CHARTS: tuple[Chart, ...] = (
    Chart("prices.png", "Price paths per chain",
          "One panel per asset, one line per chain and oracle source. Lines that lie on top of each other mean "
          "every chain saw the same market; a line that lags or jumps alone is a stale or diverging feed.",
          charts.draw_prices, charts.prices_height),
    Chart("net_delta.png", "Net dollar delta vs hedge band",
          "For the keeper and each pool: the net dollar delta (line) against the band the hedger keeps it in "
          "(shaded). Excursions outside the band should be short: the hedger trades back inside.",
          charts.draw_net_delta, charts.net_delta_height),
    Chart("greeks.png", "Aggregate Greeks",
          "Sum over every entity in the book (wallets, pools, the keeper) of dollar delta, gamma, vega and theta.",
          charts.draw_greeks, _fixed(5.6)),
    Chart("timeline.png", "Action timeline",
          "Each keeper action on its bot's lane. Marker shape is the kind of action, colour the outcome. "
          "The table below lists the same actions with their transactions.",
          charts.draw_timeline, _fixed(3.6)),
    Chart("riskiest.png", "Riskiest entities before the crash",
          "How far spot had to move for each of the riskiest entities to become liquidatable, measured just "
          "before the crash. Red bars were already liquidatable.",
          charts.draw_riskiest, charts.riskiest_height),
    Chart("latency.png", "Reaction latency",
          "Time from the keeper seeing an oracle update to sending the transaction it triggered.",
          charts.draw_latency, _fixed(3.4)),
    Chart("gas.png", "Gas spent per chain",
          "Gas units and fees per chain, stacked by bot. Fees are in each chain's native unit.",
          charts.draw_gas, _fixed(3.4)),
)

_CSS = """
body{font-family:system-ui,-apple-system,'DejaVu Sans',sans-serif;margin:0 auto;max-width:1160px;padding:1.2em;
color:#222;background:#fff;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:1px solid #ddd;padding-bottom:.2em}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:.2em 1em}dl.meta dt{font-weight:600}
dl.meta dd{margin:0}img{max-width:100%;height:auto;border:1px solid #eee}
table{border-collapse:collapse;font-size:.85em;margin:.6em 0;display:block;max-width:100%;overflow-x:auto}th,td{border:1px solid #ddd;padding:.25em .5em;overflow-wrap:anywhere}
th{background:#f5f5f5;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.confirmed td.state{color:#2e7d32}tr.reverted td.state{color:#c62828}tr.outcompeted td.state{color:#ef6c00}
code{background:#f6f8fa;padding:0 .2em}pre{background:#f6f8fa;padding:.6em;overflow-x:auto}
.muted{color:#666}nav a{margin-right:.8em}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], col_class: dict[int, str] | None = None,
           row_classes: Sequence[str] | None = None) -> str:
    """A plain HTML table; `rows` hold already-escaped cell HTML, `col_class` styles columns ("n" = numeric)."""
    cols = col_class or {}
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{_e(row_classes[i])}"' if row_classes else ""
        cells = "".join(f'<td class="{cols[j]}">{c}</td>' if j in cols else f"<td>{c}</td>" for j, c in enumerate(row))
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _numeric(*cols: int) -> dict[int, str]:
    return dict.fromkeys(cols, "n")


def _chain_time(unix: int) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%d %H:%M:%S") if unix else "—"


def short_hash(tx_hash: str) -> str:
    return tx_hash if len(tx_hash) <= 18 else f"{tx_hash[:10]}…{tx_hash[-6:]}"


def _header(data: ReportData) -> str:
    heads = ", ".join(f"{c} (head {data.heads[c]})" if c in data.heads else c for c in data.chains)
    meta = [
        ("scenario", data.scenario), ("seed", data.seed), ("wallets", data.wallets),
        ("started", data.started_at.isoformat(timespec="seconds")), ("duration", f"{data.duration_s:.1f} s"),
        ("chains", heads or "none"), ("SQLite store", data.store_path), ("config", data.config_path),
    ]
    items = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in meta)
    phases = _table(
        ["phase", "run time (s)", "chain time (UTC)"],
        [[_e(p.name), f"{p.start_s:.1f} – {p.end_s:.1f}", f"{_chain_time(p.chain_start)} – {_chain_time(p.chain_end)}"]
         for p in data.phases],
    ) if data.phases else '<p class="muted">no phases recorded</p>'
    return (
        f"<h1>rtrm demo — run {_e(data.run_id)}</h1>"
        f'<p class="muted">A market crash played on forked chains with the keeper bots acting. Time charts are '
        f"in seconds since the run started, shaded by scenario phase.</p>"
        f'<dl class="meta">{items}</dl>'
        f"<h2 id=\"phases\">Phases</h2>{phases}"
        f"<p>Inspect every action with: <code>rtrm actions --json --store {_e(data.store_path)}</code></p>"
    )


def _chart_section(chart: Chart) -> str:
    anchor = chart.file.removesuffix(".png")
    return (f'<h2 id="{anchor}">{_e(chart.title)}</h2><p>{_e(chart.explain)}</p>'
            f'<img src="{_e(chart.file)}" alt="{_e(chart.title)}">')


def _state_label(a: Action) -> str:
    return f"{a.state} (outcompeted)" if a.outcompeted else a.state


def _action_rows(actions: Sequence[Action]) -> tuple[list[list[str]], list[str]]:
    rows, classes = [], []
    for a in sorted(actions, key=lambda a: (a.t_s, a.bot, a.key))[:ACTION_ROWS]:
        tx = f'<code title="{_e(a.tx_hash)}">{_e(short_hash(a.tx_hash))}</code>' if a.tx_hash else "—"
        rows.append([f"{a.t_s:.1f}", _e(a.bot), _e(a.kind), _e(a.chain), _e(a.protocol), _e(a.target),
                     _e(_state_label(a)), f"{a.gas_used:,}", tx])
        classes.append("outcompeted" if a.outcompeted else a.state)
    return rows, classes


def _actions_table(data: ReportData) -> str:
    if not data.actions:
        return '<p class="muted">no keeper actions were journaled</p>'
    rows, classes = _action_rows(data.actions)
    headers = ["t (s)", "bot", "kind", "chain", "protocol", "target", "state", "gas", "tx"]
    table = _table(headers, rows, {**_numeric(0, 7), 6: "state"}, classes)
    omitted = len(data.actions) - len(rows)
    more = f'<p class="muted">{omitted} later actions omitted; see the store.</p>' if omitted > 0 else ""
    return table + more


def _gas_table(data: ReportData) -> str:
    rows = []
    for chain, per_bot in charts.gas_by_chain(data).items():
        used = sum(u for u, _ in per_bot.values())
        fee = sum(f for _, f in per_bot.values())
        rows.append([_e(chain), f"{used:,}", f"{fee:.6g} {_e(native_unit(chain))}"])
    return _table(["chain", "gas used", "fees"], rows, _numeric(1, 2)) if rows else ""


def _bots_section(data: ReportData) -> str:
    rows = [[_e(b.bot), str(b.actions), str(b.succeeded), str(b.outcompeted), _e(gas_cell(b.gas_native)),
             _e(usd(b.pnl_usd))] for b in data.bots]
    body = (_table(["bot", "actions", "succeeded", "outcompeted", "gas (native)", "P&L at decision"], rows,
                   _numeric(1, 2, 3, 5)) if rows else '<p class="muted">no bot acted</p>')
    return ('<h2 id="bots">Bots</h2><p>P&amp;L is the expected profit at decision time of each bot\'s '
            f"confirmed actions; gas is what its mined transactions paid.</p>{body}")


def _entities_section(data: ReportData) -> str:
    rows, omitted = select_entities(data.entities, ENTITY_ROWS)
    cells = [[_e(r.entity),
              *(f"{_e(compact(getattr(r.before, a)))} → {_e(compact(getattr(r.after, a)))}"
                for a in ("dollar_delta", "gamma", "vega", "theta", "value_usd")),
              _e(r.worst_scenario or "—"), _e(usd(r.worst_loss_usd)), str(r.claims)] for r in rows]
    headers = ["entity", "$delta", "gamma", "vega", "theta", "value $", "worst scenario", "worst loss", "claims"]
    body = _table(headers, cells, _numeric(1, 2, 3, 4, 5, 7, 8)) if cells else '<p class="muted">no entities</p>'
    more = (f'<p class="muted">{omitted} less affected entities omitted; every entity is in the store.</p>'
            if omitted else "")
    return ('<h2 id="entities">Entities</h2><p>Greeks and value before → after the run for the keeper, the '
            f"pools and the most affected wallets, with each one's worst house scenario and claims filed.</p>"
            f"{body}{more}")


def _notes_section(data: ReportData) -> str:
    items = "".join(f"<li>{_e(n)}</li>" for n in data.notes) or "<li>none</li>"
    return f'<h2 id="notes">Notes</h2><ul>{items}</ul>'


def render_html(data: ReportData) -> str:
    """The page, given that every chart in `CHARTS` sits next to it."""
    by_file = {c.file: _chart_section(c) for c in CHARTS}
    nav = "".join(f'<a href="#{c.file.removesuffix(".png")}">{_e(c.title)}</a>' for c in CHARTS)
    body = "".join([
        _header(data), f"<nav>{nav}</nav>",
        by_file["prices.png"], by_file["net_delta.png"], by_file["greeks.png"],
        by_file["timeline.png"], _actions_table(data),
        by_file["riskiest.png"], by_file["latency.png"], by_file["gas.png"], _gas_table(data),
        _bots_section(data), _entities_section(data), _notes_section(data),
    ])
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>rtrm demo {_e(data.run_id)}</title><style>{_CSS}</style></head>"
            f"<body>\n{body}\n</body></html>\n")


def render_report(data: ReportData, out_dir: Path) -> Path:
    """Write every chart PNG and `index.html` into `out_dir`; returns the page's path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for chart in CHARTS:
        charts.save_chart(chart.draw, data, out_dir / chart.file, chart.height(data))
    page = out_dir / "index.html"
    page.write_text(render_html(data), encoding="utf-8")
    return page
