"""The terminal summary: per-bot and per-entity numbers present, selection of entities explained, paths
printed, and run data never interpreted as rich markup."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from rich.console import Console

from bots.demo.data import EntityRow, Greeks, ReportData
from bots.demo.summary import (
    MOST_AFFECTED,
    compact,
    print_summary,
    select_entities,
    short_entity,
    summary_tables,
    usd,
)
from tests.demo.synthetic import HOSTILE_ENTITY


def _printed(data: ReportData, report: Path | None = None) -> str:
    console = Console(record=True, width=240, color_system=None)
    print_summary(data, console, report)
    return console.export_text()


def test_bot_table_has_every_bot_and_its_numbers(report_data: ReportData) -> None:
    text = _printed(report_data, Path("reports/demo-0007/index.html"))
    for bot in report_data.bots:
        line = next(ln for ln in text.splitlines() if f" {bot.bot} " in ln and usd(bot.pnl_usd) in ln)
        assert f" {bot.actions} " in line and f" {bot.succeeded} " in line and f" {bot.outcompeted} " in line
    footer = next(ln for ln in text.splitlines() if ln.split()[:2] == ["│", "total"])
    bots = report_data.bots
    for total in (sum(b.actions for b in bots), sum(b.succeeded for b in bots), sum(b.outcompeted for b in bots)):
        assert f" {total} " in footer
    assert usd(sum(b.pnl_usd for b in bots)) in footer
    assert "SQLite store: /tmp/rtrm demo/run.db" in text
    assert "Report:       reports/demo-0007/index.html" in text
    assert "rtrm actions --json --store /tmp/rtrm demo/run.db" in text
    assert "ETH" in text and "SOL" in text  # gas in each chain's native unit


def test_entity_table_limits_rows_and_says_how_many_were_omitted(report_data: ReportData) -> None:
    text = _printed(report_data)
    others = [r for r in report_data.entities if r.entity != "keeper" and not r.entity.startswith("pool")]
    assert f"{len(others) - MOST_AFFECTED} less affected entities omitted" in text
    rows, omitted = select_entities(report_data.entities)
    for r in rows:
        assert short_entity(r.entity) in text
        assert f"{compact(r.before.value_usd)} → {compact(r.after.value_usd)}" in text
    hidden = [r for r in report_data.entities if r not in rows]
    assert len(hidden) == omitted and all(short_entity(h.entity) not in text for h in hidden)


def test_selection_pins_keeper_and_pools_then_most_affected() -> None:
    def row(name: str, change: float) -> EntityRow:
        return EntityRow(name, Greeks(value_usd=1000.0), Greeks(value_usd=1000.0 - change), "", 0.0, 0)

    rows = [row("wallet:a", 5), row("pool:b", 0), row("wallet:c", 50), row("keeper", 0), row("wallet:d", -70)]
    shown, omitted = select_entities(rows, limit=2)
    assert [r.entity for r in shown] == ["keeper", "pool:b", "wallet:d", "wallet:c"]
    assert omitted == 1


def test_run_strings_are_not_rich_markup(report_data: ReportData) -> None:
    hostile = next(r for r in report_data.entities if r.entity == HOSTILE_ENTITY)
    data = replace(report_data, run_id="[red]x[/red]",
                   entities=[replace(hostile, after=replace(hostile.after, value_usd=-1e9))])
    text = _printed(data)
    assert "[red]x[/red]" in text
    assert HOSTILE_ENTITY in text


def test_empty_run_prints_placeholders(report_data: ReportData) -> None:
    data = replace(report_data, bots=[], entities=[], notes=[])
    text = _printed(data)
    assert "(no bot acted)" in text and "(no entities)" in text
    assert len(summary_tables(data)) == 2


def test_short_entity_keeps_both_ends_of_long_addresses() -> None:
    assert short_entity("wallet:0x" + "ab" * 20) == "wallet:0xabab…abab"
    assert short_entity("pool:option_amm") == "pool:option_amm"
    assert short_entity("sol:" + "9" * 44) == "sol:9999…9999"


def test_number_formatting() -> None:
    assert [compact(x) for x in (1_234_567, -45_600, 1234, 0.012345, -0.0)] == ["1.23M", "-45.6k", "1,234",
                                                                                 "0.01235", "0"]
    assert [usd(x) for x in (-1234.5, 0.004, -0.001)] == ["-$1,234.50", "$0.00", "$0.00"]
