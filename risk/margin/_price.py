"""Black-76 price only, via risk.pricing, with the zero-variance limit handled.

The margin code needs prices, not Greeks; keeping the call in one place lets a faster price-only kernel
from risk.pricing replace it without touching the margin formulas.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from risk.pricing import black76

from ._arrays import F64


def black76_price(
    is_call: ArrayLike, forward: ArrayLike, strike: ArrayLike, t: ArrayLike, rate: ArrayLike, vol: ArrayLike
) -> F64:
    """Discounted Black-76 price; where vol·sqrt(t) == 0 it is the discounted intrinsic value."""
    c, f, k, tt, r, v = np.broadcast_arrays(
        np.asarray(is_call, dtype=bool),
        np.asarray(forward, dtype=np.float64),
        np.asarray(strike, dtype=np.float64),
        np.asarray(t, dtype=np.float64),
        np.asarray(rate, dtype=np.float64),
        np.asarray(vol, dtype=np.float64),
    )
    degenerate = (v * np.sqrt(np.maximum(tt, 0.0))) <= 0.0
    if not degenerate.any():
        return black76(c, f, k, tt, r, v).price
    with np.errstate(divide="ignore", invalid="ignore"):
        live = black76(c, f, k, np.where(degenerate, 1.0, tt), r, np.where(degenerate, 0.2, v)).price
    intrinsic = np.exp(-r * np.maximum(tt, 0.0)) * np.where(c, np.maximum(f - k, 0.0), np.maximum(k - f, 0.0))
    return np.where(degenerate, intrinsic, live)
