"""solana-py AsyncClient wrapper: batched account reads, retries with back-off, freshness, live account watch.

Why a wrapper: adapters want "these 3,000 accounts at one slot" (getMultipleAccounts takes 100 keys per call),
transient failures retried without looping on a bad request, and liveness measured as *data freshness* (slot
age, last successful read age) rather than "the socket is open". `watch()` follows accounts over the
websocket (accountSubscribe / programSubscribe + slotSubscribe) and falls back to polling while the socket is
down; after every (re)connect it re-reads everything it follows, so a gap never loses a change.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import base58
from loguru import logger
from solana.exceptions import SolanaRpcException
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Commitment, Confirmed
from solana.rpc.core import RPCException
from solana.rpc.models import MemcmpOpts
from solana.rpc.websocket_api import SolanaWsClient
from solders.account import Account
from solders.pubkey import Pubkey
from solders.rpc.responses import AccountNotification, ProgramNotification, SlotNotification

from chains.events import Freshness
from chains.protocols.base import AdapterError

T = TypeVar("T")
MAX_MULTIPLE_ACCOUNTS = 100  # getMultipleAccounts' limit on every Solana RPC node
_FATAL_RPC = ("InvalidParams", "MethodNotFound", "InvalidRequest", "ParseError")


class SolanaRpcError(AdapterError):
    """A Solana RPC call failed for good (bad request, or still failing after every retry)."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 4
    base_delay_s: float = 0.05
    max_delay_s: float = 1.0

    def delays(self) -> list[float]:
        """Sleep before each retry: exponential from `base_delay_s`, capped (pure, for tests and tuning)."""
        return [min(self.base_delay_s * 2**i, self.max_delay_s) for i in range(max(self.attempts - 1, 0))]


def is_retryable(exc: BaseException) -> bool:
    """Transport trouble and server-side errors are retried; a request the node calls malformed is not."""
    if isinstance(exc, RPCException):
        kind = type(exc.args[0]).__name__ if exc.args else ""
        return not any(kind.startswith(f) for f in _FATAL_RPC)
    return isinstance(exc, (SolanaRpcException, OSError, TimeoutError))


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    """One account as read at `slot`; `data is None` means the account does not exist."""

    pubkey: Pubkey
    slot: int
    data: bytes | None
    owner: Pubkey | None = None
    lamports: int = 0

    @staticmethod
    def of(pubkey: Pubkey, slot: int, account: Account | None) -> AccountSnapshot:
        if account is None:
            return AccountSnapshot(pubkey, slot, None)
        return AccountSnapshot(pubkey, slot, bytes(account.data), account.owner, account.lamports)


@dataclass(frozen=True, slots=True)
class AccountChange:
    """An account whose contents changed (or appeared/disappeared), and how we learned it."""

    snapshot: AccountSnapshot
    source: Literal["ws", "poll", "resync"]


@dataclass(frozen=True, slots=True)
class ProgramWatch:
    """Follow every account of `program` matching the filters (dataSize and memcmp), e.g. one mint's holders."""

    program: Pubkey
    data_size: int | None = None
    memcmp: tuple[tuple[int, bytes], ...] = ()

    def rpc_filters(self) -> list[int | MemcmpOpts]:
        out: list[int | MemcmpOpts] = [] if self.data_size is None else [self.data_size]
        out += [MemcmpOpts(offset=o, bytes=base58.b58encode(b).decode()) for o, b in self.memcmp]
        return out

    def matches(self, owner: Pubkey | None, data: bytes | None) -> bool:
        if owner != self.program or data is None:
            return False
        if self.data_size is not None and len(data) != self.data_size:
            return False
        return all(data[o:o + len(b)] == b for o, b in self.memcmp)


@dataclass(slots=True)
class _Health:
    slot: int = 0
    slot_seen: float = 0.0  # monotonic
    last_ok: float = 0.0
    errors: int = 0
    ws_up: bool = False
    last_error: str = ""


