"""The adapter reads exactly what the devnet seeder reports (positions, totals, Pyth prices, price pushes)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from chains.devnet.protocols import INITIAL_PRICES, PYTH_FEED_IDS
from chains.devnet.solana.server import serve_solana
from chains.devnet.solana_seed import push_solana_prices, seed_solana
from chains.events import OracleUpdate
from chains.model import OptionType, Underlying
from chains.solana.adapter import TokenizedOptionsAdapter
from chains.solana.client import SolanaClient
from chains.stream import EventStream

pytestmark = pytest.mark.timeout(60)


@dataclass(frozen=True)
class Holder:
    index: int


@pytest.fixture
async def seeded() -> AsyncIterator[tuple[str, str, dict[str, Any]]]:
    async with serve_solana("127.0.0.1", 0, tick_interval=0) as ep:
        report = await seed_solana(ep.url, [Holder(i) for i in range(0, 12, 2)], seed=7, rng=random.Random(7))
        yield ep.url, ep.ws_url, report


def adapter_for(client: SolanaClient, report: dict[str, Any]) -> TokenizedOptionsAdapter:
    entities = {h["pubkey"]: f"entity-{h['wallet_index']}" for h in report["holders"]}
    return TokenizedOptionsAdapter(
        "solana", client, assets={report["usdc_mint"]: "USDC", report["sol_mint"]: "SOL"}, pyth=report["pyth"],
        pyth_feed_ids={a: PYTH_FEED_IDS[a].hex() for a in report["pyth"]}, entities=entities)


async def test_positions_equal_the_seed_report(seeded: tuple[str, str, dict[str, Any]]) -> None:
    url, _, report = seeded
    async with SolanaClient(url) as client:
        ad = adapter_for(client, report)
        markets = await ad.load_markets()
        assert {str(m) for m in markets} == {m["address"] for m in report["markets"]} and not ad.skipped
        by_name = {m["name"]: markets[next(k for k in markets if str(k) == m["address"])] for m in report["markets"]}
        assert by_name["SOL-C-165"].instrument.option_type is OptionType.CALL
        assert by_name["SOL-P-135"].instrument.option_type is OptionType.PUT
        assert by_name["SOL-C-165"].instrument.strike == Decimal(165)
        assert by_name["SOL-P-135"].instrument.strike == Decimal(135)

        positions = await ad.positions()
        got: dict[tuple[str, str, str], Decimal] = {}
        for p in positions:
            name = next(n for n, mi in by_name.items() if mi.instrument == p.instrument)
            side = "options" if p.size > 0 else "writers"
            got[(p.owner, name, side)] = got.get((p.owner, name, side), Decimal(0)) + abs(p.size)
        for h in report["holders"]:
            for side in ("options", "writers"):
                for name, n in h[side].items():
                    assert got.pop((h["pubkey"], name, side)) == n
            assert {p.entity for p in positions if p.owner == h["pubkey"]} == {f"entity-{h['wallet_index']}"}
        # what remains is the market maker's inventory that balances the supplies
        for m in report["markets"]:
            longs = sum(p.size for p in positions if p.instrument.venue_id == m["address"] and p.size > 0)
            shorts = -sum(p.size for p in positions if p.instrument.venue_id == m["address"] and p.size < 0)
            assert longs == shorts == m["contracts_minted"]

        r = await ad.oracles()
        assert not r.faults
        assert {q.asset: q.price for q in r.quotes} == {Underlying(a): INITIAL_PRICES[a] for a in report["pyth"]}


async def test_pushed_prices_reach_the_stream(seeded: tuple[str, str, dict[str, Any]]) -> None:
    url, ws_url, report = seeded
    stream, stop = EventStream("solana"), asyncio.Event()
    sub = stream.subscribe()
    async with SolanaClient(url, ws_url) as client:
        task = asyncio.create_task(adapter_for(client, report).run(stream, stop))
        try:
            async def price_of(asset: Underlying, price: Decimal) -> OracleUpdate:
                async for ev in sub:
                    if isinstance(ev, OracleUpdate) and ev.quote and ev.quote.asset is asset \
                            and ev.quote.price == price:
                        return ev
                raise AssertionError("stream closed")

            await asyncio.wait_for(price_of(Underlying.SOL, INITIAL_PRICES["SOL"]), 10)
            published = await push_solana_prices(url, {"SOL": Decimal("151.25"), "ETH": Decimal("2990.5")})
            sol = await asyncio.wait_for(price_of(Underlying.SOL, Decimal("151.25")), 10)
            eth = await asyncio.wait_for(price_of(Underlying.ETH, Decimal("2990.5")), 10)
            for ev in (sol, eth):
                assert ev.quote is not None and int(ev.quote.publish_time.timestamp()) == published
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
