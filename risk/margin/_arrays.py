"""Input checking and per-account reductions shared by the margin mirrors."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
B = NDArray[np.bool_]


class MarginInputError(ValueError):
    """A margin input has the wrong shape, type or range; the message names the field and the rows."""


def f64_column(name: str, x: ArrayLike, n: int | None = None) -> F64:
    """A 1-D float64 copy of ``x`` (scalars broadcast to length ``n``), rejecting NaN/inf."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 0 and n is not None:
        arr = np.full(n, float(arr))
    if arr.ndim != 1:
        raise MarginInputError(f"{name}: expected a 1-D array, got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise MarginInputError(f"{name}: expected {n} rows, got {arr.shape[0]}")
    bad = ~np.isfinite(arr)
    if bad.any():
        raise MarginInputError(f"{name}: non-finite values at rows {np.flatnonzero(bad)[:10].tolist()}")
    return np.ascontiguousarray(arr)


def bool_column(name: str, x: ArrayLike, n: int) -> B:
    arr = np.asarray(x)
    if arr.ndim == 0:
        arr = np.full(n, bool(arr))
    if arr.shape != (n,):
        raise MarginInputError(f"{name}: expected shape ({n},), got {arr.shape}")
    return np.ascontiguousarray(arr.astype(np.bool_))


def index_column(name: str, x: ArrayLike, n: int, upper: int) -> I64:
    """Integer indices in [0, upper) (e.g. the account of each position)."""
    arr = np.asarray(x)
    if arr.shape != (n,):
        raise MarginInputError(f"{name}: expected shape ({n},), got {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise MarginInputError(f"{name}: expected integer indices, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    bad = (arr < 0) | (arr >= upper)
    if bad.any():
        rows = np.flatnonzero(bad)[:10].tolist()
        raise MarginInputError(f"{name}: index out of range [0, {upper}) at rows {rows}")
    return np.ascontiguousarray(arr)


def require(cond: B, name: str, what: str) -> None:
    """Raise a MarginInputError naming the first offending rows where ``cond`` is False."""
    if not cond.all():
        rows = np.flatnonzero(~cond)[:10].tolist()
        raise MarginInputError(f"{name}: must be {what}; violated at rows {rows}")


def per_account_sum(account: I64, values: F64, n_accounts: int) -> F64:
    """Σ values per account (bincount keeps the order of rows, so results are reproducible)."""
    return np.bincount(account, weights=values, minlength=n_accounts).astype(np.float64)
