"""`rtrm config check|status|actions|claims` handlers against a real SQLite store (in-process argparse)."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

import pytest

from bots.commands import config_check, listings
from bots.journal import IntentState, Journal
from bots.store import RiskSnapshot, Store

EXAMPLE = Path(__file__).resolve().parents[2] / "rtrm.example.toml"


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="rtrm")
    sub = parser.add_subparsers(dest="command", required=True)
    config_check.register(sub)
    listings.register(sub)
    args = parser.parse_args(argv)
    return int(args.handler(args))


def test_config_check_prints_resolved_config_with_secrets_masked(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    text = EXAMPLE.read_text().replace('url = "rtrm.db"', 'url = "postgresql://bob:hunter2@db/rtrm"')
    text = text.replace('manifest = "devnet"', f'manifest = "{tmp_path / "none"}"')
    path = tmp_path / "rtrm.toml"
    path.write_text(text)
    assert run(["config", "check", "--config", str(path)]) == 0
    out, err = capsys.readouterr()
    assert "valid (5 bots" in out and "bots.liquidator.protocols.portfolio_margin.min_profit_usd = \"10\"" in out
    assert "hunter2" not in out and "$RTRM_KEEPER_KEY (value not shown)" in out
    assert "from_manifest addresses unresolved" in err  # valid file; the devnet just is not running
    assert run(["config", "check", "--config", str(path), "--json"]) == 0
    view = json.loads(capsys.readouterr().out)
    assert view["chains"]["arbitrum"]["chain_id"] == 42161


def test_config_check_error_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(EXAMPLE.read_text().replace("max_fraction = 1.0", "max_fraction = 1.5"))
    assert run(["config", "check", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"rtrm: error: {path}: bots.liquidator.protocols.portfolio_margin.max_fraction: ")
    assert "less than or equal to 1" in err


async def _seed(path: Path) -> None:
    journal = await Journal(str(path)).open()
    store = await Store(engine=journal.engine).open()
    sent, _ = await journal.create_intent("liquidator:arbitrum:pm:acct-1:auction:a1:bid", chain="arbitrum",
                                          signer="0xk", bot="liquidator", kind="bid", protocol="portfolio_margin",
                                          target="arbitrum:portfolio_margin:acct-1")
    for state in (IntentState.SIMULATED, IntentState.SENT):
        await journal.transition(sent.id or 0, state, tx_hash="0xabc")
    await journal.transition(sent.id or 0, IntentState.MINED, block_number=1234, block_hash="0xb")
    dry, _ = await journal.create_intent("hedger:hedge:keeper:uniswap_base:b7", chain="base", signer="dry-run:k",
                                         bot="hedger", kind="hedge", protocol="uniswap_base", target="keeper",
                                         reason="dry_run: x")
    await journal.transition(dry.id or 0, IntentState.ABANDONED, "dry_run: not sent")
    await store.record_risk([RiskSnapshot(entity="keeper", dollar_delta=1500.0, distance_to_liquidation=0.2)])
    await store.upsert_claim("base:cover_market:1", chain="base", protocol="cover_market", entity="fund",
                             account="0xFund", evidence="arbitrum:0xtx:4", loss_usd="1234.5", status="filed")
    await store.record_chain_health("arbitrum", 99, 0.3, True)
    await journal.close()


@pytest.fixture
def seeded(tmp_path: Path) -> Path:
    path = tmp_path / "rtrm.db"
    asyncio.run(_seed(path))
    return path


def test_actions_json_has_the_required_fields(seeded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["actions", "--store", str(seeded), "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["status"] for r in rows] == ["dry-run", "mined"]
    mined = rows[1]
    assert {k: mined[k] for k in ("bot", "kind", "chain", "protocol", "tx_hash", "block")} == {
        "bot": "liquidator", "kind": "bid", "chain": "arbitrum", "protocol": "portfolio_margin",
        "tx_hash": "0xabc", "block": 1234}
    assert mined["key"] == "liquidator:arbitrum:pm:acct-1:auction:a1:bid" and mined["target"].endswith("acct-1")
    assert run(["actions", "--store", str(seeded), "--json", "--bot", "hedger"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1


def test_tables_render(seeded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["status", "--store", str(seeded)]) == 0
    out = capsys.readouterr().out
    for title in ("Risk per entity", "Recent actions", "Recent claims", "Chain health", "Recent alerts"):
        assert title in out
    assert "1,500.0000" in out and "0xabc" in out and "(none)" in out  # no alerts yet
    assert run(["claims", "--store", str(seeded)]) == 0
    assert "base:cover_market:1" in capsys.readouterr().out


def test_status_and_claims_json(seeded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["status", "--store", str(seeded), "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {r["section"] for r in rows} == {"risk", "action", "claim", "chain"}
    assert run(["claims", "--store", str(seeded), "--json", "--status", "filed"]) == 0
    (claim,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert claim["loss_usd"] == "1234.5" and claim["evidence"] == "arbitrum:0xtx:4"


def test_missing_store_is_a_clear_error_and_not_created(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.db"
    assert run(["status", "--store", str(missing)]) == 1
    assert "no store at" in capsys.readouterr().err
    assert not missing.exists()


def test_store_url_from_config(tmp_path: Path, seeded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "rtrm.toml"
    cfg.write_text(f'[storage]\nurl = "{seeded}"\n')
    assert run(["actions", "--config", str(cfg), "--json"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2
