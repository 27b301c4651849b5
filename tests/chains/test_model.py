from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chains.model import (
    Instrument,
    InstrumentKind,
    OptionType,
    OracleQuote,
    OracleSource,
    Underlying,
    UnknownAssetError,
    canonical_underlying,
    from_base_units,
    to_base_units,
)

EXPIRY = datetime(2026, 12, 25, 8, tzinfo=UTC)


@pytest.mark.parametrize(
    ("symbol", "expected"),
    [("WETH", Underlying.ETH), ("weth", Underlying.ETH), ("WBTC", Underlying.BTC), ("USDC", Underlying.USD),
     ("whETH", Underlying.ETH), ("SOL", Underlying.SOL)],
)
def test_canonical_underlying(symbol: str, expected: Underlying) -> None:
    assert canonical_underlying(symbol) is expected


def test_unknown_asset_names_the_symbol_and_alias_resolves_it() -> None:
    with pytest.raises(UnknownAssetError, match="'stETH'"):
        canonical_underlying("stETH")
    assert canonical_underlying("stETH", aliases={"STETH": "ETH"}) is Underlying.ETH


def test_base_units_are_exact() -> None:
    # 1 wei more than 1.1 ETH: a float would lose the last digit
    assert from_base_units(1_100_000_000_000_000_001, 18) == Decimal("1.100000000000000001")
    assert from_base_units(2_500_000_123, 6) == Decimal("2500.000123")
    with pytest.raises(TypeError):
        from_base_units(1.5, 6)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="more than 6 decimals"):
        to_base_units(Decimal("0.0000001"), 6)


@given(st.integers(min_value=-(2**255), max_value=2**256 - 1), st.integers(min_value=0, max_value=36))
def test_base_units_round_trip(amount: int, decimals: int) -> None:
    assert to_base_units(from_base_units(amount, decimals), decimals) == amount


def test_option_instrument_validation() -> None:
    with pytest.raises(ValueError, match="lacks strike"):
        Instrument(Underlying.ETH, InstrumentKind.OPTION, "arbitrum", "PortfolioMargin", "s1",
                   option_type=OptionType.CALL, expiry=EXPIRY)
    with pytest.raises(ValueError, match="timezone-aware"):
        Instrument(Underlying.ETH, InstrumentKind.OPTION, "arbitrum", "PortfolioMargin", "s1",
                   option_type=OptionType.CALL, strike=Decimal(3000), expiry=datetime(2026, 12, 25))
    inst = Instrument(Underlying.ETH, InstrumentKind.OPTION, "arbitrum", "PortfolioMargin", "s1",
                      option_type=OptionType.PUT, strike=Decimal(3000), expiry=EXPIRY)
    assert inst.key == "arbitrum:PortfolioMargin:s1"
    assert inst.years_to_expiry(EXPIRY - timedelta(days=73)) == pytest.approx(0.2)
    assert inst.years_to_expiry(EXPIRY + timedelta(days=1)) == 0.0


def test_quote_staleness_and_confidence() -> None:
    t0 = datetime(2026, 11, 22, tzinfo=UTC)
    q = OracleQuote(OracleSource.PYTH, Underlying.ETH, Decimal("3000"), t0, "solana", 123, confidence=Decimal("3"))
    assert not q.stale(t0 + timedelta(seconds=60), timedelta(seconds=60))
    assert q.stale(t0 + timedelta(seconds=61), timedelta(seconds=60))
    assert q.confidence_ratio() == Decimal("0.001")
    cl = OracleQuote(OracleSource.CHAINLINK, Underlying.ETH, Decimal("3000"), t0, "ethereum", 1)
    assert cl.confidence_ratio() is None
