"""Disputer: every claim on CoverMarket is checked against the source chain's liquidation events; a claim whose
evidence is missing, is not a liquidation of the covered account on the covered protocol/chain, or asks for more
than the events show, is disputed before its liveness ends."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType

from bots.config import DisputerParams
from bots.strategies.claims import FiledClaim, LiquidationEvent
from bots.strategies.intents import ActionIntent, Decision, Skip, make_key
from chains.evm.fees import Urgency

BOT = "disputer"


@dataclass(frozen=True, slots=True)
class DisputerState:
    now: datetime
    market_chain: str
    market_protocol: str
    claims: tuple[FiledClaim, ...]
    events: Mapping[str, LiquidationEvent]  # evidence ref → the event actually found on the source chain
    our_address: str = ""


def verify(claim: FiledClaim, events: Mapping[str, LiquidationEvent]) -> tuple[str, ...]:
    """Why the claim is invalid (empty when it checks out)."""
    ev = events.get(claim.evidence_ref)
    if ev is None:
        return (f"evidence {claim.evidence_ref} not found on the source chain",)
    problems = []
    c = claim.cover
    if ev.account.lower() != c.account.lower():
        problems.append(f"liquidated account {ev.account} is not the covered {c.account}")
    if ev.chain != c.chain or ev.protocol != c.protocol:
        problems.append(f"event on {ev.chain}/{ev.protocol}, cover is for {c.chain}/{c.protocol}")
    if claim.loss_usd > ev.loss_usd:
        problems.append(f"claimed ${claim.loss_usd} > loss ${ev.loss_usd} shown by the events")
    if ev.at > c.expiry:
        problems.append("liquidation after cover expiry")
    return tuple(problems)


def decide(state: DisputerState, params: Mapping[str, DisputerParams]) -> Decision:
    p = params.get(state.market_protocol)
    if p is None or not p.enabled:
        return Decision((), (Skip(state.market_protocol, "disputer not enabled for this cover market"),))
    intents: list[ActionIntent] = []
    skipped: list[Skip] = []
    for claim in state.claims:
        if claim.disputed or claim.settled:
            continue
        if state.our_address and claim.claimant.lower() == state.our_address.lower():
            continue
        problems = verify(claim, state.events)
        if not problems:
            skipped.append(Skip(claim.claim_id, "valid: evidence matches a liquidation of the covered account"))
            continue
        left = claim.liveness_end - state.now
        if left <= timedelta(0):
            skipped.append(Skip(claim.claim_id, "invalid but liveness is over: " + "; ".join(problems)))
            continue
        urgent = left < timedelta(seconds=p.dispute_margin_s)
        intents.append(ActionIntent(BOT, "dispute", state.market_chain, state.market_protocol, claim.claim_id,
                                    make_key(BOT, "dispute", claim.claim_id), notional_usd=claim.loss_usd,
                                    urgency=Urgency.URGENT if urgent else Urgency.ROUTINE,
                                    reasons=(*problems, f"liveness ends in {left.total_seconds():.0f}s"),
                                    params=MappingProxyType({"claim_id": claim.claim_id})))
    return Decision(tuple(intents), tuple(skipped))
