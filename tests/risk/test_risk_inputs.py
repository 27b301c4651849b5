"""chains.risk_inputs: hand-built AccountStates + oracle readings → margin books, with hand-computed margins."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from types import MappingProxyType

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chains.model import (
    AccountState,
    ExerciseStyle,
    Instrument,
    InstrumentKind,
    OptionType,
    OracleQuote,
    OracleSource,
    Position,
    Underlying,
    VolSlice,
)
from chains.protocols.base import OracleReadings
from chains.risk_inputs import RiskInputError, chainlink_spots, pm_inputs, vault_inputs
from risk.margin import pm_margin, vault_margin
from risk.pricing import black76

BLOCK = 100
NOW = 1_800_000_000
DAY = 86400
T0 = datetime.fromtimestamp(NOW, UTC)


def _inst(
    protocol: str,
    kind: OptionType,
    strike: str,
    expiry: int,
    u: Underlying = Underlying.ETH,
    venue: str = "s",
) -> Instrument:
    return Instrument(
        u,
        InstrumentKind.OPTION,
        "ethereum",
        protocol,
        venue,
        "USDC",
        kind,
        Decimal(strike),
        datetime.fromtimestamp(expiry, UTC),
        Decimal(1),
        ExerciseStyle.EUROPEAN,
    )


def _state(
    protocol: str,
    aid: str,
    collateral: dict[str, Decimal],
    positions: list[tuple[Instrument, str]],
    block: int = BLOCK,
) -> AccountState:
    pos = tuple(Position("0xowner", "desk", inst, Decimal(size), aid) for inst, size in positions)
    return AccountState("ethereum", protocol, aid, "0xowner", block, MappingProxyType(collateral), pos)


def _quote(
    u: Underlying,
    price: str,
    source: OracleSource = OracleSource.CHAINLINK,
    block: int = BLOCK,
    feed: str = "0xfeed",
) -> OracleQuote:
    return OracleQuote(source, u, Decimal(price), T0, "ethereum", block, None, feed)


def _flat_slice(u: Underlying, expiry: int, vol: str, forward: str, block: int = BLOCK) -> VolSlice:
    """b = 0: total variance a = vol²·τ everywhere, so every strike's vol is ``vol``."""
    tau = Decimal(expiry - NOW) / Decimal(365 * DAY)
    return VolSlice(
        u,
        datetime.fromtimestamp(expiry, UTC),
        Decimal(vol) ** 2 * tau,
        Decimal(0),
        Decimal(0),
        Decimal(0),
        Decimal("0.1"),
        Decimal(forward),
        T0,
        "ethereum",
        block,
    )


# ------------------------------------------------------------------ VaultOptions


def test_vault_book_matches_hand_computed_naked_margin() -> None:
    exp = NOW + 10 * DAY  # UB(10 d) = 0.2370 (the 14-day entry)
    put = _inst("vault_options", OptionType.PUT, "2500", exp)
    call = _inst("vault_options", OptionType.CALL, "3500", exp)
    states = [
        _state("vault_options", "7", {"USDC": Decimal("1200")}, [(put, "-1.5")]),
        _state("vault_options", "9", {"USDC": Decimal("300.000001")}, [(call, "-0.25")]),
        _state("vault_options", "4", {"USDC": Decimal("7")}, []),
    ]
    readings = OracleReadings(
        BLOCK, (_quote(Underlying.ETH, "3000"), _quote(Underlying.USD, "1", OracleSource.PYTH))
    )
    vin = vault_inputs(states, readings, NOW)
    assert vin.account_ids == ("7", "9", "4") and vin.underlyings == (Underlying.ETH,)
    assert vin.block == BLOCK and vin.now == NOW
    np.testing.assert_array_equal(vin.book.tau_seconds, [10 * DAY, 10 * DAY])
    got = vault_margin(vin.book)
    # put: 0.237·min(2500, 2250) + 250 = 783.25 per option; call: 0.237·3500 + (4000 − 3500) = 1329.5
    np.testing.assert_allclose(got.requirement, [1.5 * 783.25, 0.25 * 1329.5, 0.0], rtol=1e-15)
    np.testing.assert_allclose(got.headroom, [1200 - 1174.875, 300.000001 - 332.375, 7.0], rtol=1e-12)
    assert got.liquidatable.tolist() == [False, True, False]


