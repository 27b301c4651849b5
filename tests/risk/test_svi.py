"""SVI total variance / implied vol / validity (convention shared with the VolFeed contract)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from risk.svi import SviReason, describe_svi_reasons, implied_vol, svi_check, tau_years, total_variance


def test_total_variance_table() -> None:
    # a=0.01 b=0.1 rho=-0.5 m=0.1 sigma=0.2
    # k=0:   km=-0.1 → 0.01 + 0.1·(0.05 + sqrt(0.01+0.04)) = 0.01 + 0.1·(0.05 + 0.2236068) = 0.03736068
    # k=0.1: km=0    → 0.01 + 0.1·(0 + 0.2)                  = 0.03
    # k=-1:  km=-1.1 → 0.01 + 0.1·(0.55 + sqrt(1.21+0.04))   = 0.01 + 0.1·(0.55 + 1.1180340) = 0.17680340
    w = total_variance([0.0, 0.1, -1.0], 0.01, 0.1, -0.5, 0.1, 0.2)
    np.testing.assert_allclose(w, [0.0373606798, 0.03, 0.1768033989], rtol=1e-9)


def test_implied_vol_uses_total_variance_over_tau() -> None:
    # K = F → k = 0; flat slice a = 0.04·0.25 (b = 0) gives w = 0.01 at τ = 0.25 → vol = sqrt(0.01/0.25) = 0.2
    vol = implied_vol(2000.0, 2000.0, 0.25, 0.01, 0.0, 0.0, 0.0, 0.1)
    assert float(vol) == pytest.approx(0.2, rel=1e-12)
    # K = e·F → k = 1: w = 0 + 0.2·(0 + sqrt(1 + 0.01)) = 0.2009975; τ = 0.5 → vol = sqrt(0.401995) = 0.6340308
    vol = implied_vol(2000.0 * math.e, 2000.0, 0.5, 0.0, 0.2, 0.0, 0.0, 0.1)
    assert float(vol) == pytest.approx(math.sqrt(0.2 * math.sqrt(1.01) / 0.5), rel=1e-12)


def test_implied_vol_nan_where_feed_reverts() -> None:
    vols = implied_vol(
        [2000.0, 2000.0, -1.0, 2000.0],
        2000.0,
        [0.1, 0.0, 0.1, 0.1],
        [0.01, 0.01, 0.01, -0.5],
        0.0,
        0.0,
        0.0,
        0.1,
    )
    assert np.isfinite(vols[0])
    assert np.isnan(vols[1:]).all()  # τ = 0, K <= 0, w < 0


def test_validity_reasons_table() -> None:
    a = [0.01, 0.05, 0.01, 0.01, -0.1, np.nan]  # row 1: a large enough that only b < 0 is wrong
    b = [0.1, -0.1, 0.1, 0.1, 0.1, 0.1]
    rho = [0.0, 0.0, 1.0, 0.0, 0.0, 0.0]
    m = [0.0] * 6
    sigma = [0.1, 0.1, 0.1, 0.0, 0.1, 0.1]
    r = svi_check(a, b, rho, m, sigma)
    # row 4: a + b·sigma·sqrt(1 − rho²) = −0.1 + 0.01 = −0.09 < 0
    assert r.tolist() == [
        0,
        SviReason.NEGATIVE_B,
        SviReason.RHO_OUT_OF_RANGE,
        SviReason.SIGMA_NOT_POSITIVE,
        SviReason.NEGATIVE_MIN_VARIANCE,
        SviReason.NON_FINITE,
    ]
    assert describe_svi_reasons(int(SviReason.NEGATIVE_B | SviReason.SIGMA_NOT_POSITIVE)) == [
        "NEGATIVE_B",
        "SIGMA_NOT_POSITIVE",
    ]


def test_tau_years() -> None:
    assert float(tau_years(365 * 86400 + 100, 100)) == 1.0


@settings(max_examples=60, deadline=None)
@given(
    a=st.floats(-0.5, 0.5),
    b=st.floats(0.0, 2.0),
    rho=st.floats(-0.999, 0.999),
    m=st.floats(-1.0, 1.0),
    sigma=st.floats(1e-3, 2.0),
    k=st.floats(-5.0, 5.0),
)
def test_valid_slices_never_give_negative_variance(
    a: float, b: float, rho: float, m: float, sigma: float, k: float
) -> None:
    valid = int(svi_check(a, b, rho, m, sigma)) == 0
    min_var = a + b * sigma * math.sqrt(1 - rho * rho)
    assert valid == (min_var >= 0)
    if valid:
        assert float(total_variance(k, a, b, rho, m, sigma)) >= -1e-12
