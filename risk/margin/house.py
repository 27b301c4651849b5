"""House scenario margin (Deribit PM / Lyra PMRM_2 style) for any wallet's whole book.

Every instrument is fully revalued under 33 scenarios: 9 spot moves (−18 % … +18 % in 4.5 % steps) × vol
{down, none, up} plus 6 dampened extended moves. MM = 0.8 × worst loss. Positions reference an instrument
table, so an option held by 10 000 wallets is priced once per scenario; the per-wallet P&L is then one
sparse (wallets × instruments) @ (instruments × scenarios) product, i.e. the positions × scenarios sum.

Extended moves: m ∈ {0.34, 0.5, 0.66, 1.5, 3, 6} with vol unchanged, each loss weighted by 0.1386 / |m − 1|
(so every extended scenario counts as a 13.86 % effective move). Why these: the down side covers the
classic −34 / −50 / −66 % crash tail; the up side mirrors it in log space (1.5 ≈ 1/0.66, 3 ≈ 1/0.34) and
adds 6× for short-call books, whose loss is unbounded and grows faster than the dampening shrinks it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike

from ._arrays import (
    F64,
    I64,
    MarginInputError,
    bool_column,
    f64_column,
    index_column,
    require,
)
from ._price import black76_price

VOL_DOWN, VOL_NONE, VOL_UP = -1, 0, 1
EXTENDED_MOVES = (0.34, 0.5, 0.66, 1.5, 3.0, 6.0)


@dataclass(frozen=True)
class HouseParams:
    """Scenario grid and vol-shock rule."""

    step: float = 0.045
    steps_each_side: int = 4  # ±4.5 % … ±18 %
    vol_up: float = 0.5
    vol_down: float = 0.3
    short_power: float = 0.3  # p for tau <= 30 d
    long_power: float = 0.13  # p for tau > 30 d
    pivot_days: float = 30.0
    tau_floor_days: float = 1.0
    min_up_vol: float = 0.40
    extended_moves: tuple[float, ...] = EXTENDED_MOVES
    extended_effective_move: float = 0.1386
    mm_factor: float = 0.8

    def __post_init__(self) -> None:
        if any(m <= 0 or m == 1.0 for m in self.extended_moves):
            raise MarginInputError("HouseParams.extended_moves must be > 0 and != 1")
        if not 0 < self.vol_down < 1:
            raise MarginInputError("HouseParams.vol_down must be in (0, 1)")


@dataclass(frozen=True)
class ScenarioTable:
    """Scenario id ↔ (spot multiplier, vol shock −1/0/+1, loss weight). Ids are row numbers."""

    spot_move: F64
    vol_shock: I64
    weight: F64

    def __len__(self) -> int:
        return int(self.spot_move.shape[0])

    def describe(self, sid: int) -> str:
        shock = {VOL_DOWN: "vol down", VOL_NONE: "vol flat", VOL_UP: "vol up"}[int(self.vol_shock[sid])]
        return f"#{sid}: spot {self.spot_move[sid] - 1.0:+.1%}, {shock}, weight {self.weight[sid]:.4f}"


def scenario_table(params: HouseParams | None = None) -> ScenarioTable:
    """Ids 0..26: spot move i (−18 % … +18 %) × vol (down, none, up) as id = 3·i + j; then the extended moves."""
    p = params or HouseParams()
    k = np.arange(-p.steps_each_side, p.steps_each_side + 1, dtype=np.float64)
    base = 1.0 + p.step * k
    spot = np.repeat(base, 3)
    vol = np.tile(np.array([VOL_DOWN, VOL_NONE, VOL_UP], dtype=np.int64), base.shape[0])
    weight = np.ones(spot.shape[0])
    ext = np.asarray(p.extended_moves, dtype=np.float64)
    return ScenarioTable(
        spot_move=np.r_[spot, ext],
        vol_shock=np.r_[vol, np.zeros(ext.shape[0], dtype=np.int64)],
        weight=np.r_[weight, p.extended_effective_move / np.abs(ext - 1.0)],
    )


def shocked_vols(vol: F64, tau: F64, params: HouseParams | None = None) -> tuple[F64, F64]:
    """(vol up, vol down) per instrument by the τ-power rule; τ in years, floored at 1 day."""
    p = params or HouseParams()
    days = np.maximum(tau * 365.0, p.tau_floor_days)
    power = np.where(days <= p.pivot_days, p.short_power, p.long_power)
    factor = (p.pivot_days / days) ** power
    up = np.maximum(vol * (1.0 + p.vol_up * factor), p.min_up_vol)
    down = vol * (1.0 - p.vol_down * factor)
    return up, down


@dataclass(frozen=True)
class HouseBook:
    """Instruments (priced once) and positions (wallet, instrument, signed amount) referencing them.

    Instruments are European options priced with Black-76 on ``forward`` discounted at ``rate``; a spot-
    quoted BSM option is the same with forward = S·exp((r − q)·τ) (see ``forward_from_spot``).
    """

    underlying: I64
    is_call: np.ndarray
    strike: F64
    tau: F64  # years
    forward: F64
    rate: F64
    vol: F64
    wallet: I64
    instrument: I64
    amount: F64
    cash: F64  # per wallet, for equity/headroom
    holdings: sp.csr_matrix = field(repr=False)  # wallets × instruments net amounts (built once)

    @classmethod
    def build(
        cls,
        *,
        underlying: ArrayLike,
        is_call: ArrayLike,
        strike: ArrayLike,
        tau: ArrayLike,
        forward: ArrayLike,
        vol: ArrayLike,
        wallet: ArrayLike,
        instrument: ArrayLike,
        amount: ArrayLike,
        cash: ArrayLike,
        rate: ArrayLike = 0.0,
    ) -> HouseBook:
        """Validate; positions are sorted by wallet once here so the per-wallet reduction is contiguous."""
        und = np.asarray(underlying)
        if und.ndim != 1:
            raise MarginInputError("underlying: expected a 1-D array (one row per instrument)")
        ni = und.shape[0]
        cash_ = f64_column("cash", cash)
        w = np.asarray(wallet)
        if w.ndim != 1:
            raise MarginInputError("wallet: expected a 1-D array (one row per position)")
        n = w.shape[0]
        wallet_ = index_column("wallet", w, n, cash_.shape[0])
        inst_ = index_column("instrument", instrument, n, ni)
        amount_ = f64_column("amount", amount, n)
        order = np.argsort(wallet_, kind="stable")
        holdings = sp.csr_matrix((amount_, (wallet_, inst_)), shape=(cash_.shape[0], ni))
        book = cls(
            underlying=index_column("underlying", und, ni, np.iinfo(np.int64).max),
            is_call=bool_column("is_call", is_call, ni),
            strike=f64_column("strike", strike, ni),
            tau=f64_column("tau", tau, ni),
            forward=f64_column("forward", forward, ni),
            rate=f64_column("rate", rate, ni),
            vol=f64_column("vol", vol, ni),
            wallet=wallet_[order],
            instrument=inst_[order],
            amount=amount_[order],
            cash=cash_,
            holdings=holdings,
        )
        require(book.strike > 0, "strike", "> 0")
        require(book.forward > 0, "forward", "> 0")
        require(book.tau >= 0, "tau", ">= 0 years")
        require(book.vol >= 0, "vol", ">= 0")
        return book

    @property
    def n_wallets(self) -> int:
        return int(self.cash.shape[0])


def forward_from_spot(spot: ArrayLike, tau: ArrayLike, rate: ArrayLike, carry_yield: ArrayLike) -> F64:
    """F = S·exp((r − q)·τ): Black-76 on this forward, discounted at r, is the BSM price."""
    s, t, r, q = (np.asarray(x, dtype=np.float64) for x in (spot, tau, rate, carry_yield))
    return s * np.exp((r - q) * t)


@dataclass(frozen=True)
class HouseMargin:
    """Per wallet: MM (>= 0, a requirement), worst scenario id and its weighted P&L, equity and headroom."""

    mm: F64
    worst_id: I64
    worst_pnl: F64
    equity: F64  # cash + Σ amount·value
    headroom: F64  # equity − MM; < 0 means the house would liquidate
    scenarios: ScenarioTable
    pnl: F64 | None = field(default=None, repr=False)  # (wallets, scenarios) when requested


def scenario_values(
    is_call: np.ndarray,
    strike: F64,
    tau: F64,
    forward: F64,
    rate: F64,
    vol: F64,
    table: ScenarioTable,
    params: HouseParams,
) -> tuple[F64, F64]:
    """(base value per row, weighted value change per row × scenario) for instrument-like rows."""
    up, down = shocked_vols(vol, tau, params)
    vol_by_shock = np.stack([down, vol, up], axis=1)  # column j = shock j − 1
    v_s = vol_by_shock[:, table.vol_shock + 1]
    f_s = forward[:, None] * table.spot_move[None, :]
    base = black76_price(is_call, forward, strike, tau, rate, vol)
    val = black76_price(is_call[:, None], f_s, strike[:, None], tau[:, None], rate[:, None], v_s)
    val -= base[:, None]
    val *= table.weight[None, :]
    return base, val


def _reduce(weights: sp.csr_matrix, dv_rows: F64, base_rows: F64) -> tuple[F64, F64]:
    """Per-wallet weighted P&L (wallets × scenarios) and position value: one sparse product each.

    ``weights`` holds each wallet's net amount per row, so positions × scenarios are reduced without
    materialising a (positions, scenarios) buffer.
    """
    pnl = np.asarray(weights @ dv_rows, dtype=np.float64)
    value = np.asarray(weights @ base_rows, dtype=np.float64)
    return pnl, value


def _finish(
    pnl: F64, value: F64, book: HouseBook, table: ScenarioTable, p: HouseParams, keep: bool
) -> HouseMargin:
    worst = np.argmin(pnl, axis=1)
    worst_pnl = pnl[np.arange(pnl.shape[0]), worst]
    mm = p.mm_factor * np.maximum(-worst_pnl, 0.0)
    equity = book.cash + value
    return HouseMargin(
        mm=mm,
        worst_id=worst.astype(np.int64),
        worst_pnl=worst_pnl,
        equity=equity,
        headroom=equity - mm,
        scenarios=table,
        pnl=pnl if keep else None,
    )


def house_margin(
    book: HouseBook, params: HouseParams | None = None, *, keep_pnl: bool = False
) -> HouseMargin:
    """Scenario MM of every wallet: instruments × scenarios priced once, positions × scenarios reduced."""
    p = params or HouseParams()
    table = scenario_table(p)
    base, dv = scenario_values(
        book.is_call, book.strike, book.tau, book.forward, book.rate, book.vol, table, p
    )
    pnl, value = _reduce(book.holdings, dv, base)
    return _finish(pnl, value, book, table, p, keep_pnl)


def house_margin_moved(
    book: HouseBook, row_move: F64, params: HouseParams | None = None, *, rows: I64 | None = None
) -> HouseMargin:
    """House margin after moving the forward of each POSITION row by ``row_move`` (vol held fixed).

    Moves differ per wallet, so instruments are expanded to positions (priced once per position, not per
    instrument); the distance solver uses this. ``rows`` (indices into the positions, with ``row_move``
    given for those rows only) limits the work to a subset: results are then valid only for wallets whose
    positions are all in the subset.
    """
    p = params or HouseParams()
    table = scenario_table(p)
    sel = np.arange(book.instrument.shape[0]) if rows is None else rows
    i = book.instrument[sel]
    base, dv = scenario_values(
        book.is_call[i],
        book.strike[i],
        book.tau[i],
        book.forward[i] * row_move,
        book.rate[i],
        book.vol[i],
        table,
        p,
    )
    n = i.shape[0]
    weights = sp.csr_matrix((book.amount[sel], (book.wallet[sel], np.arange(n))), shape=(book.n_wallets, n))
    pnl, value = _reduce(weights, dv, base)
    return _finish(pnl, value, book, table, p, False)
