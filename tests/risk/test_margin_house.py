"""House scenario margin: scenario table, τ-power vol shocks, hand-computed MM, reference revaluation."""

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from risk.margin import (
    HouseBook,
    HouseParams,
    MarginInputError,
    forward_from_spot,
    house_margin,
    house_margin_moved,
    scenario_table,
    shocked_vols,
)
from risk.pricing import black76, bsm


def test_scenario_table() -> None:
    t = scenario_table()
    assert len(t) == 33
    # ids 0..26: spot move i × (down, none, up); id 3·i + j
    np.testing.assert_allclose(t.spot_move[:27:3], [0.82, 0.865, 0.91, 0.955, 1.0, 1.045, 1.09, 1.135, 1.18])
    assert t.vol_shock[:3].tolist() == [-1, 0, 1]
    np.testing.assert_array_equal(t.weight[:27], 1.0)
    # extended: weight = 0.1386 / |m − 1|, vol flat
    np.testing.assert_allclose(t.spot_move[27:], [0.34, 0.5, 0.66, 1.5, 3.0, 6.0])
    np.testing.assert_allclose(t.weight[27:], [0.1386 / 0.66, 0.2772, 0.1386 / 0.34, 0.2772, 0.0693, 0.02772])
    assert (t.vol_shock[27:] == 0).all()
    assert t.describe(26) == "#26: spot +18.0%, vol up, weight 1.0000"


def test_shocked_vols_table() -> None:
    tau = np.array([7.0, 90.0, 0.1]) / 365.0
    vol = np.array([0.5, 0.3, 0.1])
    up, down = shocked_vols(vol, tau)
    f7 = (30 / 7) ** 0.3  # τ <= 30 d → p = 0.3: 1.547416
    f90 = (30 / 90) ** 0.13  # τ > 30 d → p = 0.13: 0.86691
    f1 = 30**0.3  # τ floored at 1 day: 2.77419
    np.testing.assert_allclose(up, [0.5 * (1 + 0.5 * f7), 0.3 * (1 + 0.5 * f90), 0.40], rtol=1e-12)
    # the last up-vol 0.1·(1 + 1.387) = 0.2387 is floored at 40 %
    np.testing.assert_allclose(
        down, [0.5 * (1 - 0.3 * f7), 0.3 * (1 - 0.3 * f90), 0.1 * (1 - 0.3 * f1)], rtol=1e-12
    )
    assert up[0] == pytest.approx(0.886854, abs=1e-6) and down[0] == pytest.approx(0.267888, abs=1e-6)


def _expired_book() -> HouseBook:
    # τ = 0 → options are worth intrinsic value, so every scenario P&L is hand-computable
    return HouseBook.build(
        underlying=[0, 0],
        is_call=[True, False],
        strike=[2000.0, 2000.0],
        tau=[0.0, 0.0],
        forward=[2000.0, 2000.0],
        vol=[0.5, 0.5],
        wallet=np.array([0, 1, 2]),
        instrument=np.array([0, 1, 0]),
        amount=[-1.0, -1.0, 1.0],
        cash=[1000.0, 100.0, 5.0, 7.0],
    )


def test_house_margin_hand_computed() -> None:
    m = house_margin(_expired_book(), keep_pnl=True)
    # wallet 0, short call: +18 % → −360; extended 1.5/3/6 → −1000·0.2772 = −4000·0.0693 = −10000·0.02772 = −277.2
    #   worst −360 (first of the tied ids 24/25/26 → 24), MM = 0.8·360 = 288
    # wallet 1, short put: −18 % → −360; extended m = 0.34 → −1320·0.1386/0.66 = −277.2, m = 0.5 → −1000·0.2772
    #   = −277.2, m = 0.66 → −680·0.1386/0.34 = −277.2 → worst −360 at id 0 (first tie of 0/1/2), MM 288
    # wallet 2, long call: never loses → MM 0; wallet 3 has no positions → MM 0, equity = cash
    np.testing.assert_allclose(m.mm, [288.0, 288.0, 0.0, 0.0], rtol=1e-12)
    np.testing.assert_allclose(m.worst_pnl[:2], [-360.0, -360.0], rtol=1e-12)
    assert m.worst_id[:2].tolist() == [24, 0]
    np.testing.assert_allclose(m.equity, [1000.0, 100.0, 5.0, 7.0])
    np.testing.assert_allclose(m.headroom, [712.0, -188.0, 5.0, 7.0])
    assert m.pnl is not None
    # the three extended moves of the short put tie at −277.2 (ids 27, 28, 29)
    np.testing.assert_allclose(m.pnl[1, 27:30], [-277.2, -277.2, -277.2], rtol=1e-12)


def test_extended_move_can_be_the_worst() -> None:
    # 5-lot short put K=1000, F=2000, τ=0: the ±18 % grid never reaches the strike (loss 0) but m = 0.34
    # (F → 680) loses 5·320 = 1600, dampened to 1600·0.1386/0.66 = 336 → MM = 0.8·336 = 268.8, worst id 27
    b = HouseBook.build(
        underlying=[0],
        is_call=[False],
        strike=[1000.0],
        tau=[0.0],
        forward=[2000.0],
        vol=[0.5],
        wallet=np.array([0]),
        instrument=np.array([0]),
        amount=[-5.0],
        cash=[0.0],
    )
    m = house_margin(b)
    assert m.worst_id[0] == 27
    assert m.mm[0] == pytest.approx(268.8, rel=1e-12)


