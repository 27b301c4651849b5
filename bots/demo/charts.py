"""The demo report's charts: one function per chart, each turning a `ReportData` into one PNG.

Figures are built on the Agg canvas directly (no pyplot, no display, no global figure state), at fixed sizes
and DPI with the PNG "Software" stamp removed, so the same data gives the same bytes. Every chart copes with
empty series by drawing a panel that says what is missing instead of failing: a report of a run where a
chain was skipped is still a report.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from bots.demo.data import Action, Phase, ReportData  # noqa: E402
from bots.demo.summary import native_unit  # noqa: E402

DPI = 100
WIDTH_IN = 11.0
_PHASE_COLOURS = ("#e8f0fe", "#fdf1e0", "#e9f6ec", "#f6e9f4", "#eef2f3")
_STATE_COLOURS = {"confirmed": "#2e7d32", "reverted": "#c62828", "abandoned": "#6d4c41"}
_OUTCOMPETED_COLOUR = "#ef6c00"
_OTHER_STATE_COLOUR = "#757575"
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")
_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
            "#17becf")
_RC: dict[Any, Any] = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "svg.hashsalt": "rtrm",
    "path.simplify": True,
}

ChartFn = Callable[[ReportData, Figure], None]


def save_chart(draw: ChartFn, data: ReportData, path: Path, height_in: float) -> Path:
    """Draw one chart on a fresh figure and write it as a PNG without a time/version stamp."""
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(WIDTH_IN, height_in), dpi=DPI, layout="constrained")
        FigureCanvasAgg(fig)
        draw(data, fig)
        fig.savefig(path, format="png", dpi=DPI, metadata={"Software": None})
    return path


def parse_price_key(key: str) -> tuple[str, str, str]:
    """Split "<chain>:<source>:<asset>"; a malformed key is a bug in whoever assembled the data."""
    parts = key.split(":")
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"ReportData.prices key {key!r} is not '<chain>:<source>:<asset>'")
    return parts[0], parts[1], parts[2]


def _no_data(ax: Axes, message: str) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    ax.set_facecolor("#fafafa")
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color="#555", fontsize=11)


def _shade_phases(ax: Axes, phases: Sequence[Phase]) -> None:
    """Shade each phase and name it at the top, so every time chart reads against the scenario."""
    for i, phase in enumerate(phases):
        ax.axvspan(phase.start_s, phase.end_s, color=_PHASE_COLOURS[i % len(_PHASE_COLOURS)], zorder=0, lw=0)
        ax.text(
            (phase.start_s + phase.end_s) / 2, 1.0, phase.name, transform=ax.get_xaxis_transform(),
            ha="center", va="bottom", fontsize=8, color="#444", clip_on=False,
        )


def _chain_colours(data: ReportData) -> dict[str, str]:
    names = list(data.chains) + sorted({parse_price_key(k)[0] for k in data.prices} - set(data.chains))
    return {name: _PALETTE[i % len(_PALETTE)] for i, name in enumerate(names)}


def _grid(fig: Figure, n: int, cols: int) -> list[Axes]:
    rows = max(1, -(-n // cols))
    axes = fig.subplots(rows, cols, squeeze=False).ravel().tolist()
    for ax in axes[n:]:
        ax.set_visible(False)
    return axes[: max(n, 1)]


def prices_height(data: ReportData) -> float:
    assets = {parse_price_key(k)[2] for k in data.prices}
    return 2.8 * max(1, -(-len(assets) // 2)) + 0.4


def draw_prices(data: ReportData, fig: Figure) -> None:
    """One panel per asset, a line per chain/source: consistent feeds overlap, a lagging one shows."""
    by_asset: dict[str, list[str]] = defaultdict(list)
    for key in sorted(data.prices):
        by_asset[parse_price_key(key)[2]].append(key)
    axes = _grid(fig, len(by_asset), 2 if len(by_asset) > 1 else 1)
    if not by_asset:
        _no_data(axes[0], "no price observations were recorded")
        return
    colours = _chain_colours(data)
    styles = ("-", "--", ":", "-.")
    for ax, (asset, keys) in zip(axes, sorted(by_asset.items()), strict=False):
        _shade_phases(ax, data.phases)
        for j, key in enumerate(keys):
            chain, source, _ = parse_price_key(key)
            points = data.prices[key]
            if points:
                t, p = zip(*points, strict=True)
                ax.step(t, p, where="post", color=colours[chain], ls=styles[j % len(styles)], lw=1.4,
                        label=f"{chain} / {source}")
        if not any(data.prices[k] for k in keys):
            _no_data(ax, f"no {asset} price observations")
            continue
        ax.set_title(f"{asset} price (USD)", pad=14)
        ax.set_xlabel("run time (s)")
        ax.legend(fontsize=7, loc="best")


def net_delta_height(data: ReportData) -> float:
    n = len(set(data.net_delta) | set(data.bands))
    return 2.6 * max(1, n) + 0.4


def draw_net_delta(data: ReportData, fig: Figure) -> None:
    """Net dollar delta per hedged entity against its band: the hedger should pull it back inside."""
    entities = sorted(set(data.net_delta) | set(data.bands), key=lambda e: (e != "keeper", e))
    axes = fig.subplots(max(1, len(entities)), 1, squeeze=False).ravel().tolist()
    if not entities:
        _no_data(axes[0], "no hedged entity recorded a net delta")
        return
    for ax, entity in zip(axes, entities, strict=True):
        band, series = data.bands.get(entity, []), data.net_delta.get(entity, [])
        if not band and not series:
            _no_data(ax, f"{entity}: no data")
            continue
        _shade_phases(ax, data.phases)
        if band:
            t, lo, hi = (np.asarray(c, dtype=float) for c in zip(*band, strict=True))
            ax.fill_between(t, lo, hi, step="post", color="#90caf9", alpha=0.45, label="hedge band")
            for edge in (lo, hi):
                ax.step(t, edge, where="post", color="#1e88e5", lw=0.8, ls="--")
        if series:
            ts, ds = zip(*series, strict=True)
            ax.step(ts, ds, where="post", color="#0d47a1", lw=1.5, label="net dollar delta")
        ax.axhline(0, color="#999", lw=0.8)
        ax.set_title(f"{entity}: net dollar delta vs hedge band (USD)", pad=14)
        ax.set_xlabel("run time (s)")
        ax.legend(fontsize=7, loc="best")


_GREEK_PANELS = (
    ("dollar_delta", "dollar delta (USD)"),
    ("gamma", "gamma"),
    ("vega", "vega"),
    ("theta", "theta"),
)


def draw_greeks(data: ReportData, fig: Figure) -> None:
    """Aggregate Greeks of every entity over time, one small panel each."""
    axes = fig.subplots(2, 2, squeeze=False).ravel().tolist()
    t = [s for s, _ in data.greeks]
    for ax, (attr, title) in zip(axes, _GREEK_PANELS, strict=True):
        if not data.greeks:
            _no_data(ax, f"no {attr.replace('_', ' ')} samples")
            continue
        _shade_phases(ax, data.phases)
        ax.step(t, [getattr(g, attr) for _, g in data.greeks], where="post", color="#4a148c", lw=1.4)
        ax.set_title(f"aggregate {title}", pad=14)
        ax.set_xlabel("run time (s)")


def _action_colour(action: Action) -> str:
    if action.outcompeted:
        return _OUTCOMPETED_COLOUR
    return _STATE_COLOURS.get(action.state, _OTHER_STATE_COLOUR)


def draw_timeline(data: ReportData, fig: Figure) -> None:
    """Every action on its bot's lane: marker = kind, colour = outcome."""
    ax = fig.subplots()
    if not data.actions:
        _no_data(ax, "no keeper actions were journaled")
        return
    lanes = sorted({a.bot for a in data.actions})
    kinds = sorted({a.kind for a in data.actions})
    _shade_phases(ax, data.phases)
    for i, kind in enumerate(kinds):
        acts = [a for a in data.actions if a.kind == kind]
        ax.scatter([a.t_s for a in acts], [lanes.index(a.bot) for a in acts], marker=_MARKERS[i % len(_MARKERS)],
                   c=[_action_colour(a) for a in acts], s=60, edgecolors="black", linewidths=0.4, label=kind,
                   zorder=3)
    ax.set_yticks(range(len(lanes)), lanes)
    ax.set_ylim(-0.6, len(lanes) - 0.4)
    ax.set_xlabel("run time (s)")
    ax.set_title("actions by bot (marker shape = kind, colour = outcome)", pad=14)
    ax.legend(handles=_timeline_legend(kinds), fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))


