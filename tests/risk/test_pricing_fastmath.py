"""The branch-free exp / log / Mills ratio / normal CDF inside the pricing kernels, against mpmath."""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest
from numba import njit

from risk._fastmath import mills, ncdf, vexp, vlog

ULP = 2.0**-52


@njit(error_model="numpy")
def _apply_exp(x, out):  # type: ignore[no-untyped-def]
    for i in range(x.size):
        out[i] = vexp(x[i])


@njit(error_model="numpy")
def _apply_log(x, out):  # type: ignore[no-untyped-def]
    for i in range(x.size):
        out[i] = vlog(x[i])


@njit(error_model="numpy")
def _apply_mills(x, out):  # type: ignore[no-untyped-def]
    for i in range(x.size):
        out[i] = mills(x[i])


@njit(error_model="numpy")
def _apply_ncdf(x, out):  # type: ignore[no-untyped-def]
    for i in range(x.size):
        out[i] = ncdf(x[i])


def _max_rel_err(f, ref, xs: np.ndarray) -> float:  # type: ignore[no-untyped-def]
    out = np.empty_like(xs)
    f(xs, out)
    worst = 0.0
    with mp.workdps(40):
        for x, y in zip(xs, out, strict=True):
            r = ref(mp.mpf(float(x)))
            worst = max(worst, float(abs((mp.mpf(float(y)) - r) / r)))
    return worst


RNG = np.random.default_rng(2024)


def test_exp_within_one_ulp() -> None:
    xs = np.concatenate([RNG.uniform(-708.0, 709.0, 1500), RNG.uniform(-1.0, 1.0, 500), [0.0, 1.0, -1.0]])
    assert _max_rel_err(_apply_exp, mp.exp, xs) <= 1.0 * ULP


def test_log_within_one_ulp() -> None:
    xs = np.concatenate(
        [np.exp(RNG.uniform(-700.0, 700.0, 1500)), RNG.uniform(0.5, 2.0, 500), [1.0 + ULP, 2.0]]
    )
    assert _max_rel_err(_apply_log, mp.log, xs) <= 1.0 * ULP


def _mp_mills(z):  # type: ignore[no-untyped-def]
    return mp.ncdf(-z) / mp.npdf(z)


def test_mills_ratio_within_a_few_ulp_everywhere() -> None:
    xs = np.concatenate(
        [RNG.uniform(0.0, 3.0, 800), RNG.uniform(3.0, 40.0, 800), np.exp(RNG.uniform(3.0, 25.0, 200)), [0.0]]
    )
    assert _max_rel_err(_apply_mills, _mp_mills, xs) <= 4.0 * ULP


def test_normal_cdf_keeps_relative_accuracy_in_the_lower_tail() -> None:
    # relative error grows like x^2 eps through exp(-x^2/2) (the condition number of N at x), no more
    xs = np.concatenate([RNG.uniform(-37.0, 0.0, 1000), RNG.uniform(0.0, 8.0, 300)])
    out = np.empty_like(xs)
    _apply_ncdf(xs, out)
    with mp.workdps(40):
        for x, y in zip(xs, out, strict=True):
            r = mp.ncdf(mp.mpf(float(x)))
            assert float(abs((mp.mpf(float(y)) - r) / r)) <= (8.0 + x * x) * ULP, x


def test_special_values() -> None:
    specials = np.array([np.nan, np.inf, -np.inf, -1000.0, 1000.0, 0.0, -0.0])
    e = np.empty_like(specials)
    _apply_exp(specials, e)
    assert math.isnan(e[0]) and e[1] == math.inf and e[2] == 0.0 and e[3] == 0.0 and e[4] == math.inf
    assert e[5] == 1.0 and e[6] == 1.0
    logs = np.array([np.nan, np.inf, 0.0, -1.0, 1.0])
    lo = np.empty_like(logs)
    _apply_log(logs, lo)
    assert (
        math.isnan(lo[0]) and lo[1] == math.inf and math.isnan(lo[2]) and math.isnan(lo[3]) and lo[4] == 0.0
    )
    c = np.empty(3)
    _apply_ncdf(np.array([-np.inf, np.inf, np.nan]), c)
    assert c[0] == 0.0 and c[1] == 1.0 and math.isnan(c[2])


@pytest.mark.parametrize("x", [-38.5, -40.0])
def test_cdf_underflows_to_zero_not_garbage(x: float) -> None:
    out = np.empty(1)
    _apply_ncdf(np.array([x]), out)
    assert 0.0 <= out[0] <= 1e-300


def _host_has_fma_avx2() -> bool:
    import llvmlite.binding as llvm

    feats = llvm.get_host_cpu_features()
    return bool(feats.get("fma")) and bool(feats.get("avx2"))


@pytest.mark.skipif(not _host_has_fma_avx2(), reason="needs an x86-64 host with AVX2 and FMA")
def test_kernel_bodies_compile_to_packed_simd() -> None:
    """The speed of the risk core rests on LLVM vectorising the per-option bodies; a change that
    stops it (e.g. a helper grown past LLVM's inlining budget) must fail loudly, not just run 8x slower.
    Deterministic: counts packed FMA instructions in freshly compiled (uncached) loops."""
    import re

    from numba import prange

    from risk import _iv, _kernels

    @njit(parallel=True, error_model="numpy", fastmath={"contract"})
    def greeks(call, s, k, t, r, q, v, price, delta, gamma, vega, theta):  # type: ignore[no-untyped-def]
        for i in prange(price.size):
            _kernels._fast_one(i, call, s, k, t, r, q, v, price, delta, gamma, vega, theta)

    @njit(parallel=True, error_model="numpy", fastmath={"contract"})
    def iv_step(x, beta, s, lo, hi, tg, ex, low, out):  # type: ignore[no-untyped-def]
        for i in prange(out.size):
            out[i] = _iv._step(x[i], beta[i], s[i], lo[i], hi[i], tg[i], ex[i], low[i])[0]

    n = 8
    a = np.ones(n)
    outs = [np.empty(n) for _ in range(5)]
    greeks(np.ones(n, dtype=np.bool_), a, a, a, 0.0, 0.0, a, *outs)
    iv_step(-a, a * 0.1, a, 0 * a, 2 * a, a, a, np.ones(n, dtype=np.bool_), outs[0])
    packed = re.compile(r"vfmadd\w*pd\s+%[yz]mm")
    for fn in (greeks, iv_step):
        asm = "\n".join(fn.inspect_asm().values())
        assert len(packed.findall(asm)) >= 20, f"{fn.__name__}: loop body was not vectorised"
