"""Guard verdicts as tables: each row is an input world and the verdict (and reason) it must produce."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bots.config import GuardsConfig
from bots.guards import (
    GuardContext,
    SequencerStatus,
    check_gas_budget,
    check_kill_switch,
    check_notional,
    check_oracle,
    check_sequencer,
    evaluate,
    gas_spent_in_window,
)
from bots.strategies.intents import ActionIntent
from chains.model import OracleQuote, OracleSource, Underlying

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
D = Decimal


def quote(price: str, age_s: float = 5, source: OracleSource = OracleSource.CHAINLINK, conf: str | None = None,
          chain: str = "arbitrum") -> OracleQuote:
    return OracleQuote(source, Underlying.ETH, D(price), NOW - timedelta(seconds=age_s), chain, 100,
                       None if conf is None else D(conf))


@pytest.mark.parametrize(
    ("q", "prev", "ok", "reason"),
    [
        (quote("3000"), None, True, "ok"),
        (quote("0"), None, False, "<= 0"),
        (quote("-5"), None, False, "<= 0"),
        (quote("3000", age_s=3601), None, False, "stale"),
        (quote("3000", age_s=3599), None, True, "ok"),
        (quote("3000", age_s=-30), None, True, "ok"),  # clock skew: future publish time is not stale
        (quote("3000", age_s=61, source=OracleSource.PYTH), None, False, "stale"),
        (quote("3000", source=OracleSource.PYTH, conf="90"), None, False, "confidence"),
        (quote("3000", source=OracleSource.PYTH, conf="30"), None, True, "ok"),
        (quote("3000", conf="900"), None, True, "ok"),  # confidence bound is a Pyth rule only
        (quote("6001"), quote("3000"), False, "jump"),
        (quote("4400"), quote("3000"), True, "ok"),
        (quote("1400"), quote("3000"), False, "jump"),
    ],
)
def test_oracle_table(q: OracleQuote, prev: OracleQuote | None, ok: bool, reason: str) -> None:
    max_age = timedelta(seconds=60 if q.source is OracleSource.PYTH else 3600)
    v = check_oracle(q, NOW, max_age, D("0.02"), prev, D("0.5"))
    assert v.ok is ok and reason in v.reasons[0], v


@pytest.mark.parametrize(
    ("status", "ok", "reason"),
    [
        (None, True, "no sequencer feed"),
        (SequencerStatus("arbitrum", False, NOW - timedelta(hours=5)), False, "down"),
        (SequencerStatus("arbitrum", True, NOW - timedelta(minutes=30)), False, "within grace"),
        (SequencerStatus("arbitrum", True, NOW - timedelta(minutes=61)), True, "up for"),
    ],
)
def test_sequencer_table(status: SequencerStatus | None, ok: bool, reason: str) -> None:
    v = check_sequencer(status, NOW, timedelta(hours=1))
    assert v.ok is ok and reason in v.reasons[0]


def test_gas_budget_is_a_rolling_hour() -> None:
    spends = ((NOW - timedelta(minutes=61), D("0.4")), (NOW - timedelta(minutes=30), D("0.3")),
              (NOW - timedelta(minutes=1), D("0.1")))
    assert gas_spent_in_window(spends, NOW) == D("0.4")
    assert check_gas_budget("eth", spends, D("0.1"), NOW, D("0.5")).ok
    v = check_gas_budget("eth", spends, D("0.11"), NOW, D("0.5"))
    assert not v.ok and "budget 0.5/h" in v.reasons[0]
    assert check_gas_budget("eth", spends, D("0.2"), NOW + timedelta(minutes=31), D("0.5")).ok  # 0.3 rolled off
    assert check_gas_budget("eth", spends, D("100"), NOW, None).ok


@pytest.mark.parametrize(("notional", "limit", "ok"),
                         [(D("100"), None, True), (D("100"), D("100"), True), (D("100.01"), D("100"), False)])
def test_notional_table(notional: Decimal, limit: Decimal | None, ok: bool) -> None:
    assert check_notional(notional, limit).ok is ok


@pytest.mark.parametrize(("flag", "file", "ok"), [(False, False, True), (True, False, False), (False, True, False)])
def test_kill_switch_table(flag: bool, file: bool, ok: bool) -> None:
    assert check_kill_switch(flag, file).ok is ok


def _intent(chain: str = "arbitrum", notional: str = "1000", gas: str = "0.001") -> ActionIntent:
    return ActionIntent("liquidator", "bid", chain, "portfolio_margin", "acct-1", "k1",
                        notional_usd=D(notional), gas_cost_native=D(gas))


def test_evaluate_combines_and_reports_only_failures() -> None:
    cfg = GuardsConfig(max_notional_usd=D("5000"), gas_budget_native_per_hour={"arbitrum": D("0.01")})
    fresh = GuardContext(NOW, quotes=(quote("3000"), quote("0", chain="base")))
    ok = evaluate(_intent(), fresh, cfg)
    assert ok.ok, ok  # the zero price on base does not gate an arbitrum action
    stale = GuardContext(NOW, quotes=(quote("3000", age_s=4000),),
                         sequencers={"arbitrum": SequencerStatus("arbitrum", False, NOW)})
    bad = evaluate(_intent(notional="6000"), stale, cfg)
    assert not bad.ok
    assert bad.guard == "sequencer,oracle,notional"
    assert len(bad.reasons) == 3
    assert not evaluate(_intent(), GuardContext(NOW, kill_file_present=True), cfg).ok


@settings(max_examples=200, deadline=None)
@given(spends=st.lists(st.tuples(st.integers(0, 7200), st.decimals(0, 10, places=6)), max_size=20),
       later=st.integers(0, 7200), cost=st.decimals(0, 10, places=6), budget=st.decimals(0, 50, places=6))
def test_gas_window_properties(spends: list[tuple[int, Decimal]], later: int, cost: Decimal,
                               budget: Decimal) -> None:
    past = tuple((NOW - timedelta(seconds=s), amt) for s, amt in spends)
    now_spent = gas_spent_in_window(past, NOW)
    assert gas_spent_in_window(past, NOW + timedelta(seconds=later)) <= now_spent  # old spends only roll off
    assert check_gas_budget("c", past, cost, NOW, budget).ok is (now_spent + cost <= budget)


@settings(max_examples=100, deadline=None)
@given(price=st.decimals(-1e6, 0, places=4), age=st.integers(-100, 100))
def test_non_positive_price_is_never_ok(price: Decimal, age: int) -> None:
    v = check_oracle(quote(str(price), age_s=age), NOW, timedelta(hours=1), D("0.02"), None, D("0.5"))
    assert not v.ok and "<= 0" in v.reasons[0]