def _timeline_legend(kinds: Sequence[str]) -> list[Line2D]:
    """Shapes for kinds (grey), colours for outcomes: the two encodings read separately."""
    def handle(label: str, marker: str, colour: str) -> Line2D:
        return Line2D([], [], ls="", marker=marker, markerfacecolor=colour, markeredgecolor="black",
                      markersize=7, label=label)

    shapes = [handle(k, _MARKERS[i % len(_MARKERS)], "#bbbbbb") for i, k in enumerate(kinds)]
    outcomes = [handle(s, "o", c) for s, c in _STATE_COLOURS.items()]
    return shapes + outcomes + [handle("outcompeted", "o", _OUTCOMPETED_COLOUR),
                                handle("other state", "o", _OTHER_STATE_COLOUR)]


def riskiest_height(data: ReportData) -> float:
    return max(2.5, 0.28 * len(data.riskiest) + 1.2)


def draw_riskiest(data: ReportData, fig: Figure) -> None:
    """Distance to liquidation of the riskiest entities just before the crash; the nearest on top."""
    ax = fig.subplots()
    if not data.riskiest:
        _no_data(ax, "no entity had a finite distance to liquidation before the crash")
        return
    rows = sorted(data.riskiest, key=lambda r: r[1], reverse=True)
    pct = [100.0 * d for _, d in rows]
    colours = ["#c62828" if d <= 0 else "#ef6c00" if d < 10 else "#1565c0" for d in pct]
    ax.barh(range(len(rows)), pct, color=colours)
    ax.set_yticks(range(len(rows)), [name for name, _ in rows], fontsize=7)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel("spot move to liquidation (% of spot; ≤ 0 = already liquidatable)")
    ax.set_title(f"distance to liquidation of the {len(rows)} riskiest entities before the crash")


