"""Per-row valuation kernel shared by the book and full-revaluation VaR.

A row is one position: ``size × multiplier`` units of an instrument on one underlying.  Instrument
kinds and their per-unit value:

* OPTION — European option priced with :func:`risk.pricing.bsm` (rows at or past expiry: intrinsic);
* PERP   — linear perpetual: ``S − entry_price`` (funding is cash, not modelled here);
* SPOT   — the asset itself: ``S``;
* CASH   — a numéraire-like balance (stablecoin): ``S`` of its asset, but no Greeks and no scenario P&L.

Dollar-Greek conventions (per position, all in dollars):

* dollar delta  = Δ·S·n                                  (n = size·multiplier)
* dollar gamma  = Γ·S²/100·n   — change in dollar delta for a +1 % spot move
* vega          = ∂V/∂σ / 100·n — per vol point (σ + 0.01)
* theta         = Θ/365·n      — per calendar day, Θ = −∂V/∂T (negative for a long option)
* vanna         = ∂Δ/∂σ·S/100·n — change in dollar delta per vol point
* volga         = ∂²V/∂σ²/100²·n — change in per-point vega per vol point
* notional      = |n|·S
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
from numpy.typing import NDArray

from risk.pricing import bsm

F64 = NDArray[np.float64]

EXPIRED_T = 1.0 / (365.0 * 86400.0)  # below one second to expiry an option is worth its intrinsic value


class Kind(IntEnum):
    OPTION = 0
    PERP = 1
    SPOT = 2
    CASH = 3


@dataclass(frozen=True)
class RowGreeks:
    """Per-row value and dollar Greeks (see module docstring for units)."""

    value: F64
    delta: F64
    gamma: F64
    vega: F64
    theta: F64
    vanna: F64
    volga: F64
    notional: F64


GREEK_FIELDS: tuple[str, ...] = ("value", "delta", "gamma", "vega", "theta", "vanna", "volga", "notional")


def unit_values(
    kind: NDArray[np.int8],
    is_call: NDArray[np.bool_],
    strike: F64,
    t: F64,
    entry_price: F64,
    spot: F64,
    vol: F64,
    rate: float = 0.0,
    carry_yield: float = 0.0,
) -> F64:
    """Per-unit value only (the VaR inner loop); arrays broadcast, ``spot`` may carry a scenario axis."""
    kind, is_call, strike, t, entry_price, spot, vol = np.broadcast_arrays(
        kind, is_call, strike, t, entry_price, spot, vol
    )
    out = np.where(kind == Kind.PERP, spot - entry_price, spot).astype(np.float64)
    opt = kind == Kind.OPTION
    if opt.any():
        live = opt & (t > EXPIRED_T)
        dead = opt & ~live
        if live.any():
            out[live] = bsm(
                is_call[live], spot[live], strike[live], t[live], rate, carry_yield, vol[live]
            ).price
        if dead.any():
            s, k = spot[dead], strike[dead]
            out[dead] = np.where(is_call[dead], np.maximum(s - k, 0.0), np.maximum(k - s, 0.0))
    return out


def row_greeks(
    kind: NDArray[np.int8],
    is_call: NDArray[np.bool_],
    strike: F64,
    t: F64,
    size: F64,
    multiplier: F64,
    entry_price: F64,
    spot: F64,
    vol: F64,
    rate: float = 0.0,
    carry_yield: float = 0.0,
) -> RowGreeks:
    """Value and dollar Greeks for 1-D row arrays (all the same length)."""
    n = size * multiplier
    m = n.shape[0]
    unit_delta = np.where(kind == Kind.CASH, 0.0, 1.0)
    value = np.where(kind == Kind.PERP, spot - entry_price, spot) * n
    delta = unit_delta * spot * n
    gamma = np.zeros(m)
    vega = np.zeros(m)
    theta = np.zeros(m)
    vanna = np.zeros(m)
    volga = np.zeros(m)
    opt = kind == Kind.OPTION
    live = opt & (t > EXPIRED_T)
    if live.any():
        idx = np.flatnonzero(live)
        s, nn = spot[idx], n[idx]
        g = bsm(is_call[idx], s, strike[idx], t[idx], rate, carry_yield, vol[idx])
        value[idx] = g.price * nn
        delta[idx] = g.delta * s * nn
        gamma[idx] = g.gamma * s * s / 100.0 * nn
        vega[idx] = g.vega / 100.0 * nn
        theta[idx] = g.theta / 365.0 * nn
        vanna[idx] = g.vanna * s / 100.0 * nn
        volga[idx] = g.volga / 10000.0 * nn
    dead = opt & ~live
    if dead.any():
        idx = np.flatnonzero(dead)
        s, k, c = spot[idx], strike[idx], is_call[idx]
        itm = np.where(c, s > k, s < k)
        value[idx] = np.where(c, np.maximum(s - k, 0.0), np.maximum(k - s, 0.0)) * n[idx]
        delta[idx] = np.where(itm, np.where(c, 1.0, -1.0), 0.0) * s * n[idx]
    notional = np.where(kind == Kind.CASH, 0.0, np.abs(n) * spot)
    return RowGreeks(value, delta, gamma, vega, theta, vanna, volga, notional)
