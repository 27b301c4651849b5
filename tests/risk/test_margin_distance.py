"""Distance to liquidation for the vault mirror, the PortfolioMargin mirror and the house margin."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from risk.margin import (
    DistanceRange,
    HouseBook,
    PMBook,
    VaultBook,
    house_distance,
    house_margin_moved,
    pm_distance,
    pm_margin,
    solve_move,
    vault_distance,
    vault_margin,
)

DAY = 86400.0


def _vault(collateral, is_call, strike, tau_days, spot=2500.0, amount=1.0, underlying=None):
    n = len(collateral)
    return VaultBook.build(
        collateral=collateral,
        vault=np.arange(n),
        is_call=is_call,
        strike=strike,
        amount=amount,
        tau_seconds=np.asarray(tau_days, dtype=float) * DAY,
        spot=spot,
        underlying=underlying,
    )


def test_vault_distance_table() -> None:
    book = _vault(
        collateral=[1000.0, 1000.0, 100.0, 1e9, 1999.0, 1.0],
        is_call=[False, True, False, False, False, True],
        strike=[2000.0, 3000.0, 2000.0, 2000.0, 2000.0, 3000.0],
        tau_days=[10, 3, 10, 10, 10, 80],
    )
    d = vault_distance(book)
    # 0: put, UB(10d)=0.237; below 0.75·S = 2000 the requirement is 2000 − 0.763·0.75·S = 1000
    #    → S = 1000/(0.75·0.763) = 1747.49 → down 1 − 1747.49/2500 = 0.301005; rising spot never liquidates
    # 1: call, UB(3d)=0.1678; above S/0.75 = 3000: 503.4 + S/0.75 − 3000 = 1000 → S = 0.75·3496.6 = 2622.45
    #    → up 0.04898; falling spot never liquidates
    # 2: already liquidatable (569.375 > 100) → 0 both ways
    # 3: 1e9 of collateral: no move in range liquidates → inf
    # 4: 2000 − 0.572·S = 1999 needs S = 1.75 (−99.93 %), beyond the −99 % range → inf
    # 5: τ = 80 d is beyond the UB table → NaN
    np.testing.assert_allclose(
        d.down[:5], [1 - 1000 / (0.75 * 0.763) / 2500, np.inf, 0.0, np.inf, np.inf], rtol=1e-9
    )
    np.testing.assert_allclose(d.up[:5], [np.inf, 0.75 * 3496.6 / 2500 - 1, 0.0, np.inf, np.inf], rtol=1e-9)
    assert np.isnan(d.down[5]) and np.isnan(d.up[5])


def test_vault_distance_moves_only_the_chosen_underlying() -> None:
    book = _vault([1000.0, 1000.0], [False, False], [2000.0, 2000.0], [10, 10], underlying=[0, 1])
    d = vault_distance(book, underlying=1)
    assert d.down[0] == np.inf  # vault 0 is on underlying 0, which does not move
    assert d.down[1] == pytest.approx(1 - 1000 / (0.75 * 0.763) / 2500, rel=1e-9)


def _check_root(headroom, moves, up: bool, scale: float) -> None:
    """h(found) is ≈ 0 and not positive; a move 1e-6 smaller is still safe."""
    finite = np.isfinite(moves) & (moves > 0)
    if not finite.any():
        return
    m = np.where(finite, moves, 0.0)
    mult = 1 + m if up else 1 - m
    smaller = 1 + m * (1 - 1e-6) if up else 1 - m * (1 - 1e-6)
    h_at = headroom(mult)[finite]
    h_before = headroom(smaller)[finite]
    assert (h_at <= 1e-9 * scale).all() and (np.abs(h_at) <= 1e-6 * scale).all()
    assert (h_before >= 0.0).all()


@settings(max_examples=25, deadline=None)
@given(
    is_call=st.lists(st.booleans(), min_size=4, max_size=4),
    strike=st.lists(st.floats(1000.0, 4000.0), min_size=4, max_size=4),
    coll=st.lists(st.floats(10.0, 5000.0), min_size=4, max_size=4),
    tau=st.lists(st.floats(0.5, 55.0), min_size=4, max_size=4),
)
def test_vault_roots(is_call, strike, coll, tau) -> None:
    book = _vault(coll, is_call, strike, tau)
    d = vault_distance(book)

    def h(mult):
        return vault_margin(book, row_move=mult[book.vault]).headroom

    _check_root(h, d.down, False, 1e4)
    _check_root(h, d.up, True, 1e4)


def _pm_book(cash, is_call, strike, amount):
    n = len(cash)
    tau_s = 20 * DAY
    tau = tau_s / (365 * DAY)
    return PMBook.build(
        cash=cash,
        spot=[2000.0],
        slice_underlying=[0],
        slice_expiry=[tau_s],
        slice_forward=[2005.0],
        svi=([0.25 * tau], [0.05], [-0.3], [0.0], [0.2]),
        account=np.arange(n),
        slice=np.zeros(n, dtype=np.int64),
        is_call=is_call,
        strike=strike,
        amount=amount,
        now=0.0,
    )


@settings(max_examples=20, deadline=None)
@given(
    is_call=st.lists(st.booleans(), min_size=3, max_size=3),
    strike=st.lists(st.floats(1200.0, 3000.0), min_size=3, max_size=3),
    cash=st.lists(st.floats(0.0, 3000.0), min_size=3, max_size=3),
    amount=st.lists(st.floats(0.1, 5.0), min_size=3, max_size=3),
)
def test_pm_roots(is_call, strike, cash, amount) -> None:
    book = _pm_book(cash, is_call, strike, [-a for a in amount])
    d = pm_distance(book)
    mm0 = pm_margin(book).mm
    np.testing.assert_array_equal(d.down[mm0 < 0], 0.0)

    def h(mult):
        return pm_margin(book, row_move=mult[book.account]).mm

    _check_root(h, d.down, False, 1e4)
    _check_root(h, d.up, True, 1e4)


def test_pm_short_call_is_liquidated_by_a_rally_only() -> None:
    d = pm_distance(_pm_book([500.0], [True], [2200.0], [-1.0]))
    assert d.down[0] == np.inf
    assert 0.0 < d.up[0] < 1.0


def test_house_distance_roots_and_per_underlying() -> None:
    rng = np.random.default_rng(3)
    ni, n, nw = 6, 14, 4
    book = HouseBook.build(
        underlying=[0, 0, 0, 1, 1, 1],
        is_call=[True, False, True, True, False, False],
        strike=rng.uniform(1800, 2200, ni),
        tau=rng.uniform(3 / 365, 0.3, ni),
        forward=[2000.0] * ni,
        vol=rng.uniform(0.4, 0.9, ni),
        wallet=rng.integers(0, nw, n),
        instrument=rng.integers(0, ni, n),
        amount=-rng.uniform(0.5, 3.0, n),
        cash=rng.uniform(200.0, 1500.0, nw),
    )
    rng_ = DistanceRange(grid_points=24)
    for u in (0, 1):
        d = house_distance(book, underlying=u, rng=rng_)
        sel = (book.underlying == u)[book.instrument]

        def h(mult, sel=sel):
            return house_margin_moved(book, np.where(sel, mult[book.wallet], 1.0)).headroom

        _check_root(h, d.down, False, 1e4)
        _check_root(h, d.up, True, 1e4)
        # wallets holding nothing on this underlying cannot be moved into liquidation unless already there
        untouched = np.bincount(book.wallet[sel], minlength=nw) == 0
        h0 = h(np.ones(nw))
        assert np.all(d.down[untouched & (h0 >= 0)] == np.inf)


@settings(max_examples=30, deadline=None)
@given(
    a=st.lists(st.floats(-1.0, 50.0), min_size=5, max_size=5),
    b=st.lists(st.floats(0.5, 100.0), min_size=5, max_size=5),
    curv=st.floats(0.0, 3.0),
)
def test_solver_against_analytic_roots(a, b, curv) -> None:
    # h(m) = a − b·x − curv·x², x = |ln m| — strictly falling in the move, root x* = positive root
    a_, b_ = np.array(a), np.array(b)

    def h(mult):
        x = np.abs(np.log(mult))
        return a_ - b_ * x - curv * x * x

    x_star = 2 * a_ / (b_ + np.sqrt(np.maximum(b_ * b_ + 4 * curv * a_, 0.0)))  # stable quadratic root
    for up, limit in ((False, -np.log(0.01)), (True, np.log(10.0))):
        got = solve_move(h, 5, up=up)
        want = np.where(
            a_ < 0, 0.0, np.where(x_star <= limit, np.expm1(x_star) if up else -np.expm1(-x_star), np.inf)
        )
        np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-9)  # tol is 1e-10 in ln m
