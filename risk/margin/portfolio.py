"""PortfolioMargin mirror (Lyra v2 standard manager), vectorised over many subaccounts.

All values are signed USD: a margin <= 0 is a requirement, MM < 0 means liquidatable. Must equal the
PortfolioMargin contract's views to 1e-9 relative. Marks are Black-76 (rate 0, as on-chain) at the
slice's forward with the slice's SVI vol (risk/svi.py convention). Expired, unsettled positions are worth
their payoff at the slice's settlement price (or the current spot while none is fixed) in both MM and MtM,
as in the contract's MarginEngine.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntFlag

import numba
import numpy as np
from numpy.typing import ArrayLike

from risk.svi import implied_vol, svi_check, tau_years

from ._arrays import (
    F64,
    I64,
    B,
    MarginInputError,
    bool_column,
    f64_column,
    index_column,
    per_account_sum,
    require,
)
from ._price import black76_price


class PMReason(IntFlag):
    """Why an account's MM / MtM is NaN (the contract reverts for the same accounts)."""

    INVALID_SVI = 2  # the slice fails the SVI validity rule
    NO_VOL = 4  # the slice gives negative total variance at that strike


@dataclass(frozen=True)
class PMParams:
    """Standard-manager parameters (Lyra v2 mainnet config)."""

    short_call_spot: float = 0.09  # short call MM = mark + 0.09·S
    short_put_spot: float = 0.09  # short put MM = mark + max(0.09·S, 0.09·mark)
    short_put_mark: float = 0.09
    unpaired_scale: float = 1.1  # unbounded-upside charge 1.1·F per net short call


@dataclass(frozen=True)
class PMBook:
    """Struct-of-arrays subaccounts.

    Slices (one per (underlying, expiry)): ``slice_underlying``, ``slice_expiry`` (unix s), ``slice_forward``
    and the raw-SVI parameters. Positions: ``account``, ``slice`` (expiry bucket), ``is_call``, ``strike``,
    ``amount`` (signed; < 0 is short). ``spot`` is indexed by underlying, ``cash`` by account.
    """

    cash: F64
    spot: F64
    slice_underlying: I64
    slice_expiry: F64
    slice_forward: F64
    svi_a: F64
    svi_b: F64
    svi_rho: F64
    svi_m: F64
    svi_sigma: F64
    slice_settlement: F64  # fixed settlement price of an expired slice, 0 while not fixed
    account: I64
    slice: I64
    is_call: B
    strike: F64
    amount: F64
    now: float

    @classmethod
    def build(
        cls,
        *,
        cash: ArrayLike,
        spot: ArrayLike,
        slice_underlying: ArrayLike,
        slice_expiry: ArrayLike,
        slice_forward: ArrayLike,
        svi: tuple[ArrayLike, ArrayLike, ArrayLike, ArrayLike, ArrayLike],
        account: ArrayLike,
        slice: ArrayLike,
        is_call: ArrayLike,
        strike: ArrayLike,
        amount: ArrayLike,
        now: float,
        slice_settlement: ArrayLike | None = None,
    ) -> PMBook:
        """Validate and normalise the columns; errors name the field and rows."""
        cash_ = f64_column("cash", cash)
        spot_ = f64_column("spot", spot)
        require(spot_ > 0, "spot", "> 0")
        su = np.asarray(slice_underlying)
        if su.ndim != 1:
            raise MarginInputError("slice_underlying: expected a 1-D array")
        ns = su.shape[0]
        acc = np.asarray(account)
        if acc.ndim != 1:
            raise MarginInputError("account: expected a 1-D array")
        n = acc.shape[0]
        a, b, rho, m, sig = (f64_column(f"svi[{i}]", x, ns) for i, x in enumerate(svi))
        book = cls(
            cash=cash_,
            spot=spot_,
            slice_underlying=index_column("slice_underlying", su, ns, spot_.shape[0]),
            slice_expiry=f64_column("slice_expiry", slice_expiry, ns),
            slice_forward=f64_column("slice_forward", slice_forward, ns),
            svi_a=a,
            svi_b=b,
            svi_rho=rho,
            svi_m=m,
            svi_sigma=sig,
            slice_settlement=f64_column(
                "slice_settlement", np.zeros(ns) if slice_settlement is None else slice_settlement, ns
            ),
            account=index_column("account", acc, n, cash_.shape[0]),
            slice=index_column("slice", slice, n, ns),
            is_call=bool_column("is_call", is_call, n),
            strike=f64_column("strike", strike, n),
            amount=f64_column("amount", amount, n),
            now=float(now),
        )
        require(book.slice_forward > 0, "slice_forward", "> 0")
        require(book.slice_settlement >= 0, "slice_settlement", ">= 0 (0 = not fixed yet)")
        require(book.strike > 0, "strike", "> 0")
        return book

    @property
    def n_accounts(self) -> int:
        return int(self.cash.shape[0])

    @property
    def n_slices(self) -> int:
        return int(self.slice_forward.shape[0])

    @property
    def position_underlying(self) -> I64:
        return self.slice_underlying[self.slice]

    def scaled(self, keep: F64, cash_add: F64 | None = None) -> PMBook:
        """The book after each account keeps ``keep[account]`` of every position and of its cash.

        ``cash_add`` (per account) is added afterwards: used to apply an auction bid (take p, pay p·MtM·d).
        """
        cash = self.cash * keep + (0.0 if cash_add is None else cash_add)
        fields = dict(self.__dict__)
        fields["cash"] = cash
        fields["amount"] = self.amount * keep[self.account]
        return PMBook(**fields)


