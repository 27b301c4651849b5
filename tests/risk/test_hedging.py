"""Hedging decisions: hand-checked band widths, table of verdicts, and band/edge properties."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from risk.hedging import (
    HedgeLimits,
    decide_dollar_delta_hedge,
    decide_hedge,
    venue_cost,
    whalley_wilmott_half_width,
    zakamouline_half_width,
    zakamouline_modified_vol,
)


def test_whalley_wilmott_hand_value() -> None:
    # (1.5 * 0.01 * 100 * 0.02^2 / 1)^(1/3) = 0.0006^(1/3)
    assert whalley_wilmott_half_width(100.0, 0.02, 0.01, 1.0) == pytest.approx(0.0843433, abs=1e-6)
    # discounting shrinks the band: factor e^{-rτ/3}
    h = whalley_wilmott_half_width(100.0, 0.02, 0.01, 1.0, rate=0.05, tau=2.0)
    assert h == pytest.approx(0.0843433 * math.exp(-0.1 / 3), abs=1e-6)
    # sign of gamma does not matter, zero gamma means no band
    assert whalley_wilmott_half_width(100.0, -0.02, 0.01, 1.0) == pytest.approx(0.0843433, abs=1e-6)
    assert whalley_wilmott_half_width(100.0, 0.0, 0.01, 1.0) == 0.0


def test_zakamouline_hand_value() -> None:
    # H0 = 0.01/(1*100*0.25*0.25) = 0.0016 ; H1 = 1.12*0.01^.31*0.25^.05*(1/0.5)^.25*sqrt(0.02) = 0.0421579
    h = zakamouline_half_width(100.0, 0.02, 0.01, 1.0, vol=0.5, tau=0.25)
    assert h == pytest.approx(0.0016 + 0.0421579, abs=2e-6)


def test_zakamouline_modified_vol_direction() -> None:
    base = 0.5
    short = zakamouline_modified_vol(100.0, -0.02, 0.01, 1.0, base, 0.25)
    long = zakamouline_modified_vol(100.0, 0.02, 0.01, 1.0, base, 0.25)
    assert short > base > long
    assert zakamouline_modified_vol(100.0, 0.02, 0.0, 1.0, base, 0.25) == pytest.approx(base)


@pytest.mark.parametrize(
    ("delta", "h", "policy", "action", "trade", "target"),
    [
        (0.5, 1.0, "to_band_edge", "hold", 0.0, 0.5),
        (-1.0, 1.0, "to_band_edge", "hold", 0.0, -1.0),  # on the edge: hold
        (3.0, 1.0, "to_band_edge", "hedge", -2.0, 1.0),
        (-3.0, 1.0, "to_band_edge", "hedge", 2.0, -1.0),
        (3.0, 1.0, "to_zero", "hedge", -3.0, 0.0),
        (-3.0, 1.0, "to_zero", "hedge", 3.0, 0.0),
        (0.1, 0.0, "to_band_edge", "hedge", -0.1, 0.0),
    ],
)
def test_decision_table(
    delta: float, h: float, policy: str, action: str, trade: float, target: float
) -> None:
    d = decide_hedge(delta, 2000.0, h, policy)  # type: ignore[arg-type]
    assert d.action == action
    assert d.trade_size == pytest.approx(trade)
    assert d.target_delta == pytest.approx(target)
    assert d.band_half_width == h
    assert d.reasons and d.reasons[0].startswith("inside band" if action == "hold" else "outside band")


def test_min_trade_size_holds_with_reason() -> None:
    d = decide_hedge(1.2, 100.0, 1.0, limits=HedgeLimits(min_trade_notional=50.0))  # trade 0.2 → $20
    assert d.action == "hold" and d.trade_size == 0.0
    assert any(r.startswith("below minimum") for r in d.reasons)


def test_min_trade_size_in_units() -> None:
    d = decide_hedge(1.2, 100.0, 1.0, limits=HedgeLimits(min_trade_size=0.5))
    assert d.action == "hold" and any("trade size" in r for r in d.reasons)
    assert decide_hedge(1.7, 100.0, 1.0, limits=HedgeLimits(min_trade_size=0.5)).action == "hedge"


def test_venue_cost() -> None:
    # buying at 2006 when mid is 2000 (30 bp slippage) in a 5 bp pool
    assert venue_cost(2000.0, 2006.0, 0.0005) == pytest.approx(0.0035)
    assert venue_cost(2000.0, 1994.0, 0.0) == pytest.approx(0.003)
    with pytest.raises(ValueError, match="mid"):
        venue_cost(0.0, 1.0, 0.0)


def test_max_notional_caps_with_reason() -> None:
    d = decide_hedge(-10.0, 100.0, 1.0, "to_zero", HedgeLimits(max_trade_notional=300.0))
    assert d.action == "hedge"
    assert d.trade_size == pytest.approx(3.0)
    assert d.target_delta == pytest.approx(-7.0)
    assert any(r.startswith("capped") for r in d.reasons)


def test_bad_inputs_raise_clear_errors() -> None:
    with pytest.raises(ValueError, match="spot"):
        decide_hedge(1.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="policy"):
        decide_hedge(1.0, 1.0, 1.0, "sideways")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="risk_aversion"):
        whalley_wilmott_half_width(100.0, 0.01, 0.01, 0.0)
    with pytest.raises(ValueError, match="max_trade_notional"):
        HedgeLimits(min_trade_notional=10.0, max_trade_notional=5.0)
    with pytest.raises(ValueError, match="vol and tau"):
        decide_dollar_delta_hedge(100.0, 10.0, 0.1, 0.01, 1.0, band="zakamouline")


def test_dollar_delta_wrapper_converts_units() -> None:
    # dollar delta 5000 at spot 100 = 50 units; WW band with gamma 0.02 is ~0.0843 units
    d = decide_dollar_delta_hedge(5000.0, 100.0, 0.02, 0.01, 1.0)
    assert d.action == "hedge"
    assert d.trade_size == pytest.approx(-(50.0 - 0.0843433), abs=1e-6)
    assert d.reasons[0] == "band whalley_wilmott"


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@given(
    delta=finite,
    h=st.floats(min_value=0.0, max_value=1e5),
    policy=st.sampled_from(["to_band_edge", "to_zero"]),
)
def test_band_properties(delta: float, h: float, policy: str) -> None:
    d = decide_hedge(delta, 50.0, h, policy)  # type: ignore[arg-type]
    if abs(delta) <= h:
        assert d.action == "hold" and d.trade_size == 0.0
    else:
        assert d.action == "hedge"
        assert math.copysign(1.0, d.trade_size) == -math.copysign(1.0, delta)  # trades against the delta
        assert abs(d.target_delta) <= h + 1e-9 * max(1.0, abs(delta))  # lands inside (on) the band
        if policy == "to_band_edge":
            assert abs(d.target_delta) == pytest.approx(h, rel=1e-9, abs=1e-9)
        assert d.target_delta == pytest.approx(delta + d.trade_size, rel=1e-12, abs=1e-9)
