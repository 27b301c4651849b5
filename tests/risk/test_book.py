"""Position book: hand-checked Greeks conventions, incremental aggregates equal a brute-force
recomputation after random upsert/remove/tick/refresh sequences, and the contagion/margin views."""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from risk.book import Position, PositionBook
from risk.book_value import GREEK_FIELDS, Kind, row_greeks
from risk.book_views import MarginRecord, MarginTable, collateral_exposure, contagion, wallet_balance
from risk.svi import SECONDS_PER_YEAR

NOW = 1_800_000_000.0
YEAR = SECONDS_PER_YEAR


def call(pid, size=1.0, strike=100.0, expiry=NOW + YEAR, **kw) -> Position:
    base = dict(
        underlying=0,
        kind=Kind.OPTION,
        size=size,
        chain=0,
        protocol=0,
        wallet=0,
        entity=0,
        is_call=True,
        strike=strike,
        expiry=expiry,
    )
    base.update(kw)
    return Position(pid, **base)  # type: ignore[arg-type]


def test_atm_call_hand_values_and_conventions() -> None:
    b = PositionBook(NOW)
    b.upsert(call("c1", size=2.0))
    assert b.unpriced_count == 1 and b.aggregates().value[0, 0] == 0.0  # no market yet
    b.tick(0, spot=100.0, vol=0.2)
    assert b.unpriced_count == 0
    a = b.aggregates()
    # ATM, 1y, 20 %, r = 0: price 7.965567, N(d1) = 0.539828, Γ = 0.0198476, vega = 39.6953
    assert a.value[0, 0] == pytest.approx(2 * 7.965567, abs=1e-5)
    assert a.delta[0, 0] == pytest.approx(2 * 0.539828 * 100.0, abs=1e-4)  # dollar delta
    assert a.gamma[0, 0] == pytest.approx(2 * 0.0198476 * 100.0**2 / 100.0, abs=1e-5)  # per 1 % move
    assert a.vega[0, 0] == pytest.approx(2 * 0.396953, abs=1e-5)  # per vol point
    assert a.theta[0, 0] == pytest.approx(-2 * 100.0 * 0.396953 * 0.2 / 2 / 365.0, abs=1e-7)  # per day
    assert a.notional[0, 0] == pytest.approx(200.0)
    # dollar gamma really is the change in dollar delta for a +1 % move (to first order)
    b2 = PositionBook(NOW)
    b2.upsert(call("c1", size=2.0))
    b2.tick(0, spot=101.0, vol=0.2)
    d_up = b2.aggregates().delta[0, 0]
    assert (d_up - a.delta[0, 0]) == pytest.approx(a.gamma[0, 0] + a.delta[0, 0] / 100.0, rel=0.02)


def test_linear_kinds_and_cash() -> None:
    b = PositionBook(NOW)
    b.upsert(
        Position("perp", 1, Kind.PERP, size=-3.0, chain=1, protocol=2, wallet=5, entity=1, entry_price=2000.0)
    )
    b.upsert(Position("eth", 1, Kind.SPOT, size=1.5, chain=1, protocol=2, wallet=5, entity=1, multiplier=2.0))
    b.upsert(Position("usdc", 2, Kind.CASH, size=1000.0, chain=1, protocol=2, wallet=5, entity=1))
    b.tick(1, spot=2100.0)
    b.tick(2, spot=1.0)
    a = b.aggregates()
    assert a.value[1, 1] == pytest.approx(-3.0 * 100.0 + 3.0 * 2100.0)
    assert a.delta[1, 1] == pytest.approx((-3.0 + 3.0) * 2100.0)
    assert a.value[1, 2] == pytest.approx(1000.0) and a.delta[1, 2] == 0.0 and a.notional[1, 2] == 0.0
    assert a.notional[1, 1] == pytest.approx(6.0 * 2100.0)
    assert np.all(a.gamma == 0.0)


def test_expired_option_is_intrinsic() -> None:
    b = PositionBook(NOW)
    b.upsert(call("p", is_call=False, strike=120.0, expiry=NOW - 10.0))
    b.tick(0, spot=100.0, vol=0.5)
    a = b.aggregates()
    assert a.value[0, 0] == pytest.approx(20.0) and a.delta[0, 0] == pytest.approx(-100.0)
    assert a.gamma[0, 0] == 0.0 and a.vega[0, 0] == 0.0