@dataclass(frozen=True)
class PMMargin:
    """Per-account MM and MtM (NaN where ``reasons`` != 0), plus the per-position marks and vols used."""

    mm: F64
    mtm: F64
    reasons: I64
    marks: F64
    vols: F64


@numba.njit(cache=True)
def _max_loss_groups(
    starts: I64, ends: I64, is_call: B, strike: F64, amount: F64
) -> F64:  # pragma: no cover - compiled
    """min over settlement prices {0} ∪ strikes of min(Σ payoffs, 0), per contiguous group of rows.

    O(n²) per group, the same loop the contract runs; groups are one account's one expiry.
    """
    out = np.empty(starts.shape[0])
    for g in range(starts.shape[0]):
        s = starts[g]
        e = ends[g]
        at_zero = 0.0
        for i in range(s, e):
            if not is_call[i]:
                at_zero += amount[i] * strike[i]
        worst = min(at_zero, 0.0)
        for j in range(s, e):
            price = strike[j]
            total = 0.0
            for i in range(s, e):
                if is_call[i]:
                    total += amount[i] * max(price - strike[i], 0.0)
                else:
                    total += amount[i] * max(strike[i] - price, 0.0)
            worst = min(worst, total)
        out[g] = worst
    return out


def pm_vols(book: PMBook) -> tuple[F64, I64]:
    """SVI vol of every live position at its slice (no spot move) and per-position PMReason flags.

    Expired rows get NaN vol and no reason: they are valued at their payoff, no vol is read.
    """
    tau = tau_years(book.slice_expiry, book.now)[book.slice]
    sv = book.slice
    vols = implied_vol(
        book.strike,
        book.slice_forward[sv],
        tau,
        book.svi_a[sv],
        book.svi_b[sv],
        book.svi_rho[sv],
        book.svi_m[sv],
        book.svi_sigma[sv],
    )
    bad_svi = svi_check(book.svi_a, book.svi_b, book.svi_rho, book.svi_m, book.svi_sigma)[sv] != 0
    reasons = np.zeros(book.amount.shape[0], dtype=np.int64)
    live = tau > 0.0
    reasons |= np.where(live & bad_svi, int(PMReason.INVALID_SVI), 0)
    reasons |= np.where(live & (reasons == 0) & ~np.isfinite(vols), int(PMReason.NO_VOL), 0)
    return vols, reasons


