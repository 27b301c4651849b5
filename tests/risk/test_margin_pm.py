"""PortfolioMargin (Lyra v2 standard manager) mirror: hand-computed table, reasons, properties."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from risk.margin import MarginInputError, PMBook, PMReason, pm_margin

T30 = 30 * 86400.0
TAU = T30 / (365 * 86400.0)
S = 2000.0
F = 2010.0
VOL = 0.2
FLAT = 0.04 * TAU  # flat SVI slice: a = vol²·τ, b = 0 → vol 0.2 at every strike


def b76(is_call: bool, k: float, f: float = F, vol: float = VOL, tau: float = TAU) -> float:
    """Independent Black-76 (rate 0) for the expected values."""
    n = lambda x: 0.5 * (1 + math.erf(x / math.sqrt(2)))  # noqa: E731
    sd = vol * math.sqrt(tau)
    d1 = (math.log(f / k) + 0.5 * sd * sd) / sd
    d2 = d1 - sd
    return f * n(d1) - k * n(d2) if is_call else k * n(-d2) - f * n(-d1)


def book(
    cash, account, slice_, is_call, strike, amount, *, expiry=(T30, 2 * T30), a=None, now=0.0, sigma=0.1
):
    ns = len(expiry)
    a = [FLAT, 0.04 * 2 * TAU][:ns] if a is None else a
    return PMBook.build(
        cash=cash,
        spot=[S],
        slice_underlying=[0] * ns,
        slice_expiry=list(expiry),
        slice_forward=[F] * ns,
        svi=(a, [0.0] * ns, [0.0] * ns, [0.0] * ns, [sigma] * ns),
        account=np.asarray(account),
        slice=np.asarray(slice_),
        is_call=is_call,
        strike=strike,
        amount=amount,
        now=now,
    )


def test_margin_table() -> None:
    c2000, c2200, c2500, c2001 = (b76(True, k) for k in (2000, 2200, 2500, 2001))
    p1800, p5000, p1700 = (b76(False, k) for k in (1800, 5000, 1700))
    c2000_60 = b76(True, 2000, tau=2 * TAU)
    rows = [
        # (account, slice, is_call, strike, amount)
        (0, 0, True, 2000.0, -1.0),  # A: call spread
        (0, 0, True, 2200.0, 1.0),
        (1, 0, False, 1800.0, -1.0),  # B: naked put
        (2, 0, True, 2500.0, -2.0),  # C: naked calls
        (3, 0, False, 5000.0, -1.0),  # D: deep ITM put, mark > S
        (4, 0, True, 2000.0, -1.0),  # E: short call in expiry 0, long call in expiry 1 (no pairing)
        (4, 1, True, 2000.0, 1.0),
        (5, 0, False, 1800.0, -1.0),  # F: put spread
        (5, 0, False, 1700.0, 1.0),
        (6, 0, True, 2000.0, -10.0),  # G: ratio spread where max loss + unbounded charge wins
        (6, 0, True, 2001.0, 9.0),
    ]
    acc, sl, ic, k, amt = (list(x) for x in zip(*rows, strict=True))
    cash = [1000.0, 50.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    m = pm_margin(book(cash, acc, sl, ic, k, amt))
    expected_mm = [
        # A: isolated −c2000 − 0.09·2000 = −(c2000 + 180); max loss over {0, 2000, 2200}: −200 at 2200
        #    → max(−(c2000 + 180), −200) = −200 (c2000 ≈ 51); MM = 1000 − 200 = 800
        800.0,
        # B: isolated −p1800 + min(−180, −0.09·p1800) = −p1800 − 180; max loss −1800 at 0 → 50 − p1800 − 180
        50.0 - p1800 - 180.0,
        # C: isolated 2·(−c2500 − 180); max loss 0 plus 1.1·F·(−2) = −4422 → isolated wins
        -2 * c2500 - 360.0,
        # D: mark ≈ 2990 > S so 0.09·mark > 0.09·S: isolated −1.09·p5000; max loss −5000 → isolated
        -1.09 * p5000,
        # E: per expiry: −(c2000 + 180) + 0 (longs get no credit across expiries)
        -c2000 - 180.0,
        # F: max loss over {0, 1700, 1800}: −1800 + 1700 = −100 at 0 and at 1700 → max(−p1800 − 180, −100)
        -100.0,
        # G: isolated 10·(−c2000 − 180) ≈ −2310; max loss −10 at 2001, net calls −1 → −10 − 1.1·2010 = −2221
        -10.0 - 1.1 * F,
    ]
    np.testing.assert_allclose(m.mm, expected_mm, rtol=1e-9)
    expected_mtm = [
        1000.0 - c2000 + c2200,
        50.0 - p1800,
        -2 * c2500,
        -p5000,
        -c2000 + c2000_60,
        -p1800 + p1700,
        -10 * c2000 + 9 * c2001,
    ]
    np.testing.assert_allclose(m.mtm, expected_mtm, rtol=1e-9)
    assert p5000 > S  # the table row D really exercises the mark branch
    assert (m.reasons == 0).all()


def test_long_only_account_has_mm_equal_cash() -> None:
    m = pm_margin(book([10.0], [0, 0], [0, 1], [True, False], [2000.0, 1500.0], [3.0, 1.0]))
    assert m.mm[0] == 10.0
    assert m.mtm[0] == pytest.approx(10.0 + 3 * b76(True, 2000) + b76(False, 1500, tau=2 * TAU), rel=1e-9)


def test_invalid_slice_makes_account_nan() -> None:
    # account 0 holds a slice with a < 0 (negative total variance: the VolFeed reverts), account 1 is healthy
    b = book([0.0, 0.0], [0, 1], [0, 1], [True, True], [2000.0] * 2, [-1.0] * 2, a=[-0.5, FLAT])
    m = pm_margin(b)
    assert m.reasons.tolist() == [int(PMReason.INVALID_SVI), 0]
    assert np.isnan(m.mm[0]) and np.isnan(m.mtm[0])
    assert np.isfinite(m.mm[1])


def test_expired_positions_count_at_payoff() -> None:
    # slice 0 expired (expiry == now); slice 1 live. Account 0: short call K=1900 and long put K=2100 expired,
    # plus a short call K=2000 live.
    rows = ([0, 0, 0], [0, 0, 1], [True, False, True], [1900.0, 2100.0, 2000.0], [-1.0, 2.0, -1.0])
    live = -b76(True, 2000, tau=2 * TAU) - 0.09 * S  # isolated of the live short call (max loss is −1.1·F)
    # no settlement price fixed → spot 2000: call payoff 100, put payoff 100 → −100 + 2·100 = +100
    m = pm_margin(book([10.0], *rows, expiry=(0.0, 2 * T30)))
    assert m.mm[0] == pytest.approx(10.0 + 100.0 + live, rel=1e-12)
    assert m.mtm[0] == pytest.approx(10.0 + 100.0 - b76(True, 2000, tau=2 * TAU), rel=1e-12)
    np.testing.assert_allclose(m.marks[:2], [100.0, 100.0])
    # settlement fixed at 2150: call payoff 250, put payoff 0 → −250; a spot move no longer changes it
    b = book([10.0], *rows, expiry=(0.0, 2 * T30))
    fixed = PMBook.build(**{**_fields(b), "slice_settlement": [2150.0, 0.0]})
    m = pm_margin(fixed)
    assert m.mm[0] == pytest.approx(10.0 - 250.0 + live, rel=1e-12)
    moved = pm_margin(fixed, row_move=np.array([1.3, 1.3, 1.0]))
    assert moved.mm[0] == pytest.approx(m.mm[0], rel=1e-12)


def _fields(b: PMBook) -> dict:
    return dict(
        cash=b.cash,
        spot=b.spot,
        slice_underlying=b.slice_underlying,
        slice_expiry=b.slice_expiry,
        slice_forward=b.slice_forward,
        svi=(b.svi_a, b.svi_b, b.svi_rho, b.svi_m, b.svi_sigma),
        account=b.account,
        slice=b.slice,
        is_call=b.is_call,
        strike=b.strike,
        amount=b.amount,
        now=b.now,
    )


def test_input_errors() -> None:
    with pytest.raises(MarginInputError, match=r"slice: index out of range \[0, 2\) at rows \[0\]"):
        book([0.0], [0], [5], [True], [2000.0], [-1.0])
    with pytest.raises(MarginInputError, match="account: expected integer indices"):
        book([0.0], [0.5], [0], [True], [2000.0], [-1.0])


@settings(max_examples=40, deadline=None)
@given(
    is_call=st.booleans(),
    strike=st.floats(500.0, 5000.0),
    amount=st.floats(0.1, 50.0),
    cash=st.floats(-1e5, 1e5),
    extra=st.floats(0.0, 1e5),
    scale=st.floats(0.01, 10.0),
)
def test_properties(is_call, strike, amount, cash, extra, scale) -> None:
    b = book([cash], [0], [0], [is_call], [strike], [-amount])
    m = pm_margin(b)
    # more collateral (cash) raises MM one for one
    assert pm_margin(book([cash + extra], [0], [0], [is_call], [strike], [-amount])).mm[0] == pytest.approx(
        m.mm[0] + extra, rel=1e-12, abs=1e-9
    )
    # MM and MtM are homogeneous of degree 1 in the account's size (what the auction maths relies on)
    sc = pm_margin(b.scaled(np.array([scale])))
    np.testing.assert_allclose(
        [sc.mm[0], sc.mtm[0]], [scale * m.mm[0], scale * m.mtm[0]], rtol=1e-9, atol=1e-9
    )


@settings(max_examples=40, deadline=None)
@given(
    strike=st.floats(500.0, 5000.0),
    amount=st.floats(0.1, 50.0),
    m1=st.floats(0.3, 3.0),
    m2=st.floats(0.3, 3.0),
)
def test_short_call_margin_falls_as_spot_rises(strike, amount, m1, m2) -> None:
    # Short call: −mark − 0.09·S and the unbounded 1.1·F charge both fall with spot. (A short put is NOT
    # monotone under this formula: for a far OTM put the 0.09·S charge grows faster than the mark falls.)
    b = book([0.0], [0], [0], [True], [strike], [-amount])
    lo, hi = sorted((m1, m2))
    mm_lo = pm_margin(b, row_move=np.array([lo])).mm[0]
    mm_hi = pm_margin(b, row_move=np.array([hi])).mm[0]
    assert mm_hi <= mm_lo + 1e-9 * abs(mm_lo)


def test_row_move_equals_moving_spot_and_forward() -> None:
    # with a flat slice the vol does not depend on moneyness, so moving spot and forward in the book
    # must give exactly what the solver's row_move gives
    rows = dict(
        account=[0, 0, 1], slice_=[0, 1, 1], is_call=[True, False, True], strike=[2100.0, 1900.0, 1800.0]
    )
    amount = [-1.0, -2.0, 1.5]
    b = book([100.0, 100.0], rows["account"], rows["slice_"], rows["is_call"], rows["strike"], amount)
    moved = pm_margin(b, row_move=np.full(3, 1.07))
    direct = pm_margin(
        PMBook.build(**{**_fields(b), "spot": b.spot * 1.07, "slice_forward": b.slice_forward * 1.07})
    )
    np.testing.assert_allclose(moved.mm, direct.mm, rtol=1e-12)
    np.testing.assert_allclose(moved.mtm, direct.mtm, rtol=1e-12)


def _reference_mm(cash: float, rows: list[tuple[int, bool, float, float]], marks: np.ndarray) -> float:
    """Straight transcription of the spec for ONE account: per expiry max(Σ isolated, maxLoss + unbounded)."""
    total = cash
    for sl in {r[0] for r in rows}:
        idx = [i for i, r in enumerate(rows) if r[0] == sl]
        iso = 0.0
        for i in idx:
            _, call, _, a = rows[i]
            if a < 0:
                iso += a * marks[i] + (0.09 * S * a if call else min(0.09 * S * a, 0.09 * a * marks[i]))
        prices = [0.0] + [rows[i][2] for i in idx]
        payoffs = [
            sum(rows[i][3] * (max(p - rows[i][2], 0) if rows[i][1] else max(rows[i][2] - p, 0)) for i in idx)
            for p in prices
        ]
        max_loss = min(min(payoffs), 0.0)
        net_calls = sum(rows[i][3] for i in idx if rows[i][1])
        if net_calls < 0:
            max_loss += 1.1 * F * net_calls
        total += max(iso, max_loss)
    return total


@settings(max_examples=30, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.integers(0, 1),
            st.booleans(),
            st.sampled_from([1600.0, 1800.0, 1900.0, 2000.0, 2100.0, 2400.0]),
            st.floats(-5.0, 5.0),
        ),
        min_size=1,
        max_size=9,
    ),
    cash=st.floats(-1e4, 1e4),
)
def test_grouped_kernel_matches_spec_transcription(rows, cash) -> None:
    # shuffle two accounts' rows together so grouping/sorting is exercised; account 1 gets the same rows reversed
    n = len(rows)
    b = book(
        [cash, cash],
        [0] * n + [1] * n,
        [r[0] for r in rows] + [r[0] for r in rows[::-1]],
        [r[1] for r in rows] + [r[1] for r in rows[::-1]],
        [r[2] for r in rows] + [r[2] for r in rows[::-1]],
        [r[3] for r in rows] + [r[3] for r in rows[::-1]],
    )
    m = pm_margin(b)
    ref = _reference_mm(cash, rows, m.marks[:n])
    np.testing.assert_allclose(m.mm, [ref, ref], rtol=1e-9, atol=1e-7)
