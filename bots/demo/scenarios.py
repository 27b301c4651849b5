"""The demo's market scripts: pure, seeded lists of acts and steps the orchestrator writes to every oracle.

Why pure data: the same seed must give the same market (and so the same actions and report numbers), and a
reader should see the whole script in one place. Chain time moves by `dt_s` before each step — it is advanced
on the chains, never waited for. The expiry act carries no prices: the orchestrator moves every chain past the
nearest listed expiry and re-pushes the last prices.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from chains.devnet.driver import RISKY, Prices, gbm_path

SCENARIOS = ("crash", "squeeze", "grind")


@dataclass(frozen=True)
class Step:
    prices: Prices  # every asset's price after the step (USDC stays 1)
    vol_mult: Decimal = Decimal(1)  # ATM vols relative to the starting surface
    dt_s: int = 60  # chain seconds advanced before the step is pushed


@dataclass(frozen=True)
class Act:
    name: str
    steps: tuple[Step, ...]
    note: str  # one line for the progress display and the report


def _q(x: Decimal) -> Decimal:
    return x.quantize(Decimal("1e-8"))


def _moved(prices: Mapping[str, Decimal], moves: Mapping[str, Decimal]) -> Prices:
    """`prices` with each risky asset times (1 + its move); assets without a move keep their price."""
    return {a: (_q(p * (1 + moves.get(a, Decimal(0)))) if a in RISKY else p) for a, p in prices.items()}


def _glide(start: Prices, moves: Mapping[str, Decimal], steps: int, vol_from: Decimal, vol_to: Decimal,
           dt_s: int) -> tuple[tuple[Step, ...], Prices]:
    """`steps` geometric steps from `start` to the total `moves`, vols moving linearly; ends exactly there."""
    end = _moved(start, moves)
    out: list[Step] = []
    for i in range(1, steps + 1):
        w = Decimal(i) / Decimal(steps)
        px = end if i == steps else {
            a: (_q(p * (end[a] / p) ** w) if a in RISKY else p) for a, p in start.items()}
        out.append(Step(px, vol_from + (vol_to - vol_from) * w, dt_s))
    return tuple(out), end


def _hold(at: Prices, vol: Decimal, steps: int, dt_s: int) -> tuple[Step, ...]:
    """The market stays where it is while chain time runs (oracles re-pushed fresh each step): Dutch auctions
    need time to reach a price at which liquidating pays."""
    return tuple(Step(dict(at), vol, dt_s) for _ in range(steps))


def build(scenario: str, start: Mapping[str, Decimal], seed: int) -> list[Act]:
    """The acts of `scenario` from the `start` prices. Deterministic for (scenario, start, seed)."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; choose one of {', '.join(SCENARIOS)}")
    start = dict(start)
    calm_path = gbm_path(start, 5, 60.0, seed=seed, jump_prob=0.0)
    calm = Act("calm", tuple(Step(p) for p in calm_path), "calm market: correlated GBM, 1 min steps")
    last = calm_path[-1]
    if scenario == "crash":
        crash, low = _glide(last, {"ETH": Decimal("-0.30"), "BTC": Decimal("-0.22"), "SOL": Decimal("-0.35")},
                            6, Decimal(1), Decimal("1.8"), 40)
        rebound, _ = _glide(low, {"ETH": Decimal("0.08"), "BTC": Decimal("0.06"), "SOL": Decimal("0.10")},
                            3, Decimal("1.8"), Decimal("1.4"), 60)
        acts = [Act("crash", crash, "ETH −30 % in 4 min, vol surface ×1.8"),
                Act("auctions", _hold(low, Decimal("1.8"), 6, 600), "the market stays down for an hour: "
                    "Dutch auctions run"),
                Act("rebound", rebound, "partial rebound (+8 % ETH), vols ease to ×1.4")]
    elif scenario == "squeeze":
        up, high = _glide(last, {"ETH": Decimal("0.35"), "BTC": Decimal("0.20"), "SOL": Decimal("0.40")},
                          6, Decimal(1), Decimal("1.6"), 40)
        fade, _ = _glide(high, {"ETH": Decimal("-0.10"), "BTC": Decimal("-0.06"), "SOL": Decimal("-0.12")},
                         3, Decimal("1.6"), Decimal("1.3"), 60)
        acts = [Act("squeeze", up, "short squeeze: ETH +35 % in 4 min, vols ×1.6"),
                Act("auctions", _hold(high, Decimal("1.6"), 6, 600), "the market stays up for an hour: "
                    "Dutch auctions run"),
                Act("fade", fade, "the squeeze fades (−10 % ETH)")]
    else:
        grind, low = _glide(last, {"ETH": Decimal("-0.25"), "BTC": Decimal("-0.18"), "SOL": Decimal("-0.28")},
                            12, Decimal(1), Decimal("1.4"), 300)
        acts = [Act("grind", grind, "slow grind: ETH −25 % over an hour, vols creep to ×1.4")]
    return [calm, *acts, Act("expiry", (), "time moves past the nearest expiry; settlement")]