class SmileSource:
    """A vol source with skew, to check per-row vols are looked up by strike and time."""

    def vol(self, strike, t, forward):
        return 0.5 + 0.2 * np.log(strike / forward) ** 2 + 0.01 * t


def test_vol_source_object_and_bad_vol() -> None:
    b = PositionBook(NOW)
    b.upsert(call("a", strike=80.0))
    b.upsert(call("b", strike=100.0))
    b.tick(0, spot=100.0, vol=SmileSource())
    iv = b.col("iv")
    assert iv[b.row_of("a")] == pytest.approx(0.5 + 0.2 * math.log(0.8) ** 2 + 0.01)
    assert iv[b.row_of("b")] == pytest.approx(0.51)
    with pytest.raises(ValueError, match="vol for asset 0"):
        b.tick(0, vol=-0.1)
    with pytest.raises(ValueError, match="spot for asset 0"):
        b.tick(0, spot=float("nan"))


def test_free_list_reuse_and_growth() -> None:
    b = PositionBook(NOW, capacity=16)
    b.tick(0, spot=100.0, vol=0.5)
    for i in range(40):
        b.upsert(call(i, strike=90.0 + i))
    assert len(b) == 40
    r5 = b.row_of(5)
    b.remove(5)
    with pytest.raises(KeyError, match="unknown position id 5"):
        b.row_of(5)
    assert b.upsert(call("new")) == r5  # the freed row is recycled
    assert b.position_id(r5) == "new" and len(b) == 40


def test_validation_errors_name_the_position() -> None:
    b = PositionBook(NOW)
    with pytest.raises(ValueError, match="position 'x': an option needs strike"):
        call("x", strike=0.0)
    with pytest.raises(ValueError, match="entity must be an id"):
        b.upsert_many(
            ["y"],
            dict(
                underlying=[0],
                kind=[0],
                size=[1.0],
                chain=[0],
                protocol=[0],
                wallet=[0],
                entity=[-1],
                strike=[1.0],
                expiry=[NOW + 1],
            ),
        )
    with pytest.raises(ValueError, match="missing required columns"):
        b.upsert_many(["y"], dict(underlying=[0]))
    with pytest.raises(ValueError, match="duplicate"):
        b.upsert_many(["y", "y"], {})


# ---------------------------------------------------------------------------------------------- brute force
def brute_force(model: dict, spots: dict, vols: dict, now: float) -> dict:
    """Per-(entity, underlying) sums computed one position at a time from scratch."""
    out: dict = defaultdict(lambda: np.zeros(len(GREEK_FIELDS)))
    for p in model.values():
        s = spots.get(p.underlying)
        v = vols.get(p.underlying)
        if s is None or (p.kind == Kind.OPTION and v is None):
            continue
        g = row_greeks(
            np.array([p.kind], dtype=np.int8),
            np.array([p.is_call]),
            np.array([p.strike]),
            np.array([(p.expiry - now) / YEAR]),
            np.array([p.size]),
            np.array([p.multiplier]),
            np.array([p.entry_price]),
            np.array([s]),
            np.array([v if v is not None else 0.2]),
        )
        out[(p.entity, p.underlying)] += np.array([getattr(g, f)[0] for f in GREEK_FIELDS])
    return out


def random_position(rng: np.random.Generator, pid: int, now: float) -> Position:
    kind = Kind(int(rng.choice([0, 0, 0, 1, 2, 3])))
    return Position(
        pid,
        underlying=int(rng.integers(0, 3)),
        kind=kind,
        size=float(rng.normal(0, 5)),
        chain=int(rng.integers(0, 4)),
        protocol=int(rng.integers(0, 5)),
        wallet=int(rng.integers(0, 12)),
        entity=int(rng.integers(0, 6)),
        is_call=bool(rng.integers(0, 2)),
        strike=float(rng.uniform(50, 150)),
        expiry=now + float(rng.uniform(-0.01, 1.0)) * YEAR,
        multiplier=float(rng.choice([1.0, 0.1, 10.0])),
        entry_price=float(rng.uniform(50, 150)) if kind == Kind.PERP else 0.0,
        collateral_asset=int(rng.integers(0, 4)),
        collateral_amount=float(rng.uniform(0, 100)),
    )


