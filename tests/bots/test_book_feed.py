"""The live risk book's per-entity figures: Greeks, worst house scenario and distance to liquidation, per entity
(wallets of one entity netted), from positions fed account by account."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from bots.book_feed import BookFeed
from chains.events import PositionChanged
from chains.model import (
    AccountState,
    Instrument,
    InstrumentKind,
    OptionType,
    OracleQuote,
    OracleSource,
    Position,
    Underlying,
)

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)


def _changed(account: str, owner: str, entity: str, size: str, put: bool, collateral: str = "0") -> PositionChanged:
    inst = Instrument(Underlying.ETH, InstrumentKind.OPTION, "ethereum", "vault_options", f"{account}",
                      option_type=OptionType.PUT if put else OptionType.CALL, strike=Decimal(2800),
                      expiry=NOW + timedelta(days=7))
    pos = (Position(owner, entity, inst, Decimal(size), account, collateral=Decimal(collateral)),)
    state = AccountState("ethereum", "vault_options", account, owner, 1, positions=pos)
    return PositionChanged("ethereum", "vault_options", state, pos, 1)


def test_entity_figures_rank_the_short_put_writer_as_the_riskiest() -> None:
    feed = BookFeed(NOW.timestamp(), vol=0.6)
    feed.tick(OracleQuote(OracleSource.CHAINLINK, Underlying.ETH, Decimal(3000), NOW, "ethereum", 1))
    feed.apply(_changed("1", "0xaa", "writer", "-10", put=True, collateral="3000"))  # short puts, thin collateral
    feed.apply(_changed("2", "0xbb", "buyer", "10", put=True, collateral="0"))  # the long side
    figures = feed.entity_risk(NOW)
    writer, buyer = figures["writer"], figures["buyer"]
    assert writer["delta"] > 0 > buyer["delta"]  # short puts are long delta, long puts short
    assert writer["worst_loss_usd"] > 0 and "spot -" in writer["worst_scenario"]  # hurt by a fall
    assert "spot +" in buyer["worst_scenario"]  # the long put loses most when spot rises
    assert writer["distance_to_liquidation"] is not None and writer["distance_to_liquidation"] < 0.5
    assert buyer.get("distance_to_liquidation") is None or \
        buyer["distance_to_liquidation"] > writer["distance_to_liquidation"]


def test_an_empty_book_has_no_stress_figures() -> None:
    assert BookFeed(NOW.timestamp()).entity_stress() == {}
