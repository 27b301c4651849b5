"""risk.pricing.implied_vol: round trips against 30-digit prices, NaN flags, both solver paths.

Accuracy contract: |iv - vol| <= max(1e-10, 1e-13 * price / vega) on every well-posed input, where
well-posed means the price is representable with room to spare: time value (price minus discounted
intrinsic) >= 1e-12 * price, distance to the upper bound (discounted forward for calls, strike for
puts) >= 1e-12 * bound, and price >= 1e-280. Every other input must give NaN or a number that still
meets the accuracy contract.
"""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from risk import _iv
from risk.pricing import black76, implied_vol


def _mp_black(call: bool, f: float, k: float, t: float, r: float, vol: float) -> tuple[float, float, bool]:
    """(price, vega, well_posed) at 30 digits."""
    with mp.workdps(30):
        F, K, T, R, V = (mp.mpf(a) for a in (f, k, t, r, vol))
        sq = V * mp.sqrt(T)
        d1 = (mp.log(F / K) + sq * sq / 2) / sq
        d2 = d1 - sq
        disc = mp.exp(-R * T)
        if call:
            p = disc * (F * mp.ncdf(d1) - K * mp.ncdf(d2))
            intrinsic, bound = disc * max(F - K, 0), disc * F
        else:
            p = disc * (K * mp.ncdf(-d2) - F * mp.ncdf(-d1))
            intrinsic, bound = disc * max(K - F, 0), disc * K
        vega = disc * F * mp.npdf(d1) * mp.sqrt(T)
        well = (
            p >= mp.mpf("1e-280")
            and (p - intrinsic) >= mp.mpf("1e-12") * p
            and (bound - p) >= mp.mpf("1e-12") * bound
        )
        return float(p), float(vega), bool(well)


def _tolerance(price: float, vega: float) -> float:
    return max(1e-10, 1e-13 * price / vega) if vega > 0 else math.inf


def _crypto_cases(n: int, seed: int) -> dict[str, np.ndarray]:
    """vol 5 %..1000 %, T 1 hour..3 years, strikes up to +-6 standard deviations (and |ln F/K| <= 6)."""
    rng = np.random.default_rng(seed)
    vol = np.exp(rng.uniform(math.log(0.05), math.log(10.0), n))
    t = np.exp(rng.uniform(math.log(1.0 / 8760.0), math.log(3.0), n))
    fwd = np.exp(rng.uniform(math.log(1e-3), math.log(1e5), n))
    x = np.clip(rng.uniform(-6.0, 6.0, n) * vol * np.sqrt(t), -6.0, 6.0)
    return dict(
        call=rng.random(n) < 0.5,
        fwd=fwd,
        strike=fwd * np.exp(-x),
        t=t,
        rate=rng.uniform(-0.02, 0.2, n),
        vol=vol,
    )


def test_round_trip_across_crypto_ranges() -> None:
    c = _crypto_cases(250, 11)
    n = c["vol"].size
    price, vega, well = np.empty(n), np.empty(n), np.empty(n, dtype=bool)
    for i in range(n):
        price[i], vega[i], well[i] = _mp_black(
            bool(c["call"][i]), c["fwd"][i], c["strike"][i], c["t"][i], c["rate"][i], c["vol"][i]
        )
    iv = implied_vol(price, c["call"], c["fwd"], c["strike"], c["t"], c["rate"])
    tol = np.array([_tolerance(p, v) for p, v in zip(price, vega, strict=True)])
    err = np.abs(iv - c["vol"])
    assert well.sum() > 0.85 * n, "the sample should be mostly well-posed"
    bad = np.flatnonzero(well & ~(err <= tol))
    assert bad.size == 0, f"{bad.size} well-posed misses, first: {[(c['vol'][i], iv[i]) for i in bad[:3]]}"
    wrong = np.flatnonzero(~well & ~np.isnan(iv) & ~(err <= tol))
    assert wrong.size == 0, "outside the well-posed set the answer must be NaN or still accurate"


@settings(max_examples=40, deadline=None)
@given(
    call=st.booleans(),
    fwd=st.floats(0.01, 1e5),
    z=st.floats(-5.0, 5.0),
    t=st.floats(1.0 / 8760.0, 3.0),
    rate=st.floats(-0.02, 0.2),
    vol=st.floats(0.05, 10.0),
)
def test_round_trip_property(call: bool, fwd: float, z: float, t: float, rate: float, vol: float) -> None:
    strike = fwd * math.exp(z * vol * math.sqrt(t))
    price, vega, well = _mp_black(call, fwd, strike, t, rate, vol)
    iv = float(implied_vol(price, call, fwd, strike, t, rate))
    if well:
        assert abs(iv - vol) <= _tolerance(price, vega), f"iv {iv!r} for vol {vol!r}"
    else:
        assert math.isnan(iv) or abs(iv - vol) <= _tolerance(price, vega)