def pm_margin(
    book: PMBook,
    params: PMParams | None = None,
    *,
    row_move: F64 | None = None,
    vols: tuple[F64, I64] | None = None,
) -> PMMargin:
    """Maintenance margin and mark-to-market of every account.

    ``row_move`` multiplies spot and forward per position row with the vols held fixed (the distance
    solver's scenario); ``vols`` lets the caller reuse ``pm_vols(book)`` across many evaluations.
    """
    p = params or PMParams()
    vol, pos_reasons = vols if vols is not None else pm_vols(book)
    n = book.amount.shape[0]
    move = np.ones(n) if row_move is None else row_move
    fwd = book.slice_forward[book.slice] * move
    spot = book.spot[book.position_underlying] * move
    tau = tau_years(book.slice_expiry, book.now)[book.slice]
    expired = tau <= 0.0
    live = (pos_reasons == 0) & ~expired
    safe_vol = np.where(live, vol, 0.2)
    safe_tau = np.where(live, tau, 1.0)
    settle = book.slice_settlement[book.slice]
    px = np.where(settle > 0.0, settle, spot)
    payoff = np.where(book.is_call, np.maximum(px - book.strike, 0.0), np.maximum(book.strike - px, 0.0))
    model = black76_price(book.is_call, fwd, book.strike, safe_tau, 0.0, safe_vol)
    marks = np.where(expired, payoff, np.where(live, model, np.nan))
    a = book.amount
    value = a * marks
    # expired rows take no part in the expiry groups' margin: their payoff value enters MM directly
    a_live = np.where(expired, 0.0, a)
    short = a_live < 0.0
    iso_call = value + p.short_call_spot * spot * a
    iso_put = value + np.minimum(p.short_put_spot * spot * a, p.short_put_mark * a * marks)
    isolated = np.where(short, np.where(book.is_call, iso_call, iso_put), 0.0)

    # Per (account, slice) group: sort rows so each group is contiguous, then reduce.
    key = book.account * book.n_slices + book.slice
    order = np.argsort(key, kind="stable")
    skey = key[order]
    starts = np.flatnonzero(np.r_[True, skey[1:] != skey[:-1]]) if n else np.zeros(0, dtype=np.int64)
    ends = np.r_[starts[1:], n].astype(np.int64) if n else np.zeros(0, dtype=np.int64)
    g_key = skey[starts]
    g_account = g_key // book.n_slices
    g_slice = g_key % book.n_slices
    g_of_row = np.empty(n, dtype=np.int64)
    g_of_row[order] = np.repeat(np.arange(starts.shape[0]), ends - starts)
    n_groups = starts.shape[0]
    g_isolated = np.bincount(g_of_row, weights=isolated, minlength=n_groups)
    g_net_calls = np.bincount(g_of_row, weights=np.where(book.is_call, a_live, 0.0), minlength=n_groups)
    g_max_loss = _max_loss_groups(
        starts.astype(np.int64),
        ends,
        np.ascontiguousarray(book.is_call[order]),
        np.ascontiguousarray(book.strike[order]),
        np.ascontiguousarray(a_live[order]),
    )
    g_fwd = book.slice_forward[g_slice] * (move[order][starts] if n else 1.0)
    unbounded = np.where(g_net_calls < 0.0, p.unpaired_scale * g_fwd * g_net_calls, 0.0)
    g_margin = np.maximum(g_isolated, g_max_loss + unbounded)

    expired_value = per_account_sum(book.account, np.where(expired, value, 0.0), book.n_accounts)
    mm = book.cash + np.bincount(g_account, weights=g_margin, minlength=book.n_accounts) + expired_value
    mtm = book.cash + per_account_sum(book.account, np.where(pos_reasons == 0, value, 0.0), book.n_accounts)
    reasons = np.zeros(book.n_accounts, dtype=np.int64)
    np.bitwise_or.at(reasons, book.account, pos_reasons)
    mm = np.where(reasons != 0, np.nan, mm)
    mtm = np.where(reasons != 0, np.nan, mtm)
    return PMMargin(mm=mm, mtm=mtm, reasons=reasons, marks=marks, vols=vol)
