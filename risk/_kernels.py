"""numba kernels for generalised Black-Scholes-Merton prices and Greeks (one fused pass per option).

Why this shape: the normal CDF is the cost centre, so each option needs one density exp and two
Mills-ratio polynomials; N(d2) reuses the density of d1 through the identity K e^{-rT} n(d2) =
S e^{-qT} n(d1). Prices are assembled as "exercise value + signed tails" so out-of-the-money prices
are differences of tails (never of numbers near 1) and deep in-the-money time value is not lost.
Every input is either a 1-D float64 array or a float64 scalar; numba specialises per combination, so
broadcast scalars cost nothing. Kernels are compiled once and cached on disk (``cache=True``).
"""

from __future__ import annotations

import math
import os
from typing import Any

# Threading (measured on the 2-core box, see bench/bench_pricing.py):
# * layer: OpenMP first. workqueue reached 106 M/s vs 156 M/s for omp on 1M options, and it cannot
#   shrink to one thread cheaply (1k options: 57 us vs 17 us).
# * libgomp spin-waits idle threads by default (OMP_WAIT_POLICY=ACTIVE spun so hard that, with the
#   other core busy, implied vol fell from 17.6 to 2.4 M/s and the numpy code running after a kernel
#   from 13.8 to 5.1 M/s). PASSIVE parks idle workers at once. Both settings only take effect if no
#   parallel numba code ran in the process before this module was imported; the user's environment
#   wins (setdefault).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
from numba import get_num_threads, njit, prange, set_num_threads, types  # noqa: E402
from numba.core import config as numba_config  # noqa: E402
from numba.extending import overload  # noqa: E402

from risk._fastmath import mills, vexp, vlog  # noqa: E402

if numba_config.THREADING_LAYER == "default":  # type: ignore[attr-defined]
    numba_config.THREADING_LAYER_PRIORITY = ["omp", "tbb", "workqueue"]  # type: ignore[attr-defined]

_INV_SQRT_2PI = 0.3989422804014327
_INF = float("inf")
_OPTS: dict[str, Any] = {"error_model": "numpy", "fastmath": {"contract"}, "cache": True, "nogil": True}


def at(x, i):
    """x[i] for arrays, x for scalars (resolved at compile time)."""
    raise NotImplementedError("only callable from numba code")


@overload(at, inline="always")
def _at_overload(x, i):
    if isinstance(x, types.Array):
        return lambda x, i: x[i]
    return lambda x, i: x


@njit(inline="always", error_model="numpy", fastmath={"contract"})
def _core(is_call: bool, s: float, k: float, t: float, r: float, q: float, v: float) -> tuple:
    """Shared terms: (sg, sqt, sig, d1, d2, dq, sdq, sdqn1, sdqphi1, kdrphi2, phi1, price)."""
    sg = 1.0 if is_call else -1.0
    sqt = math.sqrt(t)
    sig = v * sqt
    b = r - q
    d1 = (vlog(s / k) + (b + 0.5 * v * v) * t) / sig
    d2 = d1 - sig
    dq = vexp(-q * t)
    dr = vexp(-r * t)
    sdq = s * dq
    kdr = k * dr
    n1 = _INV_SQRT_2PI * vexp(-0.5 * d1 * d1)
    sdqn1 = sdq * n1  # = K e^{-rT} n(d2)
    e1 = sg * d1
    e2 = sg * d2
    m1 = mills(abs(d1))
    m2 = mills(abs(d2))
    u1 = sdqn1 * m1  # S e^{-qT} N(-|d1|)
    u2 = sdqn1 * m2  # K e^{-rT} N(-|d2|)
    t1 = n1 * m1  # N(-|d1|)
    pos1 = e1 > 0.0
    pos2 = e2 > 0.0
    phi1 = 1.0 - t1 if pos1 else t1  # N(sg d1)
    sdqphi1 = sdq - u1 if pos1 else u1  # S e^{-qT} N(sg d1)
    kdrphi2 = kdr - u2 if pos2 else u2  # K e^{-rT} N(sg d2)
    exer = (sdq if pos1 else 0.0) - (kdr if pos2 else 0.0)
    tails = (-u1 if pos1 else u1) - (-u2 if pos2 else u2)
    price = max(sg * (exer + tails), 0.0) + 0.0  # never negative, never -0.0
    return sg, sqt, sig, d1, d2, dq, sdq, sdqn1, sdqphi1, kdrphi2, phi1, price


