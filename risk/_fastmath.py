"""Branch-free exp, log and normal tail for numba kernels.

Why: without Intel SVML (not available here, see ``numba -s``) LLVM cannot vectorise loops that call
libm's exp/log/erfc, and erfc alone costs ~7 ns. These versions are straight-line float arithmetic plus
bit casts, so LLVM turns the pricing loop into AVX-512/AVX2 code. Accuracy: exp and log within ~1 ulp
on the ranges used; ``mills`` (normal Mills ratio) within a few ulp for every z >= 0.

Caveat for editors: numba's on-disk cache is keyed on the file that defines each cached kernel
(``_kernels.py``, ``_iv.py``), not on this file. After editing here, delete
``risk/__pycache__/*.nbi`` and ``*.nbc`` or the kernels keep running the old code.
"""

from __future__ import annotations

from typing import Any

from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

# ---------------------------------------------------------------------------------------------------
# Bit casts (one LLVM instruction each; vectorisable)


@intrinsic
def f64_bits(typingctx: Any, x: Any) -> Any:
    """Reinterpret a float64 as int64 (no conversion)."""
    if x != types.float64:
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def bits_f64(typingctx: Any, x: Any) -> Any:
    """Reinterpret an int64 as float64 (no conversion)."""
    if x != types.int64:
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


# ---------------------------------------------------------------------------------------------------
# exp: x = n ln2 + r, |r| <= ln2/2, e^r by its Taylor series to r^13 (truncation < 4e-18), 2^n by bits.

_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01  # ln 2 rounded so that n * _LN2_HI is exact for |n| < 2^11
_LN2_LO = 1.90821492927058770002e-10  # ln 2 - _LN2_HI
_SHIFT = 6755399441055744.0  # 1.5 * 2^52: adding and subtracting it rounds to the nearest integer


@njit(error_model="numpy", fastmath={"contract"})
def vexp(x: float) -> float:
    """e^x; returns 0 below -708 (the subnormal range is flushed) and inf above 709.78."""
    xc = min(max(x, -708.0), 709.78)
    kf = (xc * _LOG2E + _SHIFT) - _SHIFT
    r = (xc - kf * _LN2_HI) - kf * _LN2_LO
    p = 1.0 / 6227020800.0
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    er = 1.0 + (r + (r * r) * p)
    # 2^kf split in two factors so kf up to 1024 stays representable.
    ki = int(kf)
    k1 = ki >> 1
    k2 = ki - k1
    y = er * bits_f64((k1 + 1023) << 52) * bits_f64((k2 + 1023) << 52)  # type: ignore[call-arg]
    y = 0.0 if x < -708.0 else y
    y = float("inf") if x > 709.78 else y
    return x if x != x else y


# ---------------------------------------------------------------------------------------------------
# log: x = 2^e m with m in [sqrt(1/2), sqrt(2)); log m = 2 atanh(s), s = (m-1)/(m+1), |s| <= 0.1716,
# series to s^23 (truncation < 2e-18 relative).

_SQRT2 = 1.4142135623730951


