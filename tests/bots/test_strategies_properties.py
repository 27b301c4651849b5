"""Property tests: invariants of the liquidator's auction decisions over random accounts and times."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from bots.config import LiquidatorParams
from bots.strategies.intents import ActionIntent
from bots.strategies.liquidator import GasView, LiquidatorState, PMCandidate, decide_pm

STATE = LiquidatorState(datetime(2026, 11, 22, tzinfo=UTC), gas={"arbitrum": GasView(Decimal("0.1"), Decimal(3000))})
money = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(mm=st.floats(min_value=-1e6, max_value=-1e-3), mtm=money, cash=money, value=money,
       t=st.floats(min_value=0, max_value=20 * 3600), min_profit=st.integers(0, 5000),
       cap=st.floats(min_value=0.01, max_value=1.0))
def test_bids_respect_threshold_fraction_cap_and_stable_key(mm: float, mtm: float, cash: float, value: float,
                                                            t: float, min_profit: int, cap: float) -> None:
    c = PMCandidate("arbitrum", "portfolio_margin", "acct", mm, mtm, cash, value, auction_id="a9", auction_elapsed_s=t)
    params = LiquidatorParams(min_profit_usd=Decimal(min_profit), max_fraction=cap)
    out = decide_pm(c, STATE, params)
    if not isinstance(out, ActionIntent):
        return
    assert out.kind == "bid" and out.key == "liquidator:arbitrum:portfolio_margin:acct:auction:a9:bid"
    assert 0 < out.params["fraction"] <= cap
    if mtm > 0:
        assert out.expected_profit_usd >= Decimal(min_profit)  # solvent: only when it beats the threshold
    else:
        assert out.expected_profit_usd >= 0  # insolvent: immediately, but never at a loss
