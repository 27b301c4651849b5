"""Delta-hedging decisions under transaction costs: pure functions returning a verdict with reasons.

Conventions (all inputs are floats; nothing here touches a chain):

* ``delta`` is the *net* delta of the hedged book (entity or AMM pool) in units of the underlying,
  i.e. including hedges already on.  Dollar delta is ``delta * spot``; callers holding dollar delta
  pass ``dollar_delta / spot``.
* ``gamma`` is the book's ∂²V/∂S² (units of underlying per dollar), ``spot`` in dollars.
* ``cost`` λ is the proportional round-trip cost of trading one unit of notional on the hedge venue
  (quoted slippage + fee, e.g. 0.0035 for 5 bp slippage + 30 bp fee); ``risk_aversion`` γ is the
  exponential-utility risk aversion (per dollar).
* The target is a delta of zero; the no-trade band is ``[-H, +H]`` around it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Policy = Literal["to_band_edge", "to_zero"]
Action = Literal["hold", "hedge"]


@dataclass(frozen=True)
class HedgeDecision:
    """What to do with the book's delta, and why.

    ``trade_size`` is signed, in underlying units (positive = buy); ``target_delta`` is the book delta
    after the trade (equal to the current delta on hold).
    """

    action: Action
    target_delta: float
    trade_size: float
    band_half_width: float
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class HedgeLimits:
    """Venue/operator limits: trades below ``min_trade_notional`` are not worth the gas, trades above
    ``max_trade_notional`` are cut to that size (the remainder waits for the next decision)."""

    min_trade_notional: float = 0.0
    max_trade_notional: float = math.inf
    min_trade_size: float = 0.0  # in underlying units (venue lot size / dust)

    def __post_init__(self) -> None:
        if not (self.min_trade_notional >= 0.0):
            raise ValueError(f"min_trade_notional must be >= 0, got {self.min_trade_notional}")
        if not (self.min_trade_size >= 0.0):
            raise ValueError(f"min_trade_size must be >= 0, got {self.min_trade_size}")
        if not (self.max_trade_notional > 0.0):
            raise ValueError(f"max_trade_notional must be > 0, got {self.max_trade_notional}")
        if self.max_trade_notional < self.min_trade_notional:
            raise ValueError(
                f"max_trade_notional ({self.max_trade_notional}) is below min_trade_notional "
                f"({self.min_trade_notional})"
            )


def _check_positive(name: str, value: float, allow_zero: bool = False) -> None:
    ok = value >= 0.0 if allow_zero else value > 0.0
    if not (ok and math.isfinite(value)):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be finite and {bound}, got {value!r}")


def venue_cost(mid: float, quoted_price: float, fee_rate: float) -> float:
    """Proportional cost λ of one hedge trade from the venue's quote: slippage |quote − mid| / mid plus
    the fee rate (e.g. 0.003 for a 30 bp Uniswap pool)."""
    _check_positive("mid", mid)
    _check_positive("quoted_price", quoted_price)
    _check_positive("fee_rate", fee_rate, allow_zero=True)
    return abs(quoted_price - mid) / mid + fee_rate


def whalley_wilmott_half_width(
    spot: float, gamma: float, cost: float, risk_aversion: float, rate: float = 0.0, tau: float = 0.0
) -> float:
    """Whalley & Wilmott (1997, *Math. Finance* 7(3)) asymptotic no-trade band half-width in underlying units:

        H = (3/2 · e^{−rτ} · λ · S · Γ² / γ)^{1/3}

    The band grows with cost and gamma: with a flat book (Γ = 0) it collapses to zero, so any delta
    is hedged (subject to the minimum trade size)."""
    _check_positive("spot", spot)
    _check_positive("cost", cost, allow_zero=True)
    _check_positive("risk_aversion", risk_aversion)
    _check_positive("tau", tau, allow_zero=True)
    if not math.isfinite(gamma):
        raise ValueError(f"gamma must be finite, got {gamma!r}")
    return (1.5 * math.exp(-rate * tau) * cost * spot * gamma * gamma / risk_aversion) ** (1.0 / 3.0)


def zakamouline_half_width(
    spot: float, gamma: float, cost: float, risk_aversion: float, vol: float, tau: float, rate: float = 0.0
) -> float:
    """Zakamouline (2006), "European option pricing and hedging with both fixed and proportional
    transaction costs", *J. Economic Dynamics & Control* 30(1): fitted asymptotics of the
    utility-based (Hodges–Neuberger) band, half-width in underlying units

        H = H₀ + H₁,   H₀ = λ / (γ · S · σ² · τ),
        H₁ = 1.12 · λ^0.31 · τ^0.05 · (e^{−rτ}/σ)^0.25 · (|Γ| / γ)^0.5

    The band is centred on the delta computed with the modified volatility of
    :func:`zakamouline_modified_vol`.  H₀ (which does not depend on Γ) keeps the band open near
    expiry and for gamma-flat books, where Whalley–Wilmott would trade every tick."""
    for name, v in (("spot", spot), ("risk_aversion", risk_aversion), ("vol", vol), ("tau", tau)):
        _check_positive(name, v)
    _check_positive("cost", cost, allow_zero=True)
    h0 = cost / (risk_aversion * spot * vol * vol * tau)
    h1 = (
        1.12
        * cost**0.31
        * tau**0.05
        * (math.exp(-rate * tau) / vol) ** 0.25
        * math.sqrt(abs(gamma) / risk_aversion)
    )
    return h0 + h1


def zakamouline_modified_vol(
    spot: float, gamma: float, cost: float, risk_aversion: float, vol: float, tau: float, rate: float = 0.0
) -> float:
    """Zakamouline (2006) modified volatility σ_m for the band centre: σ_m² = σ²·(1 + s·K) with

        K = 4.76 · λ^0.78 / τ^0.02 · (e^{−rτ}/σ)^0.25 · (γ · S² · |Γ|)^0.15

    and s = +1 for a short-gamma book (Γ < 0: the writer hedges as if vol were higher, as in Leland)
    and s = −1 for a long-gamma book.  Floors σ_m² at 1 % of σ² so very large costs cannot make it
    imaginary; the caller reprices the book's delta at σ_m to get the band centre."""
    for name, v in (("spot", spot), ("risk_aversion", risk_aversion), ("vol", vol), ("tau", tau)):
        _check_positive(name, v)
    _check_positive("cost", cost, allow_zero=True)
    k = (
        4.76
        * cost**0.78
        / tau**0.02
        * (math.exp(-rate * tau) / vol) ** 0.25
        * (risk_aversion * spot * spot * abs(gamma)) ** 0.15
    )
    sign = 1.0 if gamma < 0 else -1.0
    return vol * math.sqrt(max(1.0 + sign * k, 0.01))