def test_vault_rows_carry_their_own_underlying_and_spot() -> None:
    exp = NOW + 20 * DAY
    states = [
        _state(
            "vault_options",
            "1",
            {"USDC": Decimal(10_000)},
            [(_inst("vault_options", OptionType.PUT, "50000", exp, Underlying.BTC), "-0.1")],
        ),
        _state(
            "vault_options",
            "2",
            {"USDC": Decimal(10_000)},
            [(_inst("vault_options", OptionType.PUT, "2000", exp), "-1")],
        ),
    ]
    readings = OracleReadings(
        BLOCK, (_quote(Underlying.ETH, "3000", feed="0xa"), _quote(Underlying.BTC, "60000", feed="0xb"))
    )
    vin = vault_inputs(states, readings, NOW)
    assert vin.underlyings == (Underlying.BTC, Underlying.ETH)
    assert vin.book.underlying.tolist() == [0, 1] and vin.book.spot.tolist() == [60000.0, 3000.0]


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda s: [replace(s[0], block=BLOCK + 1)], "block 101"),
        (lambda s: [s[0], s[0]], "appears twice"),
        (lambda s: [replace(s[0], protocol="portfolio_margin")], "expected 'vault_options'"),
        (lambda s: [replace(s[0], positions=(replace(s[0].positions[0], size=Decimal(1)),))], "not a short"),
        (
            lambda s: [replace(s[0], collateral=MappingProxyType({"USDC": Decimal(1), "WETH": Decimal(1)}))],
            "one collateral",
        ),
        (
            lambda s: [
                replace(
                    s[0],
                    positions=(
                        replace(
                            s[0].positions[0],
                            instrument=replace(s[0].positions[0].instrument, underlying=Underlying.SOL),
                        ),
                    ),
                )
            ],
            "no spot price for SOL",
        ),
    ],
)
def test_vault_inputs_reject_bad_states_naming_the_account(mutate, match) -> None:  # type: ignore[no-untyped-def]
    put = _inst("vault_options", OptionType.PUT, "2500", NOW + 5 * DAY)
    base = [_state("vault_options", "3", {"USDC": Decimal(100)}, [(put, "-1")])]
    with pytest.raises(RiskInputError, match=match):
        vault_inputs(mutate(base), OracleReadings(BLOCK, (_quote(Underlying.ETH, "3000"),)), NOW)


def test_chainlink_spots_refuse_disagreeing_feeds_and_other_blocks() -> None:
    ok = OracleReadings(
        BLOCK,
        (
            _quote(Underlying.ETH, "3000", feed="0xa"),
            _quote(Underlying.ETH, "3000", feed="0xb"),
            _quote(Underlying.ETH, "2999", OracleSource.PYTH),
        ),
    )
    assert chainlink_spots(ok) == {Underlying.ETH: Decimal(3000)}  # Pyth is not what the contracts read
    with pytest.raises(RiskInputError, match="two Chainlink prices"):
        chainlink_spots(
            OracleReadings(
                BLOCK,
                (_quote(Underlying.ETH, "3000", feed="0xa"), _quote(Underlying.ETH, "3001", feed="0xb")),
            )
        )
    with pytest.raises(RiskInputError, match="from block 99"):
        chainlink_spots(OracleReadings(BLOCK, (_quote(Underlying.ETH, "3000", block=99),)))


# ------------------------------------------------------------------ PortfolioMargin


def _pm_states(expiry: int, old: int) -> list[AccountState]:
    put = _inst("portfolio_margin", OptionType.PUT, "3000", expiry, venue="series:1")
    call = _inst("portfolio_margin", OptionType.CALL, "3500", expiry, venue="series:2")
    done = _inst("portfolio_margin", OptionType.CALL, "2500", old, venue="series:3")
    return [
        _state("portfolio_margin", "5", {"USD": Decimal(10_000)}, [(put, "-2"), (call, "1")]),
        _state("portfolio_margin", "6", {"USD": Decimal("-50.5")}, [(call, "-1"), (done, "1")]),
        _state("portfolio_margin", "8", {}, []),
    ]


def test_pm_book_matches_hand_computed_standard_manager_margin() -> None:
    exp, old = NOW + 30 * DAY, NOW - DAY
    readings = OracleReadings(
        BLOCK, (_quote(Underlying.ETH, "3000"),), (_flat_slice(Underlying.ETH, exp, "0.6", "3010"),)
    )
    pin = pm_inputs(_pm_states(exp, old), readings, NOW, {(Underlying.ETH, old): Decimal(2800)})
    assert pin.account_ids == ("5", "6", "8") and pin.slices == ((Underlying.ETH, exp), (Underlying.ETH, old))
    got = pm_margin(pin.book)
    tau = 30 / 365
    m_put = float(black76(False, 3010.0, 3000.0, tau, 0.0, 0.6).price)
    m_call = float(black76(True, 3010.0, 3500.0, tau, 0.0, 0.6).price)
    np.testing.assert_allclose(got.vols[:3], 0.6, rtol=1e-12)
    # account 5: isolated short put −2·m − 2·0.09·3000 beats max loss −6000 (long call covers nothing below 3500)
    # account 6: short call isolated −m − 0.09·3000 vs max loss 0 + 1.1·3010·(−1); expired call pays 2800 − 2500
    mm6 = -50.5 + max(-m_call - 270.0, -1.1 * 3010.0) + 300.0
    np.testing.assert_allclose(got.mm, [10_000 - 2 * m_put - 540.0, mm6, 0.0], rtol=1e-12)
    np.testing.assert_allclose(
        got.mtm, [10_000 - 2 * m_put + m_call, -50.5 - m_call + 300.0, 0.0], rtol=1e-12
    )


