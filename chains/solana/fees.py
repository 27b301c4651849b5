"""Solana priority-fee policy: compute-unit price from recent prioritization fees, urgency and re-sign count.

Pure like the EVM fee policy. A re-signed transaction (its blockhash expired without landing) pays more, because
not landing usually means it was outbid for the leader's block space; the total is capped by the action's budget.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chains.evm.fees import Urgency

MICRO_LAMPORTS_PER_LAMPORT = 1_000_000


@dataclass(frozen=True, slots=True)
class PriorityFeePolicy:
    floor_micro_lamports: int = 1_000
    cap_micro_lamports: int = 5_000_000
    routine_percentile: int = 50
    urgent_percentile: int = 90
    resign_multiplier_pct: int = 150


@dataclass(frozen=True, slots=True)
class PriorityFee:
    compute_unit_limit: int
    micro_lamports_per_cu: int

    @property
    def priority_lamports(self) -> int:
        """What the priority fee costs at most (on top of the 5000-lamport signature fee)."""
        return -(-self.compute_unit_limit * self.micro_lamports_per_cu // MICRO_LAMPORTS_PER_LAMPORT)


def _percentile(values: Sequence[int], pct: int) -> int:
    if not values:
        return 0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, (pct * len(ordered) + 99) // 100 - 1))]


def priority_fee(recent: Sequence[int], urgency: Urgency, compute_unit_limit: int, resigns: int,
                 policy: PriorityFeePolicy, budget_lamports: int | None = None) -> PriorityFee:
    """CU price for attempt number `resigns` (0 = first signature) given recent per-slot fees (µlamports/CU)."""
    if compute_unit_limit <= 0:
        raise ValueError(f"compute unit limit must be > 0, got {compute_unit_limit}")
    pct = policy.urgent_percentile if urgency is Urgency.URGENT else policy.routine_percentile
    price = max(_percentile(recent, pct), policy.floor_micro_lamports)
    for _ in range(max(resigns, 0)):
        price = price * policy.resign_multiplier_pct // 100
    price = min(price, policy.cap_micro_lamports)
    if budget_lamports is not None:
        affordable = budget_lamports * MICRO_LAMPORTS_PER_LAMPORT // compute_unit_limit
        price = min(price, affordable)
    return PriorityFee(compute_unit_limit, max(price, 0))