@given(seed=st.integers(0, 2**32 - 1))
@settings(max_examples=25, deadline=None)
def test_aggregates_equal_brute_force_after_random_operations(seed: int) -> None:
    rng = np.random.default_rng(seed)
    now = NOW
    b = PositionBook(now, capacity=16)
    model: dict = {}
    spots: dict = {}
    vols: dict = {}
    next_id = 0
    for _ in range(80):
        op = rng.choice(["new", "new", "replace", "remove", "spot", "vol", "refresh", "batch"])
        if op == "new" or (op in ("replace", "remove") and not model):
            p = random_position(rng, next_id, now)
            next_id += 1
            b.upsert(p)
            model[p.position_id] = p
        elif op == "replace":
            pid = list(model)[int(rng.integers(0, len(model)))]
            q = random_position(rng, pid, now)
            b.upsert(q)
            model[pid] = q
        elif op == "remove":
            pid = list(model)[int(rng.integers(0, len(model)))]
            b.remove(pid)
            del model[pid]
        elif op == "spot":
            u = int(rng.integers(0, 4))
            spots[u] = float(rng.uniform(60, 140))
            b.tick(u, spot=spots[u])
        elif op == "vol":
            u = int(rng.integers(0, 3))
            vols[u] = float(rng.uniform(0.2, 1.2))
            b.tick(u, vol=vols[u])
        elif op == "refresh":
            now += float(rng.uniform(0, 86400 * 3))
            b.refresh(now)
        else:  # batch upsert mixing new and existing ids
            ps = [random_position(rng, next_id + i, now) for i in range(5)]
            if model:
                ps.append(random_position(rng, list(model)[0], now))
            next_id += 5
            cols = {
                name: np.array([getattr(p, name) for p in ps])
                for name in (
                    "underlying",
                    "kind",
                    "size",
                    "chain",
                    "protocol",
                    "wallet",
                    "entity",
                    "is_call",
                    "strike",
                    "expiry",
                    "multiplier",
                    "entry_price",
                    "collateral_asset",
                    "collateral_amount",
                )
            }
            b.upsert_many([p.position_id for p in ps], cols)
            model.update({p.position_id: p for p in ps})
    expected = brute_force(model, spots, vols, now)
    agg = b.aggregates()
    assert len(b) == len(model)
    for f_i, f in enumerate(GREEK_FIELDS):
        got = getattr(agg, f)
        exp = np.zeros_like(got)
        for (e, u), v in expected.items():
            exp[e, u] = v[f_i]
        np.testing.assert_allclose(got, exp, rtol=1e-9, atol=1e-7, err_msg=f"aggregate {f}")
    # contagion equals a per-row recomputation as well
    cont = contagion(b)
    by_p: dict = defaultdict(float)
    for p in model.values():
        s = spots.get(p.underlying)
        priced = s is not None and (p.kind != Kind.OPTION or p.underlying in vols)
        val = 0.0
        if priced:
            g = row_greeks(
                np.array([p.kind], dtype=np.int8),
                np.array([p.is_call]),
                np.array([p.strike]),
                np.array([(p.expiry - now) / YEAR]),
                np.array([p.size]),
                np.array([p.multiplier]),
                np.array([p.entry_price]),
                np.array([s]),
                np.array([vols.get(p.underlying, 0.2)]),
            )
            val = float(g.value[0])
        coll = p.collateral_amount * spots.get(p.collateral_asset, 0.0)
        by_p[(p.entity, p.protocol)] += coll + max(val, 0.0)
    for (e, pr), v in by_p.items():
        assert cont.by_protocol[e, pr] == pytest.approx(v, rel=1e-9, abs=1e-7)
    assert cont.by_protocol.sum() == pytest.approx(sum(by_p.values()), rel=1e-9, abs=1e-6)


