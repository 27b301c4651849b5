"""House scenario margin on the translated book: hand-checked linear books, equity consistency with the
book's balance sheet, instrument dedupe, entity netting, distance to liquidation."""

from __future__ import annotations

import numpy as np
import pytest

from risk.book import Position, PositionBook
from risk.book_margin import distance_to_liquidation, house_margin_of_book, to_house_book, wallet_worst
from risk.book_value import Kind
from risk.book_views import wallet_balance

NOW = 1_800_000_000.0
DAY = 86400.0


def perp(pid, size, wallet, entity=0, entry=100.0, coll=0.0) -> Position:
    return Position(
        pid,
        0,
        Kind.PERP,
        size=size,
        chain=1,
        protocol=1,
        wallet=wallet,
        entity=entity,
        entry_price=entry,
        collateral_asset=1 if coll else -1,
        collateral_amount=coll,
    )


def test_linear_books_by_hand() -> None:
    b = PositionBook(NOW)
    b.upsert(perp("long", 1.0, wallet=0, coll=30.0))
    b.upsert(perp("short", -2.0, wallet=1, entity=1, coll=100.0))
    b.tick(0, spot=100.0)
    b.tick(1, spot=1.0)
    hm, eh = house_margin_of_book(b)
    table = hm.scenarios
    assert hm.worst_pnl[0] == pytest.approx(-18.0, abs=1e-6)  # −18 % on 1 × 100
    assert table.spot_move[hm.worst_id[0]] == pytest.approx(0.82)
    assert hm.mm[0] == pytest.approx(0.8 * 18.0, abs=1e-6)
    assert hm.worst_pnl[1] == pytest.approx(-36.0, abs=1e-6)  # +18 % beats the dampened extended moves
    assert table.spot_move[hm.worst_id[1]] == pytest.approx(1.18)
    assert hm.equity == pytest.approx([30.0, 100.0], abs=1e-6)
    assert eh.worst_pnl == pytest.approx([-18.0, -36.0], abs=1e-6)
    desc, pnl = wallet_worst(hm, 0)
    assert desc.startswith(f"#{hm.worst_id[0]}: spot -18.0%") and pnl == pytest.approx(-18.0, abs=1e-6)
    with pytest.raises(ValueError, match="wallet 5"):
        wallet_worst(hm, 5)
    # long 1 @100 with 30 collateral: headroom(m) = 100m − 100 + 30 − 0.8·0.18·100m → m* = 70/85.6
    d = distance_to_liquidation(b, 0)
    assert d.down[0] == pytest.approx(1 - 70 / 85.6, abs=1e-6)
    assert d.up[0] == np.inf


def test_entity_nets_its_wallets() -> None:
    b = PositionBook(NOW)
    b.upsert(perp("evm", 1.0, wallet=0, entity=3, coll=50.0))
    b.upsert(perp("sol", -1.0, wallet=1, entity=3, coll=50.0))
    b.tick(0, spot=100.0)
    b.tick(1, spot=1.0)
    hm, eh = house_margin_of_book(b)
    assert hm.worst_pnl[0] < -10 and hm.worst_pnl[1] < -10
    assert eh.worst_pnl[3] == pytest.approx(0.0, abs=1e-6) and eh.mm[3] == pytest.approx(0.0, abs=1e-6)


def test_equity_matches_book_and_options_are_deduplicated() -> None:
    rng = np.random.default_rng(4)
    b = PositionBook(NOW)
    for i in range(60):
        kind = [Kind.OPTION, Kind.OPTION, Kind.PERP, Kind.SPOT, Kind.CASH][i % 5]
        b.upsert(
            Position(
                i,
                2 if kind == Kind.CASH else int(rng.integers(0, 2)),
                kind,
                size=float(rng.normal(0, 2)),
                chain=0,
                protocol=int(rng.integers(0, 3)),
                wallet=int(rng.integers(0, 6)),
                entity=0,
                is_call=bool(i % 2),
                strike=float(rng.choice([80.0, 100.0, 120.0])),
                expiry=NOW + float(rng.choice([7.0, 30.0])) * DAY,
                entry_price=95.0,
                collateral_asset=2,
                collateral_amount=float(rng.uniform(0, 50)),
            )
        )
    b.upsert(Position("unpriced", 9, Kind.SPOT, size=1.0, chain=0, protocol=0, wallet=0, entity=0))
    b.tick(0, spot=100.0, vol=0.7)
    b.tick(1, spot=50.0, vol=0.9)
    b.tick(2, spot=1.0)
    bh = to_house_book(b)
    assert bh.excluded_rows == 1
    n_opt_instruments = int(np.count_nonzero(bh.house.tau > 0))
    assert n_opt_instruments <= 2 * 2 * 3 * 2  # underlying × call/put × strike × expiry
    hm, _ = house_margin_of_book(b)
    for w in range(6):
        bal = wallet_balance(b, w)
        assert hm.equity[w] == pytest.approx(bal.equity, rel=1e-9, abs=1e-6)  # unpriced row: 0 in both
    assert np.all(hm.mm >= 0) and np.allclose(hm.headroom, hm.equity - hm.mm)
