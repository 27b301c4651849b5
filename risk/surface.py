"""Implied-vol surface: raw-SVI slices fitted per expiry, arbitrage checks, interpolation in total variance.

Slices use the raw-SVI convention of :mod:`risk.svi` (total variance w(k), k = ln(K/F)).  Between
expiries the surface is linear in T in total variance at fixed k; before the first expiry w scales
as T/τ₁ (the first slice's implied vols), after the last as T/τ_N (flat vol extrapolation).  Linear
interpolation of calendar-arbitrage-free slices is itself calendar-arbitrage free.

Fitting (:func:`fit_slice`): a bounded nonlinear least squares on vol residuals (optionally
vega-weighted) over (w_min, b, ρ, m, σ) with w_min = a + b·σ·√(1−ρ²) ≥ 0, so every box-feasible point
satisfies the SVI validity rule.  Starts come from the quasi-explicit idea of Zeliade (2009): for fixed
(m, σ) the slice is linear in (a, bρ, b), solved by least squares on a small (m, σ) grid.

Checks: Gatheral's butterfly density condition g(k) ≥ 0 on a k grid, Roger Lee's wing bound
b·(1 + |ρ|) ≤ 2, and calendar monotonicity w(k, T₂) ≥ w(k, T₁) for T₂ > T₁.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import least_squares

from risk.svi import describe_svi_reasons, svi_check, total_variance

F64 = NDArray[np.float64]

BUTTERFLY_TOL = 1e-9
CALENDAR_TOL = 1e-9
MIN_MARKS = 5


@dataclass(frozen=True)
class SviSlice:
    """One expiry: raw-SVI parameters of total variance and the year fraction τ they belong to."""

    tau: float
    a: float
    b: float
    rho: float
    m: float
    sigma: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.tau) and self.tau > 0):
            raise ValueError(f"SviSlice: tau must be finite and > 0, got {self.tau!r}")

    def w(self, k: ArrayLike) -> F64:
        return total_variance(k, self.a, self.b, self.rho, self.m, self.sigma)

    def vol(self, k: ArrayLike) -> F64:
        return np.sqrt(np.maximum(self.w(k), 0.0) / self.tau)

    def derivatives(self, k: ArrayLike) -> tuple[F64, F64, F64]:
        """w, w′, w″ at k (closed form)."""
        km = np.asarray(k, dtype=np.float64) - self.m
        r = np.sqrt(km * km + self.sigma * self.sigma)
        w = self.a + self.b * (self.rho * km + r)
        w1 = self.b * (self.rho + km / r)
        w2 = self.b * self.sigma * self.sigma / (r * r * r)
        return w, w1, w2


def butterfly_g(sl: SviSlice, k: ArrayLike) -> F64:
    """Gatheral's g(k) = (1 − k·w′/(2w))² − (w′²/4)·(1/w + 1/4) + w″/2; the risk-neutral density is
    non-negative (no butterfly arbitrage) iff g ≥ 0 wherever w > 0."""
    kk = np.asarray(k, dtype=np.float64)
    w, w1, w2 = sl.derivatives(kk)
    with np.errstate(divide="ignore", invalid="ignore"):
        g = (1.0 - kk * w1 / (2.0 * w)) ** 2 - (w1 * w1 / 4.0) * (1.0 / w + 0.25) + w2 / 2.0
    return np.where(w > 0, g, -np.inf)


def default_k_grid(k_lo: float = -1.5, k_hi: float = 1.5, n: int = 301) -> F64:
    return np.linspace(k_lo, k_hi, n)


def check_slice(sl: SviSlice, k_grid: ArrayLike | None = None) -> tuple[str, ...]:
    """Reasons the slice is unusable (empty tuple = passes): SVI validity, Lee's wing bound, butterfly."""
    reasons: list[str] = []
    flags = int(svi_check(sl.a, sl.b, sl.rho, sl.m, sl.sigma))
    if flags:
        reasons.append(f"invalid SVI parameters: {', '.join(describe_svi_reasons(flags))}")
        return tuple(reasons)
    wing = sl.b * (1.0 + abs(sl.rho))
    if wing > 2.0 + 1e-12:
        reasons.append(f"Lee wing bound violated: b(1+|rho|) = {wing:.4g} > 2")
    grid = default_k_grid() if k_grid is None else np.asarray(k_grid, dtype=np.float64)
    g = butterfly_g(sl, grid)
    worst = int(np.argmin(g))
    if g[worst] < -BUTTERFLY_TOL:
        what = "w(k) <= 0" if not np.isfinite(g[worst]) else f"g(k) = {g[worst]:.3g}"
        reasons.append(f"butterfly arbitrage: {what} at k = {grid[worst]:.3f} (tau {sl.tau:.4g})")
    return tuple(reasons)


