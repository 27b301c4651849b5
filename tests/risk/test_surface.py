"""Vol surface: SVI fits recover known parameters, arbitrage is rejected with the right reason,
interpolation is linear in total variance at fixed moneyness."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from risk.surface import (
    SviSlice,
    VolSurface,
    butterfly_g,
    check_calendar,
    check_slice,
    fit_slice,
    fit_slice_strikes,
    fit_surface,
    vega_weights,
)

K = np.linspace(-0.8, 0.8, 21)
# Axel Vogt's slice (Gatheral & Jacquier 2014, "Arbitrage-free SVI volatility surfaces"): valid raw SVI
# parameters, yet negative density around k ≈ 0.9
VOGT = SviSlice(1.0, -0.0410, 0.1331, 0.3060, 0.3586, 0.4153)


@given(
    tau=st.floats(0.02, 2.0),
    b=st.floats(0.05, 0.6),
    rho=st.floats(-0.7, 0.7),
    m=st.floats(-0.2, 0.2),
    sigma=st.floats(0.08, 0.5),
    floor=st.floats(0.1, 0.8),  # ATM-ish vol floor
)
@settings(max_examples=25, deadline=None)
def test_fit_recovers_known_params(
    tau: float, b: float, rho: float, m: float, sigma: float, floor: float
) -> None:
    b = b * math.sqrt(tau)  # keep the smile's wings realistic for short expiries
    a = floor * floor * tau - b * sigma * math.sqrt(1 - rho * rho)
    true = SviSlice(tau, a, b, rho, m, sigma)
    assume(check_slice(true) == ())
    fit = fit_slice(K, true.vol(K), tau)
    assert fit.ok, fit.reasons
    assert fit.rmse < 1e-7
    p = fit.params
    assert p is not None
    got = np.array([p.a, p.b, p.rho, p.m, p.sigma])
    exp = np.array([a, b, rho, m, sigma])
    np.testing.assert_allclose(got, exp, rtol=2e-3, atol=2e-4)


def test_vega_weights_discount_a_bad_mark() -> None:
    true = SviSlice(0.5, 0.02, 0.15, -0.3, 0.0, 0.25)
    iv = true.vol(K).copy()
    iv[3] += 0.10  # one stale quote
    w = np.ones_like(K)
    w[3] = 1e-6
    weighted = fit_slice(K, iv, 0.5, w)
    plain = fit_slice(K, iv, 0.5)
    assert weighted.params is not None and plain.params is not None
    err_w = np.abs(weighted.params.vol(K) - true.vol(K)).max()
    err_p = np.abs(plain.params.vol(K) - true.vol(K)).max()
    assert err_w < 1e-3 < err_p


def test_butterfly_violation_rejected_with_reason() -> None:
    assert VOGT.a + VOGT.b * VOGT.sigma * math.sqrt(1 - VOGT.rho**2) > 0  # passes the raw validity rule
    g = butterfly_g(VOGT, np.linspace(-1.5, 1.5, 301))
    assert g.min() < -0.02
    reasons = check_slice(VOGT)
    assert len(reasons) == 1 and reasons[0].startswith("butterfly arbitrage")
    fit = fit_slice(np.linspace(-1, 1.2, 23), VOGT.vol(np.linspace(-1, 1.2, 23)), 1.0)
    assert not fit.ok and any("butterfly" in r for r in fit.reasons)
    assert fit.params is not None  # the rejected fit is still inspectable


def test_invalid_and_wing_reasons() -> None:
    assert check_slice(SviSlice(1.0, 0.04, -0.1, 0.0, 0.0, 0.1))[0].startswith(
        "invalid SVI parameters: NEGATIVE_B"
    )
    steep = SviSlice(1.0, 0.04, 1.5, 0.5, 0.0, 0.1)
    assert any(r.startswith("Lee wing bound violated") for r in check_slice(steep))


def test_too_few_marks_and_rmse_reasons() -> None:
    f = fit_slice([0.0, 0.1, np.nan, 0.3, 0.4, 0.5], [0.5, 0.5, 0.5, 0.5, -1.0, 0.5], 0.5)
    assert not f.ok and f.reasons == ("too few usable marks: 4 < 5",) and f.params is None
    rng = np.random.default_rng(0)
    noisy = SviSlice(0.5, 0.02, 0.15, -0.3, 0.0, 0.25).vol(K) + rng.normal(0, 0.02, K.size)
    f2 = fit_slice(K, noisy, 0.5, max_rmse=0.001)
    assert not f2.ok and any(r.startswith("fit error too large") for r in f2.reasons)
    assert 0.005 < f2.rmse < 0.03


def test_calendar_arbitrage_rejected() -> None:
    s1 = SviSlice(0.25, 0.02, 0.1, -0.3, 0.0, 0.2)
    s2 = SviSlice(0.5, 0.01, 0.1, -0.3, 0.0, 0.2)  # lower total variance at a later expiry
    reasons = check_calendar([s2, s1])
    assert len(reasons) == 1 and reasons[0].startswith("calendar arbitrage: w(tau=0.5) < w(tau=0.25)")
    fit = fit_surface([(0.25, K, s1.vol(K), None), (0.5, K, s2.vol(K), None)])
    assert not fit.ok and fit.surface is None and any("calendar" in r for r in fit.reasons)
    good = SviSlice(0.5, 0.04, 0.1, -0.3, 0.0, 0.2)
    ok = fit_surface([(0.5, K, good.vol(K), None), (0.25, K, s1.vol(K), None)])
    assert ok.ok and ok.surface is not None and [s.tau for s in ok.surface.slices] == [0.25, 0.5]


def test_interpolation_linear_in_total_variance() -> None:
    s1 = SviSlice(0.25, 0.02, 0.1, -0.3, 0.0, 0.2)
    s2 = SviSlice(0.75, 0.06, 0.12, -0.2, 0.05, 0.25)
    surf = VolSurface((s1, s2))
    k = np.array([-0.5, 0.0, 0.3])
    np.testing.assert_allclose(surf.vol_k(k, 0.25), s1.vol(k), rtol=1e-12)
    np.testing.assert_allclose(surf.vol_k(k, 0.75), s2.vol(k), rtol=1e-12)
    # a quarter of the way from 0.25 to 0.75
    np.testing.assert_allclose(surf.total_variance(k, 0.375), 0.75 * s1.w(k) + 0.25 * s2.w(k), rtol=1e-12)
    np.testing.assert_allclose(surf.vol_k(k, 0.1), s1.vol(k), rtol=1e-12)  # before first: first slice's vols
    np.testing.assert_allclose(surf.vol_k(k, 2.0), s2.vol(k), rtol=1e-12)  # after last: flat
    # vectorised over mixed (strike, t) and the forward is applied as k = ln(K/F)
    strikes = np.array([80.0, 100.0, 125.0, 100.0])
    ts = np.array([0.25, 0.5, 0.75, 3.0])
    v = surf.vol(strikes, ts, np.full(4, 100.0))
    np.testing.assert_allclose(
        v, [surf.vol_k(math.log(s / 100.0), t) for s, t in zip(strikes, ts, strict=True)]
    )
    assert np.isnan(surf.vol(np.array([100.0]), np.array([0.0]), np.array([100.0])))[0]
    # one-slice surface works too
    single = VolSurface((s1,))
    np.testing.assert_allclose(single.vol_k(k, 1.0), s1.vol(k), rtol=1e-12)


def test_surface_construction_errors() -> None:
    s = SviSlice(0.5, 0.02, 0.1, 0.0, 0.0, 0.2)
    with pytest.raises(ValueError, match="strictly increasing"):
        VolSurface((s, s))
    with pytest.raises(ValueError, match="at least one"):
        VolSurface(())
    with pytest.raises(ValueError, match="tau"):
        SviSlice(0.0, 0.02, 0.1, 0.0, 0.0, 0.2)
    with pytest.raises(ValueError, match="strikes must be > 0"):
        fit_slice_strikes([0.0, 1.0], 100.0, 0.5, [0.5, 0.5])


def test_vega_weights_peak_at_the_money() -> None:
    w = vega_weights(K, np.full(K.size, 0.6), 0.25)
    assert w.mean() == pytest.approx(1.0)
    assert int(np.argmax(w)) in (K.size // 2, K.size // 2 + 1)  # vega peaks just above k = 0
    assert w[0] < w[K.size // 2] and w[-1] < w[K.size // 2]
    true = SviSlice(0.25, 0.02, 0.15, -0.3, 0.0, 0.25)
    fit = fit_slice(K, true.vol(K), 0.25, vega_weights(K, true.vol(K), 0.25))
    assert fit.ok and fit.rmse < 1e-7
