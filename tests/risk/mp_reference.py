"""High-precision (mpmath) reference pricing shared by the pricing and vector tests."""

from __future__ import annotations

from typing import Any

import mpmath as mp


def mp_value(call: bool, s: Any, k: Any, t: Any, r: Any, q: Any, v: Any) -> Any:
    """Generalised BSM price in mpmath (Black-76 is s = forward, q = r with the forward fixed)."""
    sq = v * mp.sqrt(t)
    d1 = (mp.log(s / k) + (r - q + v * v / 2) * t) / sq
    d2 = d1 - sq
    if call:
        return s * mp.exp(-q * t) * mp.ncdf(d1) - k * mp.exp(-r * t) * mp.ncdf(d2)
    return k * mp.exp(-r * t) * mp.ncdf(-d2) - s * mp.exp(-q * t) * mp.ncdf(-d1)


# Each Greek as (sign, derivative orders over (s, k, t, r, q, v)) of the price.
ORDERS: dict[str, tuple[int, tuple[int, int, int, int, int, int]]] = {
    "price": (1, (0, 0, 0, 0, 0, 0)),
    "delta": (1, (1, 0, 0, 0, 0, 0)),
    "gamma": (1, (2, 0, 0, 0, 0, 0)),
    "vega": (1, (0, 0, 0, 0, 0, 1)),
    "theta": (-1, (0, 0, 1, 0, 0, 0)),
    "rho": (1, (0, 0, 0, 1, 0, 0)),
    "vanna": (1, (1, 0, 0, 0, 0, 1)),
    "volga": (1, (0, 0, 0, 0, 0, 2)),
    "charm": (-1, (1, 0, 1, 0, 0, 0)),
}