def draw_latency(data: ReportData, fig: Figure) -> None:
    """Oracle tick seen → action sent, with the median and the tail the keeper promises."""
    ax = fig.subplots()
    if not data.latencies_ms:
        _no_data(ax, "no oracle-triggered actions: no latency to show")
        return
    lat = np.asarray(data.latencies_ms, dtype=float)
    ax.hist(lat, bins=min(40, max(5, lat.size // 2)), color="#00838f", edgecolor="white")
    for q, style in ((50, "--"), (99, ":")):
        value = float(np.percentile(lat, q))
        ax.axvline(value, color="black", ls=style, lw=1.2)
        ax.text(value, 0.95, f" p{q} = {value:.1f} ms", transform=ax.get_xaxis_transform(), va="top", fontsize=8)
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("actions")
    ax.set_title(f"oracle tick seen → action sent ({lat.size} actions)")


def gas_by_chain(data: ReportData) -> dict[str, dict[str, tuple[int, float]]]:
    """chain → bot → (gas used, fee in native units), from the mined actions; every run chain is listed."""
    out: dict[str, dict[str, tuple[int, float]]] = {c: {} for c in data.chains}
    for a in data.actions:
        used, fee = out.setdefault(a.chain, {}).get(a.bot, (0, 0.0))
        out[a.chain][a.bot] = (used + a.gas_used, fee + a.fee_native)
    return out


def draw_gas(data: ReportData, fig: Figure) -> None:
    """Gas and fees per chain, stacked by bot (native units differ per chain, so fees are labelled)."""
    ax_gas, ax_fee = fig.subplots(1, 2, squeeze=True)
    table = gas_by_chain(data)
    if not any(table.values()):
        _no_data(ax_gas, "no transactions were sent")
        _no_data(ax_fee, "no fees were paid")
        return
    chains = list(table)
    bots = sorted({b for per in table.values() for b in per})
    base_gas, base_fee = np.zeros(len(chains)), np.zeros(len(chains))
    for i, bot in enumerate(bots):
        gas = np.array([table[c].get(bot, (0, 0.0))[0] for c in chains], dtype=float)
        fee = np.array([table[c].get(bot, (0, 0.0))[1] for c in chains], dtype=float)
        ax_gas.bar(chains, gas, bottom=base_gas, color=_PALETTE[i % len(_PALETTE)], label=bot)
        ax_fee.bar(chains, fee, bottom=base_fee, color=_PALETTE[i % len(_PALETTE)], label=bot)
        base_gas, base_fee = base_gas + gas, base_fee + fee
    for x, (chain, total) in enumerate(zip(chains, base_fee.tolist(), strict=True)):
        ax_fee.annotate(f"{total:.3g} {native_unit(chain)}", (x, total), ha="center", va="bottom", fontsize=8)
    ax_gas.set_title("gas used per chain (stacked by bot)")
    ax_fee.set_title("fees per chain, in each chain's native unit (bar labels)")
    for ax, top in ((ax_gas, base_gas.max()), (ax_fee, base_fee.max())):
        ax.set_ylim(0, top * 1.18 if top > 0 else 1.0)
    ax_gas.legend(fontsize=7)
