"""TokenizedOptionsAdapter against the in-process Solana endpoint with a world built independently (world.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed
from solders.pubkey import Pubkey
from spl.token.constants import TOKEN_PROGRAM_ID
from spl.token.instructions import transfer_checked
from spl.token.models import TransferCheckedParams

from chains.devnet.solana.admin_client import AccountSpec, SolanaAdmin
from chains.devnet.solana.server import serve_solana
from chains.events import Freshness, OracleUpdate, PositionChanged
from chains.model import ExerciseStyle, OptionType, OracleSource, Underlying
from chains.protocols.base import AdapterError
from chains.solana.adapter import PROTOCOL, TokenizedOptionsAdapter, market_instrument
from chains.solana.client import SolanaClient
from chains.solana.decoders import OptionMarket
from chains.stream import EventStream
from tests.chains.devnet.solana_fixtures import send
from tests.chains.solana import layouts
from tests.chains.solana.world import (
    ETH_FEED,
    EXPIRY,
    PSY,
    RECEIVER,
    SOL_FEED,
    World,
    build_world,
    pyth_bytes,
)

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def env() -> AsyncIterator[tuple[str, str, World]]:
    async with serve_solana("127.0.0.1", 0, tick_interval=0) as ep:
        world = await build_world(ep.url)
        yield ep.url, ep.ws_url, world


def make_adapter(client: SolanaClient, w: World) -> TokenizedOptionsAdapter:
    return TokenizedOptionsAdapter(
        "solana", client, assets={str(w.usdc): "USDC", str(w.sol): "SOL"},
        pyth={k: str(v) for k, v in w.pyth.items()},
        pyth_feed_ids={"SOL": SOL_FEED.hex(), "ETH": ETH_FEED.hex()},
        entities={str(w.alice): "entity-alice"})


async def test_markets_positions_and_oracles(env: tuple[str, str, World]) -> None:
    url, _, w = env
    async with SolanaClient(url) as client:
        ad = make_adapter(client, w)
        markets = await ad.load_markets()
        assert set(markets) == {w.call_market, w.put_market} and len(ad.skipped) == 1  # the zeroed market
        assert "underlying_amount_per_contract" in next(iter(ad.skipped.values()))
        call, put = markets[w.call_market].instrument, markets[w.put_market].instrument
        assert (call.underlying, call.option_type, call.strike, call.settlement_asset) == (
            Underlying.SOL, OptionType.CALL, Decimal("165.5"), "USDC")
        assert (put.underlying, put.option_type, put.strike) == (Underlying.SOL, OptionType.PUT, Decimal(135))
        assert call.expiry == datetime.fromtimestamp(EXPIRY, UTC) and call.exercise is ExerciseStyle.AMERICAN
        assert call.venue_id == str(w.call_market) and call.key.startswith(f"solana:{PROTOCOL}:")

        found = await ad.discover()
        assert sorted(found.accounts) == sorted([str(w.alice), str(w.bob)])
        states = {s.owner: s for s in await ad.read([str(w.alice), str(w.bob), str(Pubkey.new_unique())])}
        assert set(states) == {str(w.alice), str(w.bob)}
        alice = {(p.instrument.option_type, p.size) for p in states[str(w.alice)].positions}
        assert alice == {(OptionType.CALL, Decimal(3)), (OptionType.PUT, Decimal(2))}
        assert {p.entity for p in states[str(w.alice)].positions} == {"entity-alice"}
        bob = {(p.instrument.option_type, p.size, p.collateral, p.account_id)
               for p in states[str(w.bob)].positions}
        assert bob == {
            (OptionType.CALL, Decimal(-4), Decimal(4), str(w.atas["bob-call-wr"])),  # 4 SOL locked
            (OptionType.CALL, Decimal(1), Decimal(0), str(w.atas["bob-call-opt"])),
            (OptionType.PUT, Decimal(-5), Decimal(675), str(w.atas["bob-put-wr"])),  # 5 x 135 USDC locked
        }
        assert dict(states[str(w.bob)].collateral) == {"SOL": Decimal(4), "USDC": Decimal(675)}
        assert {p.entity for p in states[str(w.bob)].positions} == {str(w.bob)}  # unmapped: itself
        assert states[str(w.bob)].block >= found.to_block > 0
        total = sum(p.size for p in await ad.positions())
        assert total == 3 + 2 - 4 + 1 - 5

        r = await ad.oracles()
        q = {x.asset: x for x in r.quotes}
        assert set(q) == {Underlying.SOL, Underlying.ETH}
        assert (q[Underlying.SOL].price, q[Underlying.SOL].confidence) == (Decimal("150.12345678"), Decimal("0.075"))
        assert (q[Underlying.ETH].price, q[Underlying.ETH].confidence) == (Decimal(3000), Decimal("0.01"))
        assert q[Underlying.SOL].source is OracleSource.PYTH and q[Underlying.SOL].feed_id == SOL_FEED.hex()
        assert [(f.feed, f.kind) for f in r.faults] == [(str(w.pyth["BTC"]), "malformed")]
        assert r.rounds[str(w.pyth["SOL"])] > 0


async def test_wrong_feed_and_unconfigured_mint(env: tuple[str, str, World]) -> None:
    url, _, w = env
    async with SolanaClient(url) as client:
        ad = TokenizedOptionsAdapter("solana", client, assets={str(w.sol): "SOL"},  # no USDC symbol
                                     pyth={"SOL": str(w.pyth["ETH"])}, pyth_feed_ids={"SOL": SOL_FEED.hex()})
        assert await ad.load_markets() == {}
        assert all("no configured symbol" in ad.skipped[m] for m in (w.call_market, w.put_market))
        # a skipped market seen again by the live watch is not "new" (no endless re-subscribe)
        (snap,) = await client.get_multiple_accounts([w.call_market])
        assert not ad._is_new_market(snap)
        r = await ad.oracles()
        assert r.quotes == () and [f.kind for f in r.faults] == ["wrong_feed"]
        ad.feeds[0] = replace(ad.feeds[0], address=w.call_market)  # a market account is no Pyth price
        assert [f.kind for f in (await ad.oracles()).faults] == ["wrong_owner"]
    with pytest.raises(AdapterError, match="not a base58"):
        TokenizedOptionsAdapter("solana", client, pyth={"SOL": "0xnot-a-key"})


def test_market_instrument_rules() -> None:
    k = [Pubkey.new_unique() for _ in range(8)]
    m = OptionMarket(k[0], k[1], k[2], k[3], 3 * 10**8, 100_000_000, EXPIRY, k[4], k[5], k[6], k[7], False, 1)
    inst, size = market_instrument("solana", k[0], m, "whETH", "USDC", 8, 6)
    assert (inst.underlying, inst.option_type, size) == (Underlying.ETH, OptionType.CALL, Decimal(3))
    assert inst.strike is not None and inst.strike * 3 == Decimal(100)  # exact to 160 digits, never a float
    with pytest.raises(AdapterError, match="USD stablecoin"):
        market_instrument("solana", k[0], m, "SOL", "ETH", 9, 8)


async def _next(sub: object, kind: type, pred: object, timeout: float = 10.0) -> object:
    async def go() -> object:
        async for ev in sub:  # type: ignore[attr-defined]
            if isinstance(ev, kind) and pred(ev):  # type: ignore[operator]
                return ev
        raise AssertionError("stream closed")
    return await asyncio.wait_for(go(), timeout)


async def _all(sub: object, preds: dict[str, object], timeout: float = 10.0) -> dict[str, PositionChanged]:
    """First PositionChanged matching each predicate, in whatever order they arrive."""
    found: dict[str, PositionChanged] = {}

    async def go() -> None:
        async for ev in sub:  # type: ignore[attr-defined]
            for name, pred in preds.items():
                if name not in found and isinstance(ev, PositionChanged) and pred(ev):  # type: ignore[operator]
                    found[name] = ev
            if len(found) == len(preds):
                return
    await asyncio.wait_for(go(), timeout)
    return found


@pytest.mark.parametrize("use_ws", [True, False], ids=["websocket", "polling"])
async def test_live_pyth_write_and_transfer_reach_the_stream(env: tuple[str, str, World], use_ws: bool) -> None:
    url, ws_url, w = env
    stream, stop = EventStream("solana"), asyncio.Event()
    sub = stream.subscribe()
    async with SolanaClient(url, ws_url if use_ws else None) as client:
        ad = make_adapter(client, w)
        task = asyncio.create_task(ad.run(stream, stop, poll_interval_s=0.05, resync_s=0.2))
        try:
            first = await _next(sub, OracleUpdate, lambda e: e.quote.asset is Underlying.SOL)
            assert first.quote.price == Decimal("150.12345678")  # type: ignore[attr-defined]
            async with SolanaAdmin(url) as admin:
                clock = await admin.get_clock()
                await admin.set_account(w.pyth["SOL"], lamports=10**7, owner=RECEIVER, data=pyth_bytes(
                    SOL_FEED, 16_000_000_000, 8_000_000, clock.unix_timestamp + 5, clock.slot, 2))
            upd = await _next(sub, OracleUpdate, lambda e: e.quote.price == Decimal(160))
            assert upd.quote.confidence == Decimal("0.08")  # type: ignore[attr-defined]
            assert upd.quote.publish_time == datetime.fromtimestamp(clock.unix_timestamp + 5, UTC)  # type: ignore

            # a real SPL transfer of 2 call options alice -> bob changes both owners' positions
            c = AsyncClient(url, commitment=Confirmed)
            try:
                await send(c, w.payer, [transfer_checked(TransferCheckedParams(
                    program_id=TOKEN_PROGRAM_ID, source=w.atas["alice-call-opt"], mint=w.mints["call-opt"],
                    dest=w.atas["bob-call-opt"], owner=w.alice, amount=2, decimals=0))], w.alice_kp)
            finally:
                await c.close()
            # both owners change; their notifications may arrive in either order
            got = await _all(sub, {
                "alice": lambda e: e.account.owner == str(w.alice) and Decimal(1) in {p.size for p in e.positions},
                "bob": lambda e: e.account.owner == str(w.bob) and Decimal(3) in {p.size for p in e.positions}})
            assert sorted(p.size for p in got["alice"].positions) == [1, 2]
            assert sorted(p.size for p in got["bob"].positions) == [-5, -4, 3]

            # a writer account emptied (admin write): bob's short calls disappear
            async with SolanaAdmin(url) as admin:
                await admin.set_account(w.atas["bob-call-wr"], lamports=2_039_280, owner=TOKEN_PROGRAM_ID,
                                        data=layouts.token_account(mint=bytes(w.mints["call-wr"]),
                                                                   owner=bytes(w.bob), amount=0))
            ev = await _next(sub, PositionChanged, lambda e: e.account.owner == str(w.bob) and len(e.positions) == 2)
            assert sorted(p.size for p in ev.positions) == [-5, 3]  # type: ignore[attr-defined]
            assert ev.account.collateral == {"USDC": Decimal(675)}  # type: ignore[attr-defined]

            # the put writer account is closed (no notification for that): the periodic resync removes it
            async with SolanaAdmin(url) as admin:
                await admin.set_account(w.atas["bob-put-wr"], lamports=0)
            ev = await _next(sub, PositionChanged, lambda e: e.account.owner == str(w.bob) and len(e.positions) == 1)
            assert [p.size for p in ev.positions] == [3] and not ev.account.collateral  # type: ignore[attr-defined]
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)


async def test_live_market_expiry_new_market_and_freshness(env: tuple[str, str, World]) -> None:
    url, ws_url, w = env
    stream, stop = EventStream("solana"), asyncio.Event()
    sub = stream.subscribe()
    async with SolanaClient(url, ws_url) as client:
        ad = make_adapter(client, w)
        task = asyncio.create_task(ad.run(stream, stop, poll_interval_s=0.05, freshness_interval_s=0.05,
                                          resync_s=0.2))
        try:
            await _all(sub, {"sync": lambda e: e.account.owner == str(w.bob) and len(e.positions) == 3})
            # the put market is marked expired: its holders' put positions disappear
            raw = await client.get_multiple_accounts([w.put_market])
            data = bytearray(raw[0].data or b"")
            data[288] = 1
            async with SolanaAdmin(url) as admin:
                await admin.set_account(w.put_market, lamports=10**7, data=bytes(data), owner=PSY)
            got = await _all(sub, {
                "alice": lambda e: e.account.owner == str(w.alice) and len(e.positions) == 1,
                "bob": lambda e: e.account.owner == str(w.bob) and len(e.positions) == 2})
            assert {p.instrument.option_type for p in got["alice"].positions} == {OptionType.CALL}
            assert ad.markets[w.put_market].market.expired

            # a new market (mints + balances written first, then the market) is picked up mid-stream
            opt, wr, holder = Pubkey.new_unique(), Pubkey.new_unique(), Pubkey.new_unique()
            acct = Pubkey.new_unique()
            new_market = Pubkey.new_unique()
            async with SolanaAdmin(url) as admin:
                await admin.set_accounts([
                    AccountSpec(opt, 10**7, layouts.mint(supply=7, decimals=0, authority=None), TOKEN_PROGRAM_ID),
                    AccountSpec(wr, 10**7, layouts.mint(supply=7, decimals=0, authority=None), TOKEN_PROGRAM_ID),
                    AccountSpec(acct, 10**7, layouts.token_account(mint=bytes(opt), owner=bytes(holder), amount=7),
                                TOKEN_PROGRAM_ID)])
                await admin.set_account(new_market, lamports=10**7, owner=PSY, data=layouts.option_market(
                    option_mint=bytes(opt), writer_mint=bytes(wr), underlying_mint=bytes(w.sol),
                    quote_mint=bytes(w.usdc), underlying_amount=10**8, quote_amount=20_000_000, expiration=EXPIRY,
                    underlying_pool=bytes(32), quote_pool=bytes(32), mint_fee=bytes(32), exercise_fee=bytes(32)))
            got = await _all(sub, {"new": lambda e: e.account.owner == str(holder)})
            (pos,) = got["new"].positions
            assert (pos.size, pos.instrument.strike, pos.instrument.venue_id) == (
                Decimal("0.7"), Decimal(200), str(new_market))  # 7 contracts of 0.1 SOL at 20 USDC
            # the call market account is closed: found by the periodic resync, its positions go
            async with SolanaAdmin(url) as admin:
                await admin.set_account(w.call_market, lamports=0)
            got = await _all(sub, {"alice": lambda e: e.account.owner == str(w.alice) and not e.positions})
            assert w.call_market not in ad.markets and "closed" in ad.skipped[w.call_market]
            fresh = await _next(sub, Freshness, lambda e: e.healthy)  # published every 50 ms
            assert fresh.chain == "solana" and fresh.endpoint == url  # type: ignore[attr-defined]
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)


async def test_pyth_accounts_found_by_feed_id_in_both_encodings(env: tuple[str, str, World]) -> None:
    """SOL is written Full (feed id at 41), ETH Partial (at 42): both are located from the id alone."""
    url, _, w = env
    async with SolanaClient(url) as client:
        ad = TokenizedOptionsAdapter("solana", client, pyth_feed_ids={"SOL": SOL_FEED.hex(), "ETH": ETH_FEED.hex(),
                                                                      "BTC": "ab" * 32})
        r = await ad.oracles()
        assert {f.asset: f.address for f in ad.feeds} == {Underlying.SOL: w.pyth["SOL"], Underlying.ETH: w.pyth["ETH"]}
        assert {q.asset for q in r.quotes} == {Underlying.SOL, Underlying.ETH}
    with pytest.raises(AdapterError, match="32-byte hex"):
        TokenizedOptionsAdapter("solana", client, pyth_feed_ids={"SOL": "abcd"})
