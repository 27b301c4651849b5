"""Settlement keeper table: settle our expired vaults and redeem our expired in-the-money longs, once priced."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from bots.config import SettlementParams
from bots.strategies.settlement import ExpiredVault, LongPosition, SettlementState, decide

NOW = datetime(2026, 11, 22, 8, tzinfo=UTC)
EXP = NOW - timedelta(minutes=1)
PRICED = frozenset({f"ethereum:vault_options:{EXP.isoformat()}"})
V = ExpiredVault("ethereum", "vault_options", "0xKeeper", 1, EXP, ours=True)
L = LongPosition("ethereum", "vault_options", "oETH-3000-C", "0xKeeper", Decimal(2), EXP, Decimal("150.5"))
P = {"vault_options": SettlementParams(min_profit_usd=Decimal(1))}


def test_settle_and_redeem_after_expiry_with_price() -> None:
    out = decide(SettlementState(NOW, (V,), (L,), PRICED), P)
    assert [(i.kind, i.target) for i in out.intents] == [("settle_vault", "0xKeeper/1"), ("redeem", "oETH-3000-C")]
    assert out.intents[1].expected_profit_usd == Decimal("150.5")
    assert out.intents[0].key == "settlement:settle:ethereum:vault_options:0xKeeper:1"


def test_nothing_before_expiry_or_price_or_when_done() -> None:
    cases = [
        SettlementState(EXP - timedelta(seconds=1), (V,), (L,), PRICED),
        SettlementState(NOW, (replace(V, settled=True),), (replace(L, redeemed=True),), PRICED),
        SettlementState(NOW, (replace(V, ours=False),), (), PRICED),
    ]
    for state in cases:
        assert decide(state, P).intents == ()
    unpriced = decide(SettlementState(NOW, (V,), (L,)), P)
    assert not unpriced.intents and {s.reason for s in unpriced.skipped} == {"expired but no settlement price yet"}


def test_worthless_or_below_min_longs_are_skipped_with_reason() -> None:
    out = decide(SettlementState(NOW, (), (replace(L, payoff_usd=Decimal(0)),
                                          replace(L, series="s2", payoff_usd=Decimal("0.5"))), PRICED), P)
    assert [s.reason for s in out.skipped] == ["expired worthless: nothing to redeem", "payoff $0.5 < min $1"]