def _ref_mm(book: HouseBook, wallet: int, params: HouseParams) -> float:
    """Plain-loop reference: revalue each position under each scenario (independent of the vectorisation)."""
    t = scenario_table(params)
    worst = math.inf
    for s in range(len(t)):
        total = 0.0
        for i in np.flatnonzero(book.wallet == wallet):
            j = book.instrument[i]
            up, down = shocked_vols(book.vol[j : j + 1], book.tau[j : j + 1], params)
            vol = {-1: down[0], 0: book.vol[j], 1: up[0]}[int(t.vol_shock[s])]
            args = (book.is_call[j], book.strike[j], book.tau[j], book.rate[j])
            v0 = black76(args[0], book.forward[j], args[1], args[2], args[3], book.vol[j]).price
            v1 = black76(args[0], book.forward[j] * t.spot_move[s], args[1], args[2], args[3], vol).price
            total += book.amount[i] * (float(v1) - float(v0)) * t.weight[s]
        worst = min(worst, total)
    return 0.8 * max(-worst, 0.0)


def test_matches_plain_loop_reference_on_random_book() -> None:
    rng = np.random.default_rng(7)
    ni, n, nw = 12, 40, 6
    b = HouseBook.build(
        underlying=rng.integers(0, 2, ni),
        is_call=rng.random(ni) < 0.5,
        strike=rng.uniform(1500, 2500, ni),
        tau=rng.uniform(1 / 365, 0.5, ni),
        forward=rng.uniform(1900, 2100, ni),
        vol=rng.uniform(0.3, 1.0, ni),
        rate=rng.uniform(0.0, 0.05, ni),
        wallet=rng.integers(0, nw, n),
        instrument=rng.integers(0, ni, n),
        amount=rng.normal(0, 3, n),
        cash=np.zeros(nw),
    )
    p = HouseParams()
    m = house_margin(b, p)
    np.testing.assert_allclose(m.mm, [_ref_mm(b, w, p) for w in range(nw)], rtol=1e-10)
    # position-level revaluation with no move equals the instrument-level path
    moved = house_margin_moved(b, np.ones(n), p)
    np.testing.assert_allclose(moved.mm, m.mm, rtol=1e-12)
    np.testing.assert_allclose(moved.equity, m.equity, rtol=1e-12)


def test_forward_from_spot_reproduces_bsm() -> None:
    s, k, tau, r, q, vol = 100.0, 95.0, 0.4, 0.05, 0.02, 0.3
    fwd = forward_from_spot(s, tau, r, q)
    b76 = black76(True, fwd, k, tau, r, vol).price
    assert float(b76) == pytest.approx(float(bsm(True, s, k, tau, r, q, vol).price), rel=1e-12)


def _random_book(seed: int, n_wallets: int, cash: float = 0.0) -> HouseBook:
    rng = np.random.default_rng(seed)
    ni, n = 8, 30
    return HouseBook.build(
        underlying=rng.integers(0, 2, ni),
        is_call=rng.random(ni) < 0.5,
        strike=rng.uniform(1500, 2500, ni),
        tau=rng.uniform(0.5 / 365, 0.4, ni),
        forward=rng.uniform(1900, 2100, ni),
        vol=rng.uniform(0.2, 1.2, ni),
        wallet=rng.integers(0, n_wallets, n),
        instrument=rng.integers(0, ni, n),
        amount=rng.normal(0, 2, n),
        cash=np.full(n_wallets, cash),
    )


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(0.01, 100.0))
def test_house_margin_properties(seed: int, scale: float) -> None:
    b = _random_book(seed, 3)
    m = house_margin(b)
    assert (m.mm >= 0).all()
    # homogeneous: scaling every position scales MM and the scenario P&L
    scaled = dataclasses.replace(b, amount=b.amount * scale, holdings=b.holdings * scale)
    np.testing.assert_allclose(house_margin(scaled).mm, scale * m.mm, rtol=1e-9, atol=1e-9)
    # sub-additive: merging the three wallets never needs more than the sum of their margins
    merged = HouseBook.build(
        underlying=b.underlying,
        is_call=b.is_call,
        strike=b.strike,
        tau=b.tau,
        forward=b.forward,
        vol=b.vol,
        rate=b.rate,
        wallet=np.zeros_like(b.wallet),
        instrument=b.instrument,
        amount=b.amount,
        cash=[0.0],
    )
    assert house_margin(merged).mm[0] <= m.mm.sum() * (1 + 1e-12) + 1e-9


def test_moved_path_equals_moving_the_instruments() -> None:
    b = _random_book(11, 4)
    moved = house_margin_moved(b, np.full(b.amount.shape[0], 0.87))
    direct = house_margin(dataclasses.replace(b, forward=b.forward * 0.87))
    np.testing.assert_allclose(moved.mm, direct.mm, rtol=1e-12)
    np.testing.assert_allclose(moved.equity, direct.equity, rtol=1e-12)


def test_house_input_errors() -> None:
    kw = dict(underlying=[0], is_call=[True], strike=[1.0], tau=[0.1], forward=[1.0], vol=[0.5], amount=[1.0])
    with pytest.raises(MarginInputError, match=r"instrument: index out of range \[0, 1\) at rows \[0\]"):
        HouseBook.build(**kw, wallet=np.array([0]), instrument=np.array([3]), cash=[0.0])
    with pytest.raises(MarginInputError, match=r"tau: must be >= 0 years; violated at rows \[0\]"):
        HouseBook.build(**{**kw, "tau": [-0.1]}, wallet=np.array([0]), instrument=np.array([0]), cash=[0.0])