@dataclass(frozen=True)
class SliceFit:
    """Result of fitting one expiry.  ``params`` is set even when ``ok`` is False (to inspect it)."""

    ok: bool
    reasons: tuple[str, ...]
    params: SviSlice | None
    rmse: float  # in vol units, over the marks (weighted like the fit)
    n_marks: int


def _linear_start(k: F64, w: F64, wt: F64, m: float, s: float) -> tuple[F64, float] | None:
    km = k - m
    A = np.column_stack([np.ones_like(k), km, np.sqrt(km * km + s * s)])
    sw = np.sqrt(wt)
    coef, *_ = np.linalg.lstsq(A * sw[:, None], w * sw, rcond=None)
    a, c, d = (float(x) for x in coef)
    if d <= 1e-8:
        return None
    rho = float(np.clip(c / d, -0.99, 0.99))
    wmin = max(a + d * s * math.sqrt(1.0 - rho * rho), 1e-8)
    x0 = np.array([wmin, d, rho, m, s])
    res = float(np.sum(wt * (A @ coef - w) ** 2))
    return x0, res


def _to_slice(x: F64, tau: float) -> SviSlice:
    wmin, b, rho, m, s = (float(v) for v in x)
    return SviSlice(tau, wmin - b * s * math.sqrt(1.0 - rho * rho), b, rho, m, s)


def fit_slice(
    k: ArrayLike,
    iv: ArrayLike,
    tau: float,
    weights: ArrayLike | None = None,
    *,
    max_rmse: float | None = None,
    k_grid: ArrayLike | None = None,
) -> SliceFit:
    """Fit raw SVI to implied vols ``iv`` at log-moneyness ``k`` for one expiry ``tau`` (years).
    ``weights`` (e.g. vega) scale the squared vol residuals.  The fit is rejected (``ok`` False, with
    reasons) on too few marks, an RMSE above ``max_rmse``, or failed arbitrage checks."""
    kk = np.asarray(k, dtype=np.float64)
    vv = np.asarray(iv, dtype=np.float64)
    if kk.shape != vv.shape or kk.ndim != 1:
        raise ValueError(f"fit_slice: k and iv must be 1-D of equal length, got {kk.shape} and {vv.shape}")
    if not (math.isfinite(tau) and tau > 0):
        raise ValueError(f"fit_slice: tau must be finite and > 0, got {tau!r}")
    wt = np.ones_like(kk) if weights is None else np.asarray(weights, dtype=np.float64)
    if wt.shape != kk.shape or np.any(wt < 0) or not np.all(np.isfinite(wt)):
        raise ValueError("fit_slice: weights must be finite, >= 0 and match k")
    good = np.isfinite(kk) & np.isfinite(vv) & (vv > 0) & (wt > 0)
    kk, vv, wt = kk[good], vv[good], wt[good]
    n = int(kk.size)
    if n < MIN_MARKS:
        return SliceFit(False, (f"too few usable marks: {n} < {MIN_MARKS}",), None, math.nan, n)
    wt = wt / wt.mean()
    w_obs = vv * vv * tau
    span = max(float(kk.max() - kk.min()), 0.05)
    starts: list[tuple[float, F64]] = []
    for m0 in np.linspace(kk.min(), kk.max(), 5):
        for s0 in (0.05, 0.15, 0.4, 1.0):
            st = _linear_start(kk, w_obs, wt, float(m0), s0 * span)
            if st is not None:
                starts.append((st[1], st[0]))
    starts.sort(key=lambda p: p[0])
    lo = np.array([0.0, 0.0, -0.999, kk.min() - 2 * span, 1e-4])
    hi = np.array([max(4.0 * w_obs.max(), 1e-6), 20.0 / max(span, 1e-3), 0.999, kk.max() + 2 * span, 10.0])
    sw = np.sqrt(wt)

    def resid(x: F64) -> F64:
        sl = _to_slice(x, tau)
        return np.asarray(sw * (np.sqrt(np.maximum(sl.w(kk), 1e-12) / tau) - vv), dtype=np.float64)

    best: tuple[float, F64] | None = None
    seeds = [x0 for _r, x0 in starts[:3]] or [np.array([float(w_obs.min()), 0.1, 0.0, 0.0, 0.1])]
    for x0 in seeds:
        r = least_squares(
            resid,
            np.clip(x0, lo + 1e-12, hi - 1e-12),
            bounds=(lo, hi),
            method="trf",
            x_scale="jac",
            xtol=1e-12,
            ftol=1e-12,
            gtol=1e-12,
            max_nfev=2000,
        )
        cost = float(np.sum(r.fun**2))
        if best is None or cost < best[0]:
            best = (cost, r.x)
    assert best is not None
    sl = _to_slice(best[1], tau)
    rmse = math.sqrt(best[0] / n)
    grid = (
        k_grid if k_grid is not None else default_k_grid(min(-1.5, kk.min() - 0.5), max(1.5, kk.max() + 0.5))
    )
    reasons = list(check_slice(sl, grid))
    if max_rmse is not None and rmse > max_rmse:
        reasons.append(f"fit error too large: rmse {rmse:.4g} > {max_rmse:.4g} vol")
    return SliceFit(not reasons, tuple(reasons), sl, rmse, n)


