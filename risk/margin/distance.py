"""Distance to liquidation: the smallest spot move (down and up, one underlying, vol fixed) that makes an
account's margin headroom negative, solved for all accounts at once.

Method: the headroom is evaluated for every account on a shared grid of moves (geometric in |ln m|, so
small moves are resolved finely); the first grid point where an account is liquidatable brackets its
root with the last safe point; Illinois regula falsi in ln m (with a bisection every 4th step as a
guard) then narrows every bracket at once. Returned moves are the unsafe end of a bracket narrower than
``tol`` in ln m. A liquidation window narrower than the grid spacing (consecutive grid moves differ by
~24 % in |ln m| with the defaults) can be missed; every margin here is continuous in spot, so a missed
window needs headroom that dips below 0 and recovers between two grid points.

Headroom per protocol: VaultOptions collateral − requirement; PortfolioMargin MM; house equity − house MM.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ._arrays import F64, MarginInputError
from .house import HouseBook, HouseParams, house_margin, house_margin_moved
from .portfolio import PMBook, PMParams, pm_margin, pm_vols
from .vault import VaultBook, VaultParams, vault_margin

Headroom = Callable[[F64], F64]


@dataclass(frozen=True)
class Distance:
    """Relative spot moves per account: ``down`` = 1 − m (spot falls by that fraction), ``up`` = m − 1.

    0 when already liquidatable, +inf when no move within the range liquidates, NaN when the margin is
    undefined (see the mirror's reasons).
    """

    down: F64
    up: F64


@dataclass(frozen=True)
class DistanceRange:
    """Search range and accuracy: down to −99 %, up to 10× spot, |ln m| resolved to 1e-10."""

    max_down: float = 0.99
    max_up_multiple: float = 10.0
    grid_points: int = 40
    first_step: float = 1e-3  # smallest |ln m| on the grid
    tol: float = 1e-10
    max_iter: int = 80

    def __post_init__(self) -> None:
        if not 0.0 < self.max_down < 1.0:
            raise MarginInputError("DistanceRange.max_down must be in (0, 1)")
        if self.max_up_multiple <= 1.0:
            raise MarginInputError("DistanceRange.max_up_multiple must be > 1")
        if self.grid_points < 2 or self.first_step <= 0:
            raise MarginInputError("DistanceRange: need grid_points >= 2 and first_step > 0")


def solve_move(
    headroom: Headroom,
    n: int,
    *,
    up: bool,
    rng: DistanceRange | None = None,
    headroom_common: Callable[[float], F64] | None = None,
) -> F64:
    """Smallest |ln m| per account with headroom(m) < 0 in one direction; returns the move as 1 − m or m − 1.

    ``headroom(moves)`` takes one spot multiplier per account; ``headroom_common(m)`` (optional) is a
    faster equivalent for the same multiplier for everyone, used on the grid.
    """
    r = rng or DistanceRange()
    common = headroom_common or (lambda m: headroom(np.full(n, m)))
    h0 = common(1.0)
    limit = np.log(r.max_up_multiple) if up else -np.log1p(-r.max_down)
    grid = np.geomspace(r.first_step, limit, r.grid_points) * (1.0 if up else -1.0)

    out = np.full(n, np.inf)
    out[h0 < 0.0] = 0.0
    out[np.isnan(h0)] = np.nan
    pending = h0 >= 0.0
    lo = np.zeros(n)
    h_lo = np.where(pending, h0, 0.0)
    hi = np.zeros(n)
    h_hi = np.zeros(n)
    found = np.zeros(n, dtype=bool)
    for x in grid:
        if not pending.any():
            break
        h = common(float(np.exp(x)))
        hit = pending & (h < 0.0)
        hi[hit] = x
        h_hi[hit] = h[hit]
        found |= hit
        pending &= ~hit
        step = pending & ~np.isnan(h)
        lo[step] = x
        h_lo[step] = h[step]

    active = found.copy()
    side = np.zeros(n, dtype=np.int8)  # which end moved last: Illinois halves the stale end's value
    for it in range(r.max_iter):
        active &= np.abs(hi - lo) > r.tol * np.maximum(1.0, np.abs(hi))
        if not active.any():
            break
        with np.errstate(divide="ignore", invalid="ignore"):
            x_new = hi - h_hi * (hi - lo) / (h_hi - h_lo)
        mid = 0.5 * (lo + hi)
        inside = (np.minimum(lo, hi) < x_new) & (x_new < np.maximum(lo, hi))
        x_new = np.where(inside & (it % 4 != 3), x_new, mid)
        x_eval = np.where(active, x_new, hi)
        h = headroom(np.exp(x_eval))
        unsafe = active & (h < 0.0)
        safe = active & ~(h < 0.0)
        h_lo = np.where(unsafe & (side == 1), 0.5 * h_lo, h_lo)
        h_hi = np.where(safe & (side == -1), 0.5 * h_hi, h_hi)
        hi = np.where(unsafe, x_eval, hi)
        h_hi = np.where(unsafe, h, h_hi)
        lo = np.where(safe, x_eval, lo)
        h_lo = np.where(safe, np.nan_to_num(h, nan=0.0), h_lo)
        side = np.where(unsafe, 1, np.where(safe, -1, side)).astype(np.int8)

    moved = np.expm1(hi) if up else -np.expm1(hi)
    out[found] = moved[found]
    return out


def _both(
    headroom: Headroom, n: int, rng: DistanceRange | None, common: Callable[[float], F64] | None
) -> Distance:
    return Distance(
        down=solve_move(headroom, n, up=False, rng=rng, headroom_common=common),
        up=solve_move(headroom, n, up=True, rng=rng, headroom_common=common),
    )


def vault_distance(
    book: VaultBook,
    params: VaultParams | None = None,
    *,
    underlying: int = 0,
    rng: DistanceRange | None = None,
) -> Distance:
    """Spot moves of ``underlying`` that make collateral < requirement, per vault."""
    sel = book.underlying == underlying

    def headroom(move: F64) -> F64:
        return vault_margin(book, params, row_move=np.where(sel, move[book.vault], 1.0)).headroom

    return _both(headroom, book.n_vaults, rng, None)


def pm_distance(
    book: PMBook, params: PMParams | None = None, *, underlying: int = 0, rng: DistanceRange | None = None
) -> Distance:
    """Spot (and forward) moves of ``underlying`` that make MM < 0, per subaccount, SVI vols held fixed."""
    vols = pm_vols(book)
    sel = book.position_underlying == underlying
    last: dict[str, F64] = {}

    def headroom(move: F64) -> F64:
        # Reprice only accounts whose move changed since the previous call (see house_distance).
        if "move" in last:
            changed = move != last["move"]
            rows = np.flatnonzero(changed[book.account])
            sub = dataclasses.replace(
                book,
                account=book.account[rows],
                slice=book.slice[rows],
                is_call=book.is_call[rows],
                strike=book.strike[rows],
                amount=book.amount[rows],
            )
            row_move = np.where(sel[rows], move[book.account[rows]], 1.0)
            part = pm_margin(sub, params, row_move=row_move, vols=(vols[0][rows], vols[1][rows])).mm
            out = last["h"].copy()
            out[changed] = part[changed]
        else:
            out = pm_margin(book, params, row_move=np.where(sel, move[book.account], 1.0), vols=vols).mm
        last["move"], last["h"] = move.copy(), out
        return out

    return _both(headroom, book.n_accounts, rng, None)


def house_distance(
    book: HouseBook,
    params: HouseParams | None = None,
    *,
    underlying: int = 0,
    rng: DistanceRange | None = None,
) -> Distance:
    """Forward moves of ``underlying`` that make equity < house MM, per wallet, vols held fixed."""
    sel_inst = book.underlying == underlying
    sel_rows = sel_inst[book.instrument]
    last: dict[str, F64] = {}

    def headroom(move: F64) -> F64:
        # Only wallets whose move changed since the previous call are repriced: during the refinement
        # converged wallets keep their move, so the work shrinks as brackets close.
        if "move" in last:
            changed = move != last["move"]
            rows = np.flatnonzero(changed[book.wallet])
            out = last["h"].copy()
            part = house_margin_moved(
                book, np.where(sel_rows[rows], move[book.wallet[rows]], 1.0), params, rows=rows
            )
            out[changed] = part.headroom[changed]
        else:
            out = house_margin_moved(book, np.where(sel_rows, move[book.wallet], 1.0), params).headroom
        last["move"], last["h"] = move.copy(), out
        return out

    def common(m: float) -> F64:
        moved = dataclasses.replace(book, forward=np.where(sel_inst, book.forward * m, book.forward))
        return house_margin(moved, params).headroom

    return _both(headroom, book.n_wallets, rng, common)
