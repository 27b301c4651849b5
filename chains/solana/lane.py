"""Solana sending lane: journal first, recent blockhash with expiry tracking, resend until expiry, re-sign once
expired, priority fee from a pure policy, signature-status tracking — on the same journal as the EVM lanes.

A Solana transaction can only land while its blockhash is valid (≤ lastValidBlockHeight). So the lane re-sends
the *same* signed bytes until it lands or the chain passes that height; only then is it safe to sign a new
transaction with a fresh blockhash, because the old one can never land any more. That is the exactly-once rule.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Sequence
from dataclasses import dataclass

from loguru import logger
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed
from solana.rpc.core import RPCException
from solana.rpc.models import TxOpts
from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from bots.journal import FINAL, Intent, IntentState, Journal
from chains.evm.fees import Urgency
from chains.solana.fees import PriorityFee, PriorityFeePolicy, priority_fee

S = IntentState


@dataclass(frozen=True, slots=True)
class SolanaLanePolicy:
    resend_every_s: float = 0.5
    poll_interval_s: float = 0.1
    max_resigns: int = 3
    compute_unit_limit: int = 200_000


@dataclass(frozen=True, slots=True)
class SolanaAction:
    key: str
    instructions: tuple[Instruction, ...]
    urgency: Urgency = Urgency.ROUTINE
    budget_lamports: int | None = None
    compute_unit_limit: int | None = None
    bot: str = ""
    kind: str = ""
    protocol: str = ""
    target: str = ""


class SolanaLane:
    """One payer on one Solana cluster. `send(action)` journals, signs, sends, and returns the final intent."""

    def __init__(self, client: AsyncClient, payer: Keypair, journal: Journal, chain: str = "solana",
                 fee_policy: PriorityFeePolicy | None = None, policy: SolanaLanePolicy | None = None) -> None:
        self.client = client
        self.payer = payer
        self.journal = journal
        self.chain = chain
        self.fees = fee_policy or PriorityFeePolicy()
        self.policy = policy or SolanaLanePolicy()
        self.address = str(payer.pubkey())
        self._lock = asyncio.Lock()
        self.log = logger.bind(chain=chain, signer=self.address)

    async def send(self, action: SolanaAction, timeout_s: float = 60.0) -> Intent:
        """Run the action to a final state (confirmed, reverted or abandoned); idempotent by `action.key`."""
        intent, created = await self.journal.create_intent(
            action.key, chain=self.chain, signer=self.address, bot=action.bot, kind=action.kind,
            protocol=action.protocol, target=action.target)
        assert intent.id is not None
        if intent.state in FINAL:
            return intent
        async with self._lock:
            return await self._drive(intent.id, action, timeout_s)

    async def _drive(self, intent_id: int, action: SolanaAction, timeout_s: float) -> Intent:
        deadline = time.monotonic() + timeout_s
        attempts = list(await self.journal.attempts(intent_id))
        # an attempt from before a crash may still land while its blockhash is valid: watch it first
        for attempt in attempts:
            if attempt.status in ("broadcast", "signed") and attempt.valid_until is not None:
                landed = await self._watch(intent_id, attempt.tx_hash, attempt.raw_tx, attempt.valid_until, deadline)
                if landed is not None:
                    return landed
        intent = await self.journal.get_by_id(intent_id)
        assert intent is not None
        if intent.state == S.PLANNED:
            await self.journal.transition(intent_id, S.SIMULATED, "solana: preflight runs at send")
        resigns = sum(1 for a in attempts if a.valid_until is not None)
        while resigns <= self.policy.max_resigns:
            if time.monotonic() > deadline:
                break
            fee = priority_fee(await self._recent_fees(), action.urgency,
                               action.compute_unit_limit or self.policy.compute_unit_limit, resigns, self.fees,
                               action.budget_lamports)
            blockhash, valid_until = await self._blockhash()
            tx = self._sign(action, fee, blockhash)
            signature = str(tx.signatures[0])
            raw = base64.b64encode(bytes(tx)).decode()
            await self.journal.transition(intent_id, S.SENT, f"signed with blockhash valid to {valid_until}")
            # Solana attempts reuse the journal columns: nonce = signature number, max fee = CU price
            # (micro-lamports), tip = priority lamports, gas = CU limit, valid_until = lastValidBlockHeight.
            await self.journal.record_attempt(intent_id, resigns, fee.micro_lamports_per_cu, fee.priority_lamports,
                                              signature, raw_tx=raw, gas=fee.compute_unit_limit,
                                              valid_until=valid_until)
            landed = await self._watch(intent_id, signature, raw, valid_until, deadline)
            if landed is not None:
                return landed
            resigns += 1
            self.log.info("blockhash expired before {sig} landed; re-signing ({n})", sig=signature[:12], n=resigns)
        final = await self.journal.get_by_id(intent_id)
        assert final is not None
        if final.state not in FINAL:
            final = await self.journal.transition(intent_id, S.ABANDONED, f"not landed after {resigns} signatures")
        return final

    async def _watch(self, intent_id: int, signature: str, raw_b64: str, valid_until: int,
                     deadline: float) -> Intent | None:
        """Re-send the same bytes until landed (→ final intent) or the blockhash expired (→ None)."""
        sig = Signature.from_string(signature)
        raw = base64.b64decode(raw_b64)
        last_send = 0.0
        while time.monotonic() < deadline:
            status = (await self.client.get_signature_statuses([sig])).value[0]
            if status is not None:
                return await self._landed(intent_id, signature, status.slot, status.err)
            height = (await self.client.get_block_height()).value
            if height > valid_until:
                await self._mark(intent_id, signature, "expired")
                return None
            if time.monotonic() - last_send >= self.policy.resend_every_s:
                last_send = time.monotonic()
                try:
                    await self.client.send_raw_transaction(raw, opts=TxOpts(skip_preflight=False,
                                                                             preflight_commitment=Confirmed))
                    await self._mark(intent_id, signature, "broadcast")
                except RPCException as exc:
                    text = str(exc)
                    if "already been processed" in text or "AlreadyProcessed" in text:
                        continue
                    if "BlockhashNotFound" in text or "Blockhash not found" in text:
                        await self._mark(intent_id, signature, "expired")
                        return None
                    await self._mark(intent_id, signature, "failed", text[:300])
                    return await self.journal.transition(intent_id, S.REVERTED, f"preflight failed: {text[:200]}")
            await asyncio.sleep(self.policy.poll_interval_s)
        return None

    async def _landed(self, intent_id: int, signature: str, slot: int, err: object) -> Intent:
        await self._mark(intent_id, signature, "mined")
        fields = {"tx_hash": signature, "block_number": slot}
        await self.journal.transition(intent_id, S.MINED, f"landed in slot {slot}", **fields)
        if err is not None:
            return await self.journal.transition(intent_id, S.REVERTED, f"landed with error {err}")
        return await self.journal.transition(intent_id, S.CONFIRMED, "signature status confirmed")

    async def _mark(self, intent_id: int, signature: str, status: str, error: str = "") -> None:
        for attempt in await self.journal.attempts(intent_id):
            if attempt.tx_hash == signature and attempt.id is not None and attempt.status != status:
                await self.journal.set_attempt_status(attempt.id, status, error)

    async def _blockhash(self) -> tuple[Hash, int]:
        resp = (await self.client.get_latest_blockhash(Confirmed)).value
        return resp.blockhash, resp.last_valid_block_height

    async def _recent_fees(self) -> Sequence[int]:
        """Recent prioritization fees when the node offers them; the policy floor applies otherwise."""
        try:
            resp = await self.client.get_recent_prioritization_fees()
        except Exception:  # method not offered (e.g. the devnet endpoint): the policy floor applies
            return ()
        return [int(f.prioritization_fee) for f in resp.value]

    def _sign(self, action: SolanaAction, fee: PriorityFee, blockhash: Hash) -> VersionedTransaction:
        ixs = [set_compute_unit_limit(fee.compute_unit_limit), set_compute_unit_price(fee.micro_lamports_per_cu),
               *action.instructions]
        message = MessageV0.try_compile(self.payer.pubkey(), ixs, [], blockhash)
        return VersionedTransaction(message, [self.payer])
