"""Hedger decisions: band from the cheapest venue's cost, cross-chain venue choice, pools stay on their chain."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from bots.config import HedgerParams
from bots.strategies.hedger import HedgerState, HedgeTarget, VenueQuote, decide, decide_target
from bots.strategies.intents import ActionIntent, Skip

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
BASE_Q = VenueQuote("uniswap_base", "base", "ETH", 3000.0, 3003.0, 2997.0, 0.0005, Decimal("0.05"))
ARB_Q = VenueQuote("uniswap_arb", "arbitrum", "ETH", 3000.0, 3006.0, 2994.0, 0.003, Decimal("0.02"))
QUOTES = (BASE_Q, ARB_Q)
KEEPER = HedgeTarget("keeper", "entity", "keeper", "", "ETH", delta=10.0, gamma=0.01, spot=3000.0, version="b7")
P = HedgerParams(risk_aversion=0.001, max_slippage_bps=30)


def _ww(cost: float, gamma: float = 0.01, spot: float = 3000.0, ra: float = 0.001) -> float:
    return float((1.5 * cost * spot * gamma**2 / ra) ** (1 / 3))


def test_entity_hedged_cross_chain_on_cheapest_venue_to_band_edge() -> None:
    out = decide_target(KEEPER, QUOTES, P)
    assert isinstance(out, ActionIntent) and out.kind == "hedge"
    assert out.chain == "base" and out.params["venue"] == "uniswap_base"  # λ 0.0015 < 0.005 on arbitrum
    h = _ww(0.001 + 0.0005)
    assert out.params["target_delta"] == pytest.approx(h)
    assert out.params["size"] == pytest.approx(h - 10.0)  # sell down to the band edge
    assert out.params["limit_price"] == pytest.approx(3000 * (1 - 0.003))
    assert out.key == "hedger:hedge:keeper:uniswap_base:b7"


def test_pool_rebalances_on_its_own_chain() -> None:
    pool = replace(KEEPER, name="pool-eth", kind="pool", protocol="option_amm", chain="arbitrum", delta=-8.0)
    out = decide_target(pool, QUOTES, HedgerParams(max_slippage_bps=30))
    assert isinstance(out, ActionIntent) and out.kind == "rebalance" and out.chain == "arbitrum"
    assert out.protocol == "option_amm" and out.params["size"] > 0  # short delta → buy


@pytest.mark.parametrize(
    ("target", "params", "reason"),
    [
        (replace(KEEPER, delta=0.5), P, "inside band"),
        (KEEPER, HedgerParams(max_slippage_bps=5, venues=["uniswap_base"]), "slippage 10.0 bps"),
        (KEEPER, HedgerParams(venues=["sushi"]), "no quote for ETH"),
        (replace(KEEPER, asset="BTC"), P, "no quote for BTC"),
        (replace(KEEPER, delta=1.0), HedgerParams(min_trade_usd=Decimal(1000)), "below minimum"),
    ],
)
def test_hold_table(target: HedgeTarget, params: HedgerParams, reason: str) -> None:
    out = decide_target(target, QUOTES, params)
    assert isinstance(out, Skip) and reason in out.reason, out


def test_max_trade_caps_notional() -> None:
    out = decide_target(KEEPER, QUOTES, HedgerParams(max_trade_usd=Decimal(3000)))
    assert isinstance(out, ActionIntent)
    assert out.params["size"] == pytest.approx(-1.0) and out.notional_usd == Decimal("3000.00")


def test_decide_needs_a_section_per_target() -> None:
    out = decide(HedgerState(NOW, (KEEPER, replace(KEEPER, name="pool", kind="pool", protocol="option_amm",
                                                         chain="base")), QUOTES), {"keeper": P})
    assert [i.target for i in out.intents] == ["keeper"]
    assert "no enabled [bots.hedger.protocols.option_amm]" in out.skipped[0].reason


def test_bad_target_is_skipped_and_others_still_decided() -> None:
    out = decide(HedgerState(NOW, (replace(KEEPER, name="broken", spot=0.0), KEEPER), QUOTES), {"keeper": P})
    assert [i.target for i in out.intents] == ["keeper"]
    assert out.skipped[0].target == "broken" and out.skipped[0].reason.startswith("invalid input: ValueError: spot")


def test_long_delta_sells_only_what_is_held_and_never_shorts() -> None:
    # nothing held anywhere: hold, with the reason (the AMM reverts NothingToSell otherwise)
    none = decide_target(replace(KEEPER, sellable=(("base", 0.0), ("arbitrum", 0.0))), QUOTES, P)
    assert isinstance(none, Skip) and "does not short" in none.reason
    # held only on arbitrum: the sell goes there even though base is cheaper, capped at the holding
    only_arb = decide_target(replace(KEEPER, sellable=(("arbitrum", 2.5),)), QUOTES, P)
    assert isinstance(only_arb, ActionIntent) and only_arb.chain == "arbitrum"
    assert only_arb.params["size"] > -2.5 and only_arb.params["size"] == pytest.approx(-2.5)  # never above it
    assert only_arb.params["target_delta"] == pytest.approx(7.5)
    assert any("capped at the 2.5" in r for r in only_arb.reasons)
    # plenty held: the uncapped decision is unchanged
    plenty = decide_target(replace(KEEPER, sellable=(("base", 100.0),)), QUOTES, P)
    free = decide_target(KEEPER, QUOTES, P)
    assert isinstance(plenty, ActionIntent) and isinstance(free, ActionIntent)
    assert plenty.params["size"] == free.params["size"] and plenty.chain == free.chain
    # a short-delta target buys regardless of holdings
    short = decide_target(replace(KEEPER, delta=-10.0, sellable=(("base", 0.0),)), QUOTES, P)
    assert isinstance(short, ActionIntent) and short.params["size"] > 0


@pytest.mark.parametrize("bal_wei", [5_916_232_517_930_200_920, 1, 10**18 + 7, 123_456_789_012_345_678_901, 3 * 10**17 - 1])
def test_a_capped_sell_never_asks_for_more_wei_than_held(bal_wei: int) -> None:
    from bots.sources.hedger import to_wei

    held = bal_wei / 10**18  # how the source reports it (float)
    t = replace(KEEPER, delta=held * 50 + 100, sellable=(("base", held),))
    out = decide_target(t, QUOTES, HedgerParams(max_slippage_bps=30))
    if isinstance(out, ActionIntent):
        assert to_wei(out.params["size"]) <= bal_wei
    else:
        assert "min_trade_usd" in out.reason or "held" in out.reason
