"""The devnet's chain state around one LiteSVM: slots, block height, clock, blockhashes, signature statuses.

LiteSVM executes transactions but has no notion of time or blocks (its clock starts at unix 0 and its
blockhash only changes when told). This class adds what a keeper needs to behave as on a real cluster:

* one slot per landed transaction and one per tick of the server's ticker (400 ms), no skipped
  slots, so block height = slot − genesis offset;
* the Clock sysvar follows the wall clock (plus an admin offset) and is written on every slot;
* a fresh blockhash every slot, valid for 150 blocks (``lastValidBlockHeight``), checked here because
  LiteSVM only knows its latest one (its own check is switched off); SlotHashes gets the parent slot
  (one entry per advance, so a warp adds one);
* a landed transaction is "confirmed" at once (single node) and "finalized" 32 slots later.

Everything is synchronous: the aiohttp server runs it on one event loop, so no locking is needed.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from solders.account import Account
from solders.clock import Clock
from solders.hash import Hash
from solders.litesvm import LiteSVM
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction
from solders.transaction_metadata import FailedTransactionMetadata, SimulatedTransactionInfo

from .history import TxRecord, balances, inner_json

MAX_PROCESSING_AGE = 150  # blocks a blockhash stays usable (agave MAX_PROCESSING_AGE)
FINALITY_DEPTH = 32  # slots until a landed transaction counts as finalized
SLOT_SECONDS = 0.4
_MAX_STATUSES = 200_000
_SLOT_HASHES_LEN = 512  # agave's MAX_ENTRIES of the SlotHashes sysvar
_MAX_HISTORY = 20_000  # getTransaction keeps the newest landed transactions (raw tx + meta)
_SYSTEM_PROGRAM = Pubkey.from_string("11111111111111111111111111111111")
_SYSVAR_OWNER = Pubkey.from_string("Sysvar1111111111111111111111111111111111111")
_NATIVE_LOADER = Pubkey.from_string("NativeLoader1111111111111111111111111111111")
_EMPTY = Account(0, b"", _SYSTEM_PROGRAM, False, 0)
_LOOKUP_TABLE_META = 56  # bytes before the address list in an address lookup table account


@dataclass(frozen=True)
class TxStatus:
    slot: int
    err: Any  # canonical RPC JSON of the TransactionError, None on success


@dataclass(frozen=True)
class SendOutcome:
    """What happened to a submitted transaction.

    ``landed`` means it is on chain (possibly failed, fee charged); ``err`` is the canonical RPC error
    JSON (None on success); ``logs``/``units`` are the program logs and compute units consumed.
    """

    signature: Signature
    landed: bool
    err: Any
    logs: list[str]
    units: int


@dataclass(frozen=True)
class LandedTx:
    """What log subscribers see of a landed transaction."""

    signature: Signature
    slot: int
    err: Any
    logs: tuple[str, ...]
    keys: tuple[Pubkey, ...]


class AccountWriteError(ValueError):
    """LiteSVM refused an admin account write."""

    def __init__(self, index: int, pubkey: Pubkey, reason: str) -> None:
        super().__init__(f"account {index} ({pubkey}) was refused by LiteSVM: {reason}")
        self.index = index


def error_json(failed: FailedTransactionMetadata) -> Any:
    """Canonical RPC form of a TransactionError (solders' parsers panic on anything else)."""
    return json.loads(failed.to_json())["err"]


class DevnetChain:
    """LiteSVM plus the block/time bookkeeping of a single-node cluster. Observers get slot and state events."""

    def __init__(
        self,
        svm: LiteSVM | None = None,
        *,
        wall_clock: Callable[[], float] = time.time,
        slot_per_tx: bool = True,
    ) -> None:
        self.svm = (svm or LiteSVM()).with_blockhash_check(False)
        self._wall = wall_clock
        self.slot_per_tx = slot_per_tx
        self.time_offset = 0.0
        clock = self.svm.get_clock()
        self.genesis_slot = clock.slot
        self.genesis_hash = self.svm.latest_blockhash()
        self.transaction_count = 0
        self._blockhashes: OrderedDict[Hash, int] = OrderedDict()
        self._statuses: OrderedDict[Signature, TxStatus] = OrderedDict()
        self._history: OrderedDict[Signature, TxRecord] = OrderedDict()
        self._slot_hashes: deque[tuple[int, Hash]] = deque(
            self.svm.get_slot_hashes(), maxlen=_SLOT_HASHES_LEN
        )
        self.touched: set[Pubkey] = set()
        self.slot_listeners: list[Callable[[int], None]] = []
        self.state_listeners: list[Callable[[], None]] = []
        self.tx_listeners: list[Callable[[LandedTx], None]] = []
        self._slot = clock.slot
        self._unix = int(self._wall())
        self._epoch_start_ts = self._unix
        self._set_slot(clock.slot, self._unix, force_time=True)
        self._blockhashes[self.genesis_hash] = self.block_height

    # ---- time and slots -------------------------------------------------------------------------
    @property
    def slot(self) -> int:
        return self._slot

    @property
    def block_height(self) -> int:
        return self._slot - self.genesis_slot

    @property
    def unix_timestamp(self) -> int:
        return self._unix

    def _set_slot(self, slot: int, unix: int, *, force_time: bool = False) -> None:
        schedule = self.svm.get_epoch_schedule()
        epoch = schedule.get_epoch(slot)
        unix = unix if force_time else max(unix, self._unix)
        if epoch != schedule.get_epoch(self._slot):
            self._epoch_start_ts = unix
        self._slot = slot
        self._unix = unix
        leader_epoch = schedule.get_leader_schedule_epoch(slot)
        self.svm.set_clock(Clock(slot, self._epoch_start_ts, epoch, leader_epoch, unix))

    def _now(self) -> int:
        return int(self._wall() + self.time_offset)

    def advance_slots(self, n: int = 1) -> int:
        """Produce ``n`` blocks: new slot, new blockhash, clock follows wall time; observers are told."""
        if n < 1:
            raise ValueError(f"advance_slots: n must be >= 1, got {n}")
        parent_hash = self.svm.latest_blockhash()
        self._set_slot(self._slot + n, self._now())
        # SlotHashes lets programs (e.g. the lookup-table program) check "recent slot" arguments
        self._slot_hashes.appendleft((self._slot - 1, parent_hash))
        self.svm.set_slot_hashes(list(self._slot_hashes))
        self.svm.expire_blockhash()
        self._blockhashes[self.svm.latest_blockhash()] = self.block_height
        while (
            self._blockhashes
            and next(iter(self._blockhashes.values())) < self.block_height - 2 * MAX_PROCESSING_AGE
        ):
            self._blockhashes.popitem(last=False)
        for cb in list(self.slot_listeners):
            cb(self._slot)
        return self._slot

    def warp_to_slot(self, slot: int) -> int:
        if slot <= self._slot:
            raise ValueError(f"warp target slot {slot} must be greater than the current slot {self._slot}")
        return self.advance_slots(slot - self._slot)

    def set_unix_timestamp(self, unix: int) -> None:
        """Admin: jump the clock (may go backwards); later ticks keep following wall time + offset."""
        self.time_offset = unix - self._wall()
        self._set_slot(self._slot, unix, force_time=True)
        self._emit_state()

    def set_time_offset(self, offset: float) -> None:
        """Restore a saved admin offset (may be negative): chain time = wall time + offset from now on."""
        self.time_offset = offset
        self._set_slot(self._slot, self._now(), force_time=True)
        self._emit_state()

    def advance_time(self, seconds: float) -> None:
        self.time_offset += seconds
        self._set_slot(self._slot, self._now())
        self._emit_state()

    def tick(self) -> None:
        """One time-driven slot (the server ticker calls advance_slots(n) itself to catch up after stalls)."""
        self.advance_slots(1)

    # ---- blockhashes ------------------------------------------------------------------------------
    def latest_blockhash(self) -> tuple[Hash, int]:
        """(blockhash, lastValidBlockHeight)."""
        bh = self.svm.latest_blockhash()
        return bh, self._blockhashes.get(bh, self.block_height) + MAX_PROCESSING_AGE

    def is_blockhash_valid(self, bh: Hash) -> bool:
        issued = self._blockhashes.get(bh)
        return issued is not None and self.block_height <= issued + MAX_PROCESSING_AGE

    # ---- transactions ------------------------------------------------------------------------------
    def _emit_state(self) -> None:
        for cb in list(self.state_listeners):
            cb()

    def resolve_keys(self, tx: VersionedTransaction) -> tuple[tuple[Pubkey, ...], int]:
        """All accounts of a tx in agave's order (static, lookup writable, lookup readonly) and the
        number of lookup-writable ones; unknown tables/indexes are skipped (execution will fail anyway)."""
        msg = tx.message
        writable: list[Pubkey] = []
        readonly: list[Pubkey] = []
        for lookup in getattr(msg, "address_table_lookups", None) or []:
            table = self.svm.get_account(lookup.account_key)
            entries = bytes(table.data)[_LOOKUP_TABLE_META:] if table is not None else b""
            for indexes, out in ((lookup.writable_indexes, writable), (lookup.readonly_indexes, readonly)):
                for i in bytes(indexes):
                    if 32 * (i + 1) <= len(entries):
                        out.append(Pubkey.from_bytes(entries[32 * i : 32 * (i + 1)]))
        return (*msg.account_keys, *writable, *readonly), len(writable)

    def _record(self, sig: Signature, status: TxStatus) -> None:
        self._statuses[sig] = status
        if len(self._statuses) > _MAX_STATUSES:
            self._statuses.popitem(last=False)
        self.transaction_count += 1

    def _land(self, sig: Signature, err: Any, logs: list[str], keys: tuple[Pubkey, ...]) -> None:
        """Record the tx in the current slot, tell observers (context = that slot), then move on."""
        self._record(sig, TxStatus(self._slot, err))
        self._emit_state()
        landed = LandedTx(sig, self._slot, err, tuple(logs), keys)
        for cb in list(self.tx_listeners):
            cb(landed)
        if self.slot_per_tx:
            self.advance_slots(1)

    def simulate(
        self, tx: VersionedTransaction, sig_verify: bool = True
    ) -> SimulatedTransactionInfo | FailedTransactionMetadata:
        self.svm.with_sigverify(sig_verify)
        try:
            return self.svm.simulate_transaction(tx)
        finally:
            self.svm.with_sigverify(True)

    def execute(self, tx: VersionedTransaction) -> SendOutcome:
        """Run the transaction for real. Failures that charged the fee land (like on a cluster); others drop."""
        sig = tx.signatures[0]
        keys, n_writable = self.resolve_keys(tx)
        pre, pre_token = balances(self.get_account, keys)
        res = self.svm.send_transaction(tx)
        if isinstance(res, FailedTransactionMetadata):
            err = error_json(res)
            meta = res.meta()
            landed = err != "AlreadyProcessed" and self.svm.get_transaction(sig) is not None
        else:
            err, meta, landed = None, res, True
        logs, units = list(meta.logs()), meta.compute_units_consumed()
        if landed:
            post, post_token = balances(self.get_account, keys)
            record = TxRecord(
                self._slot, self._unix, tx, err, meta.fee(), keys, n_writable, pre, post, pre_token, post_token,
                tuple(logs), units, inner_json(meta.inner_instructions()),
            )  # fmt: skip
            self._history[sig] = record
            if len(self._history) > _MAX_HISTORY:
                self._history.popitem(last=False)
            self.touched.update(keys)
            self._land(sig, err, logs, keys)
        return SendOutcome(sig, landed, err, logs, units)

    def transaction(self, sig: Signature) -> TxRecord | None:
        return self._history.get(sig)

    def airdrop(self, pubkey: Pubkey, lamports: int) -> Signature:
        res = self.svm.airdrop(pubkey, lamports)
        if isinstance(res, FailedTransactionMetadata):
            raise ValueError(f"airdrop failed: {error_json(res)}")
        self.touched.add(pubkey)
        self._land(res.signature(), None, list(res.logs()), (pubkey,))
        return res.signature()

    def status(self, sig: Signature) -> TxStatus | None:
        return self._statuses.get(sig)

    # ---- accounts ------------------------------------------------------------------------------
    def get_account(self, pubkey: Pubkey) -> Account | None:
        acc = self.svm.get_account(pubkey)
        # LiteSVM reports closed accounts as zero-lamport system accounts; a node reports them as missing
        if acc is None or (acc.lamports == 0 and acc.owner == _SYSTEM_PROGRAM and not acc.data):
            return None
        return acc

    def set_accounts(self, accounts: list[tuple[Pubkey, Account]]) -> None:
        """Admin write, all or nothing: if LiteSVM refuses one account (e.g. executable junk), the ones
        already written are restored and AccountWriteError names the refused one."""
        done: list[tuple[Pubkey, Account | None]] = []
        for index, (pubkey, acc) in enumerate(accounts):
            previous = self.svm.get_account(pubkey)
            try:
                self.svm.set_account(pubkey, acc)
            except Exception as exc:
                for pk, prev in reversed(done):
                    self.svm.set_account(pk, prev if prev is not None else _EMPTY)
                raise AccountWriteError(index, pubkey, str(exc)) from None
            done.append((pubkey, previous))
        self.touched.update(pk for pk, _ in accounts)
        self._emit_state()

    def persistable_accounts(self) -> list[tuple[Pubkey, Account | None]]:
        """Touched accounts that are user state (not programs or sysvars, which LiteSVM recreates); None = closed."""
        out: list[tuple[Pubkey, Account | None]] = []
        for pk in sorted(self.touched, key=bytes):
            acc = self.get_account(pk)
            if acc is not None and (acc.executable or acc.owner in (_SYSVAR_OWNER, _NATIVE_LOADER)):
                continue
            out.append((pk, acc))
        return out