def decide_hedge(
    delta: float,
    spot: float,
    half_width: float,
    policy: Policy = "to_band_edge",
    limits: HedgeLimits | None = None,
    centre: float = 0.0,
) -> HedgeDecision:
    """Hold inside ``[centre − H, centre + H]``; outside, trade back to the nearest band edge (``to_band_edge``)
    or to the centre (``to_zero``), then apply the minimum-size and maximum-notional limits."""
    lim = limits or HedgeLimits()
    _check_positive("spot", spot)
    _check_positive("half_width", half_width, allow_zero=True)
    if not math.isfinite(delta) or not math.isfinite(centre):
        raise ValueError(f"delta and centre must be finite, got delta={delta!r} centre={centre!r}")
    if policy not in ("to_band_edge", "to_zero"):
        raise ValueError(f"policy must be 'to_band_edge' or 'to_zero', got {policy!r}")
    dev = delta - centre
    band = f"|delta − centre| = {abs(dev):.6g} vs band half-width {half_width:.6g}"
    if abs(dev) <= half_width:
        return HedgeDecision("hold", delta, 0.0, half_width, (f"inside band: {band}",))
    side = 1.0 if dev > 0 else -1.0
    target = centre + side * half_width if policy == "to_band_edge" else centre
    trade = target - delta
    reasons = [f"outside band: {band}", f"policy {policy}: target delta {target:.6g}"]
    notional = abs(trade) * spot
    if notional > lim.max_trade_notional:
        trade = math.copysign(lim.max_trade_notional / spot, trade)
        target = delta + trade
        reasons.append(
            f"capped: notional {notional:.6g} > max {lim.max_trade_notional:.6g}; trading {trade:.6g}"
        )
        notional = lim.max_trade_notional
    if notional < lim.min_trade_notional:
        reasons.append(f"below minimum: trade notional {notional:.6g} < min {lim.min_trade_notional:.6g}")
        return HedgeDecision("hold", delta, 0.0, half_width, tuple(reasons))
    if abs(trade) < lim.min_trade_size:
        reasons.append(f"below minimum: trade size {abs(trade):.6g} < min {lim.min_trade_size:.6g}")
        return HedgeDecision("hold", delta, 0.0, half_width, tuple(reasons))
    return HedgeDecision("hedge", target, trade, half_width, tuple(reasons))


def decide_dollar_delta_hedge(
    dollar_delta: float,
    spot: float,
    gamma: float,
    cost: float,
    risk_aversion: float,
    *,
    band: Literal["whalley_wilmott", "zakamouline"] = "whalley_wilmott",
    vol: float | None = None,
    tau: float | None = None,
    rate: float = 0.0,
    policy: Policy = "to_band_edge",
    limits: HedgeLimits | None = None,
) -> HedgeDecision:
    """Convenience wrapper for the book's per-entity/pool dollar delta: converts to units, picks the band,
    decides.  Zakamouline needs ``vol`` and ``tau`` (the book's dominant expiry)."""
    _check_positive("spot", spot)
    delta = dollar_delta / spot
    if band == "whalley_wilmott":
        h = whalley_wilmott_half_width(spot, gamma, cost, risk_aversion, rate, tau or 0.0)
    elif band == "zakamouline":
        if vol is None or tau is None:
            raise ValueError("zakamouline band needs vol and tau")
        h = zakamouline_half_width(spot, gamma, cost, risk_aversion, vol, tau, rate)
    else:
        raise ValueError(f"band must be 'whalley_wilmott' or 'zakamouline', got {band!r}")
    d = decide_hedge(delta, spot, h, policy, limits)
    return HedgeDecision(
        d.action, d.target_delta, d.trade_size, d.band_half_width, (f"band {band}",) + d.reasons
    )
