"""Per-wallet solvency report, canonical serialisation and EIP-191 attestation.

The payload is sorted-key, whitespace-free JSON with every dollar amount as a decimal string rounded
half-even to 1e-6 (floats never leave the risk core), so any party can re-serialise the same report
byte-for-byte and check the signature.  Signing is pure: the caller passes an eth-account
``LocalAccount``; nothing here stores or loads keys.  The ``kind`` field is a domain tag so a report
signature cannot be replayed as some other signed message of ours.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Protocol

from eth_account import Account
from eth_account.messages import encode_defunct

from risk.book import PositionBook
from risk.book_views import MarginTable, wallet_balance

REPORT_KIND = "rtrm/solvency-report/v1"
_QUANTUM = Decimal("0.000001")


def usd(x: float | Decimal) -> Decimal:
    """Dollar amount as a Decimal rounded half-even to 1e-6; refuses NaN/inf."""
    if isinstance(x, float) and not math.isfinite(x):
        raise ValueError(f"amount must be finite, got {x!r}")
    d = Decimal(repr(x)) if isinstance(x, float) else Decimal(x)
    return d.quantize(_QUANTUM, rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True)
class InputRef:
    """Where one input came from: e.g. ("prices:ETH/USD", "arbitrum", 1234567) or ("positions", "solana", slot)."""

    source: str
    chain: str
    block: int  # block number (EVM) or slot (Solana)

    def __post_init__(self) -> None:
        if not self.source or not self.chain or self.block < 0:
            raise ValueError(f"InputRef needs a source, a chain and block/slot >= 0, got {self!r}")


@dataclass(frozen=True)
class ProtocolMargin:
    protocol: str
    equity: Decimal
    used: Decimal
    free: Decimal
    block: int


@dataclass(frozen=True)
class WorstScenario:
    """The house scenario (risk.margin) with the largest loss: its id and the wallet's P&L under it."""

    scenario_id: str
    pnl: Decimal


@dataclass(frozen=True)
class SolvencyReport:
    wallet: str
    entity: int
    timestamp: int
    assets: Decimal
    liabilities: Decimal
    margin: tuple[ProtocolMargin, ...]
    worst_scenario: WorstScenario | None
    inputs: tuple[InputRef, ...]

    @property
    def equity(self) -> Decimal:
        return self.assets - self.liabilities

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": REPORT_KIND,
            "wallet": self.wallet,
            "entity": self.entity,
            "timestamp": self.timestamp,
            "assets": str(self.assets),
            "liabilities": str(self.liabilities),
            "equity": str(self.equity),
            "margin": [
                {
                    "protocol": m.protocol,
                    "equity": str(m.equity),
                    "used": str(m.used),
                    "free": str(m.free),
                    "block": m.block,
                }
                for m in sorted(self.margin, key=lambda m: m.protocol)
            ],
            "worst_scenario": None
            if self.worst_scenario is None
            else {"id": self.worst_scenario.scenario_id, "pnl": str(self.worst_scenario.pnl)},
            "inputs": [
                {"source": i.source, "chain": i.chain, "block": i.block}
                for i in sorted(self.inputs, key=lambda i: (i.source, i.chain, i.block))
            ],
        }

    def canonical_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=True)


class _Signer(Protocol):
    @property
    def address(self) -> str: ...

    def sign_message(self, signable_message: Any) -> Any: ...


@dataclass(frozen=True)
class Attestation:
    payload: str  # the canonical JSON that was signed
    signature: str  # 0x-prefixed 65-byte r‖s‖v
    signer: str  # checksum address of the signing account


def sign_report(report: SolvencyReport, account: _Signer) -> Attestation:
    """EIP-191 (personal_sign, version 0x45) signature over the canonical JSON."""
    payload = report.canonical_json()
    signed = account.sign_message(encode_defunct(text=payload))
    return Attestation(payload, "0x" + bytes(signed.signature).hex(), account.address)


def recover_signer(payload: str, signature: str) -> str:
    return str(Account.recover_message(encode_defunct(text=payload), signature=signature))


def verify_attestation(att: Attestation, expected_signer: str | None = None) -> bool:
    """True iff the signature over ``payload`` recovers ``att.signer`` (and ``expected_signer`` if given)."""
    try:
        who = recover_signer(att.payload, att.signature)
    except Exception:  # malformed signature bytes: not a valid attestation
        return False
    want = {att.signer.lower()} | ({expected_signer.lower()} if expected_signer else set())
    return len(want) == 1 and who.lower() in want


def build_report(
    book: PositionBook,
    wallet_id: int,
    wallet_address: str,
    *,
    timestamp: int,
    inputs: tuple[InputRef, ...],
    margin: MarginTable | None = None,
    protocol_names: dict[int, str] | None = None,
    worst_scenario: tuple[str, float] | None = None,
) -> SolvencyReport:
    """Assemble a wallet's report from the book (assets/liabilities), the margin table and the worst
    house scenario.  Refuses to report a wallet with unpriced positions (the numbers would be wrong)."""
    bal = wallet_balance(book, wallet_id)
    if bal.unpriced_rows:
        raise ValueError(
            f"wallet {wallet_address}: {bal.unpriced_rows} positions have no market yet; no report"
        )
    rows = book.rows_of_wallet(wallet_id)
    ents = {int(e) for e in book.col("entity")[rows]}
    if len(ents) > 1:
        raise ValueError(f"wallet {wallet_address} maps to several entities {sorted(ents)}")
    names = protocol_names or {}
    recs = margin.for_wallet(wallet_id) if margin is not None else []
    pm = tuple(
        ProtocolMargin(
            names.get(r.protocol, str(r.protocol)), usd(r.equity), usd(r.maintenance), usd(r.free), r.block
        )
        for r in recs
    )
    worst = None if worst_scenario is None else WorstScenario(worst_scenario[0], usd(worst_scenario[1]))
    entity = ents.pop() if ents else (recs[0].entity if recs else -1)
    return SolvencyReport(
        wallet_address,
        entity,
        int(timestamp),
        usd(bal.assets),
        usd(bal.liabilities),
        pm,
        worst,
        tuple(inputs),
    )
