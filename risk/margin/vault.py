"""VaultOptions margin mirror (Opyn Gamma naked margin), vectorised over many vaults.

Must equal the VaultOptions contract's views to 1e-9 relative (the contract works in 1e18 fixed point,
this mirror in float64). Collateral and requirements are USDC amounts (dollars, not 1e6 units).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import IntFlag

import numpy as np
from numpy.typing import ArrayLike

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

DAY = 86400.0


class VaultReason(IntFlag):
    """Why a vault's requirement is NaN (bit flags)."""

    TAU_BEYOND_TABLE = 1  # time to expiry exceeds the last upper-bound entry: the contract reverts
    EXPIRED = 2  # τ <= 0: the series is expired (the contract reverts SeriesExpired; settle instead)


@dataclass(frozen=True)
class UpperBoundTable:
    """Governance table: upper-bound vol factor UB by time to expiry (seconds, strictly increasing)."""

    tau_seconds: tuple[float, ...] = (7 * DAY, 14 * DAY, 28 * DAY, 42 * DAY, 56 * DAY)
    values: tuple[float, ...] = (0.1678, 0.2370, 0.3326, 0.4032, 0.4603)

    def __post_init__(self) -> None:
        t = np.asarray(self.tau_seconds, dtype=np.float64)
        v = np.asarray(self.values, dtype=np.float64)
        if t.ndim != 1 or t.shape != v.shape or t.size == 0:
            raise MarginInputError("UpperBoundTable: tau_seconds and values must be equal-length, non-empty")
        if not (np.all(np.isfinite(t)) and np.all(np.isfinite(v))):
            raise MarginInputError("UpperBoundTable: entries must be finite")
        if np.any(np.diff(t) <= 0):
            raise MarginInputError("UpperBoundTable: tau_seconds must be strictly increasing")
        if np.any(v < 0):
            raise MarginInputError("UpperBoundTable: values must be >= 0")

    def lookup(self, tau_seconds: F64) -> tuple[F64, B]:
        """UB of the smallest stored τ' >= τ, and a mask of rows beyond the last entry (UB = NaN there)."""
        t = np.asarray(self.tau_seconds, dtype=np.float64)
        v = np.asarray(self.values, dtype=np.float64)
        idx = np.searchsorted(t, tau_seconds, side="left")
        beyond = idx >= t.size
        ub = np.where(beyond, np.nan, v[np.minimum(idx, t.size - 1)])
        return ub, beyond


@dataclass(frozen=True)
class VaultParams:
    """Mainnet-style parameters of the naked-margin calculator and its liquidation auction."""

    spot_shock: float = 0.75
    upper_bounds: UpperBoundTable = field(default_factory=UpperBoundTable)
    auction_seconds: float = 3600.0
    oracle_deviation: float = 0.05

    def __post_init__(self) -> None:
        if not 0.0 < self.spot_shock < 1.0:
            raise MarginInputError(f"VaultParams.spot_shock must be in (0, 1), got {self.spot_shock}")
        if self.auction_seconds <= 0:
            raise MarginInputError("VaultParams.auction_seconds must be > 0")


@dataclass(frozen=True)
class VaultBook:
    """Struct-of-arrays vaults: one row per short position, ``vault`` says which vault it belongs to.

    ``amount`` is the (positive) number of options shorted; ``spot`` the USD price per position row
    (gather it from the underlying's feed); ``tau_seconds`` the time to expiry.
    """

    collateral: F64  # USDC per vault
    vault: I64
    is_call: B
    strike: F64
    amount: F64
    tau_seconds: F64
    spot: F64
    underlying: I64  # which underlying each row's spot belongs to (the distance solver moves one at a time)

    @classmethod
    def build(
        cls,
        collateral: ArrayLike,
        vault: ArrayLike,
        is_call: ArrayLike,
        strike: ArrayLike,
        amount: ArrayLike,
        tau_seconds: ArrayLike,
        spot: ArrayLike,
        underlying: ArrayLike | None = None,
    ) -> VaultBook:
        """Validate and normalise the columns (scalars broadcast over positions)."""
        coll = f64_column("collateral", collateral)
        n = int(np.asarray(vault).shape[0]) if np.asarray(vault).ndim == 1 else -1
        if n < 0:
            raise MarginInputError("vault: expected a 1-D array of vault indices")
        book = cls(
            collateral=coll,
            vault=index_column("vault", vault, n, coll.shape[0]),
            is_call=bool_column("is_call", is_call, n),
            strike=f64_column("strike", strike, n),
            amount=f64_column("amount", amount, n),
            tau_seconds=f64_column("tau_seconds", tau_seconds, n),
            spot=f64_column("spot", spot, n),
            underlying=(
                np.zeros(n, dtype=np.int64)
                if underlying is None
                else index_column("underlying", underlying, n, np.iinfo(np.int64).max)
            ),
        )
        require(book.strike > 0, "strike", "> 0")
        require(book.amount >= 0, "amount", ">= 0 (number of options shorted)")
        require(book.spot > 0, "spot", "> 0")
        return book

    @property
    def n_vaults(self) -> int:
        return int(self.collateral.shape[0])


@dataclass(frozen=True)
class VaultMargin:
    """Per-vault result; NaN requirement where ``reasons`` != 0."""

    requirement: F64
    headroom: F64  # collateral − requirement
    liquidatable: B  # collateral < requirement (False where the requirement is NaN)
    reasons: I64


