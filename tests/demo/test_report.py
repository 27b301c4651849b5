"""The report page and its charts, from a synthetic run: every image a real PNG, every transaction listed,
run data escaped, empty series drawn as explained panels, the same data giving the same bytes."""

from __future__ import annotations

import html
from dataclasses import replace
from pathlib import Path

import matplotlib.image
import pytest
from matplotlib.figure import Figure
from matplotlib.text import Text

from bots.demo import charts
from bots.demo.browser import image_sources, missing_images
from bots.demo.data import ReportData
from bots.demo.report import CHARTS, render_report, short_hash
from tests.demo.synthetic import HOSTILE_ENTITY, HOSTILE_TARGET, empty_report_data


def _figure_text(draw: charts.ChartFn, data: ReportData) -> str:
    fig = Figure(figsize=(8, 4))
    draw(data, fig)
    return "\n".join(t.get_text() for t in fig.findobj(Text))


def test_every_referenced_image_is_a_png_of_the_chart_width(rendered: Path) -> None:
    page = rendered
    sources = image_sources(page)
    assert sorted(sources) == sorted(c.file for c in CHARTS)
    assert missing_images(page) == []
    for src in sources:
        pixels = matplotlib.image.imread(page.parent / src)
        assert pixels.shape[1] == int(charts.WIDTH_IN * charts.DPI), src
        assert len({tuple(px) for px in pixels.reshape(-1, pixels.shape[2])[::97]}) > 10, f"{src} looks blank"


def test_page_lists_every_transaction_with_full_hash(report_data: ReportData, rendered: Path) -> None:
    text = rendered.read_text(encoding="utf-8")
    hashes = [a.tx_hash for a in report_data.actions if a.tx_hash]
    assert len(hashes) >= 20 and any(not h.startswith("0x") for h in hashes)  # Solana signatures too
    for h in hashes:
        assert f'title="{h}"' in text
        assert f">{short_hash(h)}</code>" in text
    assert text.count("(outcompeted)") == sum(a.outcompeted for a in report_data.actions)
    assert "abandoned" in text and "reverted" in text


def test_run_data_is_escaped(report_data: ReportData, tmp_path: Path) -> None:
    hostile = next(r for r in report_data.entities if r.entity == HOSTILE_ENTITY)
    shown = replace(hostile, after=replace(hostile.after, value_usd=-1e9))  # most affected: on the page
    data = replace(report_data, notes=[*report_data.notes, "</li><script>bad()</script>"],
                   entities=[shown if r is hostile else r for r in report_data.entities])
    text = render_report(data, tmp_path).read_text(encoding="utf-8")
    assert "<script" not in text and "<img src=x" not in text
    assert html.escape(HOSTILE_TARGET) in text
    assert html.escape(HOSTILE_ENTITY) in text
    assert html.escape("/tmp/rtrm demo/run.db") in text
    assert "LiteSVM (no validator) &amp; no priority fees" in text


def test_same_data_gives_the_same_bytes(tmp_path: Path) -> None:
    from tests.demo.synthetic import synthetic_report_data

    first = render_report(synthetic_report_data(3), tmp_path / "a").parent
    second = render_report(synthetic_report_data(3), tmp_path / "b").parent
    other = render_report(synthetic_report_data(4), tmp_path / "c").parent
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in second.iterdir())
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    assert (first / "index.html").read_bytes() != (other / "index.html").read_bytes()
    assert (first / "prices.png").read_bytes() != (other / "prices.png").read_bytes()


@pytest.mark.parametrize(
    ("draw", "message"),
    [
        (charts.draw_prices, "no price observations"),
        (charts.draw_net_delta, "no hedged entity recorded a net delta"),
        (charts.draw_greeks, "no dollar delta samples"),
        (charts.draw_timeline, "no keeper actions"),
        (charts.draw_riskiest, "no entity had a finite distance"),
        (charts.draw_latency, "no oracle-triggered actions"),
        (charts.draw_gas, "no transactions were sent"),
    ],
)
def test_empty_series_draw_an_explained_panel(draw: charts.ChartFn, message: str) -> None:
    assert message in _figure_text(draw, empty_report_data())


def test_partially_empty_series_are_explained(report_data: ReportData) -> None:
    data = replace(report_data, prices={**report_data.prices, "solana:pyth:BTC": []},
                   net_delta={"keeper": report_data.net_delta["keeper"]},
                   bands={"keeper": [], "pool:option_amm": []})
    assert "no BTC price observations" in _figure_text(charts.draw_prices, data)
    assert "pool:option_amm: no data" in _figure_text(charts.draw_net_delta, data)


def test_empty_run_still_renders_a_complete_page(tmp_path: Path) -> None:
    page = render_report(empty_report_data(), tmp_path)
    assert missing_images(page) == []
    text = page.read_text(encoding="utf-8")
    for expected in ("no keeper actions were journaled", "no bot acted", "no entities", "no phases recorded"):
        assert expected in text


def test_latency_percentiles_are_annotated(report_data: ReportData) -> None:
    data = replace(report_data, latencies_ms=[float(x) for x in range(1, 101)])
    text = _figure_text(charts.draw_latency, data)
    assert "p50 = 50.5 ms" in text and "p99 = 99.0 ms" in text and "(100 actions)" in text


def test_gas_per_chain_sums_actions_and_lists_idle_chains(report_data: ReportData) -> None:
    table = charts.gas_by_chain(report_data)
    assert list(table)[:4] == report_data.chains
    eth_gas = sum(a.gas_used for a in report_data.actions if a.chain == "ethereum")
    assert sum(u for u, _ in table["ethereum"].values()) == eth_gas > 0
    idle = replace(report_data, chains=[*report_data.chains, "optimism"])
    assert charts.gas_by_chain(idle)["optimism"] == {}


def test_malformed_price_key_names_the_key(report_data: ReportData, tmp_path: Path) -> None:
    data = replace(report_data, prices={"ethereum-ETH": [(0.0, 1.0)]})
    with pytest.raises(ValueError, match="'ethereum-ETH'"):
        render_report(data, tmp_path)


def test_missing_images_flags_missing_corrupt_and_remote(report_data: ReportData, tmp_path: Path) -> None:
    page = render_report(report_data, tmp_path)
    (tmp_path / "gas.png").unlink()
    corrupt = (tmp_path / "greeks.png").read_bytes()
    (tmp_path / "greeks.png").write_bytes(corrupt[: len(corrupt) // 2])
    (tmp_path / "latency.png").write_bytes(b"GIF89a not a png")
    page.write_text(page.read_text().replace("</body>", '<img src="https://example.org/x.png"></body>'))
    assert sorted(missing_images(page)) == ["gas.png", "greeks.png", "https://example.org/x.png", "latency.png"]
