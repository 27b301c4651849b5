"""VaultOptions naked-margin mirror: hand-computed table, auction price, properties, input errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from risk.margin import (
    MarginInputError,
    UpperBoundTable,
    VaultBook,
    VaultReason,
    first_unsafe_round,
    vault_auction_price,
    vault_margin,
)

DAY = 86400.0


def _book(collateral, vault, is_call, strike, amount, tau_days, spot):
    return VaultBook.build(
        collateral=collateral,
        vault=np.asarray(vault),
        is_call=is_call,
        strike=strike,
        amount=amount,
        tau_seconds=np.asarray(tau_days, dtype=float) * DAY,
        spot=spot,
    )


def test_requirement_table() -> None:
    book = _book(
        collateral=[569.375, 300.0, 3000.0, 1534.0, 1e6, 1000.0, 0.0],
        vault=[0, 1, 2, 3, 4, 5, 5, 6],
        is_call=[False, True, False, True, False, False, True, True],
        strike=[2000.0, 3000.0, 3000.0, 4000.0, 2000.0, 2000.0, 3000.0, 2000.0],
        amount=[1.0, 1.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0],
        tau_days=[10, 3, 7, 56, 57, 10, 3, 0],
        spot=2500.0,
    )
    m = vault_margin(book)
    expected = [
        # put K=2000, s·S = 0.75·2500 = 1875, τ=10d → UB(14d)=0.2370: 0.2370·1875 + 125 = 569.375
        569.375,
        # call K=3000, S/s = 3333.33…, τ=3d → UB(7d)=0.1678: 0.1678·3000 + 333.33… = 836.7333…
        0.1678 * 3000 + 2500 / 0.75 - 3000,
        # 2 puts K=3000, τ=7d exactly → UB(7d): 2·(0.1678·1875 + 1125) = 2·1439.625 = 2879.25
        2879.25,
        # call K=4000, τ=56d → UB 0.4603: 0.4603·min(4000, 3333.33…) + 0 = 1534.3333…
        0.4603 * 2500 / 0.75,
        # τ=57d is beyond the table → NaN
        np.nan,
        # vault 5 holds both rows 0 and 1: 569.375 + 836.7333…
        569.375 + 0.1678 * 3000 + 2500 / 0.75 - 3000,
        # τ = 0: expired, the contract reverts (settle instead) → NaN
        np.nan,
    ]
    np.testing.assert_allclose(m.requirement, expected, rtol=1e-12)
    assert m.reasons.tolist() == [0, 0, 0, 0, int(VaultReason.TAU_BEYOND_TABLE), 0, int(VaultReason.EXPIRED)]
    # collateral == requirement is still safe (strict <); 1534 < 1534.33 is liquidatable
    assert m.liquidatable.tolist() == [False, True, False, True, False, True, False]
    np.testing.assert_allclose(m.headroom[0], 0.0, atol=1e-9)


def test_custom_upper_bound_table_and_expired_rows() -> None:
    table = UpperBoundTable(tau_seconds=(DAY, 10 * DAY), values=(0.1, 0.5))
    ub, beyond = table.lookup(np.array([-5.0, 0.0, DAY, DAY + 1, 10 * DAY, 10 * DAY + 1]))
    np.testing.assert_array_equal(ub[:5], [0.1, 0.1, 0.1, 0.5, 0.5])
    assert beyond.tolist() == [False] * 5 + [True]
    with pytest.raises(MarginInputError, match="strictly increasing"):
        UpperBoundTable(tau_seconds=(2 * DAY, DAY), values=(0.1, 0.2))


def test_auction_price_rises_linearly_from_cash_value_minus_deviation() -> None:
    # put K=2000 at round price 1800: cash value 200, start = 200 − 0.05·1800 = 110; end = 600/1 = 600
    t = np.array([0.0, 1800.0, 3600.0, 7200.0, -1.0])
    p = vault_auction_price(t, 1800.0, 2000.0, False, 600.0, 1.0)
    np.testing.assert_allclose(p[:4], [110.0, 355.0, 600.0, 600.0], rtol=1e-12)
    assert np.isnan(p[4])
    # call K=2000 at 2050: cash value 50 − 102.5 < 0 → start floored at 0; end 900/3 = 300; half-way 150
    assert float(vault_auction_price(1800.0, 2050.0, 2000.0, True, 900.0, 3.0)) == pytest.approx(150.0)
    # start above end (deep ITM put, little collateral): start = 1000 − 50 = 950 > end 600 → end at once
    np.testing.assert_allclose(
        vault_auction_price([0.0, 1800.0], 1000.0, 2000.0, False, 600.0, 1.0), [600.0, 600.0]
    )


@settings(max_examples=50, deadline=None)
@given(
    is_call=st.booleans(),
    strike=st.floats(100.0, 10_000.0),
    spot=st.floats(100.0, 10_000.0),
    amount=st.floats(0.01, 100.0),
    tau_days=st.floats(0.01, 56.0),
    collateral=st.floats(0.0, 1e6),
    extra=st.floats(0.0, 1e6),
    bump=st.floats(1.0001, 2.0),
)
def test_properties(is_call, strike, spot, amount, tau_days, collateral, extra, bump) -> None:
    def run(coll: float, s: float):
        return vault_margin(_book([coll], [0], [is_call], [strike], [amount], [tau_days], [s]))

    base = run(collateral, spot)
    # more collateral never lowers headroom
    assert run(collateral + extra, spot).headroom[0] >= base.headroom[0]
    # a single short put needs more as spot falls, a short call more as spot rises
    up = run(collateral, spot * bump).requirement[0]
    if is_call:
        assert up >= base.requirement[0] * (1 - 1e-12)
    else:
        assert up <= base.requirement[0] * (1 + 1e-12)
    # linear in the number of options
    double = vault_margin(
        _book([0.0], [0], [is_call], [strike], [2 * amount], [tau_days], [spot])
    ).requirement[0]
    assert double == pytest.approx(2 * base.requirement[0], rel=1e-12)


def test_input_errors_name_field_and_rows() -> None:
    with pytest.raises(MarginInputError, match=r"vault: index out of range \[0, 1\) at rows \[1\]"):
        _book([1.0], [0, 1], [True, True], [1.0, 1.0], [1.0, 1.0], [1, 1], 100.0)
    with pytest.raises(MarginInputError, match=r"strike: must be > 0; violated at rows \[0\]"):
        _book([1.0], [0], [True], [0.0], [1.0], [1], 100.0)
    with pytest.raises(MarginInputError, match="spot: non-finite"):
        _book([1.0], [0], [True], [1.0], [1.0], [1], np.nan)


def test_first_unsafe_round() -> None:
    # put K=2000, τ=10d, collateral 1000: unsafe below S = 1747.49 (see test_margin_distance); call K=3000,
    # τ=3d, collateral 1000: unsafe above S = 2622.45
    book = _book([1000.0, 1000.0], [0, 1], [False, True], [2000.0, 3000.0], [1.0, 1.0], [10, 3], 2500.0)
    rounds = [2500.0, 1800.0, 1700.0, 2700.0, 1600.0]
    ages = [500.0, 400.0, 300.0, 200.0, 100.0]
    assert first_unsafe_round(book, rounds, ages).tolist() == [2, 3]
    assert first_unsafe_round(book, [2500.0], [0.0]).tolist() == [-1, -1]
    # τ at the round's time. Call at S = 2600: S/s = 3466.67, intrinsic 466.67. Now (τ = 3 d, UB 0.1678):
    # 503.4 + 466.67 = 970.07 < 1000 safe. A round 5 days old saw τ = 8 d → UB(14 d) = 0.2370:
    # 711 + 466.67 = 1177.67 > 1000 unsafe. (Put: 0.3326·1950 + 50 = 698.6, safe.)
    assert first_unsafe_round(book, [2600.0], [5 * DAY]).tolist() == [-1, 0]
    assert first_unsafe_round(book, [2600.0], [0.0]).tolist() == [-1, -1]
    with pytest.raises(MarginInputError, match="round_spots: must be > 0"):
        first_unsafe_round(book, [0.0], [0.0])