def test_pm_expired_slice_without_settlement_uses_spot() -> None:
    exp, old = NOW + 30 * DAY, NOW - DAY
    readings = OracleReadings(
        BLOCK, (_quote(Underlying.ETH, "3000"),), (_flat_slice(Underlying.ETH, exp, "0.6", "3010"),)
    )
    got = pm_margin(pm_inputs(_pm_states(exp, old), readings, NOW).book)
    with_fix = pm_margin(
        pm_inputs(_pm_states(exp, old), readings, NOW, {(Underlying.ETH, old): Decimal(2800)}).book
    )
    assert got.mtm[1] - with_fix.mtm[1] == pytest.approx(200.0, rel=1e-12)  # payoff 500 at spot vs 300 fixed


def test_pm_inputs_reject_missing_slice_and_stale_readings() -> None:
    exp, old = NOW + 30 * DAY, NOW - DAY
    states = _pm_states(exp, old)
    with pytest.raises(RiskInputError, match="no vol slice for ETH"):
        pm_inputs(states, OracleReadings(BLOCK, (_quote(Underlying.ETH, "3000"),)), NOW)
    stale = OracleReadings(
        BLOCK,
        (_quote(Underlying.ETH, "3000"),),
        (_flat_slice(Underlying.ETH, exp, "0.6", "3010", block=BLOCK - 1),),
    )
    with pytest.raises(RiskInputError, match="from block 99"):
        pm_inputs(states, stale, NOW)
    fresh = OracleReadings(
        BLOCK, (_quote(Underlying.ETH, "3000"),), (_flat_slice(Underlying.ETH, exp, "0.6", "3010"),)
    )
    with pytest.raises(RiskInputError, match="unexpected collateral"):
        pm_inputs([replace(states[0], collateral=MappingProxyType({"USDC": Decimal(1)}))], fresh, NOW)
    with pytest.raises(RiskInputError, match="settlement price"):
        pm_inputs(states, fresh, NOW, {(Underlying.ETH, old): Decimal(-1)})


def test_pm_exact_amounts_are_rounded_once_to_float64() -> None:
    """1e18-scaled sizes and cash convert with one correct rounding (no intermediate float arithmetic)."""
    exp = NOW + 7 * DAY
    call = _inst("portfolio_margin", OptionType.CALL, "3100.000000000000000001", exp)
    s = _state("portfolio_margin", "1", {"USD": Decimal("123456.789012345678901234")}, [(call, "-0.1")])
    readings = OracleReadings(
        BLOCK, (_quote(Underlying.ETH, "3000"),), (_flat_slice(Underlying.ETH, exp, "0.5", "3000"),)
    )
    book = pm_inputs([s], readings, NOW).book
    assert book.cash[0] == float(Decimal("123456.789012345678901234"))
    assert book.amount[0] == -0.1 and book.strike[0] == 3100.0


_UB = {
    7: Decimal("0.1678"),
    14: Decimal("0.2370"),
    28: Decimal("0.3326"),
    42: Decimal("0.4032"),
    56: Decimal("0.4603"),
}


def _exact_requirement(is_put: bool, strike: Decimal, spot: Decimal, amount: Decimal, days: int) -> Decimal:
    """The VaultOptions README formula in exact Decimal arithmetic (the reference for the float path)."""
    ub = next(v for d, v in sorted(_UB.items()) if d * DAY >= days * DAY)
    if is_put:
        shocked = spot * Decimal("0.75")
        return amount * (ub * min(strike, shocked) + max(strike - shocked, Decimal(0)))
    up = spot / Decimal("0.75")
    return amount * (ub * min(strike, up) + max(up - strike, Decimal(0)))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.booleans(),
            st.integers(1, 10**7),  # strike, whole USD
            st.integers(1, 10**12),  # short amount, 8-decimal option units
            st.integers(0, 10**13),  # collateral, USDC units
            st.integers(1, 56),  # days to expiry
        ),
        min_size=1,
        max_size=8,
    ),
    st.integers(10**6, 10**13),  # spot, 8-decimal feed units
)
def test_vault_path_equals_exact_decimal_formula(rows, spot_units) -> None:  # type: ignore[no-untyped-def]
    spot = Decimal(spot_units).scaleb(-8)
    states = []
    for k, (is_put, strike, amount, coll, days) in enumerate(rows):
        kind = OptionType.PUT if is_put else OptionType.CALL
        inst = _inst("vault_options", kind, str(strike), NOW + days * DAY)
        size = -Decimal(amount).scaleb(-8)
        states.append(
            _state("vault_options", str(k + 1), {"USDC": Decimal(coll).scaleb(-6)}, [(inst, str(size))])
        )
    got = vault_margin(
        vault_inputs(states, OracleReadings(BLOCK, (_quote(Underlying.ETH, str(spot)),)), NOW).book
    )
    for k, (is_put, strike, amount, coll, days) in enumerate(rows):
        exact = _exact_requirement(is_put, Decimal(strike), spot, Decimal(amount).scaleb(-8), days)
        assert got.requirement[k] == pytest.approx(float(exact), rel=1e-13, abs=1e-300)
        assert bool(got.liquidatable[k]) == (Decimal(coll).scaleb(-6) < exact) or abs(
            float(exact) - coll / 1e6
        ) <= 1e-12 * float(exact)
