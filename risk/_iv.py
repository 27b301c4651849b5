"""Black-76 implied volatility: normalised, out-of-the-money, Householder(3) on transformed objectives.

Why this way (after Jäckel, "Let's Be Rational", 2015): the price is first reduced to the normalised
out-of-the-money call b(x, s) = e^{x/2} N(x/s + s/2) - e^{-x/2} N(x/s - s/2) with x = -|ln(F/K)| <= 0
and s = sigma sqrt(T) (put-call parity; in-the-money prices lose their intrinsic value exactly). b is
convex below the inflection point s_c = sqrt(2|x|) and concave above it; Newton on b itself crawls in
both tails, so the iteration runs on objectives that are almost linear in s there:
  below b(s_c): f = 1/ln b - 1/ln beta        (b ~ exp(-x^2 / 2s^2): 1/ln b ~ -2s^2/x^2)
  above b(s_c): f = ln((bmax - beta) / (bmax - b)),  bmax = e^{x/2}  (bmax - b ~ exp(-s^2/8))
Initial guesses come from the asymptotic forms of b in each tail, and every step is kept inside a
bracket that each evaluation tightens, so the iteration cannot diverge. All of b, bmax - b and the
vega b' are evaluated from Mills ratios: no difference of numbers near 1 is ever formed.
"""

from __future__ import annotations

import math

import numpy as np
from numba import get_num_threads, njit, prange, set_num_threads

from risk._fastmath import mills, vexp, vlog
from risk._kernels import at  # also applies the threading settings documented there

_INV_SQRT_2PI = 0.3989422804014327
_LN_SQRT_2PI = 0.9189385332046728
_EPS = 2.220446049250313e-16
_MAX_ITER = 64  # bisection alone would need ~60 halvings from (0, s_c)
_INF = float("inf")
_NAN = float("nan")


@njit(inline="always", error_model="numpy", fastmath={"contract"})
def _normalised(x: float, s: float, ex: float) -> tuple[float, float, float]:
    """(b, bmax - b, db/ds) for x <= 0, s > 0; ex = e^{x/2}."""
    h = x / s
    t = 0.5 * s
    d1 = h + t
    d2 = h - t  # < 0 always
    v = _INV_SQRT_2PI * vexp(-0.5 * (h * h + t * t))  # = e^{x/2} n(d1) = e^{-x/2} n(d2)
    m1 = mills(abs(d1))
    m2 = mills(-d2)
    vm1 = v * m1
    vm2 = v * m2
    if d1 <= 0.0:
        b = v * (m1 - m2)
        bmb = (ex - vm1) + vm2
    else:
        b = (ex - vm1) - vm2
        bmb = vm1 + vm2
    return b, bmb, v


@njit(inline="always", error_model="numpy", fastmath={"contract"})
def _bachelier_newton(u: float, ly: float) -> float:
    """One Newton step on ln(G(u)/u) = ly, G(u) = n(u) - u N(-u), G'(u) = -N(-u)."""
    m = mills(u)
    g = max(1.0 - u * m, 1e-300)  # G(u) / n(u)
    h = -0.5 * u * u - _LN_SQRT_2PI + vlog(g / u) - ly
    hp = -m / g - 1.0 / u
    return max(u - h / hp, 1e-3 * u)


@njit(inline="always", error_model="numpy", fastmath={"contract"})
def _lower_guess(x: float, beta: float, sc: float) -> float:
    """Small-s limit of b: b ~ |x| G(u)/u with u = |x|/s and G(u) = n(u) - u N(-u) (the normalised
    Bachelier price), so solve ln(G(u)/u) = ln(beta/|x|) for u by two Newton steps (written out
    rather than looped so the enclosing loop over quotes still vectorises)."""
    ax = -x
    y = beta / ax
    ly = vlog(y)
    u_small = _INV_SQRT_2PI / (y + 0.5)  # G(u)/u ~ n(0)/u - 1/2 near u = 0
    big = max(-2.0 * (ly + _LN_SQRT_2PI), 1.0)  # G(u)/u ~ n(u)/u^3 for large u
    u_big = math.sqrt(big)
    u_big = math.sqrt(max(big - 6.0 * vlog(u_big), 1.0))
    u = u_small if y > 0.0833 else u_big  # G(1)/1 = 0.0833
    u = _bachelier_newton(u, ly)
    u = _bachelier_newton(u, ly)
    return min(ax / u, sc)


