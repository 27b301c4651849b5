"""The action journal: every action is an intent with an idempotency key, written before anything is sent.

Why a journal and not tx hashes: a hash changes with every fee bump and vanishes in a reorg, while the keeper's
question is "did I already liquidate account X in auction Y?". The key answers it across restarts, bumps and
workers. Transitions are checked by a pure table and applied with a compare-and-set on the current state, so
two workers (or a restarted process) can never move one intent along two paths.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bots.db import concurrent_safe_schema, create_engine


class IntentState(StrEnum):
    PLANNED = "planned"
    SIMULATED = "simulated"
    SENT = "sent"
    MINED = "mined"
    CONFIRMED = "confirmed"
    REVERTED = "reverted"
    ABANDONED = "abandoned"
    REORGED = "reorged"


S = IntentState
ALLOWED: dict[IntentState, frozenset[IntentState]] = {
    S.PLANNED: frozenset({S.SIMULATED, S.REVERTED, S.ABANDONED}),
    S.SIMULATED: frozenset({S.SENT, S.REVERTED, S.ABANDONED, S.PLANNED}),
    # SENT → SENT is a same-nonce replacement (fee bump); SENT → PLANNED when the nonce was consumed by
    # something else and the action must be re-evaluated.
    S.SENT: frozenset({S.SENT, S.MINED, S.REVERTED, S.ABANDONED, S.PLANNED}),
    S.MINED: frozenset({S.CONFIRMED, S.REORGED, S.REVERTED}),
    S.CONFIRMED: frozenset({S.REORGED}),  # only within the re-verification window
    S.REVERTED: frozenset({S.REORGED}),  # a mined revert can be reorged away too
    # re-evaluated, never blindly re-sent: re-included by the new chain (MINED) or planned again
    S.REORGED: frozenset({S.PLANNED, S.MINED, S.ABANDONED}),
    S.ABANDONED: frozenset(),
}
FINAL: frozenset[IntentState] = frozenset({S.CONFIRMED, S.REVERTED, S.ABANDONED})


class TransitionError(ValueError):
    """A state change the journal refuses (illegal edge, or the intent moved on concurrently)."""


def check_transition(current: IntentState, target: IntentState) -> None:
    """Raise TransitionError unless `current → target` is an edge of the intent state machine."""
    if target not in ALLOWED[current]:
        allowed = ", ".join(sorted(ALLOWED[current])) or "none (final)"
        raise TransitionError(f"intent cannot go {current} → {target}; allowed from {current}: {allowed}")


def _now() -> datetime:
    return datetime.now(UTC)


class Intent(SQLModel, table=True):
    __tablename__ = "intents"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(index=True, unique=True, max_length=300)
    chain: str = Field(index=True)
    signer: str = Field(index=True)
    bot: str = Field(index=True)
    kind: str
    protocol: str = ""
    target: str = ""
    state: str = Field(default=IntentState.PLANNED.value, index=True)
    reason: str = ""
    to_address: str = ""
    call_data: str = ""  # 0x-hex
    value_wei: str = "0"  # decimal string: uint256 does not fit BIGINT
    budget_wei: str = ""
    nonce: int | None = None
    tx_hash: str = ""
    block_number: int | None = None
    block_hash: str = ""
    created_at: datetime = Field(default_factory=_now)
    updated_at: datetime = Field(default_factory=_now, index=True)


class Attempt(SQLModel, table=True):
    """One signed transaction for an intent (a bump is a new attempt on the same nonce)."""

    __tablename__ = "intent_attempts"

    id: int | None = Field(default=None, primary_key=True)
    intent_id: int = Field(foreign_key="intents.id", index=True)
    nonce: int
    max_fee_wei: str
    tip_wei: str
    tx_hash: str = Field(index=True)
    status: str = "signed"  # signed | broadcast | failed | replaced | mined
    error: str = ""
    gas: int = 0  # EVM gas limit, or Solana compute-unit limit
    valid_until: int | None = None  # Solana: lastValidBlockHeight of the attempt's blockhash
    raw_tx: str = ""  # the signed bytes (public once broadcast): lets a restart re-broadcast the same tx
    created_at: datetime = Field(default_factory=_now)


class Transition(SQLModel, table=True):
    __tablename__ = "intent_transitions"

    id: int | None = Field(default=None, primary_key=True)
    intent_id: int = Field(foreign_key="intents.id", index=True)
    from_state: str
    to_state: str
    reason: str = ""
    at: datetime = Field(default_factory=_now)


_JOURNAL_TABLES = [Intent.__table__, Attempt.__table__, Transition.__table__]  # type: ignore[attr-defined]


class Journal:
    """Async access to the journal tables on SQLite (WAL) or PostgreSQL."""

    def __init__(self, url_or_path: str, engine: AsyncEngine | None = None) -> None:
        self.engine = engine or create_engine(url_or_path)

    async def open(self) -> Journal:
        async def create() -> None:
            async with self.engine.begin() as conn:
                await conn.run_sync(lambda c: SQLModel.metadata.create_all(c, tables=_JOURNAL_TABLES))

        await concurrent_safe_schema(create)
        return self

    async def close(self) -> None:
        await self.engine.dispose()

    def _session(self) -> AsyncSession:
        return AsyncSession(self.engine, expire_on_commit=False)

    async def create_intent(self, key: str, **fields: Any) -> tuple[Intent, bool]:
        """Create the intent for `key`, or return the existing one: `(intent, created)`.

        The unique index on `key` is the exactly-once guarantee; callers act only when `created` is True or
        the existing intent is in a state from which acting is allowed.
        """
        if not key or len(key) > 300:
            raise ValueError("idempotency key must be 1..300 characters")
        async with self._session() as session:
            intent = Intent(key=key, **fields)
            session.add(intent)
            try:
                await session.flush()
                session.add(Transition(intent_id=intent.id or 0, from_state="", to_state=intent.state,
                                       reason="created"))
                await session.commit()
                return intent, True
            except IntegrityError:
                await session.rollback()
        existing = await self.get(key)
        if existing is None:  # pragma: no cover - unique violation on something other than key
            raise RuntimeError(f"could not create intent {key!r}")
        return existing, False

    async def get(self, key: str) -> Intent | None:
        async with self._session() as session:
            return (await session.exec(select(Intent).where(Intent.key == key))).first()

    async def get_by_id(self, intent_id: int) -> Intent | None:
        async with self._session() as session:
            return await session.get(Intent, intent_id)

    async def transition(self, intent_id: int, target: IntentState, reason: str = "", **fields: Any) -> Intent:
        """Move an intent to `target` (compare-and-set on its current state) and record why."""
        async with self._session() as session:
            intent = await session.get(Intent, intent_id)
            if intent is None:
                raise TransitionError(f"no intent with id {intent_id}")
            current = IntentState(intent.state)
            check_transition(current, target)
            values: dict[str, Any] = {"state": target.value, "updated_at": _now(), "reason": reason, **fields}
            result = await session.exec(
                update(Intent)
                .where(col(Intent.id) == intent_id, col(Intent.state) == current.value)
                .values(**values)
            )
            if result.rowcount != 1:
                await session.rollback()
                raise TransitionError(f"intent {intent.key} moved on concurrently (was {current})")
            session.add(Transition(intent_id=intent_id, from_state=current.value, to_state=target.value,
                                   reason=reason))
            await session.commit()
        refreshed = await self.get_by_id(intent_id)
        assert refreshed is not None
        return refreshed

    async def record_attempt(self, intent_id: int, nonce: int, max_fee_wei: int, tip_wei: int, tx_hash: str,
                             status: str = "signed", error: str = "", raw_tx: str = "",
                             gas: int = 0, valid_until: int | None = None) -> Attempt:
        async with self._session() as session:
            attempt = Attempt(intent_id=intent_id, nonce=nonce, max_fee_wei=str(max_fee_wei),
                              tip_wei=str(tip_wei), tx_hash=tx_hash, status=status, error=error, raw_tx=raw_tx,
                              gas=gas, valid_until=valid_until)
            session.add(attempt)
            await session.commit()
            return attempt

    async def set_attempt_status(self, attempt_id: int, status: str, error: str = "") -> None:
        async with self._session() as session:
            await session.exec(
                update(Attempt).where(col(Attempt.id) == attempt_id).values(status=status, error=error)
            )
            await session.commit()

    async def attempts(self, intent_id: int) -> Sequence[Attempt]:
        async with self._session() as session:
            stmt = select(Attempt).where(Attempt.intent_id == intent_id).order_by(col(Attempt.id))
            return (await session.exec(stmt)).all()

    async def transitions(self, intent_id: int) -> Sequence[Transition]:
        async with self._session() as session:
            stmt = select(Transition).where(Transition.intent_id == intent_id).order_by(col(Transition.id))
            return (await session.exec(stmt)).all()

    async def non_final(self, chain: str | None = None, signer: str | None = None) -> Sequence[Intent]:
        """Intents a lane must resolve against the chain on start-up before planning anything new."""
        async with self._session() as session:
            stmt = select(Intent).where(col(Intent.state).not_in([s.value for s in FINAL]))
            if chain is not None:
                stmt = stmt.where(Intent.chain == chain)
            if signer is not None:
                stmt = stmt.where(Intent.signer == signer)
            return (await session.exec(stmt.order_by(col(Intent.id)))).all()
