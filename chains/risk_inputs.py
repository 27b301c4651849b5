"""Adapters' account states + oracle readings → the risk core's margin books (pure conversion, no I/O).

This is the one place where exact on-chain amounts (``Decimal``) become float64: the adapters keep integers
exact, ``risk.margin`` works in float64 arrays. Every row of a book maps back to an account id, so a caller can
line the mirror's results up with the contracts' own views (``VaultInputs.account_ids[i]`` is vault row ``i``).

Inputs must all describe ONE block: states and oracle readings from different blocks would mix two market
states, so that is rejected rather than silently mirrored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from chains.model import AccountState, Instrument, OptionType, OracleSource, Underlying
from chains.protocols.base import OracleReadings
from risk.margin import PMBook, VaultBook

VAULT_PROTOCOL = "vault_options"
PM_PROTOCOL = "portfolio_margin"
PM_CASH = "USD"  # the PortfolioMargin adapter books cash (1e18 USD) under this key

# A valid, flat SVI slice for expired groups: the mirror values them at their payoff and reads no vol.
_EXPIRED_SVI = (0.0, 0.0, 0.0, 0.0, 1.0)


class RiskInputError(ValueError):
    """Adapter output cannot be turned into a margin book; the message names the account / position."""


SliceKey = tuple[Underlying, int]  # (underlying, expiry unix seconds)


@dataclass(frozen=True)
class VaultInputs:
    """A VaultOptions book plus the vault id of each book row and the underlying of each underlying index."""

    book: VaultBook
    account_ids: tuple[str, ...]
    underlyings: tuple[Underlying, ...]
    block: int
    now: int


@dataclass(frozen=True)
class PMInputs:
    """A PortfolioMargin book plus the subaccount id of each row and the (underlying, expiry) of each slice."""

    book: PMBook
    account_ids: tuple[str, ...]
    underlyings: tuple[Underlying, ...]
    slices: tuple[SliceKey, ...]
    block: int
    now: int


def chainlink_spots(readings: OracleReadings) -> dict[Underlying, Decimal]:
    """Spot per asset from the readings' Chainlink quotes (the feeds both margin contracts read).

    Two Chainlink feeds for one asset that disagree are an error: which one the contract uses is not known here.
    """
    spots: dict[Underlying, Decimal] = {}
    for q in readings.quotes:
        if q.source is not OracleSource.CHAINLINK:
            continue
        if q.block != readings.block:
            raise RiskInputError(
                f"quote {q.feed_id} for {q.asset} is from block {q.block}, readings say {readings.block}"
            )
        if q.price <= 0:
            raise RiskInputError(f"quote {q.feed_id} for {q.asset}: price must be > 0, got {q.price}")
        if q.asset in spots and spots[q.asset] != q.price:
            raise RiskInputError(f"two Chainlink prices for {q.asset}: {spots[q.asset]} and {q.price}")
        spots[q.asset] = q.price
    return spots


def _one_block(states: Sequence[AccountState], protocol: str, readings: OracleReadings) -> int:
    """The common block of states and readings; also rejects other protocols and duplicate accounts."""
    seen: set[str] = set()
    for s in states:
        if s.protocol != protocol:
            raise RiskInputError(f"account {s.account_id}: protocol {s.protocol!r}, expected {protocol!r}")
        if s.account_id in seen:
            raise RiskInputError(f"account {s.account_id} appears twice")
        seen.add(s.account_id)
        if s.block != readings.block:
            raise RiskInputError(
                f"account {s.account_id} was read at block {s.block}, the oracle readings at {readings.block}"
            )
    return readings.block


def _expiry_ts(state: AccountState, i: int) -> int:
    exp = state.positions[i].instrument.expiry
    if exp is None:
        raise RiskInputError(f"account {state.account_id} position {i}: not an option (no expiry)")
    ts = exp.timestamp()
    if ts != int(ts):
        raise RiskInputError(f"account {state.account_id} position {i}: expiry {exp} is not a whole second")
    return int(ts)


class _Options:
    """(underlying, is_call, strike, expiry) per instrument, converted once per distinct instrument.

    Why a cache: adapters share one Instrument object per series across all accounts, and the Decimal →
    float and datetime → seconds conversions dominate the cost of a book of thousands of accounts.
    """

    def __init__(self) -> None:
        self._seen: dict[Instrument, tuple[Underlying, bool, float, int]] = {}

    def __call__(self, state: AccountState, i: int) -> tuple[Underlying, bool, float, int]:
        inst = state.positions[i].instrument
        got = self._seen.get(inst)
        if got is None:
            got = self._seen[inst] = _option(state, i)
        return got


def _option(state: AccountState, i: int) -> tuple[Underlying, bool, float, int]:
    """(underlying, is_call, strike, expiry) of one option position, with the multiplier checked."""
    inst = state.positions[i].instrument
    if inst.option_type is None or inst.strike is None:
        raise RiskInputError(f"account {state.account_id} position {i} ({inst.key}): not an option")
    if inst.multiplier != 1:
        raise RiskInputError(
            f"account {state.account_id} position {i} ({inst.key}): multiplier {inst.multiplier} != 1 "
            "(both protocols quote one option per unit of the underlying)"
        )
    return inst.underlying, inst.option_type is OptionType.CALL, float(inst.strike), _expiry_ts(state, i)


def _spot_of(spots: Mapping[Underlying, Decimal], u: Underlying, where: str) -> float:
    if u not in spots:
        raise RiskInputError(f"{where}: no spot price for {u} in the oracle readings")
    return float(spots[u])


def vault_inputs(states: Sequence[AccountState], readings: OracleReadings, now: int) -> VaultInputs:
    """VaultBook of VaultOptions vault states (one short per vault at most), ``now`` = the block's timestamp.

    Collateral is the vault's single collateral balance (USDC); each short becomes one row with amount = −size.
    Vaults without a short get no rows (requirement 0, as the contract says).
    """
    block = _one_block(states, VAULT_PROTOCOL, readings)
    spots = chainlink_spots(readings)
    unders: dict[Underlying, int] = {}  # underlying -> index, in first-seen order
    collateral: list[float] = []
    option = _Options()
    rows: dict[str, list[float | int | bool]] = {
        k: [] for k in ("vault", "is_call", "strike", "amount", "tau", "spot", "und")
    }
    for v, s in enumerate(states):
        if len(s.collateral) != 1:
            raise RiskInputError(
                f"vault {s.account_id}: expected one collateral balance, got {dict(s.collateral)}"
            )
        collateral.append(float(next(iter(s.collateral.values()))))
        for i, p in enumerate(s.positions):
            if p.size >= 0:
                raise RiskInputError(
                    f"vault {s.account_id} position {i}: size {p.size} is not a short (holder states are not vaults)"
                )
            u, is_call, strike, expiry = option(s, i)
            unders.setdefault(u, len(unders))
            rows["vault"].append(v)
            rows["is_call"].append(is_call)
            rows["strike"].append(strike)
            rows["amount"].append(float(-p.size))
            rows["tau"].append(float(expiry - now))
            rows["spot"].append(_spot_of(spots, u, f"vault {s.account_id}"))
            rows["und"].append(unders[u])
    book = VaultBook.build(
        collateral=np.asarray(collateral, dtype=np.float64),
        vault=np.asarray(rows["vault"], dtype=np.int64),
        is_call=np.asarray(rows["is_call"], dtype=bool),
        strike=np.asarray(rows["strike"], dtype=np.float64),
        amount=np.asarray(rows["amount"], dtype=np.float64),
        tau_seconds=np.asarray(rows["tau"], dtype=np.float64),
        spot=np.asarray(rows["spot"], dtype=np.float64),
        underlying=np.asarray(rows["und"], dtype=np.int64),
    )
    return VaultInputs(book, tuple(s.account_id for s in states), tuple(unders), block, now)


def pm_inputs(
    states: Sequence[AccountState],
    readings: OracleReadings,
    now: int,
    settlements: Mapping[SliceKey, Decimal] | None = None,
) -> PMInputs:
    """PMBook of PortfolioMargin subaccount states, ``now`` = the block's timestamp.

    Live positions need the (underlying, expiry) vol slice from ``readings`` (forward + SVI); expired ones
    are valued at their payoff against ``settlements[(underlying, expiry)]`` when fixed, else the spot.
    """
    block = _one_block(states, PM_PROTOCOL, readings)
    spots = chainlink_spots(readings)
    fixed = dict(settlements or {})
    vols: dict[SliceKey, tuple[float, ...]] = {}
    for sl in readings.vol_slices:
        key = (sl.asset, int(sl.expiry.timestamp()))
        if sl.block != readings.block:
            raise RiskInputError(f"vol slice {key} is from block {sl.block}, readings say {readings.block}")
        vols[key] = tuple(float(x) for x in (sl.a, sl.b, sl.rho, sl.m, sl.sigma, sl.forward))
    unders: dict[Underlying, int] = {}
    slice_keys: dict[SliceKey, int] = {}
    slice_rows: list[tuple[float, ...]] = []  # (a, b, rho, m, sigma, forward, settlement)
    cash: list[float] = []
    option = _Options()
    cols: dict[str, list[float | int | bool]] = {
        k: [] for k in ("account", "slice", "is_call", "strike", "amount")
    }
    for a, s in enumerate(states):
        extra = set(s.collateral) - {PM_CASH}
        if extra:
            raise RiskInputError(
                f"account {s.account_id}: unexpected collateral {sorted(extra)} (cash is {PM_CASH})"
            )
        cash.append(float(s.collateral.get(PM_CASH, Decimal(0))))
        for i, p in enumerate(s.positions):
            u, is_call, strike, expiry = option(s, i)
            key = (u, expiry)
            if key not in slice_keys:
                where = f"account {s.account_id} position {i} ({p.instrument.key})"
                spot = _spot_of(spots, u, where)
                unders.setdefault(u, len(unders))
                settle = fixed.get(key, Decimal(0))
                if settle < 0:
                    raise RiskInputError(f"settlement price of {key} must be >= 0, got {settle}")
                if expiry > now:
                    if key not in vols:
                        raise RiskInputError(
                            f"{where}: no vol slice for {u} expiry {expiry} in the oracle readings"
                        )
                    slice_rows.append((*vols[key], float(settle)))
                else:  # expired: no vol is read; the forward is unused but must be positive
                    slice_rows.append((*_EXPIRED_SVI, float(settle) if settle > 0 else spot, float(settle)))
                slice_keys[key] = len(slice_keys)
            cols["account"].append(a)
            cols["slice"].append(slice_keys[key])
            cols["is_call"].append(is_call)
            cols["strike"].append(strike)
            cols["amount"].append(float(p.size))
    sl_arr = np.asarray(slice_rows, dtype=np.float64).reshape(-1, 7)
    book = PMBook.build(
        cash=np.asarray(cash, dtype=np.float64),
        spot=np.asarray([_spot_of(spots, u, "underlying") for u in unders], dtype=np.float64),
        slice_underlying=np.asarray([unders[k[0]] for k in slice_keys], dtype=np.int64),
        slice_expiry=np.asarray([float(k[1]) for k in slice_keys], dtype=np.float64),
        slice_forward=sl_arr[:, 5],
        svi=(sl_arr[:, 0], sl_arr[:, 1], sl_arr[:, 2], sl_arr[:, 3], sl_arr[:, 4]),
        account=np.asarray(cols["account"], dtype=np.int64),
        slice=np.asarray(cols["slice"], dtype=np.int64),
        is_call=np.asarray(cols["is_call"], dtype=bool),
        strike=np.asarray(cols["strike"], dtype=np.float64),
        amount=np.asarray(cols["amount"], dtype=np.float64),
        now=float(now),
        slice_settlement=sl_arr[:, 6],
    )
    return PMInputs(book, tuple(s.account_id for s in states), tuple(unders), tuple(slice_keys), block, now)
