"""Claimer: a covered entity was liquidated on some chain → file `submitClaim` with the evidence before the cover
expires; settle our undisputed claims once their liveness has passed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType

from bots.config import ClaimerParams
from bots.strategies.claims import Cover, FiledClaim, LiquidationEvent
from bots.strategies.intents import ActionIntent, Decision, Skip, make_key
from chains.evm.fees import Urgency

BOT = "claimer"


@dataclass(frozen=True, slots=True)
class ClaimerState:
    now: datetime
    market_chain: str  # where CoverMarket lives (base)
    market_protocol: str  # config name of the CoverMarket protocol
    covers: tuple[Cover, ...]
    liquidations: tuple[LiquidationEvent, ...]
    claimed_refs: frozenset[str] = frozenset()  # evidence refs already claimed (store / chain)
    our_claims: tuple[FiledClaim, ...] = ()


def _matching_cover(ev: LiquidationEvent, covers: tuple[Cover, ...]) -> Cover | None:
    for c in covers:
        if (c.account.lower(), c.chain, c.protocol) == (ev.account.lower(), ev.chain, ev.protocol):
            return c
    return None


def decide(state: ClaimerState, params: Mapping[str, ClaimerParams]) -> Decision:
    p = params.get(state.market_protocol)
    if p is None or not p.enabled:
        return Decision((), (Skip(state.market_protocol, "claimer not enabled for this cover market"),))
    intents: list[ActionIntent] = []
    skipped: list[Skip] = []
    for ev in state.liquidations:
        cover = _matching_cover(ev, state.covers)
        if cover is None:
            continue  # not a covered account: nothing to say
        if ev.ref in state.claimed_refs:
            skipped.append(Skip(ev.ref, "already claimed"))
            continue
        if state.now >= cover.expiry:
            skipped.append(Skip(ev.ref, f"cover {cover.cover_id} expired at {cover.expiry.isoformat()}"))
            continue
        if ev.at > cover.expiry:
            skipped.append(Skip(ev.ref, "liquidation happened after the cover expired"))
            continue
        loss = min(ev.loss_usd, cover.limit_usd)
        if loss <= 0:
            skipped.append(Skip(ev.ref, "no loss to claim"))
            continue
        left = cover.expiry - state.now
        urgent = left < timedelta(seconds=p.claim_margin_s)
        reasons = (f"{cover.entity}'s account {ev.account} liquidated on {ev.chain}/{ev.protocol} "
                   f"(tx {ev.tx_hash}, log {ev.log_index})", f"loss ${ev.loss_usd}, claiming ${loss} "
                   f"(limit ${cover.limit_usd})", f"cover expires in {left.total_seconds():.0f}s")
        intents.append(ActionIntent(BOT, "submit_claim", state.market_chain, state.market_protocol, cover.cover_id,
                                    make_key(BOT, "claim", cover.cover_id, ev.ref), loss, loss, urgency=(
                                        Urgency.URGENT if urgent else Urgency.ROUTINE), reasons=reasons,
                                    params=MappingProxyType({"cover_id": cover.cover_id, "evidence": ev.ref,
                                                             "loss_usd": str(loss), "block": ev.block})))
    for claim in state.our_claims:
        if claim.settled:
            continue
        if claim.disputed:
            skipped.append(Skip(claim.claim_id, "disputed: awaiting resolution"))
        elif state.now >= claim.liveness_end:
            intents.append(ActionIntent(BOT, "settle_claim", state.market_chain, state.market_protocol,
                                        claim.claim_id, make_key(BOT, "settle", claim.claim_id), claim.loss_usd,
                                        reasons=(f"liveness ended {claim.liveness_end.isoformat()}, undisputed",),
                                        params=MappingProxyType({"claim_id": claim.claim_id})))
    return Decision(tuple(intents), tuple(skipped))