class SolanaClient:
    """One Solana endpoint (HTTP + optional websocket); see module docstring."""

    def __init__(self, url: str, ws_url: str | None = None, *, chain: str = "solana",
                 commitment: Commitment = Confirmed, retry: RetryPolicy | None = None,
                 batch_size: int = MAX_MULTIPLE_ACCOUNTS, timeout_s: float = 10.0,
                 max_slot_age_s: float = 5.0, max_read_age_s: float = 10.0, max_concurrency: int = 8) -> None:
        if not 1 <= batch_size <= MAX_MULTIPLE_ACCOUNTS:
            raise ValueError(f"batch_size must be within 1..{MAX_MULTIPLE_ACCOUNTS}, got {batch_size}")
        self.url = url
        self.ws_url = ws_url
        self.chain = chain
        self.commitment = commitment
        self.retry = retry or RetryPolicy()
        self.batch_size = batch_size
        self.max_slot_age_s = max_slot_age_s
        self.max_read_age_s = max_read_age_s
        self.rpc = AsyncClient(url, commitment=commitment, timeout=timeout_s)
        self._slots = asyncio.Semaphore(max_concurrency)  # batches in flight at once
        self.health = _Health()
        self.calls = 0

    async def __aenter__(self) -> SolanaClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.rpc.close()

    # -------------------------------------------------------------- plumbing
    def _saw_slot(self, slot: int) -> None:
        if slot > self.health.slot:  # head age = time since the slot last advanced (a stalled chain ages)
            self.health.slot = slot
            self.health.slot_seen = time.monotonic()

    async def call(self, what: str, fn: Callable[[], Awaitable[T]]) -> T:
        """Run one RPC with the retry policy; the error names the call and the endpoint."""
        delays = self.retry.delays()
        for attempt in range(len(delays) + 1):
            self.calls += 1
            try:
                out = await fn()
            except Exception as exc:  # noqa: BLE001 - classified right below
                self.health.errors += 1
                self.health.last_error = f"{what}: {exc}"
                if not is_retryable(exc):
                    raise SolanaRpcError(f"{what} at {self.url} was refused: {exc}") from exc
                if attempt == len(delays):
                    raise SolanaRpcError(f"{what} at {self.url} failed after {attempt + 1} attempts: {exc}") from exc
                logger.debug("{w} failed ({e}); retry in {d:.2f}s", w=what, e=exc, d=delays[attempt])
                await asyncio.sleep(delays[attempt])
                continue
            self.health.last_ok = time.monotonic()
            return out
        raise AssertionError("unreachable")

    def freshness(self) -> Freshness:
        """Slot age and last-successful-read age (seconds; inf before the first success)."""
        now = time.monotonic()
        head_age = now - self.health.slot_seen if self.health.slot_seen else float("inf")
        read_age = now - self.health.last_ok if self.health.last_ok else float("inf")
        healthy = head_age <= self.max_slot_age_s and read_age <= self.max_read_age_s
        return Freshness(self.chain, head_age, read_age, self.url, healthy)

    # -------------------------------------------------------------- reads
    async def get_slot(self) -> int:
        slot = (await self.call("getSlot", lambda: self.rpc.get_slot(self.commitment))).value
        self._saw_slot(slot)
        return int(slot)

    async def get_multiple_accounts(self, pubkeys: Sequence[Pubkey]) -> list[AccountSnapshot]:
        """All accounts, `batch_size` per call, up to `max_concurrency` batches in flight; each snapshot carries
        its batch's slot."""
        keys = list(pubkeys)
        batches = [keys[i:i + self.batch_size] for i in range(0, len(keys), self.batch_size)]

        async def one(batch: list[Pubkey]) -> list[AccountSnapshot]:
            async with self._slots:
                resp = await self.call(f"getMultipleAccounts({len(batch)})",
                                       lambda: self.rpc.get_multiple_accounts(batch, self.commitment, "base64"))
            slot = resp.context.slot
            self._saw_slot(slot)
            if len(resp.value) != len(batch):
                raise SolanaRpcError(f"getMultipleAccounts returned {len(resp.value)} accounts for {len(batch)} keys")
            return [AccountSnapshot.of(k, slot, a) for k, a in zip(batch, resp.value, strict=True)]

        parts = await asyncio.gather(*(one(b) for b in batches))
        return [s for part in parts for s in part]

    async def get_program_accounts(self, watch: ProgramWatch) -> list[AccountSnapshot]:
        """Accounts of a program matching the filters; stamped with the slot read right after (≥ data slot)."""
        filters = watch.rpc_filters()
        resp = await self.call(f"getProgramAccounts({watch.program})", lambda: self.rpc.get_program_accounts(
            watch.program, self.commitment, "base64", filters=filters))
        slot = await self.get_slot()
        return [AccountSnapshot.of(k.pubkey, slot, k.account) for k in resp.value]

    # -------------------------------------------------------------- live
    async def watch(self, pubkeys: Sequence[Pubkey], programs: Sequence[ProgramWatch] = (), *,
                    poll_interval_s: float = 0.4, reconnect_s: float = 1.0, resync_s: float = 30.0,
                    stop: asyncio.Event | None = None) -> AsyncGenerator[AccountChange, None]:
        """Changes of `pubkeys` and of accounts matching `programs`, until `stop` is set.

        Websocket when `ws_url` is set and reachable; otherwise (and while it is down) polling every
        `poll_interval_s`. Every (re)connect starts with a full resync (source "resync"), and the websocket
        path resyncs every `resync_s` too, so a missed notification or a closed account (which program
        subscriptions never report) is caught; a program account that vanished yields a snapshot with
        `data=None`. Changes are deduplicated by content.
        """
        stop = stop or asyncio.Event()
        seen: dict[Pubkey, bytes | None] = {}
        keys = list(dict.fromkeys(pubkeys))
        key_set = set(keys)
        program_keys: set[Pubkey] = set()

        def changed(snap: AccountSnapshot) -> bool:
            if snap.pubkey in seen and seen[snap.pubkey] == snap.data:
                return False
            seen[snap.pubkey] = snap.data
            if snap.pubkey not in key_set:
                program_keys.add(snap.pubkey)
            return True

        async def resync(source: Literal["poll", "resync"]) -> list[AccountChange]:
            nonlocal program_keys
            direct = await self.get_multiple_accounts(keys) if keys else []
            found = [s for w in programs for s in await self.get_program_accounts(w)]
            slot = max((s.slot for s in (*direct, *found)), default=0)
            present = {s.pubkey for s in found}
            gone = [AccountSnapshot(k, slot, None) for k in sorted(program_keys - present, key=bytes)]
            program_keys = set(present)
            return [AccountChange(s, source) for s in (*direct, *found, *gone) if changed(s)]

        while not stop.is_set():
            opened = await self._open_ws(keys, programs) if self.ws_url else None
            try:
                for change in await resync("resync"):  # covers whatever happened while not subscribed
                    yield change
                if opened is not None:
                    async for note in self._ws_changes(*opened, stop, resync_s):
                        if note is None:
                            for change in await resync("resync"):
                                yield change
                        elif changed(note.snapshot):
                            yield note
                else:
                    deadline = time.monotonic() + reconnect_s
                    while not stop.is_set() and (self.ws_url is None or time.monotonic() < deadline):
                        await _sleep_or_stop(stop, poll_interval_s)
                        for change in await resync("poll"):
                            yield change
            except SolanaRpcError as exc:
                logger.warning("{c}: watch read failed ({e}); retrying", c=self.chain, e=exc)
                await _sleep_or_stop(stop, reconnect_s)
            finally:
                if opened is not None:
                    self.health.ws_up = False
                    await _close_quietly(opened[0])

    async def _open_ws(self, keys: Sequence[Pubkey], programs: Sequence[ProgramWatch]
                       ) -> tuple[SolanaWsClient, dict[int, Pubkey]] | None:
        """Connect and subscribe; returns the socket and account-subscription id -> pubkey, or None."""
        assert self.ws_url is not None
        ws = SolanaWsClient(self.ws_url, request_timeout=5.0)
        subs: dict[int, Pubkey] = {}
        try:
            await ws.connect()
            await ws.slot_subscribe()
            for k in keys:
                sub = await ws.account_subscribe(pubkey=k, commitment=self.commitment, encoding="base64")
                subs[sub.subscription_id] = k
            for w in programs:
                await ws.program_subscribe(program_id=w.program, commitment=self.commitment, encoding="base64",
                                           filters=w.rpc_filters())
        except Exception as exc:  # noqa: BLE001 - any failure means: poll instead
            logger.info("{c}: websocket {u} unavailable ({e}); polling", c=self.chain, u=self.ws_url, e=exc)
            await _close_quietly(ws)
            return None
        self.health.ws_up = True
        return ws, subs

    async def _ws_changes(self, ws: SolanaWsClient, subs: dict[int, Pubkey], stop: asyncio.Event,
                          resync_s: float) -> AsyncIterator[AccountChange | None]:
        """Notifications as changes; None when a periodic resync is due. Returns when the socket dies."""
        stopper = asyncio.ensure_future(stop.wait())
        next_resync = time.monotonic() + resync_s
        try:
            while not stop.is_set():
                receiver = asyncio.ensure_future(ws.recv())
                wait_s = max(next_resync - time.monotonic(), 0.0)
                done, _ = await asyncio.wait({receiver, stopper}, timeout=wait_s,
                                             return_when=asyncio.FIRST_COMPLETED)
                if stopper in done:
                    receiver.cancel()
                    return
                if receiver not in done:  # resync due; recv() cancellation keeps queued notifications
                    receiver.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await receiver
                    next_resync = time.monotonic() + resync_s
                    yield None
                    continue
                try:
                    note: Any = receiver.result()
                except Exception as exc:  # noqa: BLE001 - socket gone: caller resyncs and reconnects
                    logger.warning("{c}: websocket closed ({e}); resync + poll", c=self.chain, e=exc)
                    return
                if isinstance(note, SlotNotification):
                    self._saw_slot(note.result.slot)
                elif isinstance(note, AccountNotification):
                    key = subs.get(note.subscription)
                    if key is not None:
                        yield AccountChange(AccountSnapshot.of(key, note.result.context.slot, note.result.value),
                                            "ws")
                elif isinstance(note, ProgramNotification):
                    keyed = note.result.value
                    yield AccountChange(AccountSnapshot.of(keyed.pubkey, note.result.context.slot, keyed.account),
                                        "ws")
        finally:
            stopper.cancel()


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def _close_quietly(ws: SolanaWsClient) -> None:
    try:
        await ws.close()
    except Exception as exc:  # noqa: BLE001 - closing a broken socket may fail; nothing to do about it
        logger.debug("websocket close failed: {e}", e=exc)
