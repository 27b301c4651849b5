"""European option prices and exact Greeks (generalised Black-Scholes-Merton, Black-76), implied vol.

Closed forms only (no finite differences), evaluated by fused numba kernels (see ``risk/_kernels.py``).
Inputs broadcast like numpy; scalars are accepted and give 0-d arrays.

Units: theta = -dV/dT per year; vega = dV/dsigma per 1.00 vol; rho = dV/dr per 1.00 (BSM holds
carry_yield fixed, Black-76 holds the forward fixed so rho = -T*V); delta, gamma and vanna are taken
w.r.t. spot (BSM) or forward (Black-76); volga = d2V/dsigma2; charm = -dDelta/dT per year.

Domain: spot/forward, strike, t and vol must be finite and > 0, rate and carry_yield finite (an
expired option, t = 0, has no Greeks: value it at intrinsic). The array API raises ``ValueError``
naming the argument and index; the buffer API (``bsm_into`` / ``black76_into`` with
``validate=False``) instead writes NaN prices on those rows. ``implied_vol`` never raises for values,
it returns NaN flags.

Per-tick use: allocate ``GreeksBuffer.empty(n)`` once and call ``bsm_into(buf, ...)`` on every oracle
tick with float64 1-D arrays (no copies are made) and scalar rates; below 16384 options the kernel
runs on the calling thread only. First calls JIT-compile (cached on disk under risk/__pycache__).
Threading: numba's OpenMP layer with OMP_WAIT_POLICY=PASSIVE (no spin-waiting), see _kernels.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from risk import _kernels
from risk._iv import implied_vol_black76

F64 = NDArray[np.float64]

__all__ = ["Greeks", "GreeksBuffer", "bsm", "black76", "bsm_into", "black76_into", "implied_vol"]


@dataclass(frozen=True)
class Greeks:
    """Price and sensitivities, each an array of the broadcast input shape."""

    price: F64
    delta: F64
    gamma: F64
    vega: F64
    theta: F64
    rho: F64
    vanna: F64
    volga: F64
    charm: F64


@dataclass(frozen=True)
class GreeksBuffer:
    """Reusable 1-D output buffers for the per-tick fast path (price, delta, gamma, vega, theta)."""

    price: F64
    delta: F64
    gamma: F64
    vega: F64
    theta: F64

    @classmethod
    def empty(cls, n: int) -> GreeksBuffer:
        if n < 0:
            raise ValueError(f"GreeksBuffer.empty: n must be >= 0, got {n}")
        return cls(*(np.empty(n, dtype=np.float64) for _ in range(5)))

    def __len__(self) -> int:
        return int(self.price.size)


# ------------------------------------------------------------------------------------------------
# input normalisation

_KernelArg = NDArray[np.float64] | NDArray[np.bool_] | float
_RATES = frozenset({"rate", "carry_yield"})
_POSITIVE = frozenset({"spot", "forward", "strike", "t", "vol"})


def _floats(name: str, value: ArrayLike) -> NDArray[np.float64]:
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: expected real numbers, got {value!r:.80}") from exc


def _flags(value: ArrayLike) -> NDArray[np.bool_]:
    arr = np.asarray(value)
    if arr.dtype != np.bool_:
        if arr.dtype.kind not in "iu" or not np.isin(arr, (0, 1)).all():
            raise ValueError(f"is_call: expected booleans (or 0/1), got dtype {arr.dtype}")
        arr = arr.astype(np.bool_)
    return arr


def _kernel_arg(arr: np.ndarray, shape: tuple[int, ...], scalar_ok: bool = False) -> _KernelArg:
    """A contiguous 1-D view (copied/broadcast only when needed), or a float for a one-value rate.

    Only the per-tick fast path keeps one-value rates as scalars (saving a broadcast per call); the
    array API materialises everything. Each distinct mix of scalars and arrays is a separate
    compiled specialisation, so keeping the mixes few keeps first-call JIT time small.
    """
    if scalar_ok and arr.size == 1:
        return float(arr.reshape(-1)[0])
    if arr.shape != shape:
        arr = np.broadcast_to(arr, shape)
    return np.ascontiguousarray(arr).reshape(-1)


def _where(bad: NDArray[np.bool_]) -> tuple[tuple[int, ...], str]:
    """Index of the first True and its ' at index ...' phrase (empty for 0-d inputs)."""
    idx = tuple(int(i) for i in np.argwhere(bad)[0])
    return idx, (f" at index {idx[0] if len(idx) == 1 else idx}" if idx else "")


def _explain_invalid(
    func: str, names: Sequence[str], arrays: Sequence[np.ndarray], shape: tuple[int, ...]
) -> str:
    """Message naming the first invalid input and where it is (only runs on the error path)."""
    full = {n: np.broadcast_to(a, shape) for n, a in zip(names, arrays, strict=True)}
    for name, arr in full.items():
        positive = name in _POSITIVE
        bad = ~np.isfinite(arr) | (~(arr > 0.0) if positive else False)
        if bad.any():
            idx, where = _where(bad)
            need = "finite and > 0" if positive else "finite"
            return f"{func}: {name} must be {need}, got {float(arr[idx])!r}{where}"
    underlying = "spot" if "spot" in full else "forward"
    if underlying in full and "strike" in full:
        with np.errstate(over="ignore", under="ignore"):
            ratio = full[underlying] / full["strike"]
        bad = ~(np.isfinite(ratio) & (ratio > 0.0))
        if bad.any():
            return f"{func}: {underlying}/strike over- or underflows in float64{_where(bad)[1]}"
    if "vol" in full and "t" in full:
        bad = ~(full["vol"] * np.sqrt(full["t"]) > 0.0)
        if bad.any():
            return f"{func}: vol * sqrt(t) underflows to 0 in float64{_where(bad)[1]}"
    return f"{func}: invalid input"


def _evaluate(
    func: str,
    is_call: ArrayLike,
    names: Sequence[str],
    values: Sequence[ArrayLike],
    forward_model: bool,
) -> Greeks:
    call = _flags(is_call)
    arrays = [_floats(n, v) for n, v in zip(names, values, strict=True)]
    try:
        shape = np.broadcast_shapes(call.shape, *(a.shape for a in arrays))
    except ValueError as exc:
        shapes = ", ".join(f"{n}{a.shape}" for n, a in zip(("is_call", *names), (call, *arrays), strict=True))
        raise ValueError(f"{func}: inputs do not broadcast together: {shapes}") from exc
    n = int(np.prod(shape))
    out = [np.empty(n, dtype=np.float64) for _ in range(9)]
    if n:
        args = [_kernel_arg(a, shape) for a in arrays]
        if forward_model:  # Black-76 = BSM on the forward with carry_yield = rate (zero cost of carry)
            f, k, t, r, v = args
            nbad = _kernels.full_greeks(_kernel_arg(call, shape), f, k, t, r, r, v, True, out)
        else:
            s, k, t, r, q, v = args
            nbad = _kernels.full_greeks(_kernel_arg(call, shape), s, k, t, r, q, v, False, out)
        if nbad:
            raise ValueError(_explain_invalid(func, names, arrays, shape))
    return Greeks(*(o.reshape(shape) for o in out))


# ------------------------------------------------------------------------------------------------
# public API


def bsm(
    is_call: ArrayLike,
    spot: ArrayLike,
    strike: ArrayLike,
    t: ArrayLike,
    rate: ArrayLike,
    carry_yield: ArrayLike,
    vol: ArrayLike,
) -> Greeks:
    """Generalised Black-Scholes-Merton with continuous yield q (cost of carry b = rate - q)."""
    names = ("spot", "strike", "t", "rate", "carry_yield", "vol")
    return _evaluate("bsm", is_call, names, (spot, strike, t, rate, carry_yield, vol), forward_model=False)


def black76(
    is_call: ArrayLike,
    forward: ArrayLike,
    strike: ArrayLike,
    t: ArrayLike,
    rate: ArrayLike,
    vol: ArrayLike,
) -> Greeks:
    """Black-76 on a forward (discounted at rate); rho holds the forward fixed, so rho = -T * price."""
    names = ("forward", "strike", "t", "rate", "vol")
    return _evaluate("black76", is_call, names, (forward, strike, t, rate, vol), forward_model=True)


def _ready(value: object, n: int) -> bool:
    """Already a float64 C-contiguous vector of length n: used as is (the per-tick common case)."""
    return (
        type(value) is np.ndarray
        and value.dtype == np.float64
        and value.shape == (n,)
        and value.flags.c_contiguous
    )


def _into(
    func: str,
    out: GreeksBuffer,
    is_call: ArrayLike,
    names: Sequence[str],
    values: Sequence[ArrayLike],
    validate: bool,
) -> GreeksBuffer:
    n = len(out)
    shape = (n,)
    args: list[_KernelArg] = []
    for nm, v in zip(names, values, strict=True):
        if _ready(v, n):
            args.append(v)  # type: ignore[arg-type]
            continue
        if nm in _RATES and type(v) is float:
            args.append(v)
            continue
        a = _floats(nm, v)
        if a.size != 1 and a.shape != shape:
            raise ValueError(
                f"{func}: {nm} must be a scalar or have shape ({n},) like the buffer, got {a.shape}"
            )
        args.append(_kernel_arg(a, shape, nm in _RATES))
    if (
        type(is_call) is np.ndarray
        and is_call.dtype == np.bool_
        and is_call.shape == shape
        and is_call.flags.c_contiguous
    ):
        c: _KernelArg = is_call
    else:
        call = _flags(is_call)
        if call.size != 1 and call.shape != shape:
            raise ValueError(
                f"{func}: is_call must be a scalar or have shape ({n},) like the buffer, got {call.shape}"
            )
        c = _kernel_arg(call, shape)
    if len(args) == 5:  # Black-76
        f, k, t, r, v = args
        nbad = _kernels.fast_greeks(c, f, k, t, r, r, v, out.price, out.delta, out.gamma, out.vega, out.theta)
    else:
        s, k, t, r, q, v = args
        nbad = _kernels.fast_greeks(c, s, k, t, r, q, v, out.price, out.delta, out.gamma, out.vega, out.theta)
    if nbad and validate:
        arrays = [_floats(nm, v) for nm, v in zip(names, values, strict=True)]
        raise ValueError(_explain_invalid(func, names, arrays, shape))
    return out


def bsm_into(
    out: GreeksBuffer,
    is_call: ArrayLike,
    spot: ArrayLike,
    strike: ArrayLike,
    t: ArrayLike,
    rate: ArrayLike,
    carry_yield: ArrayLike,
    vol: ArrayLike,
    *,
    validate: bool = True,
) -> GreeksBuffer:
    """Fast path: BSM price, delta, gamma, vega, theta written into ``out`` (1-D, len(out) rows).

    Inputs are scalars or 1-D arrays of len(out); float64 C-contiguous arrays are used without copying.
    With ``validate=False`` rows with out-of-domain inputs get price NaN instead of raising.
    """
    names = ("spot", "strike", "t", "rate", "carry_yield", "vol")
    return _into("bsm_into", out, is_call, names, (spot, strike, t, rate, carry_yield, vol), validate)


def black76_into(
    out: GreeksBuffer,
    is_call: ArrayLike,
    forward: ArrayLike,
    strike: ArrayLike,
    t: ArrayLike,
    rate: ArrayLike,
    vol: ArrayLike,
    *,
    validate: bool = True,
) -> GreeksBuffer:
    """Fast path for Black-76 (delta and gamma w.r.t. the forward); see :func:`bsm_into`."""
    names = ("forward", "strike", "t", "rate", "vol")
    return _into("black76_into", out, is_call, names, (forward, strike, t, rate, vol), validate)


def implied_vol(
    price: ArrayLike,
    is_call: ArrayLike,
    forward: ArrayLike,
    strike: ArrayLike,
    t: ArrayLike,
    rate: ArrayLike,
) -> F64:
    """Black-76 implied volatility; NaN where no volatility reproduces the price in float64.

    NaN flags: price outside the no-arbitrage bounds (below discounted intrinsic, at or above the
    discounted forward/strike bound), time value below the float64 resolution of the price, or
    out-of-domain inputs (non-positive forward, strike or t). Never a wrong number instead of NaN.
    """
    call = _flags(is_call)
    names = ("price", "forward", "strike", "t", "rate")
    arrays = [_floats(n, v) for n, v in zip(names, (price, forward, strike, t, rate), strict=True)]
    try:
        shape = np.broadcast_shapes(call.shape, *(a.shape for a in arrays))
    except ValueError as exc:
        raise ValueError("implied_vol: inputs do not broadcast together") from exc
    n = int(np.prod(shape))
    out = np.empty(n, dtype=np.float64)
    if n:
        p, f, k, t_, r = (_kernel_arg(a, shape) for a in arrays)
        implied_vol_black76(p, _kernel_arg(call, shape), f, k, t_, r, out)
    return out.reshape(shape)
