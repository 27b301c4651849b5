"""risk.pricing: Greeks against 50-digit derivatives, no-arbitrage properties, tails, API contract."""

from __future__ import annotations

import math
import re
from typing import Any

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from risk import _kernels
from risk.pricing import Greeks, GreeksBuffer, black76, black76_into, bsm, bsm_into
from tests.risk.mp_reference import ORDERS, mp_value

FIELDS = ("price", "delta", "gamma", "vega", "theta", "rho", "vanna", "volga", "charm")
EPS = np.finfo(np.float64).eps


def _mp_greek(fn: Any, x: list[Any], field: str) -> tuple[float, float]:
    """(G, N_G): the Greek as a 50-digit numerical derivative of the price, and its sensitivity
    N_G = sum_i |x_i dG/dx_i| (the error scale any float64 evaluation is entitled to, times eps)."""
    sign, orders = ORDERS[field]
    with mp.workdps(50):
        g = sign * (mp.diff(fn, x, orders) if any(orders) else fn(*x))
        n = mp.mpf(0)
        for i in range(6):
            o = list(orders)
            o[i] += 1
            n += abs(x[i] * mp.diff(fn, x, tuple(o)))
    return float(g), float(n)


def _check_against_mp(got: Greeks, fn: Any, x: list[Any]) -> None:
    """Relative 1e-10 where kappa = N_G/|G| <= 1e3, else absolute 1e-10 * N_G / 1e3 (see test_vectors)."""
    for field in FIELDS:
        ref, n_g = _mp_greek(fn, x, field)
        value = float(getattr(got, field))
        rtol = 1e-12 if field == "price" else 1e-10
        scale = max(abs(ref), n_g / 1e3)
        assert abs(value - ref) <= rtol * scale, f"{field}: {value!r} vs 50-digit {ref!r} (N_G {n_g:.3g})"


crypto = dict(
    spot=st.floats(0.01, 1e5),
    z=st.floats(-3.0, 3.0),
    t=st.floats(1.0 / 8760.0, 3.0),
    rate=st.floats(-0.02, 0.2),
    carry=st.floats(-0.05, 0.2),
    vol=st.floats(0.05, 3.0),
    call=st.booleans(),
)


@settings(max_examples=10, deadline=None)
@given(**crypto)
def test_bsm_greeks_equal_50_digit_derivatives(
    spot: float, z: float, t: float, rate: float, carry: float, vol: float, call: bool
) -> None:
    strike = spot * math.exp(z * vol * math.sqrt(t))
    g = bsm(call, spot, strike, t, rate, carry, vol)
    x = [mp.mpf(a) for a in (spot, strike, t, rate, carry, vol)]
    _check_against_mp(g, lambda s, k, tt, r, q, v: mp_value(call, s, k, tt, r, q, v), x)


@settings(max_examples=10, deadline=None)
@given(**{k: v for k, v in crypto.items() if k != "carry"})
def test_black76_greeks_equal_50_digit_derivatives(
    spot: float, z: float, t: float, rate: float, vol: float, call: bool
) -> None:
    strike = spot * math.exp(z * vol * math.sqrt(t))
    g = black76(call, spot, strike, t, rate, vol)
    assert float(g.rho) == pytest.approx(-t * float(g.price), rel=1e-15, abs=1e-300)
    x = [mp.mpf(a) for a in (spot, strike, t, rate, 0.0, vol)]
    # the forward is held fixed: the q slot is a dummy so derivatives in it vanish
    _check_against_mp(g, lambda f, k, tt, r, _q, v: mp_value(call, f, k, tt, r, r, v), x)


@settings(max_examples=60, deadline=None)
@given(**{k: v for k, v in crypto.items() if k != "call"})
def test_put_call_parity(spot: float, z: float, t: float, rate: float, carry: float, vol: float) -> None:
    strike = spot * math.exp(z * vol * math.sqrt(t))
    g = bsm(np.array([True, False]), spot, strike, t, rate, carry, vol)
    fwd_leg = spot * math.exp(-carry * t)
    strike_leg = strike * math.exp(-rate * t)
    scale = fwd_leg + strike_leg
    assert g.price[0] - g.price[1] == pytest.approx(fwd_leg - strike_leg, abs=8 * EPS * scale)
    assert g.delta[0] - g.delta[1] == pytest.approx(math.exp(-carry * t), abs=8 * EPS)
    assert g.gamma[0] == pytest.approx(g.gamma[1], rel=1e-14)
    assert g.vega[0] == pytest.approx(g.vega[1], rel=1e-14)
    assert g.vanna[0] == pytest.approx(g.vanna[1], rel=1e-12, abs=1e-14 * abs(g.vega[0]) / vol)
    assert g.rho[0] - g.rho[1] == pytest.approx(t * strike_leg, rel=1e-12, abs=8 * EPS * t * scale)
    # prices never drop below the discounted intrinsic value
    assert g.price[0] >= max(fwd_leg - strike_leg, 0.0) - 4 * EPS * scale
    assert g.price[1] >= max(strike_leg - fwd_leg, 0.0) - 4 * EPS * scale