def vega_weights(k: ArrayLike, iv: ArrayLike, tau: float) -> F64:
    """Black-76 vega of each mark per unit forward (F = 1, K = e^k), normalised to mean 1: the usual
    weighting that trusts liquid near-the-money quotes more than far wings."""
    from risk.pricing import black76  # local: the surface itself needs no pricer

    kk = np.asarray(k, dtype=np.float64)
    vv = np.asarray(iv, dtype=np.float64)
    if kk.shape != vv.shape or np.any(~(vv > 0)) or not (tau > 0):
        raise ValueError("vega_weights: k and iv must match, iv > 0 and tau > 0")
    vega = black76(True, 1.0, np.exp(kk), tau, 0.0, vv).vega
    return np.asarray(vega / vega.mean(), dtype=np.float64)


def fit_slice_strikes(
    strikes: ArrayLike,
    forward: float,
    tau: float,
    iv: ArrayLike,
    weights: ArrayLike | None = None,
    **kw: object,
) -> SliceFit:
    """:func:`fit_slice` from strikes and the expiry's forward."""
    K = np.asarray(strikes, dtype=np.float64)
    if not (forward > 0) or np.any(K <= 0):
        raise ValueError("fit_slice_strikes: forward and strikes must be > 0")
    return fit_slice(np.log(K / forward), iv, tau, weights, **kw)  # type: ignore[arg-type]


def check_calendar(slices: Sequence[SviSlice], k_grid: ArrayLike | None = None) -> tuple[str, ...]:
    """Reasons for calendar arbitrage: total variance must not decrease with τ at any grid k."""
    grid = default_k_grid() if k_grid is None else np.asarray(k_grid, dtype=np.float64)
    reasons = []
    ordered = sorted(slices, key=lambda s: s.tau)
    for s1, s2 in zip(ordered, ordered[1:], strict=False):
        d = s2.w(grid) - s1.w(grid)
        i = int(np.argmin(d))
        if d[i] < -CALENDAR_TOL:
            reasons.append(
                f"calendar arbitrage: w(tau={s2.tau:.4g}) < w(tau={s1.tau:.4g}) by {-d[i]:.3g} at k = {grid[i]:.3f}"
            )
    return tuple(reasons)


