"""Claims wiring without a chain: the loss an AuctionBid shows, decoding evidence logs, the CoverMarket call
builder (exact units, evidence parsing, refusals) and `rtrm run`'s refusals when the claim bots are misconfigured."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from eth_account import Account
from eth_utils import to_checksum_address
from hypothesis import given
from hypothesis import strategies as st

from bots.config import parse_config
from bots.runner import AdapterCallBuilder, RunnerError, Runtime
from bots.sources.claims import (
    AUCTION_BID,
    claim_call,
    decode_auction_bid,
    judgeable,
    pm_bid_loss,
    settled_view,
)
from bots.strategies.claims import Cover, FiledClaim
from bots.strategies.intents import ActionIntent
from chains.protocols.cover_market import CoverMarketAdapter, build_dispute, build_settle, build_submit_claim

WAD = 10**18
PM = "0x00000000000000000000000000000000000000b2"
MARKET = to_checksum_address("0x00000000000000000000000000000000000000c3")
OWNER = "0x00000000000000000000000000000000000000d4"
TX = "0x" + "ab" * 32
AT = datetime(2026, 1, 1, tzinfo=UTC)


def word(v: int) -> str:
    return (v % (1 << 256)).to_bytes(32, "big").hex()


def bid_log(account: int = 7, fraction: int = WAD // 2, price: int = 900 * WAD, mtm: int = 2000 * WAD,
            address: str = PM, topic0: str = AUCTION_BID) -> dict[str, Any]:
    data = "0x" + "".join(word(v) for v in (fraction, price, WAD // 2, -5 * WAD, mtm))
    return {"address": address, "topics": [topic0, "0x" + word(account), "0x" + word(99)], "data": data,
            "transactionHash": TX, "logIndex": "0x3", "blockNumber": "0x10"}


@pytest.mark.parametrize(("fraction", "price", "mtm", "loss"), [
    (WAD, 950 * WAD, 1000 * WAD, Decimal(50)),  # whole account at a 5 % discount
    (WAD // 2, 400 * WAD, 1000 * WAD, Decimal(100)),  # half of it, paid 400 for 500
    (WAD, 1000 * WAD, 1000 * WAD, Decimal(0)),  # no discount, no loss
    (WAD, -30 * WAD, -100 * WAD, Decimal(0)),  # insolvent: the security module pays, the owner had nothing
    (WAD // 3, 1, 1000 * WAD, Decimal(1000 * (WAD // 3) - 1) / Decimal(WAD)),  # exact to the last wei
])
def test_bid_loss_table(fraction: int, price: int, mtm: int, loss: Decimal) -> None:
    assert pm_bid_loss(fraction, price, mtm) == loss


@given(st.integers(1, WAD), st.integers(1, 10**30), st.integers(0, 10**4))
def test_bid_loss_never_exceeds_the_exact_value_handed_over(fraction: int, mtm: int, discount_bps: int) -> None:
    price = mtm * fraction * (10_000 - discount_bps) // (10_000 * WAD)
    loss = pm_bid_loss(fraction, price, mtm)
    exact = Decimal(mtm) * Decimal(fraction) / Decimal(WAD) / Decimal(WAD) - Decimal(price) / Decimal(WAD)
    assert Decimal(0) <= loss <= exact


def test_bid_loss_rejects_an_impossible_fraction() -> None:
    with pytest.raises(ValueError, match="fraction"):
        pm_bid_loss(0, 1, 1)
    with pytest.raises(ValueError, match="fraction"):
        pm_bid_loss(WAD + 1, 1, 1)


def test_decode_auction_bid_reads_the_owner_ref_and_loss() -> None:
    ev = decode_auction_bid(bid_log(), "arbitrum", "pm", PM, {"7": OWNER}, AT)
    assert ev is not None
    assert (ev.account, ev.ref, ev.block, ev.loss_usd, ev.at) == (OWNER, f"arbitrum:{TX}:3", 16, Decimal(100), AT)


@pytest.mark.parametrize("log", [
    bid_log(address="0x00000000000000000000000000000000000000e5"),  # another contract's log
    bid_log(topic0="0x" + "11" * 32),  # not an AuctionBid (e.g. PositionUpdated)
    bid_log(account=8),  # an account the adapter never saw created
    {**bid_log(), "data": "0x" + "00" * 64},  # truncated data
])
def test_decode_auction_bid_rejects_what_is_no_liquidation_of_a_known_account(log: dict[str, Any]) -> None:
    assert decode_auction_bid(log, "arbitrum", "pm", PM, {"7": OWNER}, AT) is None


def market() -> CoverMarketAdapter:
    return CoverMarketAdapter("base", object(), MARKET)  # type: ignore[arg-type]  # builders never read


def intent(kind: str, **params: Any) -> ActionIntent:
    return ActionIntent("claimer", kind, "base", "cover_market", "t", f"k:{kind}", params=MappingProxyType(params))


def test_claim_call_files_exact_units_rounded_down() -> None:
    cd = claim_call(market(), intent("submit_claim", cover_id="4", evidence=f"arbitrum:{TX}:3",
                                     loss_usd="12.3456789"), {"arbitrum": 42161})
    assert cd == build_submit_claim(MARKET, 4, 42161, bytes.fromhex("ab" * 32), 3, 12_345_678)


def test_claim_call_dispute_and_settle_take_the_on_chain_number() -> None:
    assert claim_call(market(), intent("dispute", claim_id="base:cover_market:5"), {}) == build_dispute(MARKET, 5)
    assert claim_call(market(), intent("settle_claim", claim_id="6"), {}) == build_settle(MARKET, 6)


@pytest.mark.parametrize(("it", "match"), [
    (intent("submit_claim", cover_id=1, evidence="arbitrum:0xab", loss_usd="1"), "evidence must be"),
    (intent("submit_claim", cover_id=1, evidence="arbitrum:0xabab:1", loss_usd="1"), "32 bytes"),
    (intent("submit_claim", cover_id=1, evidence=f"optimism:{TX}:1", loss_usd="1"), "no chain id"),
    (intent("submit_claim", cover_id=1, evidence=f"arbitrum:{TX}:1", loss_usd="0.0000001"), "below one token"),
    (intent("dispute", claim_id="base:cover_market:x"), "claim number"),
    (intent("release_cover", claim_id="1"), "no call"),
])
def test_claim_call_refuses_bad_intents_naming_them(it: ActionIntent, match: str) -> None:
    with pytest.raises((ValueError, LookupError), match=match):
        claim_call(market(), it, {"arbitrum": 42161})


def test_adapter_call_builder_routes_claim_intents_to_cover_market() -> None:
    b = AdapterCallBuilder({"cover_market": market()}, chain_ids={"arbitrum": 42161})
    spec = b.build(intent("submit_claim", cover_id=2, evidence=f"arbitrum:{TX}:0", loss_usd="7"))
    assert (spec.to, spec.data) == (MARKET, "0x" + build_submit_claim(MARKET, 2, 42161, bytes.fromhex("ab" * 32),
                                                                      0, 7_000_000).data.hex())


KEY_A = "0x" + "11" * 32  # throwaway test keys, never real secrets
KEY_B = "0x" + "22" * 32
CONFIG = """
[chains.arbitrum]
rpc_urls = ["http://127.0.0.1:9"]
chain_id = 42161
[chains.base]
rpc_urls = ["http://127.0.0.1:9"]
chain_id = 8453
[signers.a]
env = "RTRM_UNIT_A"
[signers.b]
env = "RTRM_UNIT_B"
[protocols.portfolio_margin]
kind = "portfolio_margin"
chain = "arbitrum"
addresses = {{ PortfolioMargin = "0x00000000000000000000000000000000000000b2" }}
[protocols.cover_market]
kind = "cover_market"
chain = "base"
addresses = {{ CoverMarket = "0x00000000000000000000000000000000000000c3" }}
[storage]
url = "{db}"
dry_run = true
[bots.claimer]
signer = "{claimer}"
[bots.claimer.protocols.{market}]
[bots.disputer]
signer = "{disputer}"
[bots.disputer.protocols.cover_market]
"""


@pytest.mark.parametrize(("claimer", "disputer", "market", "match"), [
    ("a", "b", "cover_market", "one signer"),
    ("a", "a", "portfolio_margin", "exactly one cover_market"),
])
async def test_runtime_refuses_misconfigured_claim_bots(tmp_path: Path, claimer: str, disputer: str, market: str,
                                                         match: str) -> None:
    text = CONFIG.format(db=tmp_path / "u.db", claimer=claimer, disputer=disputer, market=market)
    text = text.replace("dry_run = true\n", "")
    rt = Runtime(parse_config("dry_run = true\n" + text), environ={"RTRM_UNIT_A": KEY_A, "RTRM_UNIT_B": KEY_B},
                 use_bus=False)
    try:
        with pytest.raises(RunnerError, match=match):
            await rt.start()
    finally:
        await rt.stop()
    assert Account.from_key(KEY_A).address != Account.from_key(KEY_B).address


def test_disputer_judges_only_claims_on_protocols_it_reads() -> None:
    def claim(n: int, protocol: str) -> FiledClaim:
        cover = Cover(str(n), "e", OWNER, "arbitrum", protocol, Decimal(100), AT)
        return FiledClaim(f"base:cover_market:{n}", cover, OWNER, f"arbitrum:{TX}:{n}", Decimal(1), AT)

    mine, vault = claim(0, "portfolio_margin"), claim(1, "0x00000000000000000000000000000000000000f6")
    assert judgeable([mine, vault], frozenset({"portfolio_margin"})) == ((mine,), (vault,))
    assert judgeable([mine, vault], frozenset()) == ((), (mine, vault))


def test_claims_with_evidence_not_yet_visible_wait_out_the_grace_period() -> None:
    cover = Cover("0", "e", OWNER, "arbitrum", "portfolio_margin", Decimal(100), AT)
    seen = FiledClaim("base:cover_market:0", cover, OWNER, f"arbitrum:{TX}:0", Decimal(1), AT)
    unseen = FiledClaim("base:cover_market:1", cover, OWNER, f"arbitrum:{TX}:1", Decimal(1), AT)
    filed = {"base:cover_market:1": AT}
    assert settled_view([seen, unseen], filed, AT + timedelta(seconds=59), 60.0) == (seen,)
    assert settled_view([seen, unseen], filed, AT + timedelta(seconds=60), 60.0) == (seen, unseen)
