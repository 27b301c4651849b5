"""Full-revaluation VaR/ES: hand-checked linear books, ES >= VaR, sqrt scaling, options vs linear."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from risk.book_value import Kind
from risk.var import Rows, entity_var, historical_multipliers, monte_carlo_multipliers, scenario_pnl, var_es


def make_rows(
    entity, underlying, kind, size, strike=None, t=None, is_call=None, vol=None, entry=None
) -> Rows:
    n = len(entity)
    return Rows(
        entity=np.asarray(entity, dtype=np.int64),
        underlying=np.asarray(underlying, dtype=np.int64),
        kind=np.asarray(kind, dtype=np.int8),
        is_call=np.asarray(is_call if is_call is not None else [True] * n, dtype=bool),
        strike=np.asarray(strike if strike is not None else [0.0] * n, dtype=float),
        t=np.asarray(t if t is not None else [0.0] * n, dtype=float),
        size=np.asarray(size, dtype=float),
        multiplier=np.ones(n),
        entry_price=np.asarray(entry if entry is not None else [0.0] * n, dtype=float),
        vol=np.asarray(vol if vol is not None else [0.0] * n, dtype=float),
    )


def test_historical_linear_hand_values() -> None:
    # one underlying, spot 100; 100 scenarios with returns -1%..-100% mapped via multipliers
    mult = np.linspace(0.90, 1.09, 100)[:, None]  # step 0.0019..
    rows = make_rows(
        [0, 1, 1], [0, 0, 0], [Kind.SPOT, Kind.PERP, Kind.CASH], [2.0, -1.0, 1e6], entry=[0, 95.0, 0]
    )
    pnl = scenario_pnl(rows, [100.0], mult, 2)
    assert pnl[0] == pytest.approx(2.0 * 100.0 * (mult[:, 0] - 1.0))
    assert pnl[1] == pytest.approx(-1.0 * 100.0 * (mult[:, 0] - 1.0))  # perp entry cancels, cash is inert
    res = entity_var(rows, [100.0], mult, 2, "historical")
    # k = ceil(100 * 0.01) = 1: VaR = ES = worst loss
    assert res[0].var == pytest.approx(2.0 * 100.0 * 0.10) and res[0].es == pytest.approx(res[0].var)
    assert res[1].var == pytest.approx(100.0 * 0.09)
    assert res[0].n_scenarios == 100 and res[0].method == "historical"


def test_var_es_k_tail() -> None:
    pnl = np.array([[-5.0, -4.0, -3.0, 1.0, 2.0] + [0.0] * 195])
    v, e = var_es(pnl, 0.99)  # k = ceil(200*0.01) = 2
    assert v[0] == pytest.approx(4.0) and e[0] == pytest.approx(4.5)


@given(
    st.lists(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=1, max_size=400),
    st.sampled_from([0.9, 0.95, 0.99, 0.975]),
)
@settings(max_examples=80, deadline=None)
def test_es_not_below_var(pnl: list[float], c: float) -> None:
    v, e = var_es(np.asarray(pnl)[None, :], c)
    assert e[0] >= v[0] - 1e-9 * max(1.0, abs(v[0]))


def test_historical_joint_across_underlyings() -> None:
    prices = np.array([[100.0, 10.0], [110.0, 9.0], [99.0, 9.9]])
    m = historical_multipliers(prices)
    assert m == pytest.approx(np.array([[1.1, 0.9], [0.9, 1.1]]))
    # long one of each: scenario 1 = +10 - 1, scenario 2 = -11 + 0.99 (joint moves, not independent)
    rows = make_rows([0, 0], [0, 1], [Kind.SPOT, Kind.SPOT], [1.0, 1.0])
    pnl = scenario_pnl(rows, [110.0, 9.0], m, 1)
    assert pnl[0] == pytest.approx([11.0 - 0.9, -11.0 + 0.9])


def test_mc_var_scales_with_sqrt_vol_and_horizon_for_linear_book() -> None:
    rows = make_rows([0], [0], [Kind.SPOT], [1.0])
    corr = np.eye(1)
    v1 = entity_var(rows, [100.0], monte_carlo_multipliers([0.01], corr, 20000, seed=3), 1, "monte_carlo")[0]
    v4 = entity_var(rows, [100.0], monte_carlo_multipliers([0.04], corr, 20000, seed=3), 1, "monte_carlo")[0]
    h4 = entity_var(
        rows,
        [100.0],
        monte_carlo_multipliers([0.01], corr, 20000, seed=3, horizon_periods=4.0),
        1,
        "monte_carlo",
    )[0]
    # normal 99% quantile 2.326 σ S, ES 2.665 σ S (lognormal correction is small at σ = 1%)
    assert v1.var == pytest.approx(2.326, rel=0.05) and v1.es == pytest.approx(2.665, rel=0.05)
    assert v4.var / v1.var == pytest.approx(4.0, rel=0.08)
    assert h4.var / v1.var == pytest.approx(math.sqrt(4.0), rel=0.05)  # √time
    assert v1.es >= v1.var and v1.n_scenarios == 20000


def test_mc_correlation_hedges() -> None:
    rows = make_rows([0], [0], [Kind.SPOT], [1.0])
    rows2 = make_rows([0, 0], [0, 1], [Kind.SPOT, Kind.SPOT], [1.0, -1.0])
    m_pos = monte_carlo_multipliers([0.02, 0.02], np.array([[1, 0.95], [0.95, 1.0]]), 5000, seed=1)
    alone = entity_var(rows, [100.0, 100.0], m_pos, 1, "monte_carlo")[0].var
    spread = entity_var(rows2, [100.0, 100.0], m_pos, 1, "monte_carlo")[0].var
    assert spread < 0.5 * alone  # long/short of 95%-correlated assets is much less risky
    # perfectly correlated assets do not break the factorisation
    m1 = monte_carlo_multipliers([0.02, 0.02], np.ones((2, 2)), 100, seed=1)
    assert np.allclose(m1[:, 0], m1[:, 1])


def test_short_option_revaluation_tail_is_worse_than_delta_equivalent() -> None:
    # short ATM straddle is short gamma: full revaluation loss exceeds the (zero) delta-linear estimate
    rows = make_rows(
        [0, 0],
        [0, 0],
        [Kind.OPTION, Kind.OPTION],
        [-1.0, -1.0],
        strike=[100.0, 100.0],
        t=[30 / 365] * 2,
        is_call=[True, False],
        vol=[0.6, 0.6],
    )
    m = monte_carlo_multipliers([0.04], np.eye(1), 4000, seed=5)
    r = entity_var(rows, [100.0], m, 1, "monte_carlo")[0]
    assert r.var > 0 and r.es > r.var
    pnl = scenario_pnl(rows, [100.0], m, 1)
    # the worst outcome is a large move in either direction, never the no-move scenario
    worst = int(np.argmin(pnl[0]))
    assert abs(m[worst, 0] - 1.0) > 0.05


def test_bad_inputs() -> None:
    rows = make_rows([0], [1], [Kind.SPOT], [1.0])
    with pytest.raises(ValueError, match="underlying"):
        scenario_pnl(rows, [100.0], np.ones((3, 1)), 1)
    with pytest.raises(ValueError, match="vol > 0"):
        make_rows([0], [0], [Kind.OPTION], [1.0], strike=[1.0], t=[1.0], vol=[0.0])
    with pytest.raises(ValueError, match="symmetric"):
        monte_carlo_multipliers([0.1, 0.1], np.array([[1, 0.5], [0.2, 1.0]]), 10, 0)
    with pytest.raises(ValueError, match="finite and > 0"):
        historical_multipliers(np.array([[1.0], [0.0]]))


def test_book_wrappers_match_direct_revaluation() -> None:
    from risk.book import Position, PositionBook
    from risk.var import historical_var, monte_carlo_var, rows_from_book

    now = 1_800_000_000.0
    b = PositionBook(now)
    b.upsert(
        Position(
            "c",
            0,
            Kind.OPTION,
            size=-2.0,
            chain=0,
            protocol=0,
            wallet=0,
            entity=0,
            strike=100.0,
            expiry=now + 30 * 86400.0,
        )
    )
    b.upsert(Position("s", 1, Kind.SPOT, size=3.0, chain=1, protocol=1, wallet=1, entity=1))
    b.upsert(Position("u", 2, Kind.CASH, size=1e6, chain=1, protocol=1, wallet=1, entity=1))
    b.upsert(Position("x", 7, Kind.SPOT, size=1.0, chain=1, protocol=1, wallet=1, entity=1))  # never priced
    b.tick(0, spot=100.0, vol=0.8)
    b.tick(1, spot=10.0)
    b.tick(2, spot=1.0)
    rows, spot, excluded = rows_from_book(b)
    assert excluded == 1 and rows.entity.size == 3
    rng = np.random.default_rng(0)
    hist = {
        0: 100 * np.exp(np.cumsum(rng.normal(0, 0.05, 300))),
        1: 10 * np.exp(np.cumsum(rng.normal(0, 0.05, 300))),
    }
    res = historical_var(b, hist)
    direct = entity_var(
        rows,
        np.nan_to_num(spot, nan=1.0),
        historical_multipliers(
            np.column_stack([hist[0], hist[1], np.ones(300)] + [np.ones(300)] * (spot.size - 3))
        ),
        2,
        "historical",
    )
    assert [r.var for r in res] == pytest.approx([r.var for r in direct])
    assert res[0].n_scenarios == 299 and res[1].var > 0
    mc = monte_carlo_var(b, {0: 0.05, 1: 0.05}, np.eye(2), 2000, seed=9)
    assert mc[0].method == "monte_carlo" and mc[0].es >= mc[0].var > 0
    # the spot leg alone: 3 × 10 × 2.326 × 5 % ≈ 3.5
    assert mc[1].var == pytest.approx(3 * 10 * 2.326 * 0.05, rel=0.15)
    with pytest.raises(ValueError, match="no price history for underlyings \\[1\\]"):
        historical_var(b, {0: hist[0]})
    with pytest.raises(ValueError, match="no vol forecast"):
        monte_carlo_var(b, {0: 0.05}, np.eye(1), 10, seed=1)


@given(k=st.floats(0.1, 50.0), seed=st.integers(0, 1000))
@settings(max_examples=20, deadline=None)
def test_var_is_positively_homogeneous_in_position_size(k: float, seed: int) -> None:
    base = make_rows(
        [0, 0],
        [0, 0],
        [Kind.OPTION, Kind.PERP],
        [-1.0, 0.5],
        strike=[100.0, 0.0],
        t=[0.1, 0.0],
        is_call=[False, True],
        vol=[0.7, 0.0],
        entry=[0.0, 98.0],
    )
    scaled = make_rows(
        [0, 0],
        [0, 0],
        [Kind.OPTION, Kind.PERP],
        [-k, 0.5 * k],
        strike=[100.0, 0.0],
        t=[0.1, 0.0],
        is_call=[False, True],
        vol=[0.7, 0.0],
        entry=[0.0, 98.0],
    )
    m = monte_carlo_multipliers([0.05], np.eye(1), 300, seed=seed)
    a = entity_var(base, [100.0], m, 1, "monte_carlo")[0]
    b = entity_var(scaled, [100.0], m, 1, "monte_carlo")[0]
    assert b.var == pytest.approx(k * a.var, rel=1e-9, abs=1e-9)
    assert b.es == pytest.approx(k * a.es, rel=1e-9, abs=1e-9)
