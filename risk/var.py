"""1-day VaR and expected shortfall per entity by full revaluation.

Every position is repriced (options with :func:`risk.pricing.bsm`, sticky-strike implied vol, time
advanced by the horizon) under each scenario of joint spot moves across underlyings; scenario P&L is
summed per entity.  Scenarios are either historical (the joint daily log returns of the price
histories) or Monte Carlo (correlated GBM with forecast vols, seeded).

Estimator: with n scenarios and confidence c, let k = ceil(n·(1 − c)).  VaR is the k-th largest loss
and ES the mean of the k largest losses, so ES ≥ VaR always holds.  Both are reported as positive
numbers (a loss); a book that gains in every tail scenario has negative VaR.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray

from risk.book import PositionBook
from risk.book_value import Kind, unit_values
from risk.svi import SECONDS_PER_YEAR

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

Method = Literal["historical", "monte_carlo"]


@dataclass(frozen=True)
class Rows:
    """Positions to revalue, one entry per row.  ``t`` is years to expiry now; ``vol`` the row's
    implied vol (ignored for non-options); ``entity`` and ``underlying`` are dense ids."""

    entity: I64
    underlying: I64
    kind: NDArray[np.int8]
    is_call: NDArray[np.bool_]
    strike: F64
    t: F64
    size: F64
    multiplier: F64
    entry_price: F64
    vol: F64

    def __post_init__(self) -> None:
        n = self.entity.shape[0]
        for name in (
            "underlying",
            "kind",
            "is_call",
            "strike",
            "t",
            "size",
            "multiplier",
            "entry_price",
            "vol",
        ):
            arr = getattr(self, name)
            if arr.shape != (n,):
                raise ValueError(f"Rows.{name} has shape {arr.shape}, expected ({n},) like Rows.entity")
        opt = self.kind == Kind.OPTION
        if np.any(opt & ~(self.vol > 0)):
            raise ValueError(
                f"option rows need vol > 0; bad rows {np.flatnonzero(opt & ~(self.vol > 0))[:5]}"
            )


@dataclass(frozen=True)
class VarResult:
    entity: int
    var: float
    es: float
    n_scenarios: int
    method: Method
    confidence: float


def historical_multipliers(prices: ArrayLike) -> F64:
    """Spot multipliers ``exp(r)`` of the joint 1-period log returns of a ``time × underlying`` history."""
    p = np.asarray(prices, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] < 2:
        raise ValueError(f"prices must be a (time >= 2) x underlying array, got shape {p.shape}")
    if not np.all(np.isfinite(p) & (p > 0)):
        raise ValueError("prices must be finite and > 0 (a missing quote must be filled, not left as NaN/0)")
    return np.asarray(np.exp(np.diff(np.log(p), axis=0)), dtype=np.float64)


def monte_carlo_multipliers(
    sigma_period: ArrayLike, corr: ArrayLike, n_scenarios: int, seed: int, horizon_periods: float = 1.0
) -> F64:
    """Correlated GBM spot multipliers exp(σ√h·Z − σ²h/2), Z ~ N(0, corr) (driftless, martingale)."""
    s = np.asarray(sigma_period, dtype=np.float64)
    c = np.asarray(corr, dtype=np.float64)
    if s.ndim != 1 or c.shape != (s.size, s.size):
        raise ValueError(f"corr must be {s.size}x{s.size} for {s.size} vols, got {c.shape}")
    if np.any(s < 0) or not np.all(np.isfinite(s)):
        raise ValueError(f"vols must be finite and >= 0, got {s}")
    if not np.allclose(c, c.T) or not np.allclose(np.diag(c), 1.0):
        raise ValueError("corr must be symmetric with unit diagonal")
    if n_scenarios < 1:
        raise ValueError(f"n_scenarios must be >= 1, got {n_scenarios}")
    try:
        chol = np.linalg.cholesky(c)
    except np.linalg.LinAlgError:
        # Positive semi-definite (e.g. perfectly correlated assets): eigen square root instead.
        w, v = np.linalg.eigh(c)
        if w.min() < -1e-8:
            raise ValueError(f"corr is not positive semi-definite (min eigenvalue {w.min():.3g})") from None
        chol = v * np.sqrt(np.clip(w, 0.0, None))
    z = np.random.default_rng(seed).standard_normal((n_scenarios, s.size)) @ chol.T
    sh = s * math.sqrt(horizon_periods)
    return np.asarray(np.exp(sh * z - 0.5 * sh * sh), dtype=np.float64)


def scenario_pnl(
    rows: Rows,
    spot: ArrayLike,
    multipliers: ArrayLike,
    n_entities: int,
    horizon_years: float = 1.0 / 365.0,
    rate: float = 0.0,
    carry_yield: float = 0.0,
    max_cells: int = 2_000_000,
) -> F64:
    """Full-revaluation P&L, shape ``n_entities × n_scenarios``: V(S·m, t − h) − V(S, t) summed per
    entity.  Cash rows contribute nothing.  Works in scenario chunks of at most ``max_cells`` row-cells."""
    s = np.asarray(spot, dtype=np.float64)
    m = np.asarray(multipliers, dtype=np.float64)
    if m.ndim != 2 or m.shape[1] != s.size:
        raise ValueError(f"multipliers must be scenarios x {s.size} underlyings, got shape {m.shape}")
    n_rows = rows.entity.shape[0]
    if n_rows and (rows.underlying.min() < 0 or rows.underlying.max() >= s.size):
        raise ValueError(f"row underlying ids must be in [0, {s.size}); spot vector too short")
    if n_rows and (rows.entity.min() < 0 or rows.entity.max() >= n_entities):
        raise ValueError(f"row entity ids must be in [0, {n_entities})")
    keep = np.flatnonzero(rows.kind != Kind.CASH)
    n_scen = m.shape[0]
    out = np.zeros((n_entities, n_scen))
    if keep.size == 0:
        return out
    u = rows.underlying[keep]
    kind, call, k = rows.kind[keep], rows.is_call[keep], rows.strike[keep]
    ent, px, vol = rows.entity[keep], rows.entry_price[keep], rows.vol[keep]
    n = rows.size[keep] * rows.multiplier[keep]
    s0 = s[u]
    base = unit_values(kind, call, k, rows.t[keep], px, s0, vol, rate, carry_yield) * n
    t1 = np.maximum(rows.t[keep] - horizon_years, 0.0)
    agg = sp.csr_array((np.ones(keep.size), (ent, np.arange(keep.size))), shape=(n_entities, keep.size))
    step = max(1, max_cells // keep.size)
    for a in range(0, n_scen, step):
        b = min(n_scen, a + step)
        s1 = s0[:, None] * m[a:b, u].T  # rows x chunk
        v1 = unit_values(
            kind[:, None],
            call[:, None],
            k[:, None],
            t1[:, None],
            px[:, None],
            s1,
            vol[:, None],
            rate,
            carry_yield,
        )
        out[:, a:b] = agg @ (v1 * n[:, None] - base[:, None])
    return out


def var_es(pnl: ArrayLike, confidence: float = 0.99) -> tuple[F64, F64]:
    """VaR and ES (positive = loss) along the last axis of a P&L array (see module docstring)."""
    p = np.asarray(pnl, dtype=np.float64)
    if not 0.5 <= confidence < 1.0:
        raise ValueError(f"confidence must be in [0.5, 1), got {confidence}")
    n = p.shape[-1]
    if n == 0:
        raise ValueError("no scenarios")
    k = max(1, math.ceil(n * (1.0 - confidence) - 1e-9))
    losses = -p
    tail = -np.partition(-losses, k - 1, axis=-1)[..., :k]  # the k largest losses
    return np.asarray(tail.min(axis=-1)), np.asarray(tail.mean(axis=-1))


def entity_var(
    rows: Rows,
    spot: ArrayLike,
    multipliers: ArrayLike,
    n_entities: int,
    method: Method,
    confidence: float = 0.99,
    horizon_years: float = 1.0 / 365.0,
    rate: float = 0.0,
    carry_yield: float = 0.0,
) -> list[VarResult]:
    """VaR/ES for every entity id in ``range(n_entities)`` from prepared scenario multipliers."""
    pnl = scenario_pnl(rows, spot, multipliers, n_entities, horizon_years, rate, carry_yield)
    v, e = var_es(pnl, confidence)
    n = pnl.shape[1]
    return [VarResult(i, float(v[i]), float(e[i]), n, method, confidence) for i in range(n_entities)]


# ---------------------------------------------------------------------------------------------- from the book
def rows_from_book(book: PositionBook) -> tuple[Rows, F64, int]:
    """Priced active rows of the book as :class:`Rows`, the spot vector by asset id, and the number of
    unpriced rows left out (they have no market to revalue from)."""
    act = book.active_rows()
    priced = book.col("priced")[act]
    rows = act[priced]
    c = book.col
    spot = np.array([book.spot(a) for a in range(book.n_assets)])
    r = Rows(
        entity=c("entity")[rows].astype(np.int64),
        underlying=c("underlying")[rows].astype(np.int64),
        kind=c("kind")[rows],
        is_call=c("is_call")[rows],
        strike=c("strike")[rows],
        t=(c("expiry")[rows] - book.now) / SECONDS_PER_YEAR,
        size=c("size")[rows],
        multiplier=c("multiplier")[rows],
        entry_price=c("entry_price")[rows],
        vol=np.where(c("kind")[rows] == Kind.OPTION, c("iv")[rows], 0.0),
    )
    return r, spot, int(np.count_nonzero(~priced))


def _needed_assets(rows: Rows) -> set[int]:
    return {int(u) for u in np.unique(rows.underlying[rows.kind != Kind.CASH])}


def historical_var(
    book: PositionBook, prices: Mapping[int, ArrayLike], confidence: float = 0.99
) -> list[VarResult]:
    """Historical VaR/ES per entity from joint price histories ``{asset id: prices}`` (equal lengths,
    same timestamps); assets without a history are held still.  One scenario per return in the history."""
    rows, spot, _ = rows_from_book(book)
    missing = _needed_assets(rows) - set(prices)
    if missing:
        raise ValueError(f"historical_var: no price history for underlyings {sorted(missing)}")
    lengths = {a: np.asarray(p).shape for a, p in prices.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"historical_var: histories must have equal length, got {lengths}")
    n_t = next(iter(lengths.values()))[0]
    full = np.ones((n_t, spot.size))
    for a, p in prices.items():
        if 0 <= a < spot.size:
            full[:, a] = np.asarray(p, dtype=np.float64)
    m = historical_multipliers(full)
    return entity_var(
        rows,
        np.nan_to_num(spot, nan=1.0),
        m,
        max(book.n_entities, 1),
        "historical",
        confidence,
        rate=book.rate,
        carry_yield=book.carry_yield,
    )


def monte_carlo_var(
    book: PositionBook,
    sigma_period: Mapping[int, float],
    corr: ArrayLike,
    n_scenarios: int,
    seed: int,
    confidence: float = 0.99,
) -> list[VarResult]:
    """Monte Carlo VaR/ES per entity: correlated GBM with per-asset 1-day vols ``{asset: σ}`` (e.g.
    :func:`risk.forecast.garch_forecast` ``sigma_period``) and ``corr`` ordered like ``sigma_period``'s keys."""
    rows, spot, _ = rows_from_book(book)
    assets = list(sigma_period)
    missing = _needed_assets(rows) - set(assets)
    if missing:
        raise ValueError(f"monte_carlo_var: no vol forecast for underlyings {sorted(missing)}")
    c = np.asarray(corr, dtype=np.float64)
    if c.shape != (len(assets), len(assets)):
        raise ValueError(f"monte_carlo_var: corr must be {len(assets)}x{len(assets)}, got {c.shape}")
    m_sub = monte_carlo_multipliers([sigma_period[a] for a in assets], c, n_scenarios, seed)
    m = np.ones((n_scenarios, spot.size))
    for j, a in enumerate(assets):
        if 0 <= a < spot.size:
            m[:, a] = m_sub[:, j]
    return entity_var(
        rows,
        np.nan_to_num(spot, nan=1.0),
        m,
        max(book.n_entities, 1),
        "monte_carlo",
        confidence,
        rate=book.rate,
        carry_yield=book.carry_yield,
    )