@pytest.mark.parametrize("call", [True, False])
def test_monotone_in_vol_and_strike(call: bool) -> None:
    vols = np.linspace(0.05, 10.0, 400)
    g = black76(call, 3000.0, 3300.0, 7.0 / 365.0, 0.03, vols)
    p = g.price
    assert np.all(np.diff(p) >= -4 * EPS * p[1:]), "price must not decrease with vol"
    # strictly increasing wherever the change (~ vega * dvol) is resolvable in float64
    resolvable = g.vega[:-1] * np.diff(vols) > 64 * EPS * p[1:]
    assert resolvable.sum() > 300
    assert np.all(np.diff(p)[resolvable] > 0.0)
    strikes = np.geomspace(300.0, 30000.0, 400)
    q = black76(call, 3000.0, strikes, 30.0 / 365.0, 0.03, 0.8).price
    d = np.diff(q)
    if call:
        assert np.all(d <= 4 * EPS * q[:-1]), "call price must not increase with strike"
    else:
        assert np.all(d >= -4 * EPS * q[1:]), "put price must not decrease with strike"


@pytest.mark.parametrize(
    ("call", "fwd", "strike", "t", "vol"),
    [
        (True, 100.0, 400.0, 0.05, 0.3),  # ~1e-50, both terms of the naive formula ~1e-50 apart
        (False, 100.0, 20.0, 0.02, 0.5),
        (True, 100.0, 101.0, 1.0 / 8760.0, 0.05),  # one hour, 5 % vol, 1 % OTM
        (False, 2.0, 1.0, 0.01, 0.2),
        (True, 1.0, 1e3, 3.0, 10.0),  # 1000 % vol, 3 years, far OTM
    ],
)
def test_tails_are_positive_and_accurate(call: bool, fwd: float, strike: float, t: float, vol: float) -> None:
    g = black76(call, fwd, strike, t, 0.05, vol)
    x = [mp.mpf(a) for a in (fwd, strike, t, 0.05, 0.0, vol)]
    with mp.workdps(50):
        ref = float(mp_value(call, *x[:4], x[3], x[5]))
    assert ref > 0.0
    assert float(g.price) > 0.0
    # relative error within the condition number of the price (|ln(F/K)| / (vol^2 t) here) times eps
    kappa = 1.0 + abs(math.log(fwd / strike)) * (1.0 + 1.0 / (vol * vol * t))
    assert abs(float(g.price) - ref) <= 16 * EPS * kappa * ref


def test_scalars_give_0d_and_inputs_broadcast() -> None:
    g = bsm(True, 100.0, 100.0, 1.0, 0.0, 0.0, 0.2)
    assert all(getattr(g, f).shape == () for f in FIELDS)
    assert float(g.price) == pytest.approx(7.965567455405804, rel=1e-14)  # ATM: S (2N(0.1) - 1)
    spots = np.array([[90.0], [100.0], [110.0]])
    strikes = np.array([95.0, 100.0, 105.0, 110.0])
    calls = np.array([True, False, True, False])
    grid = black76(calls, spots, strikes, 0.5, 0.01, 0.6)
    assert grid.price.shape == (3, 4)
    for i in range(3):
        for j in range(4):
            one = black76(bool(calls[j]), float(spots[i, 0]), float(strikes[j]), 0.5, 0.01, 0.6)
            for f in FIELDS:
                assert getattr(grid, f)[i, j] == getattr(one, f)
    empty = bsm(np.zeros(0, dtype=bool), np.zeros(0), 1.0, 1.0, 0.0, 0.0, 0.2)
    assert empty.price.shape == (0,)


