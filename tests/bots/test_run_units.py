"""`rtrm run` wiring without a chain: the command's failures, the call builder's refusals, the chain clock."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType

import pytest

from bots.commands import run as run_cmd
from bots.config import parse_config
from bots.runner import AdapterCallBuilder, ChainClock, RunnerError, adapter_config
from bots.sources.evm import Head
from bots.strategies import liquidator
from bots.strategies.intents import ActionIntent
from bots.strategies.liquidator import GasView, LiquidatorState, VaultCandidate
from chains.protocols.vault_options import VaultOptionsAdapter, build_mint_and_liquidate

VO = "0x00000000000000000000000000000000000000a1"
CONFIG = f"""
[chains.ethereum]
rpc_urls = ["http://127.0.0.1:9"]
chain_id = 31337
[signers.keeper]
env = "RTRM_UNIT_KEEPER_KEY_UNSET"
[protocols.vault_options]
kind = "vault_options"
chain = "ethereum"
addresses = {{ VaultOptions = "{VO}" }}
[storage]
url = "{{db}}"
[bots.liquidator]
signer = "keeper"
[bots.liquidator.protocols.vault_options]
min_profit_usd = "1"
"""


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="rtrm")
    sub = parser.add_subparsers(dest="command", required=True)
    run_cmd.register(sub)
    args = parser.parse_args(argv)
    return int(args.handler(args))


def test_run_with_a_missing_config_fails_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["run", "--config", str(tmp_path / "nope.toml")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("rtrm: error:") and "file not found" in err and "\n" not in err


def test_run_without_the_signer_variable_names_it_and_never_starts(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RTRM_UNIT_KEEPER_KEY_UNSET", raising=False)
    cfg = tmp_path / "rtrm.toml"
    cfg.write_text(CONFIG.replace("{db}", str(tmp_path / "k.db")))
    assert run(["run", "--config", str(cfg), "--no-bus"]) == 2
    err = capsys.readouterr().err
    assert "RTRM_UNIT_KEEPER_KEY_UNSET is not set" in err


def test_adapter_config_takes_the_main_contract_and_entities() -> None:
    cfg = parse_config(CONFIG.replace("{db}", "x.db") + '[entities.alice]\naddresses = { ethereum = ["0xabc"] }\n')
    assert adapter_config(cfg, "vault_options") == {"address": VO, "entities": {"0xabc": "alice"}}
    bare = parse_config(CONFIG.replace("{db}", "x.db").replace(f'VaultOptions = "{VO}"', 'Other = "0x01"'))
    with pytest.raises(RunnerError, match="protocols.vault_options.addresses: needs VaultOptions"):
        adapter_config(bare, "vault_options")


def _intent(**params: object) -> ActionIntent:
    return ActionIntent("liquidator", "mint_and_liquidate", "ethereum", "vault_options", "t", "k",
                        params=MappingProxyType(params))


def test_builder_uses_the_adapters_exact_encoding_and_refuses_missing_figures() -> None:
    adapter = VaultOptionsAdapter("ethereum", rpc=None, address=VO)  # type: ignore[arg-type]  # build only
    builder = AdapterCallBuilder({"vault_options": adapter})
    spec = builder.build(_intent(vault_id=7, round_id=2**64 + 3, series_id=2, short_units=10**9,
                                 mint_collateral_units=8_611_110_382))
    want = build_mint_and_liquidate(adapter.address, 7, 8_611_110_382, 2, 10**9, 2**64 + 3)
    assert (spec.to, spec.data, spec.value) == (want.to, "0x" + want.data.hex(), 0)
    with pytest.raises(ValueError, match="without short_units, mint_collateral_units"):
        builder.build(_intent(vault_id=7, round_id=1, series_id=2))
    with pytest.raises(LookupError, match="no adapter"):
        AdapterCallBuilder({}).build(_intent())


def test_strategy_carries_the_exact_figures_into_the_intent() -> None:
    cand = VaultCandidate("ethereum", "vault_options", "0xo", 4, True, 9, 4000.0, 2973.0, 2700.0, False, 7596.9, 9.0,
                          7.8, series_id=2, short_units=9 * 10**8, mint_collateral_units=123)
    state = LiquidatorState(datetime.now(UTC), vaults=(cand,), gas={"ethereum": GasView(Decimal(1), Decimal(3000))})
    params = parse_config(CONFIG.replace("{db}", "x.db")).bots["liquidator"].protocols
    (intent,) = liquidator.decide(state, params).intents
    assert {k: intent.params[k] for k in ("series_id", "short_units", "mint_collateral_units", "round_id")} == {
        "series_id": 2, "short_units": 9 * 10**8, "mint_collateral_units": 123, "round_id": 9}


def test_chain_clock_follows_the_newest_head_not_the_wall() -> None:
    clock = ChainClock()
    wall = clock()
    assert abs((wall - datetime.now(UTC)).total_seconds()) < 5  # nothing seen yet: wall time
    future = int(datetime.now(UTC).timestamp()) + 86_400
    clock.observe("ethereum", Head(1, "0x", future - 100))
    clock.observe("arbitrum", Head(1, "0x", future))
    assert 0 <= (clock() - datetime.fromtimestamp(future, UTC)).total_seconds() < 5


def test_pm_bid_is_built_exactly_with_a_slack_bounded_price_limit() -> None:
    from chains.protocols.portfolio_margin import PortfolioMarginAdapter, build_bid, build_start_auction

    pm = "0x00000000000000000000000000000000000000b2"
    adapter = PortfolioMarginAdapter("arbitrum", rpc=None, address=pm)  # type: ignore[arg-type]  # build only
    builder = AdapterCallBuilder({"portfolio_margin": adapter}, {"portfolio_margin": 6})
    start = ActionIntent("liquidator", "start_auction", "arbitrum", "portfolio_margin", "t", "k1",
                         params=MappingProxyType({"account_id": "5"}))
    assert builder.build(start).data == "0x" + build_start_auction(adapter.address, 5).data.hex()
    bid = ActionIntent("liquidator", "bid", "arbitrum", "portfolio_margin", "t", "k2", notional_usd=Decimal("100"),
                       reasons=("auction 9 (solvent, discount 0.9500) after 0s",),
                       params=MappingProxyType({"account_id": "5", "auction_id": "9", "fraction": 0.5}))
    fraction = int(Decimal("0.5") * (1 - Decimal("1e-9")) * 10**18)
    want = build_bid(adapter.address, 5, 6, fraction, 101 * 10**18)  # 1 % over the decided price, never more
    assert builder.build(bid).data == "0x" + want.data.hex()
    insolvent = ActionIntent("liquidator", "bid", "arbitrum", "portfolio_margin", "t", "k3",
                             reasons=("auction 9 (insolvent) after 0s", "insolvent: bid immediately"),
                             params=MappingProxyType({"account_id": "5", "auction_id": "9", "fraction": 1.0}))
    assert builder.build(insolvent).data == "0x" + build_bid(adapter.address, 5, 6, 10**18, 0).data.hex()
    with pytest.raises(LookupError, match="no bidder subaccount"):
        AdapterCallBuilder({"portfolio_margin": adapter}).build(bid)