# ---------------------------------------------------------------------------------------------- views
def test_contagion_collateral_and_wallet_balance_by_hand() -> None:
    b = PositionBook(NOW)
    # entity 0 holds wallet 1 (EVM, chain 1) and wallet 2 (Solana, chain 9)
    b.upsert(
        call(
            "short",
            size=-1.0,
            chain=1,
            protocol=3,
            wallet=1,
            entity=0,
            collateral_asset=5,
            collateral_amount=500.0,
        )
    )
    b.upsert(call("long", size=1.0, chain=9, protocol=4, wallet=2, entity=0))
    b.upsert(Position("cash", 5, Kind.CASH, size=50.0, chain=9, protocol=4, wallet=2, entity=0))
    b.upsert(
        call(
            "other",
            size=2.0,
            chain=1,
            protocol=3,
            wallet=3,
            entity=1,
            collateral_asset=0,
            collateral_amount=1.0,
        )
    )
    b.tick(0, spot=100.0, vol=0.2)
    b.tick(5, spot=1.0)
    c_price = 7.965567
    cont = contagion(b)
    assert cont.by_protocol[0, 3] == pytest.approx(
        500.0, abs=1e-4
    )  # collateral only: the short is a liability
    assert cont.by_protocol[0, 4] == pytest.approx(c_price + 50.0, abs=1e-4)
    assert cont.by_chain[0, 9] == pytest.approx(c_price + 50.0, abs=1e-4)
    assert cont.by_protocol[1, 3] == pytest.approx(2 * c_price + 100.0, abs=1e-4)
    assert [e for e, _ in cont.losers(protocol=3)] == [0, 1]
    assert cont.losers(chain=42) == []
    with pytest.raises(ValueError, match="exactly one"):
        cont.losers()

    ex = collateral_exposure(b)
    assert ex.amount[5, 3, 1] == 500.0 and ex.value[0, 3, 1] == pytest.approx(100.0)
    assert ex.by_entity[0, 5] == 500.0 and ex.by_entity[1, 0] == pytest.approx(100.0)

    wb = wallet_balance(b, 1)
    assert wb.assets == pytest.approx(500.0) and wb.liabilities == pytest.approx(c_price, abs=1e-5)
    assert wb.equity == pytest.approx(500.0 - c_price, abs=1e-5) and wb.unpriced_rows == 0
    assert wb.by_protocol == {3: pytest.approx((500.0, c_price), abs=1e-5)}


def test_margin_table() -> None:
    t = MarginTable()
    t.put(MarginRecord(wallet=1, entity=0, protocol=3, equity=1000.0, maintenance=400.0, block=10))
    t.put(MarginRecord(wallet=2, entity=0, protocol=3, equity=100.0, maintenance=150.0, block=11))
    t.put(
        MarginRecord(wallet=1, entity=0, protocol=3, equity=1.0, maintenance=1.0, block=9)
    )  # stale: ignored
    used, free, dist = t.by_entity_protocol()[(0, 3)]
    assert (used, free) == (550.0, 550.0) and dist == 0.0  # wallet 2 is liquidatable
    r = t.for_wallet(1)[0]
    assert r.free == 600.0 and r.distance_to_liquidation == pytest.approx(0.6)
    with pytest.raises(ValueError, match="maintenance"):
        MarginRecord(wallet=1, entity=0, protocol=3, equity=1.0, maintenance=-1.0, block=1)


def test_tick_reprices_only_rows_of_that_underlying() -> None:
    b = PositionBook(NOW)
    for i in range(10):
        b.upsert(call(f"a{i}", underlying=0, strike=90.0 + i))
        b.upsert(call(f"b{i}", underlying=1, strike=90.0 + i, entity=1))
    b.upsert(Position("coll", 2, Kind.SPOT, size=1.0, chain=0, protocol=0, wallet=0, entity=0))
    b.tick(0, spot=100.0, vol=0.5)
    b.tick(1, spot=100.0, vol=0.5)
    before = b.col("value").copy()
    agg_before = b.aggregates()
    assert b.tick(1, spot=120.0) == 10
    after = b.col("value")
    rows_a = [b.row_of(f"a{i}") for i in range(10)]
    rows_b = [b.row_of(f"b{i}") for i in range(10)]
    assert np.array_equal(before[rows_a], after[rows_a])  # untouched, bit for bit
    assert np.all(after[rows_b] > before[rows_b])  # long calls gained
    agg = b.aggregates()
    assert np.array_equal(agg.delta[:, 0], agg_before.delta[:, 0])
    assert b.tick(5, spot=3.0) == 0  # an asset nobody holds
    assert b.unpriced_count == 1  # asset 2 still has no spot