@njit(error_model="numpy", fastmath={"contract"})
def vlog(x: float) -> float:
    """Natural log for positive normal x; NaN for x <= 0 or NaN, inf for inf (subnormals unsupported:
    the kernels only take logs of price ratios)."""
    bits: int = f64_bits(x)  # type: ignore[call-arg]
    e = (bits >> 52) - 1023
    m = bits_f64((bits & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000)
    big = m > _SQRT2
    m = 0.5 * m if big else m
    e = e + 1 if big else e
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    q = 2.0 / 23.0
    q = q * z + 2.0 / 21.0
    q = q * z + 2.0 / 19.0
    q = q * z + 2.0 / 17.0
    q = q * z + 2.0 / 15.0
    q = q * z + 2.0 / 13.0
    q = q * z + 2.0 / 11.0
    q = q * z + 2.0 / 9.0
    q = q * z + 2.0 / 7.0
    q = q * z + 2.0 / 5.0
    q = q * z + 2.0 / 3.0
    hfsq = 0.5 * f * f
    # log(1+f) = f - hfsq + s*(hfsq + z*q): the big term f is added last.
    ef = float(e)
    lm = ef * _LN2_HI + (f - (hfsq - (s * (hfsq + z * q) + ef * _LN2_LO)))
    lm = float("nan") if not (x > 0.0) else lm
    return float("inf") if x == float("inf") else lm


# ---------------------------------------------------------------------------------------------------
# Mills ratio M(z) = N(-z) / n(z) for z >= 0, n the standard normal density. With t = (z-4)/(z+4),
# (z+4) M(z) is a smooth function of t on [-1, 1]; its Chebyshev interpolant at 64 nodes, computed
# with mpmath at 50 digits and truncated where coefficients fall below 3e-18, is summed by Clenshaw.

_MILLS_K = 4.0
_C0 = 2.4325604285150404
_C1 = -1.8842545745794834
_C2 = 0.5569566490963817
_C3 = -0.12161597214420457
_C4 = 0.017360708143727772
_C5 = -0.0008036212007299657
_C6 = -0.0002520349348054353
_C7 = 4.7383719270581175e-05
_C8 = 2.5325891365988257e-06
_C9 = -1.5404069839913e-06
_C10 = -8.474960630061696e-09
_C11 = 5.185338601094672e-08
_C12 = -2.8281293276602497e-10
_C13 = -1.9486566378891076e-09
_C14 = -2.491945496827567e-11
_C15 = 7.957248719448846e-11
_C16 = 4.618414179155219e-12
_C17 = -3.290856124224385e-12
_C18 = -4.36538404380973e-13
_C19 = 1.2300711839232774e-13
_C20 = 3.2414173582086784e-14
_C21 = -3.0532395587325663e-15
_C22 = -2.0183740275707353e-15
_C23 = -7.170195501422588e-17
_C24 = 1.0169552398038542e-16
_C25 = 1.756244228053356e-17
_C26 = -3.358068244027676e-18


@njit(error_model="numpy", fastmath={"contract"})
def mills(z: float) -> float:
    """N(-z)/n(z) for finite z >= 0 (so N(-z) = n(z) * mills(z) never underflows before n(z) does).

    Keep this (and vexp, vlog) small and branch-free: LLVM must inline it for the pricing loops to
    vectorise, and even one extra select here once made the kernels 8x slower (a test checks the
    compiled kernel for packed FMA instructions)."""
    zk = z + _MILLS_K
    t = (z - _MILLS_K) / zk
    t2 = 2.0 * t
    b1 = _C26
    b2 = 0.0
    b1, b2 = (t2 * b1 + _C25) - b2, b1
    b1, b2 = (t2 * b1 + _C24) - b2, b1
    b1, b2 = (t2 * b1 + _C23) - b2, b1
    b1, b2 = (t2 * b1 + _C22) - b2, b1
    b1, b2 = (t2 * b1 + _C21) - b2, b1
    b1, b2 = (t2 * b1 + _C20) - b2, b1
    b1, b2 = (t2 * b1 + _C19) - b2, b1
    b1, b2 = (t2 * b1 + _C18) - b2, b1
    b1, b2 = (t2 * b1 + _C17) - b2, b1
    b1, b2 = (t2 * b1 + _C16) - b2, b1
    b1, b2 = (t2 * b1 + _C15) - b2, b1
    b1, b2 = (t2 * b1 + _C14) - b2, b1
    b1, b2 = (t2 * b1 + _C13) - b2, b1
    b1, b2 = (t2 * b1 + _C12) - b2, b1
    b1, b2 = (t2 * b1 + _C11) - b2, b1
    b1, b2 = (t2 * b1 + _C10) - b2, b1
    b1, b2 = (t2 * b1 + _C9) - b2, b1
    b1, b2 = (t2 * b1 + _C8) - b2, b1
    b1, b2 = (t2 * b1 + _C7) - b2, b1
    b1, b2 = (t2 * b1 + _C6) - b2, b1
    b1, b2 = (t2 * b1 + _C5) - b2, b1
    b1, b2 = (t2 * b1 + _C4) - b2, b1
    b1, b2 = (t2 * b1 + _C3) - b2, b1
    b1, b2 = (t2 * b1 + _C2) - b2, b1
    b1, b2 = (t2 * b1 + _C1) - b2, b1
    p = (t * b1 + _C0) - b2
    return p / zk


_INV_SQRT_2PI = 0.3989422804014327


@njit(error_model="numpy", fastmath={"contract"})
def npdf(x: float) -> float:
    """Standard normal density."""
    return _INV_SQRT_2PI * vexp(-0.5 * x * x)


@njit(error_model="numpy", fastmath={"contract"})
def ncdf(x: float) -> float:
    """Standard normal CDF with full relative accuracy in the lower tail."""
    tail = npdf(x) * mills(min(abs(x), 1e300))  # mills(inf) would be NaN
    return tail if x <= 0.0 else 1.0 - tail
