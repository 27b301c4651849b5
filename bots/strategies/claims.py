"""Shared facts for the claimer and the disputer: liquidation events as the source chains show them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class LiquidationEvent:
    """A liquidation log on a source chain, decoded by the protocol adapter, with the loss it implies."""

    chain: str
    protocol: str
    account: str
    tx_hash: str
    log_index: int
    block: int
    loss_usd: Decimal
    at: datetime

    @property
    def ref(self) -> str:
        return f"{self.chain}:{self.tx_hash}:{self.log_index}"


@dataclass(frozen=True, slots=True)
class Cover:
    """A CoverMarket policy: who/what is covered, up to how much, until when."""

    cover_id: str
    entity: str
    account: str
    chain: str
    protocol: str
    limit_usd: Decimal
    expiry: datetime
    holder: str = ""  # who may claim on it (CoverMarket rejects anyone else: NotCoverHolder)


@dataclass(frozen=True, slots=True)
class FiledClaim:
    """A claim as CoverMarket shows it (ours or anyone's)."""

    claim_id: str
    cover: Cover
    claimant: str
    evidence_ref: str  # "<chain>:<tx hash>:<log index>"
    loss_usd: Decimal
    liveness_end: datetime
    disputed: bool = False
    settled: bool = False
