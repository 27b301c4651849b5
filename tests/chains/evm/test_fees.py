import pytest
from hypothesis import given
from hypothesis import strategies as st

from chains.evm.fees import GWEI, FeeMarket, FeePolicy, FeeQuote, Urgency, noop_floor, quote, replacement

POLICY = FeePolicy(cap_max_fee=200 * GWEI, min_tip=GWEI // 100)
MARKET = FeeMarket(base_fee=10 * GWEI, recent_tips=[1 * GWEI, 2 * GWEI, 3 * GWEI, 4 * GWEI, 10 * GWEI])


def test_routine_quote_uses_median_tip_and_2x_base() -> None:
    q = quote(MARKET, Urgency.ROUTINE, POLICY)
    assert q == FeeQuote(max_fee=20 * GWEI + 3 * GWEI, tip=3 * GWEI)


def test_urgent_quote_outbids_p90() -> None:
    q = quote(MARKET, Urgency.URGENT, POLICY)
    assert q.tip == 15 * GWEI  # p90 of 5 samples = 10 gwei, × 1.5
    assert q.max_fee == 30 * GWEI + 15 * GWEI


def test_empty_history_uses_min_tip_and_waiting_escalates() -> None:
    q0 = quote(FeeMarket(base_fee=GWEI), Urgency.ROUTINE, POLICY)
    assert q0.tip == POLICY.min_tip
    q2 = quote(FeeMarket(base_fee=GWEI), Urgency.ROUTINE, POLICY, elapsed_s=2 * POLICY.escalate_every_s)
    assert q2.tip == 12_656_250  # 10_000_000 wei × 1.125 × 1.125, two 12 s intervals


def test_cap_bounds_the_quote() -> None:
    q = quote(FeeMarket(base_fee=1000 * GWEI), Urgency.URGENT, POLICY)
    assert q.max_fee == POLICY.cap_max_fee and q.tip <= q.max_fee


def test_replacement_bumps_both_fields_at_least_12_5_percent() -> None:
    prev = FeeQuote(max_fee=100, tip=8)
    d = replacement(prev, FeeQuote(max_fee=50, tip=1), FeePolicy(cap_max_fee=10**6))
    assert d.quote == FeeQuote(max_fee=113, tip=9)  # ceil(112.5), ceil(9.0)


def test_replacement_follows_a_higher_fresh_quote() -> None:
    d = replacement(FeeQuote(100, 8), FeeQuote(400, 30), FeePolicy(cap_max_fee=10**6))
    assert d.quote == FeeQuote(400, 30)


def test_budget_refuses_bump_with_reason() -> None:
    d = replacement(FeeQuote(100 * GWEI, GWEI), FeeQuote(1, 1), POLICY, budget_max_fee=110 * GWEI)
    assert d.quote is None and "budget" in d.reason
    d2 = replacement(FeeQuote(190 * GWEI, GWEI), FeeQuote(1, 1), POLICY)
    assert d2.quote is None and "chain cap" in d2.reason


def test_noop_floor_replaces_or_pays_the_cap() -> None:
    assert noop_floor(FeeQuote(100, 8), FeeQuote(1, 1), POLICY) == FeeQuote(113, 9)
    at_cap = noop_floor(FeeQuote(POLICY.cap_max_fee, GWEI), FeeQuote(1, 1), POLICY)
    assert at_cap.max_fee == POLICY.cap_max_fee


def test_invalid_quote_rejected() -> None:
    with pytest.raises(ValueError, match="exceeds max fee"):
        FeeQuote(max_fee=1, tip=2)


@given(st.integers(0, 10**15), st.integers(0, 10**12), st.integers(0, 10**15), st.integers(0, 10**12))
def test_replacement_is_always_a_valid_replacement(pm: int, pt: int, fm: int, ft: int) -> None:
    prev = FeeQuote(max(pm, pt), pt)
    fresh = FeeQuote(max(fm, ft), ft)
    d = replacement(prev, fresh, FeePolicy(cap_max_fee=10**18))
    assert d.quote is not None
    assert d.quote.tip * 1000 >= prev.tip * 1125 and d.quote.max_fee * 1000 >= prev.max_fee * 1125
    assert d.quote.tip >= fresh.tip and d.quote.max_fee >= fresh.max_fee and d.quote.tip <= d.quote.max_fee
