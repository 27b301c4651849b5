"""WebSocket subscriptions (slot, account, program, signature, logs) in Solana's PubSub wire format.

Account changes are found by comparing snapshots of the subscribed accounts (for program
subscriptions: of the program's matching accounts) after every state change (transaction, airdrop,
admin write, new slot): it catches every cause of a change without replaying transaction account lists. Notifications go out at once for every commitment
(single node: nothing to wait for), except ``signatureSubscribe`` with ``finalized`` (the default),
which fires when the transaction is 32 slots deep, as on a cluster.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from solders.account import Account
from solders.pubkey import Pubkey
from solders.signature import Signature

from .accounts import encode_account, parse_token_account
from .chain import FINALITY_DEPTH, DevnetChain, LandedTx
from .errors import invalid_params
from .params import ACCOUNT_ENCODINGS, DataSlice, Filter, Params, parse_pubkey, parse_signature
from .rpc_common import mint_decimals

QUEUE_LIMIT = 10_000
_ZERO = Account(0, b"", Pubkey.default(), False, 0)


@dataclass
class AccountSub:
    pubkey: Pubkey
    encoding: str
    data_slice: DataSlice | None
    last: tuple[int, bytes, Pubkey, bool] | None


@dataclass
class ProgramSub:
    program: Pubkey
    encoding: str
    data_slice: DataSlice | None
    filters: list[Filter]
    last: dict[Pubkey, tuple[int, bytes, Pubkey, bool]]


@dataclass(frozen=True)
class LogsSub:
    mentions: Pubkey | None  # None = all transactions


@dataclass
class SignatureSub:
    signature: Signature
    finalized: bool


@dataclass(eq=False)  # identity-hashed: connections live in a set
class Connection:
    """One websocket client: its outgoing queue and its subscriptions by id."""

    queue: asyncio.Queue[str | None] = field(default_factory=lambda: asyncio.Queue(QUEUE_LIMIT))
    slot_subs: set[int] = field(default_factory=set)
    account_subs: dict[int, AccountSub] = field(default_factory=dict)
    signature_subs: dict[int, SignatureSub] = field(default_factory=dict)
    program_subs: dict[int, ProgramSub] = field(default_factory=dict)
    logs_subs: dict[int, LogsSub] = field(default_factory=dict)
    closed: bool = False

    def send(self, message: dict[str, Any]) -> None:
        if self.closed:
            return
        try:
            self.queue.put_nowait(json.dumps(message))
        except asyncio.QueueFull:  # a client that stopped reading is cut off rather than grow memory
            self.closed = True  # the writer sees it at its next (immediate: the queue is full) wake-up


def _snapshot(acc: Account | None) -> tuple[int, bytes, Pubkey, bool] | None:
    return None if acc is None else (acc.lamports, bytes(acc.data), acc.owner, acc.executable)


class PubSubHub:
    """Routes chain events to subscribed connections."""

    def __init__(self, chain: DevnetChain) -> None:
        self.chain = chain
        self.connections: set[Connection] = set()
        self._ids = itertools.count(1)
        chain.slot_listeners.append(self.on_slot)
        chain.state_listeners.append(self.on_state)
        chain.tx_listeners.append(self.on_tx)
        self.methods: dict[str, Callable[[Connection, Any], Any]] = {
            "slotSubscribe": self.slot_subscribe,
            "slotUnsubscribe": self._unsub("slot_subs"),
            "accountSubscribe": self.account_subscribe,
            "accountUnsubscribe": self._unsub("account_subs"),
            "signatureSubscribe": self.signature_subscribe,
            "signatureUnsubscribe": self._unsub("signature_subs"),
            "programSubscribe": self.program_subscribe,
            "programUnsubscribe": self._unsub("program_subs"),
            "logsSubscribe": self.logs_subscribe,
            "logsUnsubscribe": self._unsub("logs_subs"),
        }

    def detach(self) -> None:
        self.chain.slot_listeners.remove(self.on_slot)
        self.chain.state_listeners.remove(self.on_state)
        self.chain.tx_listeners.remove(self.on_tx)

    # ---- requests ----------------------------------------------------------------------------------
    def slot_subscribe(self, conn: Connection, raw: Any) -> int:
        Params("slotSubscribe", raw).max_count(0)
        sid = next(self._ids)
        conn.slot_subs.add(sid)
        return sid

    def account_subscribe(self, conn: Connection, raw: Any) -> int:
        p = Params("accountSubscribe", raw)
        p.max_count(2)
        pubkey = p.pubkey(0)
        cfg = p.config(1)
        enc = p.encoding(cfg, 1, "binary", ACCOUNT_ENCODINGS)
        sub = AccountSub(pubkey, enc, p.data_slice(cfg, 1), _snapshot(self.chain.get_account(pubkey)))
        sid = next(self._ids)
        conn.account_subs[sid] = sub
        return sid

    def _program_matches(self, sub: ProgramSub) -> dict[Pubkey, tuple[int, bytes, Pubkey, bool]]:
        out = {}
        for pubkey, acc in self.chain.svm.get_program_accounts(sub.program):
            data = bytes(acc.data)
            if acc.lamports and all(f.matches(data) for f in sub.filters):
                out[pubkey] = (acc.lamports, data, acc.owner, acc.executable)
        return out

    def program_subscribe(self, conn: Connection, raw: Any) -> int:
        p = Params("programSubscribe", raw)
        p.max_count(2)
        program = p.pubkey(0, "programId")
        cfg = p.config(1)
        enc = p.encoding(cfg, 1, "binary", ACCOUNT_ENCODINGS)
        sub = ProgramSub(program, enc, p.data_slice(cfg, 1), p.filters(cfg, 1), {})
        sub.last = self._program_matches(sub)
        sid = next(self._ids)
        conn.program_subs[sid] = sub
        return sid

    def logs_subscribe(self, conn: Connection, raw: Any) -> int:
        p = Params("logsSubscribe", raw)
        p.max_count(2)
        flt = p.require(0, "filter")
        where = "param 0 (filter) of logsSubscribe"
        if flt in ("all", "allWithVotes"):
            sub = LogsSub(None)
        elif isinstance(flt, dict) and isinstance(flt.get("mentions"), list) and len(flt["mentions"]) == 1:
            sub = LogsSub(parse_pubkey(flt["mentions"][0], f"{where}.mentions[0]"))
        else:
            raise invalid_params(f'{where}: expected "all", "allWithVotes" or {{"mentions": [<one pubkey>]}}')
        p.config(1)
        sid = next(self._ids)
        conn.logs_subs[sid] = sub
        return sid

    def signature_subscribe(self, conn: Connection, raw: Any) -> int:
        p = Params("signatureSubscribe", raw)
        p.max_count(2)
        sig = parse_signature(p.require(0, "signature"), "param 0 (signature) of signatureSubscribe")
        cfg = p.config(1)
        finalized = cfg.get("commitment", "finalized") in ("finalized", "max", "root")
        sid = next(self._ids)
        conn.signature_subs[sid] = SignatureSub(sig, finalized)
        # an already-landed signature is reported right after the subscription reply
        asyncio.get_running_loop().call_soon(self._check_signatures, conn)
        return sid

    def _unsub(self, attr: str) -> Callable[[Connection, Any], bool]:
        def unsubscribe(conn: Connection, raw: Any) -> bool:
            p = Params(attr, raw)
            p.max_count(1)
            sid = p.uint(0, "subscriptionId")
            subs = getattr(conn, attr)
            if sid not in subs:
                raise invalid_params(f"param 0 (subscriptionId): no such subscription {sid}")
            subs.discard(sid) if isinstance(subs, set) else subs.pop(sid)
            return True

        return unsubscribe

    # ---- events ------------------------------------------------------------------------------------
    def _notify(self, conn: Connection, method: str, sid: int, result: Any) -> None:
        conn.send({"jsonrpc": "2.0", "method": method, "params": {"result": result, "subscription": sid}})

    def on_slot(self, slot: int) -> None:
        root = max(slot - FINALITY_DEPTH, self.chain.genesis_slot)
        for conn in self.connections:
            for sid in conn.slot_subs:
                self._notify(conn, "slotNotification", sid, {"parent": slot - 1, "root": root, "slot": slot})
        self.on_state()  # a new slot rewrites the Clock sysvar and may finalize signatures

    def on_state(self) -> None:
        for conn in self.connections:
            self._check_accounts(conn)
            self._check_programs(conn)
            if conn.signature_subs:
                self._check_signatures(conn)

    def on_tx(self, tx: LandedTx) -> None:
        value = {"signature": str(tx.signature), "err": tx.err, "logs": list(tx.logs)}
        result = {"context": {"slot": tx.slot}, "value": value}
        for conn in self.connections:
            for sid, sub in conn.logs_subs.items():
                if sub.mentions is None or sub.mentions in tx.keys:
                    self._notify(conn, "logsNotification", sid, result)

    def _encode(self, acc: Account, encoding: str, data_slice: DataSlice | None) -> dict[str, Any]:
        decimals = None
        if encoding == "jsonParsed" and (ta := parse_token_account(acc)) is not None:
            decimals = mint_decimals(self.chain, ta.mint)
        try:
            return encode_account(acc, encoding, data_slice, decimals)
        except Exception:  # e.g. data grew beyond the base58 limit: fall back like jsonParsed does
            return encode_account(acc, "base64", data_slice)

    def _check_programs(self, conn: Connection) -> None:
        ctx = {"slot": self.chain.slot}
        for sid, sub in conn.program_subs.items():
            current = self._program_matches(sub)
            for pubkey, snap in current.items():
                if sub.last.get(pubkey) == snap:
                    continue
                acc = self.chain.get_account(pubkey) or Account(snap[0], snap[1], snap[2], snap[3], 0)
                value = {"pubkey": str(pubkey), "account": self._encode(acc, sub.encoding, sub.data_slice)}
                self._notify(conn, "programNotification", sid, {"context": ctx, "value": value})
            sub.last = current

    def _check_accounts(self, conn: Connection) -> None:
        ctx = {"slot": self.chain.slot}
        for sid, sub in conn.account_subs.items():
            acc = self.chain.get_account(sub.pubkey)
            snap = _snapshot(acc)
            if snap == sub.last:
                continue
            sub.last = snap
            value = self._encode(acc if acc is not None else _ZERO, sub.encoding, sub.data_slice)
            self._notify(conn, "accountNotification", sid, {"context": ctx, "value": value})

    def _check_signatures(self, conn: Connection) -> None:
        done = []
        for sid, sub in conn.signature_subs.items():
            st = self.chain.status(sub.signature)
            if st is None or (sub.finalized and self.chain.slot - st.slot < FINALITY_DEPTH):
                continue
            self._notify(
                conn,
                "signatureNotification",
                sid,
                {"context": {"slot": self.chain.slot}, "value": {"err": st.err}},
            )
            done.append(sid)
        for sid in done:
            conn.signature_subs.pop(sid, None)