@njit(inline="always", error_model="numpy", fastmath={"contract"})
def _upper_guess(x: float, bmb_target: float, ex: float, sc: float) -> float:
    """Invert bmax - b ~ 2 e^{x/2} N(-s/2) (large s) using N(-z) ~ n(z)/z; linear near N = 1/2."""
    q = bmb_target / (2.0 * ex)  # ~ N(-s/2)
    lq2 = -2.0 * vlog(q) - 2.0 * _LN_SQRT_2PI
    z = math.sqrt(max(lq2 + 2.0 * _LN_SQRT_2PI, 1.0))
    z = math.sqrt(max(lq2 - 2.0 * vlog(z), 0.25))
    z = math.sqrt(max(lq2 - 2.0 * vlog(z), 0.25))
    s = 2.0 * z if q < 0.25 else 2.0 * (0.5 - q) / _INV_SQRT_2PI
    return max(s, 1.0000001 * sc)


@njit(inline="always", error_model="numpy", fastmath={"contract"})
def _reduce(price: float, is_call: bool, f: float, k: float, t: float, r: float) -> tuple[float, float]:
    """(x, beta) of the normalised out-of-the-money problem; beta = NaN when nothing is identifiable."""
    ok = (f > 0.0) & (f < _INF) & (k > 0.0) & (k < _INF) & (t > 0.0) & (t < _INF) & (abs(r) < _INF)
    ok = ok & (price > 0.0) & (price < _INF)
    pu = price / vexp(-r * t)  # undiscounted
    intrinsic = max(f - k, 0.0) if is_call else max(k - f, 0.0)
    tv = pu - intrinsic  # = the out-of-the-money option's price, by put-call parity
    # A time value below the last bit of the price: a wide range of vols rounds to this price.
    ok = ok & (tv > _EPS * pu)
    x = -abs(vlog(f / k))
    ok = ok & (x > -_INF)  # F/K under- or overflows
    beta = tv / (math.sqrt(f) * math.sqrt(k))
    ok = ok & (beta < vexp(0.5 * x))  # at or above the upper bound e^{x/2}
    return x, (beta if ok else _NAN)


@njit(inline="always", error_model="numpy", fastmath={"contract"})
def _setup(x: float, beta: float) -> tuple[float, float, float, float, float, bool]:
    """(s0, lo, hi, target, ex, lower): starting point, bracket and objective of the iteration."""
    ex = vexp(0.5 * x)
    sc = math.sqrt(-2.0 * x)
    bc, _bmb, _v = _normalised(x, max(sc, 1e-300), ex)
    bc = bc if sc > 0.0 else 0.0
    lower = beta < bc
    s_lo = _lower_guess(x, beta, sc)
    s_up = _upper_guess(x, ex - beta, ex, sc)
    s = s_lo if lower else s_up
    lo = 0.0 if lower else sc
    hi = sc if lower else _INF
    target = 1.0 / vlog(beta) if lower else vlog(ex - beta)
    ok = (s > lo) & (s < hi)
    s = s if ok else (0.5 * (lo + hi) if lower else 2.0 * lo + 1.0)
    return s, lo, hi, target, ex, lower