def position_requirement(
    is_call: B, strike: F64, amount: F64, tau_seconds: F64, spot: F64, params: VaultParams
) -> tuple[F64, B]:
    """Per-row naked-margin requirement (USDC) and the rows beyond the UB table.

    put:  amount·(UB·min(K, s·S) + max(K − s·S, 0))
    call: amount·(UB·min(K, S/s) + max(S/s − K, 0))   (USDC at the up-shocked price S/s)
    """
    ub, beyond = params.upper_bounds.lookup(tau_seconds)
    s = params.spot_shock
    shocked = np.where(is_call, spot / s, spot * s)
    bound = np.minimum(strike, shocked)
    intrinsic = np.where(is_call, np.maximum(shocked - strike, 0.0), np.maximum(strike - shocked, 0.0))
    return amount * (ub * bound + intrinsic), beyond


def vault_margin(
    book: VaultBook, params: VaultParams | None = None, row_move: F64 | None = None
) -> VaultMargin:
    """Requirement, headroom and liquidatable flag of every vault.

    ``row_move`` (one spot multiplier per position row) is for the distance-to-liquidation solver;
    leave it None for the contract mirror.
    """
    p = params or VaultParams()
    spot = book.spot if row_move is None else book.spot * row_move
    req_rows, beyond = position_requirement(book.is_call, book.strike, book.amount, book.tau_seconds, spot, p)
    requirement = per_account_sum(book.vault, req_rows, book.n_vaults)
    reasons = np.zeros(book.n_vaults, dtype=np.int64)
    np.bitwise_or.at(reasons, book.vault[beyond], int(VaultReason.TAU_BEYOND_TABLE))
    np.bitwise_or.at(reasons, book.vault[book.tau_seconds <= 0.0], int(VaultReason.EXPIRED))
    requirement = np.where(reasons != 0, np.nan, requirement)
    headroom = book.collateral - requirement
    with np.errstate(invalid="ignore"):
        liquidatable = book.collateral < requirement
    return VaultMargin(requirement=requirement, headroom=headroom, liquidatable=liquidatable, reasons=reasons)


def cash_value(is_call: ArrayLike, strike: ArrayLike, spot: ArrayLike) -> F64:
    """Intrinsic value per option at spot: max(S − K, 0) for calls, max(K − S, 0) for puts."""
    k = np.asarray(strike, dtype=np.float64)
    s = np.asarray(spot, dtype=np.float64)
    return np.where(np.asarray(is_call, dtype=bool), np.maximum(s - k, 0.0), np.maximum(k - s, 0.0))


def vault_auction_price(
    elapsed_seconds: ArrayLike,
    round_spot: ArrayLike,
    strike: ArrayLike,
    is_call: ArrayLike,
    collateral: ArrayLike,
    short_amount: ArrayLike,
    params: VaultParams | None = None,
) -> F64:
    """USDC paid per option by a liquidator, ``elapsed_seconds`` after the Chainlink round that made the vault unsafe.

    The price rises linearly over ``auction_seconds`` from max(cash value − deviation·S, 0) (S = the
    round's price) to collateral / short amount, and stays there afterwards; when the start is already at
    or above the end it is the end price (Opyn caps the interpolation there). Negative elapsed time (a
    round after the one used) is NaN: the contract reverts.
    """
    p = params or VaultParams()
    t = np.asarray(elapsed_seconds, dtype=np.float64)
    s = np.asarray(round_spot, dtype=np.float64)
    amt = np.asarray(short_amount, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        end = np.asarray(collateral, dtype=np.float64) / amt
    start = np.maximum(cash_value(is_call, strike, s) - p.oracle_deviation * s, 0.0)
    frac = np.minimum(t, p.auction_seconds) / p.auction_seconds
    price = np.where(start >= end, end, start + (end - start) * frac)
    return np.where((t >= 0.0) & (amt > 0.0), price, np.nan)


def first_unsafe_round(
    book: VaultBook,
    round_spots: ArrayLike,
    round_age_seconds: ArrayLike,
    params: VaultParams | None = None,
    *,
    underlying: int = 0,
) -> I64:
    """Per vault, the index of the first price round (oldest first) at which it was liquidatable, else −1.

    The liquidator names that round: the auction price is timed from it, so the earliest safe→unsafe
    round pays the most. Pass only rounds after each vault's last owner action (the contract rejects
    older ones). ``round_age_seconds`` = now − round.updatedAt: the requirement at a round uses the time
    to expiry at the round's time, as the contract does.
    """
    prices = f64_column("round_spots", round_spots)
    ages = f64_column("round_age_seconds", round_age_seconds, prices.shape[0])
    require(prices > 0, "round_spots", "> 0")
    require(ages >= 0, "round_age_seconds", ">= 0 (rounds from the past)")
    sel = book.underlying == underlying
    first = np.full(book.n_vaults, -1, dtype=np.int64)
    for r, (price, age) in enumerate(zip(prices, ages, strict=True)):
        at_round = replace(book, tau_seconds=np.where(sel, book.tau_seconds + age, book.tau_seconds))
        move = np.where(sel, price / book.spot, 1.0)
        unsafe = vault_margin(at_round, params, row_move=move).liquidatable & (first < 0)
        first[unsafe] = r
    return first