@dataclass(frozen=True)
class VolSurface:
    """SVI slices ordered by τ; evaluates vols for any (strike, t, forward), vectorised.
    Implements the :class:`risk.book.VolSource` protocol."""

    slices: tuple[SviSlice, ...]

    def __post_init__(self) -> None:
        if not self.slices:
            raise ValueError("VolSurface needs at least one slice")
        taus = [s.tau for s in self.slices]
        if any(t2 <= t1 for t1, t2 in zip(taus, taus[1:], strict=False)):
            raise ValueError(f"VolSurface slices must have strictly increasing tau, got {taus}")
        p = np.array([[s.tau, s.a, s.b, s.rho, s.m, s.sigma] for s in self.slices])
        object.__setattr__(self, "_p", p)

    def total_variance(self, k: ArrayLike, t: ArrayLike) -> F64:
        """w(k, t): linear in t between slices at fixed k; proportional to t outside them."""
        kk, tt = np.broadcast_arrays(np.asarray(k, dtype=np.float64), np.asarray(t, dtype=np.float64))
        p: F64 = self._p  # type: ignore[attr-defined]
        taus = p[:, 0]
        n = taus.size
        j = np.clip(np.searchsorted(taus, tt, side="right"), 1, max(n - 1, 1))  # right slice index
        i = j - 1
        if n == 1:
            i = j = np.zeros_like(j)

        def w_at(idx: NDArray[np.int64]) -> F64:
            return total_variance(kk, p[idx, 1], p[idx, 2], p[idx, 3], p[idx, 4], p[idx, 5])

        wi, wj = w_at(i), w_at(j)
        ti, tj = taus[i], taus[j]
        with np.errstate(divide="ignore", invalid="ignore"):
            frac = np.where(tj > ti, (tt - ti) / (tj - ti), 0.0)
        inside = wi + frac * (wj - wi)
        before = wi * tt / ti  # t < first tau: constant implied vol of the first slice
        after = wj * tt / tj  # t > last tau: constant implied vol of the last slice
        return np.where(tt < taus[0], before, np.where(tt > taus[-1], after, inside))

    def vol_k(self, k: ArrayLike, t: ArrayLike) -> F64:
        tt = np.asarray(t, dtype=np.float64)
        w = self.total_variance(k, tt)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where((tt > 0) & (w > 0), np.sqrt(w / tt), np.nan)

    def vol(self, strike: F64, t: F64, forward: F64) -> F64:
        """Implied vol at strike K for years-to-expiry t and forward F (NaN where t <= 0 or K, F <= 0)."""
        K = np.asarray(strike, dtype=np.float64)
        F = np.asarray(forward, dtype=np.float64)
        ok = (K > 0) & (F > 0)
        k = np.log(np.where(ok, K, 1.0) / np.where(ok, F, 1.0))
        return np.where(ok, self.vol_k(k, t), np.nan)


@dataclass(frozen=True)
class SurfaceFit:
    ok: bool
    reasons: tuple[str, ...]
    surface: VolSurface | None
    slices: tuple[SliceFit, ...]


def fit_surface(
    marks: Sequence[tuple[float, ArrayLike, ArrayLike, ArrayLike | None]],
    *,
    max_rmse: float | None = None,
) -> SurfaceFit:
    """Fit every expiry ``(tau, k, iv, weights)`` and assemble a surface.  The surface is built only
    when every slice passes and the slices are free of calendar arbitrage."""
    fits = tuple(
        fit_slice(k, iv, tau, w, max_rmse=max_rmse) for tau, k, iv, w in sorted(marks, key=lambda m: m[0])
    )
    reasons = [
        f"slice tau={tau:.4g}: {r}"
        for (tau, *_), f in zip(sorted(marks, key=lambda m: m[0]), fits, strict=True)
        for r in f.reasons
    ]
    params = [f.params for f in fits if f.params is not None]
    if len(params) == len(fits):
        reasons += check_calendar(params)
    if reasons:
        return SurfaceFit(False, tuple(reasons), None, fits)
    return SurfaceFit(True, (), VolSurface(tuple(params)), fits)
