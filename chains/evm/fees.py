"""EIP-1559 fee policy: pure functions of the chain's fee market, the action's urgency and elapsed time.

Shaped after the practice of pymaker's gas strategies and OpenZeppelin Relayer's speeds: a fresh quote comes from
the base fee (with headroom for base-fee rises while the tx waits) and a percentile of recent priority fees;
a replacement on the same nonce raises *both* fields by at least 12.5 % (the geth/reth replacement rule) and to at
least the fresh quote; nothing ever exceeds the chain's cap or the action's budget.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

GWEI = 10**9
MIN_BUMP_NUMERATOR = 1125  # 12.5 % replacement rule, in per-mille
MIN_BUMP_DENOMINATOR = 1000


class Urgency(StrEnum):
    """How much an action is worth paying for inclusion now. Liquidations race; hedges can wait a block."""

    ROUTINE = "routine"
    URGENT = "urgent"


@dataclass(frozen=True, slots=True)
class FeeMarket:
    """The chain's fee market as the lane saw it: latest base fee and recent per-block tip percentiles."""

    base_fee: int  # wei, of the latest block
    recent_tips: Sequence[int] = ()  # wei, e.g. eth_feeHistory reward percentiles of recent blocks


@dataclass(frozen=True, slots=True)
class FeePolicy:
    """Per-chain knobs. `cap_max_fee` bounds every quote; `min_tip` avoids zero-tip txs nobody includes."""

    cap_max_fee: int = 500 * GWEI
    min_tip: int = GWEI // 100
    routine_base_multiplier: int = 2  # max fee covers this many base-fee doublings... (x2 ≈ 6 full blocks)
    urgent_base_multiplier: int = 3
    routine_tip_percentile: int = 50
    urgent_tip_percentile: int = 90
    urgent_tip_multiplier_pct: int = 150  # urgent tips outbid the percentile by this factor
    escalate_every_s: float = 12.0  # a waiting tx's quote grows 12.5 % per interval
    max_escalations: int = 10


@dataclass(frozen=True, slots=True)
class FeeQuote:
    max_fee: int
    tip: int

    def __post_init__(self) -> None:
        if self.tip < 0 or self.max_fee < 0:
            raise ValueError("fees must be non-negative")
        if self.tip > self.max_fee:
            raise ValueError(f"tip {self.tip} exceeds max fee {self.max_fee}")


@dataclass(frozen=True, slots=True)
class BumpDecision:
    """A replacement quote, or why there is none (the lane then keeps waiting or abandons)."""

    quote: FeeQuote | None
    reason: str


def _percentile(values: Sequence[int], pct: int) -> int:
    if not values:
        return 0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, (pct * len(ordered) + 99) // 100 - 1))
    return ordered[index]


def _bumped(value: int) -> int:
    """Smallest integer >= value × 1.125 (rounded up, so the node's check can never fail by one wei)."""
    return -(-value * MIN_BUMP_NUMERATOR // MIN_BUMP_DENOMINATOR)


def quote(market: FeeMarket, urgency: Urgency, policy: FeePolicy, elapsed_s: float = 0.0) -> FeeQuote:
    """Fresh fee quote for an action that has been waiting `elapsed_s` seconds (0 for a first send)."""
    if market.base_fee < 0:
        raise ValueError(f"base fee must be >= 0, got {market.base_fee}")
    urgent = urgency is Urgency.URGENT
    pct = policy.urgent_tip_percentile if urgent else policy.routine_tip_percentile
    tip = max(_percentile(market.recent_tips, pct), policy.min_tip)
    if urgent:
        tip = tip * policy.urgent_tip_multiplier_pct // 100
    steps = min(int(max(elapsed_s, 0.0) // policy.escalate_every_s), policy.max_escalations)
    for _ in range(steps):
        tip = _bumped(tip)
    multiplier = policy.urgent_base_multiplier if urgent else policy.routine_base_multiplier
    max_fee = market.base_fee * multiplier + tip
    max_fee = min(max_fee, policy.cap_max_fee)
    return FeeQuote(max_fee=max_fee, tip=min(tip, max_fee))


def replacement(
    previous: FeeQuote, fresh: FeeQuote, policy: FeePolicy, budget_max_fee: int | None = None
) -> BumpDecision:
    """Fees for re-sending on the same nonce: both fields ≥ previous × 1.125 and ≥ the fresh quote.

    Refuses (quote None) when the required fees would exceed the chain cap or the action's budget: an
    underpriced replacement is rejected by the node anyway, so sending it only wastes a round trip.
    """
    tip = max(_bumped(previous.tip), fresh.tip)
    max_fee = max(_bumped(previous.max_fee), fresh.max_fee, tip)
    ceiling = policy.cap_max_fee if budget_max_fee is None else min(policy.cap_max_fee, budget_max_fee)
    if max_fee > ceiling:
        which = "budget" if budget_max_fee is not None and budget_max_fee < policy.cap_max_fee else "chain cap"
        return BumpDecision(None, f"bump to max_fee {max_fee} exceeds the {which} {ceiling}")
    return BumpDecision(FeeQuote(max_fee=max_fee, tip=tip), "bumped ≥12.5 % on both fields and ≥ fresh quote")


def noop_floor(previous: FeeQuote, fresh: FeeQuote, policy: FeePolicy) -> FeeQuote:
    """Fees for the NOOP (0-value self-transfer) that frees an abandoned nonce: must still replace it."""
    decision = replacement(previous, fresh, policy)
    if decision.quote is not None:
        return decision.quote
    # Even at the cap the nonce must be freed; the cap is the most we will ever pay.
    tip = min(_bumped(previous.tip), policy.cap_max_fee)
    return FeeQuote(max_fee=policy.cap_max_fee, tip=tip)
