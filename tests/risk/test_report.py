"""Solvency report: numbers from the book, canonical JSON, EIP-191 attestation recovers the signer and
fails after tampering."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal

import pytest
from eth_account import Account

from risk.book import Position, PositionBook
from risk.book_value import Kind
from risk.book_views import MarginRecord, MarginTable
from risk.report import (
    REPORT_KIND,
    Attestation,
    InputRef,
    build_report,
    recover_signer,
    sign_report,
    usd,
    verify_attestation,
)

NOW = 1_800_000_000


def _book() -> tuple[PositionBook, MarginTable]:
    b = PositionBook(NOW)
    b.upsert(
        Position(
            "perp",
            0,
            Kind.PERP,
            size=2.0,
            chain=1,
            protocol=3,
            wallet=7,
            entity=4,
            entry_price=1900.0,
            collateral_asset=1,
            collateral_amount=1000.0,
        )
    )
    b.upsert(
        Position(
            "short", 0, Kind.PERP, size=-1.0, chain=1, protocol=2, wallet=7, entity=4, entry_price=1950.0
        )
    )
    b.upsert(Position("elsewhere", 0, Kind.SPOT, size=5.0, chain=2, protocol=2, wallet=8, entity=4))
    b.tick(0, spot=2000.0)
    b.tick(1, spot=1.0)
    t = MarginTable()
    t.put(MarginRecord(wallet=7, entity=4, protocol=3, equity=1200.0, maintenance=350.5, block=101))
    return b, t


INPUTS = (InputRef("prices:ETH/USD", "arbitrum", 5_000_001), InputRef("positions", "solana", 300_000_002))


def test_report_numbers_and_canonical_json() -> None:
    b, t = _book()
    rep = build_report(
        b,
        7,
        "0x00000000000000000000000000000000000000aA",
        timestamp=NOW,
        inputs=INPUTS,
        margin=t,
        protocol_names={3: "PortfolioMargin"},
        worst_scenario=("spot-18%/vol-up", -1234.5678919),
    )
    # perp +2 @1900 → +200 plus 1000 collateral; short perp −1 @1950 → −50 liability
    assert rep.assets == Decimal("1200.000000") and rep.liabilities == Decimal("50.000000")
    assert rep.equity == Decimal("1150.000000") and rep.entity == 4
    assert rep.margin[0].protocol == "PortfolioMargin" and rep.margin[0].free == Decimal("849.500000")
    assert rep.worst_scenario is not None and rep.worst_scenario.pnl == Decimal("-1234.567892")
    payload = rep.canonical_json()
    d = json.loads(payload)
    assert d["kind"] == REPORT_KIND and d["assets"] == "1200.000000"
    assert d["inputs"] == [  # sorted by source
        {"source": "positions", "chain": "solana", "block": 300_000_002},
        {"source": "prices:ETH/USD", "chain": "arbitrum", "block": 5_000_001},
    ]
    assert (
        json.dumps(d, sort_keys=True, separators=(",", ":")) == payload
    )  # canonical: re-serialises identically
    assert " " not in payload
    # input order does not change the payload
    rep2 = replace(rep, inputs=tuple(reversed(INPUTS)))
    assert rep2.canonical_json() == payload


def test_attestation_recovers_signer_and_detects_tampering() -> None:
    b, t = _book()
    rep = build_report(
        b, 7, "0x00000000000000000000000000000000000000aA", timestamp=NOW, inputs=INPUTS, margin=t
    )
    acct = Account.create()
    att = sign_report(rep, acct)
    assert att.signer == acct.address
    assert recover_signer(att.payload, att.signature) == acct.address
    assert verify_attestation(att) and verify_attestation(att, expected_signer=acct.address)
    assert not verify_attestation(att, expected_signer=Account.create().address)
    tampered = Attestation(
        att.payload.replace('"assets":"1200.000000"', '"assets":"9200.000000"'), att.signature, att.signer
    )
    assert tampered.payload != att.payload
    assert not verify_attestation(tampered)
    flipped = att.signature[:10] + ("0" if att.signature[10] != "0" else "1") + att.signature[11:]
    assert not verify_attestation(Attestation(att.payload, flipped, att.signer))
    assert not verify_attestation(Attestation(att.payload, "0x1234", att.signer))
    # another signer claiming the same signature is rejected
    assert not verify_attestation(Attestation(att.payload, att.signature, Account.create().address))


def test_usd_rounding_and_errors() -> None:
    assert usd(0.1 + 0.2) == Decimal("0.300000")
    assert usd(1.0000005) == Decimal("1.000000")  # half-even
    assert usd(1.0000015) == Decimal("1.000002")
    assert usd(Decimal("-2.5")) == Decimal("-2.500000")
    with pytest.raises(ValueError, match="finite"):
        usd(float("nan"))
    with pytest.raises(ValueError, match="block"):
        InputRef("prices", "base", -1)


def test_unpriced_wallet_is_refused() -> None:
    b = PositionBook(NOW)
    b.upsert(Position("x", 3, Kind.SPOT, size=1.0, chain=0, protocol=0, wallet=1, entity=0))
    with pytest.raises(ValueError, match="no market yet"):
        build_report(b, 1, "0xabc", timestamp=NOW, inputs=INPUTS)
