"""Claimer and disputer tables: claims are filed with evidence before expiry; false claims are disputed."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from bots.config import ClaimerParams, DisputerParams
from bots.strategies import claimer, disputer
from bots.strategies.claims import Cover, FiledClaim, LiquidationEvent
from chains.evm.fees import Urgency

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
D = Decimal
COVER = Cover("cov-1", "fund", "0xFund", "arbitrum", "portfolio_margin", D(5000), NOW + timedelta(days=3))
EV = LiquidationEvent("arbitrum", "portfolio_margin", "0xfund", "0xtx1", 4, 1200, D("1234.5"),
                      NOW - timedelta(minutes=5))
OTHER = replace(EV, account="0xStranger", tx_hash="0xtx2")
CPARAMS = {"cover_market": ClaimerParams(claim_margin_s=3600)}
DPARAMS = {"cover_market": DisputerParams(dispute_margin_s=120)}


def cstate(**kw: object) -> claimer.ClaimerState:
    base: dict[str, object] = dict(now=NOW, market_chain="base", market_protocol="cover_market", covers=(COVER,),
                                   liquidations=(EV, OTHER))
    base.update(kw)
    return claimer.ClaimerState(**base)  # type: ignore[arg-type]


def test_claim_filed_on_base_with_evidence_for_covered_account_only() -> None:
    out = claimer.decide(cstate(), CPARAMS)
    assert len(out.intents) == 1
    i = out.intents[0]
    assert (i.kind, i.chain, i.protocol, i.target) == ("submit_claim", "base", "cover_market", "cov-1")
    assert i.params["evidence"] == "arbitrum:0xtx1:4" and i.params["loss_usd"] == "1234.5"
    assert i.urgency is Urgency.ROUTINE and i.key == "claimer:claim:cov-1:arbitrum:0xtx1:4"


@pytest.mark.parametrize(
    ("kw", "reason"),
    [
        ({"claimed_refs": frozenset({"arbitrum:0xtx1:4"})}, "already claimed"),
        ({"now": NOW + timedelta(days=4)}, "expired"),
        ({"liquidations": (replace(EV, loss_usd=D(0)),)}, "no loss"),
    ],
)
def test_claimer_skip_table(kw: dict[str, object], reason: str) -> None:
    out = claimer.decide(cstate(**kw), CPARAMS)
    assert not out.intents and reason in out.skipped[0].reason


def test_loss_capped_at_limit_and_urgent_near_expiry() -> None:
    out = claimer.decide(cstate(liquidations=(replace(EV, loss_usd=D(9000)),),
                                now=COVER.expiry - timedelta(minutes=10)), CPARAMS)
    assert out.intents[0].params["loss_usd"] == "5000" and out.intents[0].urgency is Urgency.URGENT


def test_claimer_settles_undisputed_after_liveness() -> None:
    ours = FiledClaim("c7", COVER, "0xKeeper", EV.ref, D(100), NOW - timedelta(seconds=1))
    out = claimer.decide(cstate(liquidations=(), our_claims=(ours, replace(ours, claim_id="c8", disputed=True),
                                                            replace(ours, claim_id="c9",
                                                                    liveness_end=NOW + timedelta(hours=1)))),
                         CPARAMS)
    assert [(i.kind, i.target) for i in out.intents] == [("settle_claim", "c7")]
    assert out.skipped[0].reason.startswith("disputed")


GOOD = FiledClaim("c1", COVER, "0xAlice", EV.ref, D("1234.5"), NOW + timedelta(hours=2))
EVENTS = {EV.ref: EV, OTHER.ref: OTHER, "base:0xtx3:0": replace(EV, chain="base", tx_hash="0xtx3", log_index=0)}


@pytest.mark.parametrize(
    ("claim", "problem"),
    [
        (GOOD, None),
        (replace(GOOD, evidence_ref="arbitrum:0xdead:0"), "not found"),
        (replace(GOOD, evidence_ref=OTHER.ref), "is not the covered"),
        (replace(GOOD, evidence_ref="base:0xtx3:0"), "cover is for arbitrum/portfolio_margin"),
        (replace(GOOD, loss_usd=D("1234.51")), "claimed $1234.51 > loss $1234.5"),
    ],
)
def test_disputer_verification_table(claim: FiledClaim, problem: str | None) -> None:
    state = disputer.DisputerState(NOW, "base", "cover_market", (claim,), EVENTS, our_address="0xKeeper")
    out = disputer.decide(state, DPARAMS)
    if problem is None:
        assert not out.intents and out.skipped[0].reason.startswith("valid")
    else:
        assert len(out.intents) == 1 and out.intents[0].kind == "dispute"
        assert any(problem in r for r in out.intents[0].reasons), out.intents[0].reasons
        assert out.intents[0].key == "disputer:dispute:c1"


def test_disputer_respects_liveness_and_ignores_own_and_done() -> None:
    bad = replace(GOOD, evidence_ref="arbitrum:0xdead:0")
    claims = (replace(bad, liveness_end=NOW - timedelta(seconds=1)), replace(bad, claim_id="own", claimant="0xkeeper"),
              replace(bad, claim_id="d", disputed=True), replace(bad, claim_id="soon",
                                                                  liveness_end=NOW + timedelta(seconds=60)))
    out = disputer.decide(disputer.DisputerState(NOW, "base", "cover_market", claims, EVENTS, "0xKeeper"), DPARAMS)
    assert [i.target for i in out.intents] == ["soon"] and out.intents[0].urgency is Urgency.URGENT
    assert "liveness is over" in out.skipped[0].reason
