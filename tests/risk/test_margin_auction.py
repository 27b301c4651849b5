"""PortfolioMargin Dutch-auction maths: discount schedule, max fraction restores BM, insolvent payout."""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from risk.margin import (
    PMBook,
    bid_price,
    bidder_profit,
    buffer_margin,
    discount,
    insolvent_payout,
    max_bid_fraction,
    max_fraction,
    pm_margin,
)

MIN = 60.0
HOUR = 3600.0


def test_discount_schedule() -> None:
    t = [-5.0, 0.0, 7.5 * MIN, 15 * MIN, 15 * MIN + 6 * HOUR, 12 * HOUR + 15 * MIN, 20 * HOUR]
    # 0.95 at start; 0.95 − 0.25·(7.5/15) = 0.825; 0.70 at 15 min; 0.70·(1 − 6/12) = 0.35 mid-way; 0 at 12h15m
    np.testing.assert_allclose(discount(t), [0.95, 0.95, 0.825, 0.70, 0.35, 0.0, 0.0], atol=1e-15)


def test_insolvent_payout_schedule() -> None:
    # MM = −1000, MtM = −200, p = 0.5: 0.5·(200 + 800·min(t, 60)/60)
    t = np.array([0.0, 30.0, 60.0, 90.0]) * MIN
    np.testing.assert_allclose(insolvent_payout(0.5, -1000.0, -200.0, t), [100.0, 300.0, 500.0, 500.0])
    # |MM| < |MtM|: nothing to add over time, 0.5·200 throughout
    np.testing.assert_allclose(insolvent_payout(0.5, -100.0, -200.0, t), [100.0] * 4)


def test_max_fraction_edges_and_bid_price() -> None:
    # BM = −100 + 0.15·(−100 − 400) = −175; f = −175 / (−175 − 400·0.95) = 175/555
    assert float(buffer_margin(-100.0, 400.0)) == pytest.approx(-175.0)
    assert float(max_fraction(-100.0, 400.0, 0.95)) == pytest.approx(175.0 / 555.0)
    assert float(max_fraction(100.0, 400.0, 0.95)) == 0.0  # BM = 100 − 45 = 55 >= 0: not in auction
    assert float(max_fraction(-100.0, 400.0, 0.0)) == 1.0  # discount 0: BM/BM, the whole account
    assert float(bid_price(0.5, 400.0, 0.9)) == pytest.approx(180.0)
    # BM = −100 + 0.15·(−100 + 400) = −55, BM − MtM·d = −55 + 380 = 325 >= 0: no fraction restores BM → 1
    assert float(max_fraction(-100.0, -400.0, 0.95)) == 1.0
    assert float(bid_price(0.5, -400.0, 0.9)) == 0.0  # the contract never charges a negative price


def test_bidder_profit_solvent_and_insolvent() -> None:
    # solvent: gets 0.5·(100 + 400) = 250, pays 0.5·480·0.95 = 228 → 22
    assert float(bidder_profit(0.5, 100.0, 400.0, -50.0, 480.0, 0.0)) == pytest.approx(22.0)
    # insolvent at 30 min: gets 0.5·(−300 + 100) = −100, is paid 0.5·(200 + 800·0.5) = 300 → 200
    assert float(bidder_profit(0.5, -300.0, 100.0, -1000.0, -200.0, 30 * MIN)) == pytest.approx(200.0)


def _short_call_book(cash: float, amount: float, strike: float) -> PMBook:
    tau_s = 30 * 86400.0
    tau = tau_s / (365 * 86400.0)
    return PMBook.build(
        cash=[cash],
        spot=[2000.0],
        slice_underlying=[0],
        slice_expiry=[tau_s],
        slice_forward=[2000.0],
        svi=([0.36 * tau], [0.0], [0.0], [0.0], [0.1]),
        account=np.array([0, 0]),
        slice=np.array([0, 0]),
        is_call=[True, False],
        strike=[strike, strike * 0.8],
        amount=[-amount, -0.5 * amount],
        now=0.0,
    )


@settings(max_examples=40, deadline=None)
@given(
    amount=st.floats(0.5, 20.0),
    strike=st.floats(1500.0, 2600.0),
    cash_frac=st.floats(0.0, 1.0),
    t=st.floats(0.0, 13 * HOUR),
)
def test_bid_of_max_fraction_restores_buffer_margin_to_zero(amount, strike, cash_frac, t) -> None:
    probe = pm_margin(_short_call_book(0.0, amount, strike))
    # choose cash so the account is solvent (MtM > 0) but under buffer margin (BM < 0)
    lo, hi = (
        -probe.mtm[0],
        -float(buffer_margin(probe.mm[0], probe.mtm[0])) / 1.15 + 0.15 * probe.mtm[0] / 1.15,
    )
    cash = lo + (hi - lo) * cash_frac
    b = _short_call_book(cash, amount, strike)
    m = pm_margin(b)
    bm = float(buffer_margin(m.mm[0], m.mtm[0]))
    assume(m.mtm[0] > 1e-6 and bm < -1e-6)
    d = discount(t)
    f = max_fraction(m.mm, m.mtm, d)
    assume(0.0 < f[0] < 1.0)
    after = pm_margin(b.scaled(1.0 - f, cash_add=bid_price(f, m.mtm, d)))
    bm_after = float(buffer_margin(after.mm[0], after.mtm[0]))
    assert bm_after == pytest.approx(0.0, abs=1e-9 * (abs(bm) + abs(m.mtm[0])))
    # a bit less than f leaves the account still under buffer margin
    less = pm_margin(b.scaled(1.0 - 0.99 * f, cash_add=bid_price(0.99 * f, m.mtm, d)))
    assert float(buffer_margin(less.mm[0], less.mtm[0])) < 0.0


def test_max_bid_fraction_mirrors_the_view_gates() -> None:
    """Pinned from the devnet comparison: after a crash a solvent auction had MM −3734.50, MtM −2810.50,
    d 0.6805; the formula alone offers f = 1 but the contract's maxBidFraction says 0 (the auction is stale)."""
    mm, mtm, d = -3734.50, -2810.50, 0.6805
    assert float(max_fraction(mm, mtm, d)) == 1.0
    assert float(max_bid_fraction(mm, mtm, d)) == 0.0
    assert float(max_bid_fraction(mm, mtm, d, insolvent=True)) == 1.0  # insolvent auctions: the whole account
    # solvent with MtM > 0: exactly the formula (BM = −175, f = 175/555), vectorised with per-row modes
    got = max_bid_fraction([-100.0, -100.0, 100.0], [400.0, 400.0, 400.0], 0.95, [False, True, False])
    np.testing.assert_allclose(got, [175.0 / 555.0, 1.0, 0.0], rtol=1e-15)
