"""The typed intent every strategy returns and the engine journals, guards and executes.

Why a separate type from the journal row: strategies are pure and must not depend on the database; the engine
turns an `ActionIntent` into a journal intent (same idempotency key) and, unless `dry_run`, a lane request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from chains.evm.fees import Urgency


@dataclass(frozen=True, slots=True)
class ActionIntent:
    bot: str
    kind: str  # e.g. mint_and_liquidate, start_auction, bid, hedge, rebalance, submit_claim, dispute, settle
    chain: str
    protocol: str
    target: str  # account / vault / pool / claim id the action is about
    key: str  # idempotency key: the same decision always yields the same key
    expected_profit_usd: Decimal = Decimal(0)
    notional_usd: Decimal = Decimal(0)
    gas_cost_native: Decimal = Decimal(0)  # estimated fee in the chain's native unit (ETH/SOL)
    urgency: Urgency = Urgency.ROUTINE
    reasons: tuple[str, ...] = ()
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        if not self.key or len(self.key) > 300:
            raise ValueError(f"intent key must be 1..300 characters, got {len(self.key)} for {self.kind}")
        if self.notional_usd < 0 or self.gas_cost_native < 0:
            raise ValueError(f"{self.key}: notional and gas cost must be >= 0")


def make_key(*parts: object) -> str:
    """Idempotency key from the decision's identity (never from a timestamp or a tx hash)."""
    return ":".join(str(p) for p in parts)


@dataclass(frozen=True, slots=True)
class Skip:
    """A target the strategy looked at and deliberately did not act on, with why (for logs and tests)."""

    target: str
    reason: str


@dataclass(frozen=True, slots=True)
class Decision:
    """A strategy's full answer for one tick: what to do and what was skipped."""

    intents: tuple[ActionIntent, ...] = ()
    skipped: tuple[Skip, ...] = ()
