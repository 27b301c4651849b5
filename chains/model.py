"""The normalized model: what every chain adapter produces and the risk core consumes.

Adapters decode raw chain state (integers with token decimals, fixed-point prices, account bytes) into these
frozen types with *exact* arithmetic (Decimal built from integers, never from floats). Amounts become float64
only when they cross into the risk core's arrays.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Context, Decimal
from enum import StrEnum
from types import MappingProxyType


class Underlying(StrEnum):
    """Canonical underlyings: one risk bucket whatever the chain-local wrapper is called."""

    ETH = "ETH"
    BTC = "BTC"
    SOL = "SOL"
    USD = "USD"


class InstrumentKind(StrEnum):
    OPTION = "option"
    PERP = "perp"
    SPOT = "spot"
    CASH = "cash"


class OptionType(StrEnum):
    CALL = "call"
    PUT = "put"


class ExerciseStyle(StrEnum):
    EUROPEAN = "european"
    AMERICAN = "american"


class OracleSource(StrEnum):
    CHAINLINK = "chainlink"
    PYTH = "pyth"
    VOLFEED = "volfeed"
    AMM = "amm"


# Chain-local asset symbols → canonical underlying. Adapters look up the token's symbol here, so WETH on any
# EVM chain and wormhole-style ETH on Solana land in the same ETH bucket.
_CANONICAL: dict[str, Underlying] = {
    "ETH": Underlying.ETH,
    "WETH": Underlying.ETH,
    "WHETH": Underlying.ETH,  # wormhole-wrapped ETH on Solana
    "SOETH": Underlying.ETH,
    "BTC": Underlying.BTC,
    "WBTC": Underlying.BTC,
    "CBBTC": Underlying.BTC,
    "SOL": Underlying.SOL,
    "WSOL": Underlying.SOL,
    "USD": Underlying.USD,
    "USDC": Underlying.USD,
    "USDT": Underlying.USD,
}


# uint256 has 78 digits; the default Decimal context (28 digits) would silently round on-chain amounts.
EXACT = Context(prec=160)


class UnknownAssetError(ValueError):
    """A chain-local asset has no canonical underlying; add it to the mapping or configure an alias."""


def canonical_underlying(local_symbol: str, aliases: Mapping[str, str] | None = None) -> Underlying:
    """Map a chain-local asset symbol (e.g. ``WETH``) to its canonical underlying (``ETH``)."""
    key = local_symbol.strip().upper()
    if aliases and key in {k.upper() for k in aliases}:
        key = {k.upper(): v for k, v in aliases.items()}[key].strip().upper()
    try:
        return _CANONICAL[key]
    except KeyError:
        known = ", ".join(sorted(_CANONICAL))
        raise UnknownAssetError(f"unknown asset symbol {local_symbol!r}; known: {known}") from None


def from_base_units(amount: int, decimals: int) -> Decimal:
    """Exact conversion of an on-chain integer amount with `decimals` to a Decimal (no float rounding)."""
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise TypeError(f"amount must be an int of base units, got {type(amount).__name__}")
    if not 0 <= decimals <= 77:
        raise ValueError(f"decimals must be within 0..77, got {decimals}")
    return Decimal(amount).scaleb(-decimals, context=EXACT)


def to_base_units(amount: Decimal, decimals: int) -> int:
    """Exact inverse of `from_base_units`; refuses amounts that are not representable in `decimals`."""
    scaled = amount.scaleb(decimals, context=EXACT)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} has more than {decimals} decimals")
    return int(scaled)


@dataclass(frozen=True, slots=True)
class Instrument:
    """One tradable thing on one venue. `venue_id` is the venue's own id (series token, series id, mint)."""

    underlying: Underlying
    kind: InstrumentKind
    chain: str
    protocol: str
    venue_id: str
    settlement_asset: str = "USDC"
    option_type: OptionType | None = None
    strike: Decimal | None = None
    expiry: datetime | None = None
    multiplier: Decimal = Decimal(1)
    exercise: ExerciseStyle | None = None

    def __post_init__(self) -> None:
        if self.kind is InstrumentKind.OPTION:
            missing = [n for n in ("option_type", "strike", "expiry") if getattr(self, n) is None]
            if missing:
                raise ValueError(f"option {self.venue_id} on {self.protocol} lacks {', '.join(missing)}")
            assert self.strike is not None and self.expiry is not None
            if self.strike <= 0:
                raise ValueError(f"option {self.venue_id}: strike must be > 0, got {self.strike}")
            if self.expiry.tzinfo is None:
                raise ValueError(f"option {self.venue_id}: expiry must be timezone-aware (UTC)")
        if self.multiplier <= 0:
            raise ValueError(f"{self.venue_id}: multiplier must be > 0, got {self.multiplier}")

    @property
    def key(self) -> str:
        """Globally unique id across chains and protocols."""
        return f"{self.chain}:{self.protocol}:{self.venue_id}"

    def years_to_expiry(self, now: datetime) -> float:
        """Time to expiry in years of 365 days (the convention of the vol feeds); 0 after expiry."""
        if self.expiry is None:
            return 0.0
        return max((self.expiry - now).total_seconds(), 0.0) / (365.0 * 86400.0)


@dataclass(frozen=True, slots=True)
class Position:
    """A signed holding (size in underlying units, + long / − short) of one owner in one instrument."""

    owner: str
    entity: str
    instrument: Instrument
    size: Decimal
    account_id: str
    collateral: Decimal = Decimal(0)

    @property
    def key(self) -> str:
        return f"{self.instrument.key}:{self.account_id}:{self.owner}"


@dataclass(frozen=True, slots=True)
class OracleQuote:
    """One oracle reading with where and when it was read, so freshness can be judged later."""

    source: OracleSource
    asset: Underlying
    price: Decimal
    publish_time: datetime
    chain: str
    block: int
    confidence: Decimal | None = None
    feed_id: str = ""

    def age(self, now: datetime) -> timedelta:
        return now - self.publish_time

    def stale(self, now: datetime, max_age: timedelta) -> bool:
        """Stale when older than `max_age`; a publish time in the future (clock skew) is not stale."""
        return self.age(now) > max_age

    def confidence_ratio(self) -> Decimal | None:
        """conf / price (Pyth); None where the source has no confidence interval."""
        if self.confidence is None or self.price <= 0:
            return None
        return self.confidence / self.price


@dataclass(frozen=True, slots=True)
class VolSlice:
    """A raw-SVI slice of total implied variance for one (underlying, expiry); see contracts' IVolFeed."""

    asset: Underlying
    expiry: datetime
    a: Decimal
    b: Decimal
    rho: Decimal
    m: Decimal
    sigma: Decimal
    forward: Decimal
    updated_at: datetime
    chain: str
    block: int


@dataclass(frozen=True, slots=True)
class AccountState:
    """Everything a protocol's margin rule needs for one account, and the block/slot it was read at."""

    chain: str
    protocol: str
    account_id: str
    owner: str
    block: int
    collateral: Mapping[str, Decimal] = field(default_factory=lambda: MappingProxyType({}))
    positions: tuple[Position, ...] = ()
    params: Mapping[str, Decimal] = field(default_factory=lambda: MappingProxyType({}))
    block_hash: str = ""
    read_at: datetime = field(default_factory=lambda: datetime.now(UTC))
