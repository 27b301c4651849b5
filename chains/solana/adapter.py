"""TokenizedOptions: the Solana protocol adapter for PsyOptions-style American options and Pyth prices.

A market is an `OptionMarket` account of the options program; holding its *option* mint is long, holding its
*writer* mint is short (the writer's underlying is locked in the market's pool, reported as collateral). A
put is a market whose underlying is the stablecoin: the holder may pay `quote` (SOL) to receive `underlying`
(USDC), so strike = underlying / quote and the contract size is the quote amount.

Positions are read per mint (getProgramAccounts on the mint's token program, memcmp on the mint at offset
0), so a scan costs two calls per market whatever the number of holders. Solana RPC serves only the latest
state: `block` arguments are accepted for interface parity and every result carries the slot it was read at.
Chain-local symbols of mints come from config (SPL mints carry no symbol on-chain).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from loguru import logger
from solders.pubkey import Pubkey

from chains.events import OracleUpdate, PositionChanged
from chains.model import AccountState, OracleQuote, Position, canonical_underlying, from_base_units
from chains.protocols.base import AdapterError, Discovery, OracleFault, OracleReadings
from chains.solana.client import AccountChange, AccountSnapshot, ProgramWatch, SolanaClient, SolanaRpcError
from chains.solana.decoders import (
    OPTION_MARKET_DISCRIMINATOR,
    OPTION_MARKET_LEN,
    PRICE_UPDATE_V2_DISCRIMINATOR,
    TOKEN_ACCOUNT_LEN,
    DecodeError,
    OptionMarket,
    decode_mint,
    decode_option_market,
    decode_price_update_v2,
    decode_token_account,
)
from chains.solana.normalize import (
    PROTOCOL,
    PSY_AMERICAN,
    PYTH_RECEIVER,
    TOKEN_PROGRAM,
    TOKEN_PROGRAMS,
    Holding,
    Holdings,
    MarketInfo,
    MintInfo,
    PythFeed,
    market_instrument,
    parse_feed_id,
    parse_pubkey,
    pyth_quote,
)
from chains.stream import EventStream

__all__ = ["PROTOCOL", "TokenizedOptionsAdapter", "factory", "market_instrument", "pyth_quote"]


class TokenizedOptionsAdapter:
    """Reads one options program's markets, holders' option/writer balances and the Pyth feeds."""

    protocol = PROTOCOL

    def __init__(self, chain: str, client: SolanaClient, *, program_id: str | Pubkey = PSY_AMERICAN,
                 assets: Mapping[str, str] | None = None, pyth: Mapping[str, str] | None = None,
                 pyth_feed_ids: Mapping[str, str] | None = None, entities: Mapping[str, str] | None = None,
                 aliases: Mapping[str, str] | None = None) -> None:
        """`assets`: mint -> chain-local symbol; `pyth`: asset symbol -> PriceUpdateV2 address;
        `pyth_feed_ids` (optional): asset -> feed id hex, checked against the account; `entities`: pubkey -> entity."""
        self.chain = chain
        self.client = client
        self.program_id = parse_pubkey(program_id, "program_id")
        self.assets = {parse_pubkey(k, "assets key"): v for k, v in (assets or {}).items()}
        self.aliases = aliases
        self.feed_ids = {k.upper(): parse_feed_id(v, f"pyth_feed_ids[{k}]") for k, v in (pyth_feed_ids or {}).items()}
        self.feeds = [PythFeed(parse_pubkey(addr, f"pyth[{sym}]"), canonical_underlying(sym, aliases),
                               self.feed_ids.get(sym.upper())) for sym, addr in (pyth or {}).items()]
        self.entities = dict(entities or {})  # base58 is case-sensitive: no lower-casing
        self.markets: dict[Pubkey, MarketInfo] = {}
        self.skipped: dict[Pubkey, str] = {}  # market -> why it is not tracked
        self.holdings = Holdings()
        self._by_mint: dict[Pubkey, MarketInfo] = {}
        self._mint_cache: dict[Pubkey, MintInfo] = {}

    def entity(self, owner: str) -> str:
        return self.entities.get(owner, owner)

    # -------------------------------------------------------------- discovery
    async def load_markets(self) -> dict[Pubkey, MarketInfo]:
        """Every OptionMarket of the program (dataSize + discriminator memcmp), with mint decimals."""
        found = await self.client.get_program_accounts(ProgramWatch(
            self.program_id, OPTION_MARKET_LEN, ((0, OPTION_MARKET_DISCRIMINATOR),)))
        decoded: list[tuple[Pubkey, OptionMarket]] = []
        self.markets, self.skipped = {}, {}
        for snap in found:
            assert snap.data is not None
            try:
                decoded.append((snap.pubkey, decode_option_market(snap.data)))
            except DecodeError as exc:
                self.skipped[snap.pubkey] = str(exc)
                logger.warning("{c}: market {m} skipped: {e}", c=self.chain, m=snap.pubkey, e=exc)
        mints = await self._mints({k for _, m in decoded for k in (m.option_mint, m.writer_token_mint,
                                                                  m.underlying_mint, m.quote_mint)})
        self._mint_cache = mints
        for address, m in decoded:
            try:
                self.markets[address] = self._market_info(address, m, mints)
            except AdapterError as exc:
                self.skipped[address] = str(exc)
                logger.warning("{c}: market {m} skipped: {e}", c=self.chain, m=address, e=exc)
        self._by_mint = {k: mi for mi in self.markets.values() for k in (mi.option_mint.address,
                                                                         mi.writer_mint.address)}
        self.holdings.drop_mints(lambda mint: mint in self._by_mint)
        return self.markets

    async def _mints(self, keys: Iterable[Pubkey]) -> dict[Pubkey, MintInfo]:
        out: dict[Pubkey, MintInfo] = {}
        for snap in await self.client.get_multiple_accounts(sorted(keys, key=bytes)):
            if snap.data is None or snap.owner not in TOKEN_PROGRAMS:
                continue
            try:
                mint = decode_mint(snap.data)
            except DecodeError as exc:
                logger.warning("{c}: mint {m} unreadable: {e}", c=self.chain, m=snap.pubkey, e=exc)
                continue
            assert snap.owner is not None
            out[snap.pubkey] = MintInfo(snap.pubkey, snap.owner, mint.decimals, mint.supply)
        return out

    def _market_info(self, address: Pubkey, m: OptionMarket, mints: Mapping[Pubkey, MintInfo]) -> MarketInfo:
        for what, key in (("option", m.option_mint), ("writer", m.writer_token_mint),
                          ("underlying", m.underlying_mint), ("quote", m.quote_mint)):
            if key not in mints:
                raise AdapterError(f"{what} mint {key} is missing or not an SPL mint")
        for what, key in (("underlying", m.underlying_mint), ("quote", m.quote_mint)):
            if key not in self.assets:
                raise AdapterError(f"{what} mint {key} has no configured symbol (config 'assets')")
        usym, qsym = self.assets[m.underlying_mint], self.assets[m.quote_mint]
        udec, qdec = mints[m.underlying_mint].decimals, mints[m.quote_mint].decimals
        inst, size = market_instrument(self.chain, address, m, usym, qsym, udec, qdec, self.aliases)
        return MarketInfo(address, m, inst, size, usym.upper(),
                          from_base_units(m.underlying_amount_per_contract, udec),
                          mints[m.option_mint], mints[m.writer_token_mint])

    def holder_watches(self) -> list[ProgramWatch]:
        """One filter per option/writer mint: token accounts (on the mint's program) holding it."""
        out = []
        for mi in self.markets.values():
            for mint in (mi.option_mint, mi.writer_mint):
                size = TOKEN_ACCOUNT_LEN if mint.program == TOKEN_PROGRAM else None  # 2022: extensions vary
                out.append(ProgramWatch(mint.program, size, ((0, bytes(mint.address)),)))
        return out

    async def scan_holdings(self) -> int:
        """Re-read every option/writer token account; returns the slot the scan finished at."""
        watches = self.holder_watches()
        snaps = [s for part in await asyncio.gather(*(self.client.get_program_accounts(w) for w in watches))
                 for s in part]
        self.holdings = Holdings()
        for snap in snaps:
            self._apply(snap)
        return max(s.slot for s in snaps) if snaps else await self.client.get_slot()

    def _apply(self, snap: AccountSnapshot) -> set[Pubkey]:
        """Update the holding of one token account; returns the owners whose positions changed."""
        before = self.holdings.get(snap.pubkey)
        after: Holding | None = None
        if snap.data is not None and snap.owner in TOKEN_PROGRAMS:
            try:
                acct = decode_token_account(snap.data)
            except DecodeError as exc:
                logger.warning("{c}: token account {a} unreadable: {e}", c=self.chain, a=snap.pubkey, e=exc)
            else:
                if acct.mint in self._by_mint:
                    after = Holding(snap.pubkey, acct.owner, acct.mint, acct.amount)
        if after is None:
            self.holdings.remove(snap.pubkey)
        else:
            self.holdings.put(after)
        if before == after:
            return set()
        return {h.owner for h in (before, after) if h is not None}

    async def discover(self, from_block: int | None = None, to_block: int | None = None) -> Discovery:
        """Owners holding any option or writer token (the slot range is that of the scan, not a log range)."""
        if not self.markets:
            await self.load_markets()
        slot = await self.scan_holdings()
        owners = sorted({str(h.owner) for h in self.holdings.values() if h.amount})
        return Discovery(tuple(owners), slot, slot)

    # -------------------------------------------------------------- reads
    async def read(self, accounts: Sequence[str], block: int | str = "latest") -> list[AccountState]:
        """Account states of `accounts` (owner pubkeys) at the latest slot; owners holding nothing get none."""
        wanted = [parse_pubkey(a, "account") for a in accounts]
        if not self.markets:
            await self.load_markets()
        slot = await self.scan_holdings()
        return [s for s in (self.state_of(o, slot) for o in wanted) if s is not None]

    def state_of(self, owner: Pubkey, slot: int) -> AccountState | None:
        """The owner's AccountState from the holdings already read (pure over adapter state)."""
        positions: list[Position] = []
        collateral: dict[str, Decimal] = {}
        for h in self.holdings.of_owner(owner):
            mi = self._by_mint.get(h.mint)
            if not h.amount or mi is None:
                continue
            if mi.market.expired:
                continue
            is_long = h.mint == mi.option_mint.address
            mint = mi.option_mint if is_long else mi.writer_mint
            contracts = from_base_units(h.amount, mint.decimals)
            locked = Decimal(0) if is_long else contracts * mi.collateral_per_contract
            size = contracts * mi.contract_size
            positions.append(Position(str(owner), self.entity(str(owner)), mi.instrument, size if is_long else -size,
                                      str(h.account), locked))
            if locked:
                collateral[mi.collateral_symbol] = collateral.get(mi.collateral_symbol, Decimal(0)) + locked
        if not positions:
            return None
        return AccountState(self.chain, PROTOCOL, str(owner), str(owner), slot, MappingProxyType(collateral),
                            tuple(positions), MappingProxyType({}), "", datetime.now(UTC))

    async def positions(self) -> list[Position]:
        """Every holder's positions (discover + read in one scan)."""
        found = await self.discover()
        return [p for o in found.accounts if (s := self.state_of(parse_pubkey(o, "owner"), found.to_block))
                for p in s.positions]

    # -------------------------------------------------------------- oracles
    async def find_pyth_feeds(self) -> list[PythFeed]:
        """Locate the PriceUpdateV2 account of every feed id configured without an address.

        The feed id sits at offset 41 (Full) or 42 (Partial), so each id is searched with both encodings; of
        several accounts for one feed (shards, other posters) the latest `publish_time` wins."""
        have = {f.asset for f in self.feeds}
        for sym, fid in self.feed_ids.items():
            asset = canonical_underlying(sym, self.aliases)
            if asset in have:
                continue
            disc = (0, PRICE_UPDATE_V2_DISCRIMINATOR)
            full = ProgramWatch(PYTH_RECEIVER, None, (disc, (40, b"\x01" + fid)))
            partial = ProgramWatch(PYTH_RECEIVER, None, (disc, (40, b"\x00"), (42, fid)))
            hits = [*await self.client.get_program_accounts(full), *await self.client.get_program_accounts(partial)]
            best: tuple[int, Pubkey] | None = None
            for snap in hits:
                try:
                    upd = decode_price_update_v2(snap.data or b"")
                except DecodeError:
                    continue
                if upd.feed_id == fid and (best is None or upd.publish_time > best[0]):
                    best = (upd.publish_time, snap.pubkey)
            if best is None:
                logger.warning("{c}: no PriceUpdateV2 account for {s} feed {f}", c=self.chain, s=sym, f=fid.hex())
                continue
            self.feeds.append(PythFeed(best[1], asset, fid))
            have.add(asset)
        return self.feeds

    async def oracles(self, block: int | str = "latest") -> OracleReadings:
        """Quotes of the configured Pyth accounts (located by feed id first when only ids are configured)."""
        if len(self.feeds) < len(self.feed_ids):
            await self.find_pyth_feeds()
        snaps = await self.client.get_multiple_accounts([f.address for f in self.feeds])
        quotes: list[OracleQuote] = []
        faults: list[OracleFault] = []
        rounds: dict[str, int] = {}
        for feed, snap in zip(self.feeds, snaps, strict=True):
            got = self._reading(feed, snap)
            if isinstance(got, OracleFault):
                faults.append(got)
            else:
                quotes.append(got)
                rounds[str(feed.address)] = decode_price_update_v2(snap.data or b"").posted_slot
        slot = min((s.slot for s in snaps), default=0)
        return OracleReadings(slot, tuple(quotes), (), (), tuple(faults), rounds)

    def _reading(self, feed: PythFeed, snap: AccountSnapshot) -> OracleQuote | OracleFault:
        if snap.data is not None and snap.owner != PYTH_RECEIVER:
            return OracleFault(str(feed.address), "wrong_owner", f"owned by {snap.owner}, not the Pyth receiver")
        return pyth_quote(self.chain, feed.address, snap.data, feed.asset, snap.slot, feed.feed_id)

    # -------------------------------------------------------------- live
    def market_watch(self) -> ProgramWatch:
        return ProgramWatch(self.program_id, OPTION_MARKET_LEN, ((0, OPTION_MARKET_DISCRIMINATOR),))

    async def run(self, stream: EventStream, stop: asyncio.Event, *, poll_interval_s: float = 0.4,
                  freshness_interval_s: float = 1.0, resync_s: float = 30.0) -> None:
        """Publish OracleUpdate (Pyth writes), PositionChanged (option/writer balances, market changes) and
        Freshness (every `freshness_interval_s`) until `stop`. A market that appears mid-stream restarts the
        watch with its mints added; the restart's resync re-publishes current state (events are upserts)."""
        if len(self.feeds) < len(self.feed_ids):
            await self.find_pyth_feeds()
        pulse = asyncio.create_task(self._publish_freshness(stream, stop, freshness_interval_s))
        try:
            while not stop.is_set():
                try:
                    await self.load_markets()
                except SolanaRpcError as exc:
                    logger.warning("{c}: cannot load markets ({e}); retrying", c=self.chain, e=exc)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), 1.0)
                    continue
                changes = self.client.watch([f.address for f in self.feeds],
                                            [self.market_watch(), *self.holder_watches()],
                                            poll_interval_s=poll_interval_s, resync_s=resync_s, stop=stop)
                try:
                    async for change in changes:
                        if self._is_new_market(change.snapshot):
                            logger.info("{c}: new market {m}; re-subscribing", c=self.chain, m=change.snapshot.pubkey)
                            break
                        for event in self.events_for(change):
                            stream.publish(event)
                finally:
                    await changes.aclose()
        finally:
            pulse.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pulse

    async def _publish_freshness(self, stream: EventStream, stop: asyncio.Event, every_s: float) -> None:
        while not stop.is_set():
            stream.publish(self.client.freshness())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every_s)

    def _is_new_market(self, snap: AccountSnapshot) -> bool:
        """A market account not seen at the last load (skipped ones stay skipped: no re-subscribe loop)."""
        if snap.owner != self.program_id or snap.pubkey in self.markets or snap.pubkey in self.skipped \
                or snap.data is None:
            return False
        try:
            decode_option_market(snap.data)
        except DecodeError:
            return False
        return True

    def events_for(self, change: AccountChange) -> list[OracleUpdate | PositionChanged]:
        """Normalized events for one account change (pure over adapter state, which it updates)."""
        snap = change.snapshot
        feed = next((f for f in self.feeds if f.address == snap.pubkey), None)
        if feed is not None:
            got = self._reading(feed, snap)
            if isinstance(got, OracleFault):
                logger.warning("{c}: pyth {f}: {k} ({r})", c=self.chain, f=got.feed, k=got.kind, r=got.reason)
                return []
            return [OracleUpdate(self.chain, got)]
        owners = self._market_changed(snap) if snap.pubkey in self.markets else self._apply(snap)
        out: list[OracleUpdate | PositionChanged] = []
        for owner in sorted(owners, key=bytes):
            state = self.state_of(owner, snap.slot) or AccountState(self.chain, PROTOCOL, str(owner), str(owner),
                                                                   snap.slot)
            out.append(PositionChanged(self.chain, PROTOCOL, state, state.positions, snap.slot))
        return out

    def _market_changed(self, snap: AccountSnapshot) -> set[Pubkey]:
        """A tracked market was rewritten (e.g. marked expired) or closed; returns the owners affected."""
        old = self.markets[snap.pubkey]
        old_mints = {old.option_mint.address, old.writer_mint.address}
        owners = {h.owner for h in self.holdings.values() if h.mint in old_mints}
        try:
            if snap.data is None or snap.owner != self.program_id:
                raise AdapterError("market account was closed")
            m = decode_option_market(snap.data)
            if {m.option_mint, m.writer_token_mint} != old_mints:
                raise AdapterError("market now points at other option/writer mints")
            self.markets[snap.pubkey] = self._market_info(snap.pubkey, m, self._mint_cache)
        except (AdapterError, DecodeError) as exc:
            logger.warning("{c}: market {m} no longer tracked: {e}", c=self.chain, m=snap.pubkey, e=exc)
            del self.markets[snap.pubkey]
            self.skipped[snap.pubkey] = str(exc)
            self.holdings.drop_mints(lambda mint: mint not in old_mints)
        self._by_mint = {k: mi for mi in self.markets.values() for k in (mi.option_mint.address,
                                                                         mi.writer_mint.address)}
        return owners


def factory(chain: str, client: SolanaClient, config: Mapping[str, Any]) -> TokenizedOptionsAdapter:
    """Config keys: `program_id`, `assets` (mint -> symbol), `pyth` (asset -> address), `pyth_feed_ids`,
    `entities` (pubkey -> entity), `aliases`."""
    return TokenizedOptionsAdapter(chain, client, program_id=config.get("program_id", PSY_AMERICAN),
                                   assets=config.get("assets"), pyth=config.get("pyth"),
                                   pyth_feed_ids=config.get("pyth_feed_ids"), entities=config.get("entities"),
                                   aliases=config.get("aliases"))
