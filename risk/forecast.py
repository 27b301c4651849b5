"""Volatility forecasts from price histories: RiskMetrics EWMA and GARCH(1,1) with an EWMA fallback.

Returns are log returns of consecutive prices (one period = the sampling interval of the history,
typically a day).  ``periods_per_year`` annualises (365 for crypto, which trades every day).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

F64 = NDArray[np.float64]

RISKMETRICS_LAMBDA = 0.94
MIN_GARCH_RETURNS = 100  # fewer than this and the three GARCH parameters are noise


@dataclass(frozen=True)
class VolForecast:
    """One-period-ahead volatility forecast; ``reason`` explains a fallback (empty when none)."""

    method: Literal["ewma", "garch"]
    sigma_period: float
    sigma_annual: float
    n_returns: int
    reason: str = ""
    params: dict[str, float] = field(default_factory=dict)


def log_returns(prices: ArrayLike) -> F64:
    """Log returns of a 1-D price series (or column-wise for a 2-D ``time × asset`` array)."""
    p = np.asarray(prices, dtype=np.float64)
    if p.ndim not in (1, 2):
        raise ValueError(f"prices must be 1-D or 2-D (time x asset), got shape {p.shape}")
    if p.shape[0] < 2:
        raise ValueError(f"need at least 2 prices to form a return, got {p.shape[0]}")
    if not np.all(np.isfinite(p)) or np.any(p <= 0):
        bad = int(np.flatnonzero(~(np.isfinite(p) & (p > 0)).reshape(p.shape[0], -1).all(axis=1))[0])
        raise ValueError(f"prices must be finite and > 0; first bad row is index {bad}")
    return np.diff(np.log(p), axis=0)


def ewma_variance(returns: ArrayLike, lam: float = RISKMETRICS_LAMBDA, seed_window: int = 20) -> float:
    """RiskMetrics recursion on zero-mean returns: s² ← λ·s² + (1−λ)·r_t² for every return in order,
    seeded with the mean of the first ``seed_window`` squared returns.  The final s² is the forecast
    of next period's variance."""
    r = np.asarray(returns, dtype=np.float64)
    if r.ndim != 1 or r.size == 0:
        raise ValueError(f"returns must be a non-empty 1-D array, got shape {r.shape}")
    if not 0.0 < lam < 1.0:
        raise ValueError(f"EWMA lambda must be in (0, 1), got {lam}")
    if seed_window < 1:
        raise ValueError(f"seed_window must be >= 1, got {seed_window}")
    r2 = r * r
    var = float(np.mean(r2[: min(seed_window, r.size)]))
    # Closed form of the recursion: weights λ^(n-1-i)(1-λ) on r_i² plus λ^n on the seed; vectorised.
    n = r.size
    w = (1.0 - lam) * lam ** np.arange(n - 1, -1, -1, dtype=np.float64)
    return float(lam**n * var + np.dot(w, r2))


def ewma_forecast(
    prices: ArrayLike, lam: float = RISKMETRICS_LAMBDA, periods_per_year: float = 365.0, reason: str = ""
) -> VolForecast:
    """EWMA volatility forecast from a price history (λ = 0.94 by default, RiskMetrics daily)."""
    r = log_returns(prices)
    if r.ndim != 1:
        raise ValueError("ewma_forecast takes one price series; use ewma_covariance for several")
    s = math.sqrt(ewma_variance(r, lam))
    return VolForecast("ewma", s, s * math.sqrt(periods_per_year), int(r.size), reason, {"lambda": lam})


def garch_forecast(prices: ArrayLike, periods_per_year: float = 365.0) -> VolForecast:
    """GARCH(1,1) (zero mean, normal innovations) fitted with ``arch``; returns rescaled as arch
    recommends (``rescale=True``) and the forecast scaled back.  Falls back to EWMA, with the reason,
    when the history is short, the optimiser does not converge, or the fit is non-stationary."""
    r = log_returns(prices)
    if r.ndim != 1:
        raise ValueError("garch_forecast takes one price series")
    if r.size < MIN_GARCH_RETURNS:
        return ewma_forecast(
            prices,
            periods_per_year=periods_per_year,
            reason=f"history too short for GARCH: {r.size} returns < {MIN_GARCH_RETURNS}",
        )
    if float(np.std(r)) == 0.0:
        return ewma_forecast(
            prices, periods_per_year=periods_per_year, reason="constant prices: GARCH undefined"
        )
    from arch import arch_model  # heavy import (pandas); only paid when GARCH is asked for

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # arch warns on convergence; we inspect the flag instead
            res = arch_model(r, mean="Zero", vol="GARCH", p=1, q=1, dist="normal", rescale=True).fit(
                disp="off", show_warning=False
            )
    except (ValueError, np.linalg.LinAlgError, RuntimeError) as exc:
        return ewma_forecast(prices, periods_per_year=periods_per_year, reason=f"GARCH fit failed: {exc}")
    if res.convergence_flag != 0:
        msg = getattr(res.optimization_result, "message", "")
        return ewma_forecast(
            prices, periods_per_year=periods_per_year, reason=f"GARCH did not converge: {msg}"
        )
    omega, alpha, beta = (float(res.params[k]) for k in ("omega", "alpha[1]", "beta[1]"))
    if alpha + beta >= 1.0:
        return ewma_forecast(
            prices,
            periods_per_year=periods_per_year,
            reason=f"GARCH fit non-stationary: alpha+beta = {alpha + beta:.4f} >= 1",
        )
    scale = float(res.scale)
    var = float(res.forecast(horizon=1, reindex=False).variance.to_numpy()[-1, 0]) / (scale * scale)
    s = math.sqrt(var)
    params = {"omega": omega / (scale * scale), "alpha": alpha, "beta": beta, "scale": scale}
    return VolForecast("garch", s, s * math.sqrt(periods_per_year), int(r.size), "", params)


def ewma_covariance(returns: ArrayLike, lam: float = RISKMETRICS_LAMBDA, seed_window: int = 20) -> F64:
    """EWMA covariance of a ``time × asset`` return matrix (same recursion as :func:`ewma_variance`)."""
    r = np.asarray(returns, dtype=np.float64)
    if r.ndim != 2 or r.shape[0] == 0:
        raise ValueError(f"returns must be a non-empty 2-D (time x asset) array, got shape {r.shape}")
    if not 0.0 < lam < 1.0:
        raise ValueError(f"EWMA lambda must be in (0, 1), got {lam}")
    n = r.shape[0]
    head = r[: min(seed_window, n)]
    seed = head.T @ head / head.shape[0]
    w = (1.0 - lam) * lam ** np.arange(n - 1, -1, -1, dtype=np.float64)
    return np.asarray(lam**n * seed + (r * w[:, None]).T @ r, dtype=np.float64)


def correlation_from_covariance(cov: ArrayLike) -> F64:
    """Correlation matrix from a covariance matrix; a zero-variance asset gets unit diagonal, zero off."""
    c = np.asarray(cov, dtype=np.float64)
    if c.ndim != 2 or c.shape[0] != c.shape[1]:
        raise ValueError(f"covariance must be square, got shape {c.shape}")
    sd = np.sqrt(np.clip(np.diag(c), 0.0, None))
    inv = np.divide(1.0, sd, out=np.zeros_like(sd), where=sd > 0)
    corr = c * inv[:, None] * inv[None, :]
    np.fill_diagonal(corr, 1.0)
    return np.clip(corr, -1.0, 1.0)
