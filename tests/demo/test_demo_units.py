"""The demo's pure parts: scenario scripts, generated configs, the acceptance rule, the CLI's argument checks."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from bots.config import parse_config
from bots.demo.configs import DemoEntity, fund_toml, keeper_toml
from bots.demo.data import Action
from bots.demo.expect import EXPECTED, missing
from bots.demo.keys import address_of, fund_key, keeper_key
from bots.demo.scenarios import SCENARIOS, build
from chains.devnet.protocols import INITIAL_PRICES
from tests.chains.devnet.test_protocols_deploy import ROOT


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenarios_are_deterministic_and_end_where_they_say(scenario: str) -> None:
    acts = build(scenario, INITIAL_PRICES, seed=5)
    assert acts == build(scenario, INITIAL_PRICES, seed=5)
    assert acts != build(scenario, INITIAL_PRICES, seed=6)  # the calm GBM phase depends on the seed
    assert acts[0].name == "calm" and acts[-1].name == "expiry" and acts[-1].steps == ()
    for act in acts:
        for step in act.steps:
            assert step.dt_s > 0 and step.prices["USDC"] == 1 and all(p > 0 for p in step.prices.values())
    calm_end = acts[0].steps[-1].prices["ETH"]
    shock = acts[1].steps[-1].prices["ETH"] / calm_end
    expected = {"crash": Decimal("0.70"), "squeeze": Decimal("1.35"), "grind": Decimal("0.75")}[scenario]
    assert abs(shock - expected) < Decimal("1e-6")


def test_unknown_scenario_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="unknown scenario 'boom'"):
        build("boom", INITIAL_PRICES, seed=1)


def test_generated_configs_parse_and_name_the_keys_by_variable_only(tmp_path: Path) -> None:
    k = keeper_key(7)
    entities = [DemoEntity("keeper", address_of(k), keeper=True),
                DemoEntity('entity "odd"', address_of(fund_key(7, 0)), covered=True)]
    args = (tmp_path / "devnet", tmp_path / "rtrm.sqlite", "mqtt://127.0.0.1:1884",
            {"ethereum": "http://127.0.0.1:1", "arbitrum": "http://127.0.0.1:2", "base": "http://127.0.0.1:3"},
            {"ethereum": 1, "arbitrum": 42161, "base": 8453}, entities)
    keeper, fund = parse_config(keeper_toml(*args)), parse_config(fund_toml(*args))
    assert set(keeper.bots.configured()) == {"liquidator", "hedger", "settlement"}
    assert set(fund.bots.configured()) == {"claimer", "disputer"}
    assert keeper.entities["keeper"].keeper and fund.entities['entity "odd"'].covered
    assert keeper.signers["keeper"].env == "RTRM_DEMO_KEEPER_KEY" and fund.signers["fund"].env == "RTRM_DEMO_FUND_KEY"
    for text in (keeper_toml(*args), fund_toml(*args)):
        assert k.removeprefix("0x") not in text.lower() and fund_key(7, 0).removeprefix("0x") not in text.lower()


def _action(bot: str, kind: str, state: str = "confirmed") -> Action:
    return Action(1.0, bot, kind, "base", "p", "t", state)


def test_acceptance_rule_names_what_is_missing() -> None:
    everything = [_action(bot, kinds[0]) for _, bot, kinds in EXPECTED]
    assert missing(everything) == []
    without_dispute = [a for a in everything if a.bot != "disputer"] + [_action("disputer", "dispute", "reverted")]
    assert missing(without_dispute) == ["dispute"]
    batch_only = [a for a in everything if a.bot != "settlement"] + [_action("settlement", "settle_batch")]
    assert missing(batch_only) == []


@pytest.mark.parametrize(("argv", "message"), [
    (["--wallets", "3"], "--wallets must be >= 12"),
    (["--seed", "-1"], "--seed must be >= 0"),
    (["--scenario", "boom"], "invalid choice"),
    (["--fork", "nope"], "--fork 'nope' is malformed"),
])
def test_bad_arguments_fail_in_one_line_before_anything_starts(argv: list[str], message: str, tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "bots.cli", "demo", *argv, "--reports-dir", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []  # nothing was created
