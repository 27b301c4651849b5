"""One serial sending lane per (chain, signer): journal first, simulate, sign, send, bump, confirm, re-verify.

The lane owns the signer's nonce space. Actions arrive as requests with an idempotency key; the journal row is
written before anything touches the chain, every signed transaction is journaled (with its raw bytes) before it
is broadcast, and on start-up every non-final intent is resolved against the chain before new work is taken.
Stuck transactions are bumped on the same nonce (both fee fields ≥ 12.5 %, bounded by the action's budget); an
abandoned nonce is freed with a NOOP; a reorged action is re-evaluated, never blindly re-sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_utils import to_checksum_address
from loguru import logger
from web3 import AsyncWeb3

from bots.journal import ALLOWED, FINAL, Attempt, Intent, IntentState, Journal
from chains.evm.allowlist import Allowlist, SpendCaps, SpendWindow, spend_refusal, worst_case_wei
from chains.evm.errors import (
    REACTIONS,
    Reaction,
    RevertClass,
    RevertRules,
    SendError,
    classify_revert,
    classify_send_error,
    decode_revert,
)
from chains.evm.fees import FeePolicy, FeeQuote, Urgency, noop_floor, quote, replacement
from chains.evm.nonce import NonceState
from chains.evm.rpc import RawRpc, RpcFailure
from chains.evm.signer import Signer

S = IntentState


@dataclass(frozen=True, slots=True)
class LanePolicy:
    """Per-chain confirmation and retry policy."""

    confirmations: int = 1
    reverify_blocks: int = 6
    bump_after_s: float = 4.0
    max_bumps: int = 3
    poll_interval_s: float = 0.1
    max_requeues: int = 3
    gas_headroom_pct: int = 125
    allowlist: Allowlist | None = None  # None: any contract (unit tests); the runner always sets one
    caps: SpendCaps = field(default_factory=SpendCaps)  # hard backstop under the engine's gas-budget guard
    workers: int = 1  # intents planned (simulated, gas-estimated) concurrently; signing + sending is serial


@dataclass(frozen=True, slots=True)
class ActionRequest:
    """What a bot asks the lane to do. `key` makes it idempotent across restarts and workers."""

    key: str
    to: str
    data: str = "0x"
    value: int = 0
    urgency: Urgency = Urgency.ROUTINE
    budget_max_fee: int | None = None
    gas_limit: int | None = None
    bot: str = ""
    kind: str = ""
    protocol: str = ""
    target: str = ""
    revert_rules: RevertRules = field(default_factory=RevertRules)


@dataclass
class _Inflight:
    intent_id: int
    nonce: int
    last_quote: FeeQuote
    last_sent_at: float
    bumps: int = 0


class LaneHalted(RuntimeError):
    """The lane stopped sending (e.g. insufficient funds); the reason is in the message."""


class LaneRefused(PermissionError):
    """The lane will not sign this request (contract not allowed); the journal row is ABANDONED with the reason."""


RefusalHook = Callable[[str, str], Awaitable[None]]  # (intent key, reason): how a refusal in the worker surfaces


class EvmLane:
    """Serial sender for one signer on one chain. Start it, submit requests, stop it."""

    def __init__(self, w3: AsyncWeb3, signer: Signer, chain: str, chain_id: int, journal: Journal,
                 fee_policy: FeePolicy | None = None, policy: LanePolicy | None = None,
                 custom_errors: Mapping[str, str] | None = None) -> None:
        self.rpc = RawRpc(w3)
        self.signer = signer
        self.chain = chain
        self.chain_id = chain_id
        self.journal = journal
        self.fees = fee_policy or FeePolicy()
        self.policy = policy or LanePolicy()
        self.custom_errors = dict(custom_errors or {})
        self.nonces = NonceState()
        self.halted: str | None = None
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._requests: dict[str, ActionRequest] = {}
        self._inflight: dict[int, _Inflight] = {}  # intent id → in-flight tx
        self._mined: dict[int, int] = {}  # intent id → block number awaiting confirmation / re-verification
        self._free_slots: dict[int, tuple[FeeQuote, float]] = {}  # abandoned nonce → (fee floor, freed at)
        self._requeues: dict[str, int] = {}
        self._active: set[str] = set()  # keys a worker is planning right now
        self._tasks: list[asyncio.Task[None]] = []
        self._lock = asyncio.Lock()  # serialises nonce allocation + signing + broadcast
        self.spend = SpendWindow()  # worst-case spend of this lane's sent attempts (in-process, rolling hour)
        self.on_refusal: RefusalHook | None = None
        self.log = logger.bind(chain=chain, signer=signer.address)

    # ---------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        latest, pending = await self.rpc.nonce_counts(self.signer.address)
        self.nonces.start(latest, pending)
        await self._resolve_on_startup()
        self._tasks = [asyncio.create_task(self._worker(), name=f"lane-worker-{self.chain}-{i}")
                       for i in range(max(1, self.policy.workers))]
        self._tasks.append(asyncio.create_task(self._monitor(), name=f"lane-monitor-{self.chain}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []

    async def submit(self, request: ActionRequest) -> Intent:
        """Journal the request (idempotently) and queue it; returns the journal row.

        A call to a contract outside the allowlist is journaled, closed ABANDONED with the reason and raised as
        `LaneRefused` (the engine turns it into an alert); nothing is queued or signed."""
        intent, created = await self.journal.create_intent(
            request.key, chain=self.chain, signer=self.signer.address, bot=request.bot, kind=request.kind,
            protocol=request.protocol, target=request.target, to_address=request.to, call_data=request.data,
            value_wei=str(request.value), budget_wei="" if request.budget_max_fee is None else str(request.budget_max_fee))
        refusal = self._contract_refusal(request.to, request.data, request.value)
        if refusal is not None:
            if intent.id is not None and intent.state == S.PLANNED:
                intent = await self.journal.transition(intent.id, S.ABANDONED, refusal)
                self.log.error("{k}: {r}", k=request.key, r=refusal)
            if intent.state in FINAL:
                raise LaneRefused(refusal)
            return intent  # already on its way from before the allowlist changed: the monitor follows it
        self._requests[request.key] = request
        if created or intent.state == S.PLANNED:
            await self._queue.put(request.key)
        return intent

    async def wait_final(self, key: str, timeout: float = 60.0, states: frozenset[IntentState] = FINAL) -> Intent:
        """Poll the journal until the intent reaches one of `states` (tests and bots' bookkeeping)."""
        deadline = time.monotonic() + timeout
        while True:
            intent = await self.journal.get(key)
            if intent is not None and intent.state in states:
                return intent
            if time.monotonic() > deadline:
                raise TimeoutError(f"intent {key} still {intent.state if intent else 'missing'} after {timeout}s")
            await asyncio.sleep(self.policy.poll_interval_s)

    # ---------------------------------------------------------------- policy checks
    def _contract_refusal(self, to: str, data: str, value: int) -> str | None:
        allow = self.policy.allowlist
        return None if allow is None else allow.refusal(to, data, value, self.signer.address)

    def _spend_refusal(self, cost_wei: int, added_wei: int) -> str | None:
        return spend_refusal(self.policy.caps, cost_wei, added_wei, self.spend.spent(time.monotonic()), self.chain)

    async def _refuse(self, intent_id: int, key: str, reason: str) -> None:
        """Close the intent ABANDONED with the refusal and tell whoever listens (the runner: an engine alert)."""
        await self.journal.transition(intent_id, S.ABANDONED, reason)
        self.log.error("{k}: {r}", k=key, r=reason)
        if self.on_refusal is not None:
            with contextlib.suppress(Exception):
                await self.on_refusal(key, reason)

    # ---------------------------------------------------------------- planning and sending
    async def _worker(self) -> None:
        while True:
            key = await self._queue.get()
            if key in self._active:  # queued twice (re-submitted while planned): one worker plans it
                continue
            self._active.add(key)
            try:
                await self._process(key)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # one bad action never stops the lane
                self.log.exception("lane failed on {key}: {err}", key=key, err=type(exc).__name__)
                await self._requeue(key, f"internal error {type(exc).__name__}")
            finally:
                self._active.discard(key)

    async def _requeue(self, key: str, reason: str) -> None:
        count = self._requeues.get(key, 0) + 1
        self._requeues[key] = count
        intent = await self.journal.get(key)
        if intent is None or intent.id is None:
            return
        if count > self.policy.max_requeues:
            if S.ABANDONED in _allowed(intent.state):
                await self.journal.transition(intent.id, S.ABANDONED, f"gave up after {count - 1} retries: {reason}")
            return
        if intent.state != S.PLANNED and S.PLANNED in _allowed(intent.state):
            await self.journal.transition(intent.id, S.PLANNED, reason)
        asyncio.get_running_loop().call_later(0.2 * count, self._queue.put_nowait, key)

    async def _process(self, key: str) -> None:
        intent = await self.journal.get(key)
        request = self._requests.get(key)
        if intent is None or intent.id is None or intent.state != S.PLANNED:
            return
        if request is None:  # after a restart the bot must re-submit to re-plan; nothing is sent blindly
            return
        if self.halted:
            await self.journal.transition(intent.id, S.ABANDONED, f"lane halted: {self.halted}")
            return
        refusal = self._contract_refusal(request.to, request.data, request.value)
        if refusal is not None:  # defence in depth: submit() already refuses these
            await self._refuse(intent.id, key, refusal)
            return
        tx = {"from": self.signer.address, "to": to_checksum_address(request.to), "data": request.data,
              "value": hex(request.value)}
        sim = await self.rpc.request("eth_call", [tx, "pending"])
        if isinstance(sim, RpcFailure):
            await self._on_revert(intent, request, sim, stage="simulation")
            return
        await self.journal.transition(intent.id, S.SIMULATED, "eth_call at pending ok")
        gas = request.gas_limit
        if gas is None:
            est = await self.rpc.request("eth_estimateGas", [tx, "pending"])
            if isinstance(est, RpcFailure):
                await self._on_revert(intent, request, est, stage="estimate")
                return
            gas = int(est, 16) * self.policy.gas_headroom_pct // 100
        async with self._lock:
            await self._send_new(intent, request, gas)

    async def _send_new(self, intent: Intent, request: ActionRequest, gas: int) -> None:
        assert intent.id is not None
        market = await self.rpc.fee_market()
        fresh = quote(market, request.urgency, self.fees)
        _latest, pending = await self.rpc.nonce_counts(self.signer.address)
        fee = self._budgeted(self._slot_fee(fresh), request.budget_max_fee)
        cost = worst_case_wei(gas, fee.max_fee, request.value)
        refusal = self._spend_refusal(cost, cost)
        if refusal is not None:  # checked before a nonce is taken: nothing is signed, no gap is left
            await self._refuse(intent.id, intent.key, refusal)
            return
        nonce, fee = self._take_slot(pending, fresh)
        fee = self._budgeted(fee, request.budget_max_fee)
        await self.journal.transition(intent.id, S.SENT, f"nonce {nonce}", nonce=nonce)
        raw, tx_hash = self._sign(nonce, fee, request.to, request.data, request.value, gas)
        attempt = await self.journal.record_attempt(intent.id, nonce, fee.max_fee, fee.tip, tx_hash, raw_tx=raw,
                                                    gas=gas)
        outcome = await self.rpc.request("eth_sendRawTransaction", [raw])
        if isinstance(outcome, RpcFailure) and classify_send_error(outcome.message) is not SendError.ALREADY_KNOWN:
            await self._on_send_failure(intent, request, attempt, nonce, outcome)
            return
        self.nonces.broadcast(nonce)
        self.spend.record(time.monotonic(), cost)
        assert attempt.id is not None
        await self.journal.set_attempt_status(attempt.id, "broadcast")
        self._inflight[intent.id] = _Inflight(intent.id, nonce, fee, time.monotonic())

    @staticmethod
    def _budgeted(fee: FeeQuote, budget: int | None) -> FeeQuote:
        if budget is not None and fee.max_fee > budget:
            return FeeQuote(max_fee=budget, tip=min(fee.tip, budget))
        return fee

    def _slot_fee(self, fresh: FeeQuote) -> FeeQuote:
        """The fee `_take_slot` will use, without taking the slot (the spend check runs first)."""
        if self._free_slots:
            floor, _freed_at = self._free_slots[min(self._free_slots)]
            return FeeQuote(max(floor.max_fee, fresh.max_fee), max(floor.tip, fresh.tip))
        return fresh

    def _take_slot(self, pending: int, fresh: FeeQuote) -> tuple[int, FeeQuote]:
        """Lowest abandoned nonce first (at ≥ its fee floor), else a new nonce."""
        if self._free_slots:
            nonce = min(self._free_slots)
            floor, _freed_at = self._free_slots.pop(nonce)
            return nonce, FeeQuote(max(floor.max_fee, fresh.max_fee), max(floor.tip, fresh.tip))
        return self.nonces.allocate(pending), fresh

    def _sign(self, nonce: int, fee: FeeQuote, to: str, data: str, value: int, gas: int) -> tuple[str, str]:
        tx: dict[str, Any] = {"type": 2, "chainId": self.chain_id, "nonce": nonce, "to": to_checksum_address(to),
              "value": value, "data": data, "gas": gas, "maxFeePerGas": fee.max_fee,
              "maxPriorityFeePerGas": fee.tip}
        signed = self.signer.account.sign_transaction(tx)
        return "0x" + bytes(signed.raw_transaction).hex(), "0x" + bytes(signed.hash).hex()

    async def _on_revert(self, intent: Intent, request: ActionRequest, failure: RpcFailure, stage: str) -> None:
        assert intent.id is not None
        decoded = decode_revert(failure.data, self.custom_errors) if failure.data else None
        if decoded is None:
            kind = classify_send_error(failure.message)
            if kind is not SendError.EXECUTION_REVERTED:
                await self._requeue(intent.key, f"{stage}: {failure.message}")
                return
            verdict, label = RevertClass.FATAL, failure.message
        else:
            verdict, label = classify_revert(decoded, request.revert_rules)
        if verdict is RevertClass.RETRYABLE:
            await self._requeue(intent.key, f"retryable revert in {stage}: {label}")
            return
        await self.journal.transition(intent.id, S.REVERTED, f"{verdict.value}: {label} ({stage})")

    async def _on_send_failure(self, intent: Intent, request: ActionRequest, attempt: Attempt, nonce: int,
                               failure: RpcFailure) -> None:
        assert intent.id is not None and attempt.id is not None
        await self.journal.set_attempt_status(attempt.id, "failed", failure.message[:300])
        self.nonces.release(nonce)
        kind = classify_send_error(failure.message)
        self.log.warning("send failed nonce={n}: {k} ({m})", n=nonce, k=kind.value, m=failure.message[:120])
        if kind is SendError.EXECUTION_REVERTED:
            await self._on_revert(intent, request, failure, stage="send")
            return
        if kind is SendError.INSUFFICIENT_FUNDS:
            self.halted = f"insufficient funds on {self.chain} for {self.signer.address}"
            await self.journal.transition(intent.id, S.ABANDONED, self.halted)
            return
        if _reaction(kind) is Reaction.RESYNC_NONCE:
            latest, pending = await self.rpc.nonce_counts(self.signer.address)
            if self.nonces.resync(latest, pending):
                self.log.warning("nonce consumed by a transaction this lane did not send (external use of key)")
        await self._requeue(intent.key, f"send failed: {kind.value}")

    # ---------------------------------------------------------------- monitoring
    async def _monitor(self) -> None:
        while True:
            try:
                await self._monitor_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.log.warning("lane monitor error: {e}", e=f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(self.policy.poll_interval_s)

    async def _monitor_once(self) -> None:
        latest, _pending = await self.rpc.nonce_counts(self.signer.address)
        flights = sorted(self._inflight.values(), key=lambda f: f.nonce)
        for flight in flights:
            await self._watch_inflight(flight, latest)
        self._claim_gap(latest, flights)
        if self._mined:
            head = await self.rpc.head()
            for intent_id, block in list(self._mined.items()):
                await self._confirm_or_reverify(intent_id, block, head)
        await self._fill_free_slots()

    def _claim_gap(self, latest: int, flights: list[_Inflight]) -> None:
        """Our queue waits on a nonce none of our in-flight txs holds (lost or never broadcast): free it, so the
        next action or a NOOP fills it instead of everything behind it stalling forever."""
        if not flights or flights[0].nonce <= latest or latest in self._free_slots:
            return
        if any(f.nonce == latest for f in self._inflight.values()):
            return
        self._free_slots[latest] = (flights[0].last_quote, time.monotonic())
        self.log.warning("nonce {n} has no transaction in flight; freeing it for the next action or a NOOP",
                         n=latest)

    async def _watch_inflight(self, flight: _Inflight, latest: int) -> None:
        attempts = await self.journal.attempts(flight.intent_id)
        for attempt in reversed(attempts):
            if attempt.status == "failed":
                continue
            receipt = await self.rpc.receipt(attempt.tx_hash)
            if receipt is not None:
                await self._on_mined(flight.intent_id, attempt, receipt, attempts)
                return
        if latest > flight.nonce:  # the slot was used by a tx that is not one of ours for this intent
            self._inflight.pop(flight.intent_id, None)
            await self.journal.transition(flight.intent_id, S.PLANNED, "nonce consumed elsewhere; re-evaluate")
            intent = await self.journal.get_by_id(flight.intent_id)
            if intent is not None:
                await self._queue.put(intent.key)
            return
        if flight.nonce > latest:
            # Blocked behind an earlier nonce: bumping it cannot help and would burn its bump budget. Its clock
            # restarts so it gets the full interval once it is at the head of the queue.
            flight.last_sent_at = time.monotonic()
            return
        if time.monotonic() - flight.last_sent_at < self.policy.bump_after_s:
            return
        async with self._lock:
            await self._bump_or_abandon(flight, attempts)

    async def _bump_or_abandon(self, flight: _Inflight, attempts: Sequence[Attempt]) -> None:
        intent = await self.journal.get_by_id(flight.intent_id)
        if intent is None or intent.id is None:
            return
        fresh = quote(await self.rpc.fee_market(), Urgency.URGENT, self.fees)
        budget = int(intent.budget_wei) if intent.budget_wei else None
        decision = replacement(flight.last_quote, fresh, self.fees, budget)
        gas = (attempts[-1].gas if attempts else 0) or 300_000
        value = int(intent.value_wei)
        refusal = None
        if decision.quote is not None:  # a bump adds only its increase to the window: one of the two is mined
            cost = worst_case_wei(gas, decision.quote.max_fee, value)
            refusal = self._spend_refusal(cost, cost - worst_case_wei(gas, flight.last_quote.max_fee, value))
        if flight.bumps >= self.policy.max_bumps or decision.quote is None or refusal is not None:
            reason = (decision.reason if decision.quote is None else refusal
                      or f"no inclusion after {flight.bumps} bumps")
            self._inflight.pop(intent.id, None)
            await self.journal.transition(intent.id, S.ABANDONED, reason)
            self._free_slots[flight.nonce] = (noop_floor(flight.last_quote, fresh, self.fees), time.monotonic())
            self.log.warning("abandoned {k} at nonce {n}: {r}", k=intent.key, n=flight.nonce, r=reason)
            if refusal is not None and self.on_refusal is not None:
                with contextlib.suppress(Exception):
                    await self.on_refusal(intent.key, refusal)
            return
        assert decision.quote is not None
        raw, tx_hash = self._sign(flight.nonce, decision.quote, intent.to_address, intent.call_data,
                                  value, gas)
        attempt = await self.journal.record_attempt(intent.id, flight.nonce, decision.quote.max_fee,
                                                    decision.quote.tip, tx_hash, raw_tx=raw, gas=gas)
        await self.journal.transition(intent.id, S.SENT, f"bump {flight.bumps + 1} at nonce {flight.nonce}")
        outcome = await self.rpc.request("eth_sendRawTransaction", [raw])
        assert attempt.id is not None
        flight.bumps += 1
        flight.last_sent_at = time.monotonic()
        if isinstance(outcome, RpcFailure) and classify_send_error(outcome.message) is not SendError.ALREADY_KNOWN:
            await self.journal.set_attempt_status(attempt.id, "failed", outcome.message[:300])
            return
        self.spend.record(time.monotonic(), worst_case_wei(gas, decision.quote.max_fee, value)
                          - worst_case_wei(gas, flight.last_quote.max_fee, value))
        flight.last_quote = decision.quote
        await self.journal.set_attempt_status(attempt.id, "broadcast")

    async def _fill_free_slots(self) -> None:
        """A freed nonce not taken by a new action within one bump interval gets a 0-value self-transfer."""
        if not self._free_slots or not self._queue.empty():
            return
        async with self._lock:
            for nonce, (floor, freed_at) in sorted(self._free_slots.items()):
                if time.monotonic() - freed_at < self.policy.bump_after_s:
                    continue
                latest, _ = await self.rpc.nonce_counts(self.signer.address)
                if latest > nonce:  # the abandoned tx got mined after all, or something else used it
                    self._free_slots.pop(nonce, None)
                    continue
                key = f"noop:{self.chain}:{self.signer.address}:{nonce}:{int(time.time() * 1000)}"
                intent, _ = await self.journal.create_intent(key, chain=self.chain, signer=self.signer.address,
                                                             bot="lane", kind="noop", to_address=self.signer.address)
                assert intent.id is not None
                await self.journal.transition(intent.id, S.SIMULATED, "noop needs no simulation")
                await self.journal.transition(intent.id, S.SENT, f"noop frees nonce {nonce}", nonce=nonce)
                raw, tx_hash = self._sign(nonce, floor, self.signer.address, "0x", 0, 21_000)
                attempt = await self.journal.record_attempt(intent.id, nonce, floor.max_fee, floor.tip, tx_hash,
                                                            raw_tx=raw, gas=21_000)
                outcome = await self.rpc.request("eth_sendRawTransaction", [raw])
                self._free_slots.pop(nonce, None)
                assert attempt.id is not None
                if isinstance(outcome, RpcFailure):
                    await self.journal.set_attempt_status(attempt.id, "failed", outcome.message[:300])
                    await self.journal.transition(intent.id, S.ABANDONED, f"noop failed: {outcome.message[:120]}")
                    continue
                await self.journal.set_attempt_status(attempt.id, "broadcast")
                self.spend.record(time.monotonic(), worst_case_wei(21_000, floor.max_fee, 0))  # counted, never refused
                self._inflight[intent.id] = _Inflight(intent.id, nonce, floor, time.monotonic())

    async def _on_mined(self, intent_id: int, attempt: Attempt, receipt: dict[str, object],
                        attempts: Sequence[Attempt]) -> None:
        self._inflight.pop(intent_id, None)
        block = int(str(receipt["blockNumber"]), 16)
        fields = {"tx_hash": attempt.tx_hash, "block_number": block, "block_hash": str(receipt["blockHash"])}
        for other in attempts:
            if other.id is not None and other.id != attempt.id and other.status == "broadcast":
                await self.journal.set_attempt_status(other.id, "replaced")
        assert attempt.id is not None
        await self.journal.set_attempt_status(attempt.id, "mined")
        if int(str(receipt.get("status", "0x1")), 16) == 1:
            await self.journal.transition(intent_id, S.MINED, f"mined in block {block}", **fields)
        else:
            await self.journal.transition(intent_id, S.REVERTED, f"mined but reverted in block {block}", **fields)
        self._mined[intent_id] = block

    async def _confirm_or_reverify(self, intent_id: int, block: int, head: int) -> None:
        intent = await self.journal.get_by_id(intent_id)
        if intent is None or intent.id is None:
            self._mined.pop(intent_id, None)
            return
        current_hash = await self.rpc.block_hash(block)
        if current_hash != intent.block_hash:
            self._mined.pop(intent_id, None)
            await self.journal.transition(intent.id, S.REORGED, f"block {block} hash changed (reorg)")
            await self._reevaluate(intent.id)
            return
        depth = head - block + 1
        if intent.state == S.MINED and depth >= self.policy.confirmations:
            await self.journal.transition(intent.id, S.CONFIRMED, f"{depth} confirmations, hash verified")
        elif depth > self.policy.confirmations + self.policy.reverify_blocks:
            self._mined.pop(intent_id, None)  # past the re-verification window

    async def _reevaluate(self, intent_id: int) -> None:
        """After a reorg: re-included by the new chain → MINED again; otherwise plan again (re-simulated)."""
        attempts = await self.journal.attempts(intent_id)
        for attempt in reversed(attempts):
            receipt = await self.rpc.receipt(attempt.tx_hash)
            if receipt is not None:
                block = int(str(receipt["blockNumber"]), 16)
                await self.journal.transition(intent_id, S.MINED, f"re-included in block {block} after reorg",
                                              tx_hash=attempt.tx_hash, block_number=block,
                                              block_hash=str(receipt["blockHash"]))
                self._mined[intent_id] = block
                return
            if await self.rpc.transaction(attempt.tx_hash) is not None:  # back in the mempool
                intent = await self.journal.get_by_id(intent_id)
                if intent is not None and intent.nonce is not None:
                    await self.journal.transition(intent_id, S.PLANNED, "reorged; original tx pending again")
                    await self.journal.transition(intent_id, S.SIMULATED, "original tx still valid in mempool")
                    await self.journal.transition(intent_id, S.SENT, "tracking the re-pooled tx")
                    self._inflight[intent_id] = _Inflight(intent_id, intent.nonce,
                                                          FeeQuote(int(attempt.max_fee_wei), int(attempt.tip_wei)),
                                                          time.monotonic())
                    return
        async with self._lock:
            latest, pending = await self.rpc.nonce_counts(self.signer.address)
            self.nonces.rewind(latest, pending)
        await self.journal.transition(intent_id, S.PLANNED, "reorged out; re-evaluate")
        intent = await self.journal.get_by_id(intent_id)
        if intent is not None:
            await self._queue.put(intent.key)

    # ---------------------------------------------------------------- start-up resolution
    async def _resolve_on_startup(self) -> None:
        """Resolve every non-final intent of this lane against the chain before anything new is planned."""
        latest, _pending = await self.rpc.nonce_counts(self.signer.address)
        for intent in await self.journal.non_final(chain=self.chain, signer=self.signer.address):
            assert intent.id is not None
            attempts = list(await self.journal.attempts(intent.id))
            if intent.state in (S.MINED,):
                self._mined[intent.id] = intent.block_number or 0
                continue
            if intent.state == S.REORGED:
                await self._reevaluate(intent.id)
                continue
            if intent.state == S.SIMULATED:  # killed between simulation and signing: nothing reached the chain
                await self.journal.transition(intent.id, S.PLANNED, "restart: simulated but never signed")
                continue
            if intent.state != S.SENT:
                continue  # planned: nothing reached the chain; the bot re-submits if still wanted
            mined = False
            for attempt in reversed(attempts):
                receipt = await self.rpc.receipt(attempt.tx_hash)
                if receipt is not None:
                    await self._on_mined(intent.id, attempt, receipt, attempts)
                    mined = True
                    break
            if mined:
                continue
            nonce = intent.nonce if intent.nonce is not None else -1
            if nonce < 0 or latest > nonce or not attempts:
                await self.journal.transition(intent.id, S.PLANNED, "restart: not on chain and slot gone")
                continue
            last = attempts[-1]
            if await self.rpc.transaction(last.tx_hash) is None and last.raw_tx:
                await self.rpc.request("eth_sendRawTransaction", [last.raw_tx])  # same bytes, same hash
            self.nonces.broadcast(nonce)
            self.nonces.next_local = max(self.nonces.next_local, nonce + 1)
            self._inflight[intent.id] = _Inflight(intent.id, nonce, FeeQuote(int(last.max_fee_wei),
                                                                             int(last.tip_wei)), time.monotonic())


def _allowed(state: str) -> frozenset[IntentState]:
    return ALLOWED[IntentState(state)]


def _reaction(kind: SendError) -> Reaction:
    return REACTIONS[kind]