def test_empty_book_views() -> None:
    b = PositionBook(NOW)
    assert b.refresh(NOW + 10) == 0 and len(b) == 0 and b.n_entities == 0
    agg = b.aggregates()
    assert agg.value.shape[0] == 1 and not agg.value.any()
    cont = contagion(b)
    assert not cont.by_protocol.any() and cont.losers(protocol=0) == []
    ex = collateral_exposure(b)
    assert not ex.amount.any()
    assert wallet_balance(b, 3).assets == 0.0


def test_book_uses_a_fitted_vol_surface() -> None:
    from risk.surface import SviSlice, VolSurface

    surf = VolSurface(
        (SviSlice(30 / 365, 0.01, 0.05, -0.4, 0.0, 0.1), SviSlice(90 / 365, 0.04, 0.08, -0.3, 0.0, 0.15))
    )
    b = PositionBook(NOW, rate=0.03)
    b.upsert(call("near", strike=90.0, expiry=NOW + 30 * 86400.0))
    b.upsert(call("mid", strike=110.0, expiry=NOW + 60 * 86400.0))
    b.tick(0, spot=100.0, vol=surf)
    for pid, days, k in (("near", 30, 90.0), ("mid", 60, 110.0)):
        t = days * 86400.0 / YEAR
        fwd = 100.0 * math.exp(0.03 * t)
        expected = float(surf.vol(np.array([k]), np.array([t]), np.array([fwd]))[0])
        assert b.col("iv")[b.row_of(pid)] == pytest.approx(expected, rel=1e-12)


def test_margin_records_from_mirrors() -> None:
    from risk.book_views import records_from_pm, records_from_vaults
    from risk.margin import PMMargin, VaultMargin

    vm = VaultMargin(
        requirement=np.array([400.0, np.nan]),
        headroom=np.array([600.0, np.nan]),
        liquidatable=np.array([False, False]),
        reasons=np.array([0, 1]),
    )
    recs, skipped = records_from_vaults(vm, np.array([7, 8]), np.array([1, 1]), protocol=0, block=55)
    assert skipped == [1] and len(recs) == 1
    assert (recs[0].equity, recs[0].maintenance, recs[0].free, recs[0].block) == (1000.0, 400.0, 600.0, 55)
    pm = PMMargin(
        mm=np.array([-20.0]),
        mtm=np.array([100.0]),
        reasons=np.array([0]),
        marks=np.zeros(0),
        vols=np.zeros(0),
    )
    recs, skipped = records_from_pm(pm, np.array([3]), np.array([2]), protocol=1, block=9)
    assert skipped == [] and recs[0].maintenance == 120.0 and recs[0].free == -20.0
    assert recs[0].distance_to_liquidation == 0.0
    t = MarginTable()
    for r in recs:
        t.put(r)
    assert t.by_entity_protocol()[(2, 1)] == (120.0, -20.0, 0.0)


def test_upsert_positions_batch_equals_one_by_one() -> None:
    rows = [call(i, size=1.0 + i, strike=80.0 + 5 * i, wallet=i % 3, is_call=bool(i % 2)) for i in range(7)]
    one, batch = PositionBook(NOW), PositionBook(NOW)
    for b in (one, batch):
        b.tick(0, spot=100.0, vol=0.5)
    for r in rows:
        one.upsert(r)
    got = batch.upsert_positions(rows)
    assert [batch.position_id(int(r)) for r in got] == list(range(7))
    for f in ("value", "delta", "gamma", "vega", "theta"):
        assert batch.aggregates().entity_totals()[f] == pytest.approx(one.aggregates().entity_totals()[f], rel=1e-12)
    batch.upsert_positions([call(3, size=-2.0)])  # a replace moves the totals like a single upsert does
    one.upsert(call(3, size=-2.0))
    assert batch.aggregates().entity_totals()["delta"] == pytest.approx(one.aggregates().entity_totals()["delta"])
    assert len(batch.upsert_positions([])) == 0
    with pytest.raises(ValueError, match="duplicate position ids"):
        batch.upsert_positions([call(1), call(1)])