def test_rates_as_arrays_match_scalars() -> None:
    s = np.array([80.0, 100.0, 120.0])
    a = bsm(True, s, 100.0, 0.3, 0.04, 0.01, 0.5)
    b = bsm(True, s, 100.0, 0.3, np.full(3, 0.04), np.full(3, 0.01), 0.5)
    for f in FIELDS:
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(spot=[100.0, -5.0]), "spot must be finite and > 0, got -5.0 at index 1"),
        (dict(strike=0.0), "strike must be finite and > 0"),
        (dict(t=[[1.0, 0.0]]), "t must be finite and > 0, got 0.0 at index (0, 1)"),
        (dict(vol=float("nan")), "vol must be finite and > 0"),
        (dict(rate=float("inf")), "rate must be finite"),
        (dict(spot=[1.0, 2.0], strike=[1.0, 2.0, 3.0]), "do not broadcast"),
        (dict(is_call=[2, 0]), "is_call: expected booleans"),
        (dict(vol="high"), "vol: expected real numbers"),
        (dict(spot=1e300, strike=1e-300), "spot/strike over- or underflows in float64"),
        (dict(vol=1e-200, t=[1.0, 1e-300]), "vol * sqrt(t) underflows to 0 in float64 at index 1"),
    ],
)
def test_bad_input_is_named(kwargs: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = dict(
        is_call=True, spot=100.0, strike=100.0, t=1.0, rate=0.0, carry_yield=0.0, vol=0.2
    )
    args.update(kwargs)
    with pytest.raises(ValueError, match=re.escape(message)):
        bsm(**args)


def _book(n: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    spot = rng.uniform(500.0, 5000.0, n)
    vol = rng.uniform(0.2, 2.0, n)
    t = rng.uniform(1.0 / 365.0, 1.0, n)
    strike = spot * np.exp(rng.uniform(-2.0, 2.0, n) * vol * np.sqrt(t))
    return dict(is_call=rng.random(n) < 0.5, spot=spot, strike=strike, t=t, vol=vol)


@pytest.mark.parametrize("n", [7, _kernels.PARALLEL_MIN + 5])
def test_fast_path_matches_full_greeks(n: int) -> None:
    b = _book(n, n)
    full = bsm(b["is_call"], b["spot"], b["strike"], b["t"], 0.03, 0.01, b["vol"])
    buf = GreeksBuffer.empty(n)
    out = bsm_into(buf, b["is_call"], b["spot"], b["strike"], b["t"], 0.03, 0.01, b["vol"])
    assert out is buf
    for f in ("price", "delta", "gamma", "vega", "theta"):
        np.testing.assert_allclose(getattr(buf, f), getattr(full, f), rtol=4 * EPS, atol=0.0)
    fut = black76(b["is_call"], b["spot"], b["strike"], b["t"], 0.03, b["vol"])
    black76_into(buf, b["is_call"], b["spot"], b["strike"], b["t"], 0.03, b["vol"])
    for f in ("price", "delta", "gamma", "vega", "theta"):
        np.testing.assert_allclose(getattr(buf, f), getattr(fut, f), rtol=4 * EPS, atol=0.0)


def test_parallel_and_single_thread_paths_agree() -> None:
    n = _kernels.PARALLEL_MIN * 2
    b = _book(n, 1)
    big = bsm(b["is_call"], b["spot"], b["strike"], b["t"], 0.03, 0.0, b["vol"])
    head = bsm(
        b["is_call"][:100], b["spot"][:100], b["strike"][:100], b["t"][:100], 0.03, 0.0, b["vol"][:100]
    )
    for f in FIELDS:  # same formulas; vector body vs scalar remainder may differ in the last bit
        np.testing.assert_allclose(getattr(big, f)[:100], getattr(head, f), rtol=4 * EPS, atol=0.0)


def test_fast_path_flags_or_raises_on_bad_rows() -> None:
    b = _book(5, 3)
    b["vol"][2] = -0.1
    buf = GreeksBuffer.empty(5)
    with pytest.raises(
        ValueError, match=re.escape("bsm_into: vol must be finite and > 0, got -0.1 at index 2")
    ):
        bsm_into(buf, b["is_call"], b["spot"], b["strike"], b["t"], 0.0, 0.0, b["vol"])
    bsm_into(buf, b["is_call"], b["spot"], b["strike"], b["t"], 0.0, 0.0, b["vol"], validate=False)
    assert np.isnan(buf.price[2])
    assert np.isfinite(np.delete(buf.price, 2)).all()
    with pytest.raises(ValueError, match=r"spot must be a scalar or have shape \(5,\)"):
        bsm_into(buf, True, np.ones(4), 1.0, 1.0, 0.0, 0.0, 0.2)
    with pytest.raises(ValueError, match="n must be >= 0"):
        GreeksBuffer.empty(-1)
