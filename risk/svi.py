"""Raw-SVI slices: total implied variance and implied vol, vectorised.

Shared convention with the contracts' VolFeed (contracts/src/interfaces/IVolFeed.sol): a slice
(a, b, rho, m, sigma) gives TOTAL implied variance

    w(k) = a + b·(rho·(k − m) + sqrt((k − m)² + sigma²)),   k = ln(K / F),

and the implied vol is sqrt(w(k) / tau) with tau in years of 365 days. Keeping total variance (not
variance per year) in the slice is what lets the feed update forwards and time without re-fitting.
"""

from __future__ import annotations

from enum import IntFlag

import numpy as np
from numpy.typing import ArrayLike, NDArray

SECONDS_PER_YEAR = 365.0 * 86400.0

F64 = NDArray[np.float64]


class SviReason(IntFlag):
    """Why a slice is invalid (bit flags, several may be set). 0 means valid."""

    NON_FINITE = 1  # some parameter is NaN or infinite
    NEGATIVE_B = 2  # b < 0: variance would decrease in the wings
    RHO_OUT_OF_RANGE = 4  # |rho| >= 1: one wing has zero or negative slope
    SIGMA_NOT_POSITIVE = 8  # sigma <= 0: the smile has a kink, not a smooth minimum
    NEGATIVE_MIN_VARIANCE = 16  # a + b·sigma·sqrt(1 − rho²) < 0: w(k) < 0 somewhere


def _f64(x: ArrayLike) -> F64:
    return np.asarray(x, dtype=np.float64)


def svi_check(
    a: ArrayLike, b: ArrayLike, rho: ArrayLike, m: ArrayLike, sigma: ArrayLike
) -> NDArray[np.int64]:
    """Validity reasons per slice (broadcast), 0 where the slice is valid (same rule as the VolFeed)."""
    a_, b_, rho_, m_, s_ = np.broadcast_arrays(_f64(a), _f64(b), _f64(rho), _f64(m), _f64(sigma))
    finite = np.isfinite(a_) & np.isfinite(b_) & np.isfinite(rho_) & np.isfinite(m_) & np.isfinite(s_)
    reasons = np.where(finite, 0, int(SviReason.NON_FINITE)).astype(np.int64)
    with np.errstate(invalid="ignore"):
        reasons |= np.where(finite & (b_ < 0.0), int(SviReason.NEGATIVE_B), 0)
        reasons |= np.where(finite & (np.abs(rho_) >= 1.0), int(SviReason.RHO_OUT_OF_RANGE), 0)
        reasons |= np.where(finite & (s_ <= 0.0), int(SviReason.SIGMA_NOT_POSITIVE), 0)
        min_var = a_ + b_ * s_ * np.sqrt(np.maximum(1.0 - rho_ * rho_, 0.0))
        reasons |= np.where(finite & (min_var < 0.0), int(SviReason.NEGATIVE_MIN_VARIANCE), 0)
    return reasons


def describe_svi_reasons(flags: int) -> list[str]:
    """Human-readable names of the reason bits in ``flags`` (for error messages and logs)."""
    return [r.name for r in SviReason if r.name is not None and int(flags) & int(r)]


def total_variance(
    k: ArrayLike, a: ArrayLike, b: ArrayLike, rho: ArrayLike, m: ArrayLike, sigma: ArrayLike
) -> F64:
    """w(k) for log-moneyness k = ln(K/F); no validity check (call ``svi_check`` at the boundary)."""
    km = _f64(k) - _f64(m)
    s = _f64(sigma)
    return _f64(a) + _f64(b) * (_f64(rho) * km + np.sqrt(km * km + s * s))


def implied_vol(
    strike: ArrayLike,
    forward: ArrayLike,
    tau: ArrayLike,
    a: ArrayLike,
    b: ArrayLike,
    rho: ArrayLike,
    m: ArrayLike,
    sigma: ArrayLike,
) -> F64:
    """sqrt(w(ln(K/F)) / tau); NaN where tau <= 0, K <= 0, F <= 0 or w < 0 (the feed reverts there)."""
    k_ = _f64(strike)
    f_ = _f64(forward)
    t_ = _f64(tau)
    ok = (k_ > 0.0) & (f_ > 0.0) & (t_ > 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.log(np.where(ok, k_, 1.0) / np.where(ok, f_, 1.0))
        w = total_variance(k, a, b, rho, m, sigma)
        vol = np.sqrt(w / np.where(ok, t_, 1.0))
    return np.where(ok & (w >= 0.0), vol, np.nan)


def tau_years(expiry: ArrayLike, now: ArrayLike) -> F64:
    """(expiry − now) / (365·86400): the year fraction used by the feed, the margin and the pricer."""
    return (_f64(expiry) - _f64(now)) / SECONDS_PER_YEAR