def test_itm_and_otm_quotes_agree_by_parity() -> None:
    f, k, t, r, vol = 3000.0, 2500.0, 0.25, 0.05, 0.7
    call_price = float(black76(True, f, k, t, r, vol).price)
    put_price = float(black76(False, f, k, t, r, vol).price)
    iv = implied_vol([call_price, put_price], [True, False], f, k, t, r)
    assert iv[0] == pytest.approx(vol, abs=1e-12)
    assert iv[1] == pytest.approx(vol, abs=1e-12)


@pytest.mark.parametrize(
    ("price", "call", "fwd", "strike", "t", "rate", "why"),
    [
        (9.0, True, 110.0, 100.0, 1.0, 0.0, "below intrinsic"),
        (10.0, True, 110.0, 100.0, 1.0, 0.0, "exactly intrinsic"),
        (10.0 * math.exp(-0.05), True, 110.0, 100.0, 1.0, 0.05, "discounted intrinsic"),
        (110.0, True, 110.0, 100.0, 1.0, 0.0, "at the upper bound F"),
        (111.0, True, 110.0, 100.0, 1.0, 0.0, "above the upper bound"),
        (100.0, False, 110.0, 100.0, 1.0, 0.0, "put at the upper bound K"),
        (0.0, False, 110.0, 100.0, 1.0, 0.0, "zero price"),
        (-1.0, True, 110.0, 100.0, 1.0, 0.0, "negative price"),
        (float("nan"), True, 110.0, 100.0, 1.0, 0.0, "NaN price"),
        (1.0, True, -110.0, 100.0, 1.0, 0.0, "negative forward"),
        (1.0, True, 110.0, 0.0, 1.0, 0.0, "zero strike"),
        (1.0, True, 110.0, 100.0, 0.0, 0.0, "expired"),
        (1.0, True, 110.0, 100.0, 1.0, float("inf"), "infinite rate"),
        (10.0 + 1e-15, True, 110.0, 100.0, 1.0, 0.0, "time value below the last bit"),
    ],
)
def test_impossible_prices_are_nan(
    price: float, call: bool, fwd: float, strike: float, t: float, rate: float, why: str
) -> None:
    assert np.isnan(implied_vol(price, call, fwd, strike, t, rate)), why


def test_upper_bound_just_below_is_solved() -> None:
    # A deep-ITM-looking 1000 % vol call, still resolvable: bound minus price is ~1e-9 of the bound.
    f, k, t, vol = 100.0, 100.0, 1.0, 12.0
    price, vega, well = _mp_black(True, f, k, t, 0.0, vol)
    assert well
    assert abs(float(implied_vol(price, True, f, k, t, 0.0)) - vol) <= _tolerance(price, vega)


def test_shapes_and_broadcasting() -> None:
    assert implied_vol(1.0, True, 100.0, 100.0, 0.01, 0.0).shape == ()
    prices = black76(True, 100.0, np.array([[90.0], [100.0], [110.0]]), 0.5, 0.0, np.array([0.3, 0.6])).price
    iv = implied_vol(prices, True, 100.0, np.array([[90.0], [100.0], [110.0]]), 0.5, 0.0)
    assert iv.shape == (3, 2)
    np.testing.assert_allclose(iv, np.broadcast_to([0.3, 0.6], (3, 2)), atol=1e-12)
    with pytest.raises(ValueError, match="do not broadcast"):
        implied_vol([1.0, 2.0], True, [100.0, 100.0, 100.0], 100.0, 1.0, 0.0)


def _normalised_mp(x: float, s: float) -> float:
    with mp.workdps(40):
        X, S = mp.mpf(x), mp.mpf(s)
        return float(mp.exp(X / 2) * mp.ncdf(X / S + S / 2) - mp.exp(-X / 2) * mp.ncdf(X / S - S / 2))


@pytest.mark.parametrize("x", [-1e-9, -1e-4, -0.01, -0.3, -2.0, -8.0, -20.0])
def test_scalar_fallback_and_vector_paths_agree(x: float) -> None:
    """The scalar bracketed solver (used for stragglers) and the lock-step vector path, on a grid of
    normalised problems b(x, s) = beta from tiny to huge s."""
    ss = np.geomspace(1e-3, 30.0, 25)
    betas = np.array([_normalised_mp(x, s) for s in ss])
    bmax = math.exp(x / 2)
    # the vector path on the same problems, expressed as undiscounted OTM call prices with F K = 1
    vec = implied_vol(betas, True, math.exp(x / 2), math.exp(-x / 2), 1.0, 0.0)
    checked = 0
    for s, beta, v in zip(ss, betas, vec, strict=True):
        if not (beta > 1e-280 and (bmax - beta) > 1e-12 * bmax):
            continue
        with mp.workdps(30):
            X, S = mp.mpf(x), mp.mpf(s)
            dbds = float(mp.npdf(X / S + S / 2) * mp.exp(X / 2))
        tol = max(1e-10, 1e-13 * beta / dbds)
        got = _iv.solve_normalised(x, beta)
        assert abs(got - s) <= tol, f"scalar path x={x} s={s}: {got!r}"
        assert abs(v - s) <= tol, f"vector path x={x} s={s}: {v!r}"
        checked += 1
    assert checked >= 5