@njit(inline="always", error_model="numpy", fastmath={"contract"})
def _invalid(s: float, k: float, t: float, r: float, q: float, v: float) -> bool:
    """Inputs outside the model's domain (also catches NaN: every comparison with NaN is False)."""
    ok = (s > 0.0) & (s < _INF) & (k > 0.0) & (k < _INF) & (t > 0.0) & (t < _INF)
    ok = ok & (v > 0.0) & (v < _INF) & (abs(r) < _INF) & (abs(q) < _INF)
    ok = ok & (v * math.sqrt(t) > 0.0) & (s / k > 0.0) & (s / k < _INF)  # no under/overflow
    return not ok


@njit(parallel=True, **_OPTS)
def _fast_parallel(call, s, k, t, r, q, v, price, delta, gamma, vega, theta):
    nbad = 0
    for i in prange(price.size):
        nbad += _fast_one(i, call, s, k, t, r, q, v, price, delta, gamma, vega, theta)
    return nbad


@njit(inline="always", error_model="numpy", fastmath={"contract"})
def _fast_one(i, call, s, k, t, r, q, v, price, delta, gamma, vega, theta):
    si = at(s, i)
    ki = at(k, i)
    ti = at(t, i)
    ri = at(r, i)
    qi = at(q, i)
    vi = at(v, i)
    sg, sqt, sig, d1, d2, dq, sdq, sdqn1, sdqphi1, kdrphi2, phi1, p = _core(
        at(call, i), si, ki, ti, ri, qi, vi
    )
    bad = _invalid(si, ki, ti, ri, qi, vi)
    price[i] = np.nan if bad else p
    delta[i] = sg * dq * phi1
    gamma[i] = sdqn1 / (si * si * sig)
    vega[i] = sdqn1 * sqt
    theta[i] = -sdqn1 * vi / (2.0 * sqt) + sg * (qi * sdqphi1 - ri * kdrphi2)
    return 1 if bad else 0


@njit(inline="always", error_model="numpy", fastmath={"contract"})
def _full_one(i, call, s, k, t, r, q, v, fwd_rho, price, delta, gamma, vega, theta, rho, vanna, volga, charm):
    si = at(s, i)
    ki = at(k, i)
    ti = at(t, i)
    ri = at(r, i)
    qi = at(q, i)
    vi = at(v, i)
    sg, sqt, sig, d1, d2, dq, sdq, sdqn1, sdqphi1, kdrphi2, phi1, p = _core(
        at(call, i), si, ki, ti, ri, qi, vi
    )
    n1dq = sdqn1 / si
    bad = _invalid(si, ki, ti, ri, qi, vi)
    price[i] = np.nan if bad else p
    delta[i] = sg * dq * phi1
    gamma[i] = n1dq / (si * sig)
    vg = sdqn1 * sqt
    vega[i] = vg
    theta[i] = -sdqn1 * vi / (2.0 * sqt) + sg * (qi * sdqphi1 - ri * kdrphi2)
    rho[i] = -ti * p if fwd_rho else sg * ti * kdrphi2
    vanna[i] = -n1dq * d2 / vi
    volga[i] = vg * d1 * d2 / vi
    charm[i] = -(n1dq * ((ri - qi) / sig - d2 / (2.0 * ti)) - sg * qi * dq * phi1)
    return 1 if bad else 0


@njit(parallel=True, **_OPTS)
def _full_parallel(
    call, s, k, t, r, q, v, fwd_rho, price, delta, gamma, vega, theta, rho, vanna, volga, charm
):
    nbad = 0
    for i in prange(price.size):
        nbad += _full_one(
            i, call, s, k, t, r, q, v, fwd_rho, price, delta, gamma, vega, theta, rho, vanna, volga, charm
        )
    return nbad


# Below this many options a multi-threaded launch costs more than it saves; smaller batches run the
# same (vectorised) kernel on the calling thread only.
PARALLEL_MIN = 16384


def _run(fn, n: int, *args):
    if n >= PARALLEL_MIN:
        return fn(*args)
    prev = get_num_threads()
    if prev == 1:
        return fn(*args)
    set_num_threads(1)
    try:
        return fn(*args)
    finally:
        set_num_threads(prev)


def fast_greeks(call, s, k, t, r, q, v, price, delta, gamma, vega, theta) -> int:
    """price, delta, gamma, vega, theta into the given 1-D buffers; returns the number of invalid rows."""
    return int(_run(_fast_parallel, price.size, call, s, k, t, r, q, v, price, delta, gamma, vega, theta))


def full_greeks(call, s, k, t, r, q, v, fwd_rho, out) -> int:
    """All nine outputs into ``out`` (nine 1-D buffers in Greeks field order); returns invalid rows."""
    return int(_run(_full_parallel, out[0].size, call, s, k, t, r, q, v, fwd_rho, *out))