@njit(inline="always", error_model="numpy", fastmath={"contract"})
def _step(x: float, beta: float, s: float, lo: float, hi: float, target: float, ex: float, lower: bool):
    """One safeguarded Householder(3) step, branch-free: (s_next, lo, hi, converged)."""
    b, bmb, v = _normalised(x, s, ex)
    too_low = (b < beta) if lower else (bmb > ex - beta)
    lo = max(lo, s) if too_low else lo
    hi = hi if too_low else min(hi, s)
    x2 = x * x
    is3 = 1.0 / (s * s * s)
    a = x2 * is3 - 0.25 * s  # b2/b1 (derivatives of b in s)
    c = a * a - 3.0 * x2 * is3 / s - 0.25  # b3/b1
    den = b if lower else bmb
    lg = vlog(den)
    w = v / den
    nu_lower = (1.0 / lg - target) * lg * lg / w
    nu_upper = (lg - target) / w
    nu = nu_lower if lower else nu_upper
    r2 = -(2.0 + lg) / lg if lower else 1.0  # den * g2/g1 of the objective g
    r3 = (6.0 + lg * (6.0 + 2.0 * lg)) / (lg * lg) if lower else 2.0  # den^2 * g3/g1
    gam = r2 * w + a
    dlt = r3 * w * w + 3.0 * r2 * w * a + c
    step = nu * (1.0 + 0.5 * gam * nu) / (1.0 + nu * (gam + dlt * nu / 6.0))
    s_new = s + step
    inside = (s_new > lo) & (s_new < hi)
    # Quartic convergence: after a step below 1e-7 s the error is at rounding level.
    conv = (abs(step) <= 1e-7 * s) & (s_new >= lo) & (s_new <= hi)
    bisect = 0.5 * (lo + hi) if hi < _INF else 2.0 * s
    s_next = s_new if (inside | conv) else bisect
    return s_next, lo, hi, conv


@njit(error_model="numpy", fastmath={"contract"}, cache=True)
def solve_normalised(x: float, beta: float) -> float:
    """s with b(x, s) = beta for x <= 0 and 0 < beta < e^{x/2}; NaN if no float64 s reproduces it.

    The scalar path for quotes the vector pass leaves unconverged: the same steps, run to the end."""
    if not (beta > 0.0 and beta < vexp(0.5 * x)):
        return _NAN
    s, lo, hi, target, ex, lower = _setup(x, beta)
    for _ in range(_MAX_ITER):
        s, lo, hi, conv = _step(x, beta, s, lo, hi, target, ex, lower)
        if conv:
            return s
    return _NAN  # not converged: flag rather than return an unverified number


_VECTOR_STEPS = 4


@njit(parallel=True, error_model="numpy", fastmath={"contract"}, cache=True, nogil=True)
def _iv_parallel(price, call, f, k, t, r, out):
    """All quotes advance in lock-step, one vectorised pass per Householder step; the rare stragglers
    then finish in the scalar bracketed solver."""
    n = out.size
    xs = np.empty(n)
    betas = np.empty(n)
    ss = np.empty(n)
    los = np.empty(n)
    his = np.empty(n)
    tgts = np.empty(n)
    exs = np.empty(n)
    lows = np.empty(n, dtype=np.bool_)
    done = np.empty(n, dtype=np.bool_)
    for i in prange(n):
        x, beta = _reduce(at(price, i), at(call, i), at(f, i), at(k, i), at(t, i), at(r, i))
        s0, lo, hi, tg, ex, low = _setup(x, beta)
        xs[i] = x
        betas[i] = beta
        ss[i] = s0
        los[i] = lo
        his[i] = hi
        tgts[i] = tg
        exs[i] = ex
        lows[i] = low
        done[i] = beta != beta  # NaN: nothing to solve
    for _ in range(_VECTOR_STEPS):
        for i in prange(n):
            s1, lo, hi, conv = _step(xs[i], betas[i], ss[i], los[i], his[i], tgts[i], exs[i], lows[i])
            d = done[i]
            ss[i] = ss[i] if d else s1
            los[i] = lo
            his[i] = hi
            done[i] = d | conv
    for i in prange(n):
        beta = betas[i]
        s = ss[i] if done[i] else solve_normalised(xs[i], beta)
        out[i] = s / math.sqrt(at(t, i)) if beta == beta else _NAN


_PARALLEL_MIN = 2048


def implied_vol_black76(price, call, f, k, t, r, out) -> None:
    """Fill ``out`` (1-D) with Black-76 implied vols; inputs are 1-D arrays of out.size or scalars."""
    if out.size >= _PARALLEL_MIN:
        _iv_parallel(price, call, f, k, t, r, out)
        return
    prev = get_num_threads()
    set_num_threads(1)
    try:
        _iv_parallel(price, call, f, k, t, r, out)
    finally:
        set_num_threads(prev)
