"""Liquidator decisions as tables; expected figures are worked out by hand from the protocol formulas."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from bots.config import LiquidatorParams
from bots.strategies.intents import ActionIntent, Skip
from bots.strategies.liquidator import (
    GasView,
    LiquidatorState,
    PMCandidate,
    VaultCandidate,
    decide,
    decide_pm,
    decide_vault,
)

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
D = Decimal
GAS = {"ethereum": GasView(D(10), D(3000)), "arbitrum": GasView(D("0.1"), D(3000))}
STATE = LiquidatorState(NOW, gas=GAS)

# put K=2500 at round spot 2000, half-way through the 1 h auction: start = 500 − 0.05·2000 = 400, end =
# 1000/2 = 500 → 450/option; receive 900, minted shorts cost 2·430 = 860, gas 600k·10 gwei·$3000 = $18 → $22.
VAULT = VaultCandidate("ethereum", "vault_options", "0xOwner", 3, True, 7, 1800.0, 2000.0, 2500.0, False,
                       1000.0, 2.0, 430.0)


@pytest.mark.parametrize(
    ("vault", "params", "state", "expect"),
    [
        (VAULT, LiquidatorParams(min_profit_usd=D(20)), STATE, D("22.00")),
        (VAULT, LiquidatorParams(min_profit_usd=D(25)), STATE, "profit $22.00 < min $25"),
        (replace(VAULT, liquidatable=False), LiquidatorParams(), STATE, "vault is safe"),
        (VAULT, LiquidatorParams(max_gas_gwei=D(5)), STATE, "gas 10 gwei > max 5"),
        (VAULT, LiquidatorParams(cooldown_s=30), replace(STATE, last_action={
            "ethereum:vault_options:0xOwner/3": NOW - timedelta(seconds=10)}), "cooldown"),
        (VAULT, LiquidatorParams(), replace(STATE, outcompeted=frozenset(
            {"liquidator:ethereum:vault_options:0xOwner:3:round:7"})), "outcompeted"),
        (replace(VAULT, round_elapsed_s=-1.0), LiquidatorParams(), STATE, "would revert"),
    ],
)
def test_vault_table(vault: VaultCandidate, params: LiquidatorParams, state: LiquidatorState,
                     expect: Decimal | str) -> None:
    out = decide_vault(vault, state, params)
    if isinstance(expect, Decimal):
        assert isinstance(out, ActionIntent), out
        assert out.expected_profit_usd == expect and out.kind == "mint_and_liquidate"
        assert out.params["round_id"] == 7 and out.key == "liquidator:ethereum:vault_options:0xOwner:3:round:7"
        assert out.gas_cost_native == D("0.006")
    else:
        assert isinstance(out, Skip) and expect in out.reason, out


PM = PMCandidate("arbitrum", "portfolio_margin", "acct-9", mm=-100.0, mtm=1000.0, cash=200.0,
                 own_position_value=900.0, episode="b100")


def test_pm_unhealthy_without_auction_starts_one() -> None:
    out = decide_pm(PM, STATE, LiquidatorParams())
    assert isinstance(out, ActionIntent) and out.kind == "start_auction"
    assert out.key == "liquidator:arbitrum:portfolio_margin:acct-9:start:b100"
    assert isinstance(decide_pm(replace(PM, mm=5.0), STATE, LiquidatorParams()), Skip)


def _solvent_profit(t: float, d: float) -> float:
    bm = -100 + 0.15 * (-100 - 1000)
    f = bm / (bm - 1000 * d)
    return f * (200 + 900) - f * 1000 * d - 900_000 * 0.1e-9 * 3000


@pytest.mark.parametrize(("t", "d", "min_profit", "bid"),
                         [(0.0, 0.95, 10, True), (0.0, 0.95, 50, False), (900.0, 0.70, 50, True)])
def test_pm_solvent_bids_when_discount_beats_threshold(t: float, d: float, min_profit: int, bid: bool) -> None:
    c = replace(PM, auction_id="a1", auction_elapsed_s=t)
    out = decide_pm(c, STATE, LiquidatorParams(min_profit_usd=D(min_profit)))
    if bid:
        assert isinstance(out, ActionIntent) and out.kind == "bid"
        assert float(out.expected_profit_usd) == pytest.approx(_solvent_profit(t, d), abs=0.01)
        assert out.key == "liquidator:arbitrum:portfolio_margin:acct-9:auction:a1:bid"
    else:
        assert isinstance(out, Skip) and "deeper discount" in out.reason


def test_pm_fraction_is_capped_by_config() -> None:
    c = replace(PM, auction_id="a1", auction_elapsed_s=900.0)
    out = decide_pm(c, STATE, LiquidatorParams(max_fraction=0.1))
    assert isinstance(out, ActionIntent) and out.params["fraction"] == 0.1


def test_pm_insolvent_bids_immediately_once_not_a_loss() -> None:
    c = PMCandidate("arbitrum", "portfolio_margin", "acct-x", mm=-300.0, mtm=-50.0, cash=-100.0,
                    own_position_value=20.0, auction_id="i1")
    early = decide_pm(c, STATE, LiquidatorParams(min_profit_usd=D(1000)))
    assert isinstance(early, Skip) and "not yet worth it" in early.reason  # −80 received + 50 paid in = −30
    late = decide_pm(replace(c, auction_elapsed_s=3600.0), STATE, LiquidatorParams(min_profit_usd=D(1000)))
    assert isinstance(late, ActionIntent) and "insolvent: bid immediately" in late.reasons
    assert late.expected_profit_usd == D("220.00") - D("0.27")  # −80 + (50 + 250) − gas


def test_decide_skips_unconfigured_protocols_and_keeps_going() -> None:
    state = replace(STATE, vaults=(VAULT,), pm_accounts=(PM,))
    out = decide(state, {"portfolio_margin": LiquidatorParams()})
    assert [i.kind for i in out.intents] == ["start_auction"]
    assert [s.reason for s in out.skipped] == ["protocol not enabled for liquidator"]


def test_bad_account_is_skipped_and_others_still_decided() -> None:
    broken = replace(VAULT, owner="0xBroken", option_mark=float("inf"))
    out = decide(replace(STATE, vaults=(broken, VAULT)), {"vault_options": LiquidatorParams()})
    assert [i.target for i in out.intents] == ["ethereum:vault_options:0xOwner/3"]
    assert out.skipped[0].target.endswith("0xBroken/3") and out.skipped[0].reason.startswith("invalid input")
