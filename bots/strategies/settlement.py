"""Settlement keeper: expired VaultOptions vaults → settle; the keeper's expired longs with a payoff → redeem."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType

from bots.config import SettlementParams
from bots.strategies.intents import ActionIntent, Decision, Skip, make_key

BOT = "settlement"


@dataclass(frozen=True, slots=True)
class ExpiredVault:
    chain: str
    protocol: str
    owner: str
    vault_id: int
    expiry: datetime
    settled: bool = False
    ours: bool = False  # only our own vaults are settled by us (settleVault is owner-only on Opyn-style vaults)


@dataclass(frozen=True, slots=True)
class LongPosition:
    chain: str
    protocol: str
    series: str  # option token / series id
    owner: str
    size: Decimal
    expiry: datetime
    payoff_usd: Decimal  # at the settlement price
    redeemed: bool = False


@dataclass(frozen=True, slots=True)
class SettlementState:
    now: datetime
    vaults: tuple[ExpiredVault, ...] = ()
    longs: tuple[LongPosition, ...] = ()
    settlement_price_known: frozenset[str] = frozenset()  # "<chain>:<protocol>:<expiry iso>" with a price set


def _price_key(chain: str, protocol: str, expiry: datetime) -> str:
    return f"{chain}:{protocol}:{expiry.isoformat()}"


def decide(state: SettlementState, params: Mapping[str, SettlementParams]) -> Decision:
    intents: list[ActionIntent] = []
    skipped: list[Skip] = []
    for v in state.vaults:
        target = f"{v.owner}/{v.vault_id}"
        p = params.get(v.protocol)
        if p is None or not p.enabled or v.settled or not v.ours:
            continue
        if state.now < v.expiry:
            continue
        if _price_key(v.chain, v.protocol, v.expiry) not in state.settlement_price_known:
            skipped.append(Skip(target, "expired but no settlement price yet"))
            continue
        intents.append(ActionIntent(BOT, "settle_vault", v.chain, v.protocol, target,
                                    make_key(BOT, "settle", v.chain, v.protocol, v.owner, v.vault_id),
                                    reasons=(f"vault expired {v.expiry.isoformat()}",),
                                    params=MappingProxyType({"owner": v.owner, "vault_id": v.vault_id})))
    for pos in state.longs:
        p = params.get(pos.protocol)
        if p is None or not p.enabled or pos.redeemed or pos.size <= 0 or state.now < pos.expiry:
            continue
        if _price_key(pos.chain, pos.protocol, pos.expiry) not in state.settlement_price_known:
            skipped.append(Skip(pos.series, "expired but no settlement price yet"))
            continue
        if pos.payoff_usd <= 0:
            skipped.append(Skip(pos.series, "expired worthless: nothing to redeem"))
            continue
        if pos.payoff_usd < p.min_profit_usd:
            skipped.append(Skip(pos.series, f"payoff ${pos.payoff_usd} < min ${p.min_profit_usd}"))
            continue
        intents.append(ActionIntent(BOT, "redeem", pos.chain, pos.protocol, pos.series,
                                    make_key(BOT, "redeem", pos.chain, pos.protocol, pos.series, pos.owner),
                                    pos.payoff_usd, pos.payoff_usd,
                                    reasons=(f"long {pos.size} expired {pos.expiry.isoformat()} with payoff "
                                             f"${pos.payoff_usd}",),
                                    params=MappingProxyType({"series": pos.series, "amount": str(pos.size)})))
    return Decision(tuple(intents), tuple(skipped))


BATCHABLE = ("settle_vault", "settle_expired")  # permissionless, no caller-specific effect: safe to batch


def batch_settlements(intents: list[ActionIntent], params: Mapping[str, object]) -> list[ActionIntent]:
    """Group permissionless settlements of one (chain, protocol, kind) into `settle_batch` intents of at most
    `batch_size` (the protocol section's), sent as one Multicall3 aggregate3 transaction each.

    Why: an expiry settles every vault and account at once; one transaction per settlement pays the 21k base
    gas hundreds of times and queues the lane for minutes. The batch key is made of its members' keys, so the
    same pending set is never sent twice, and a member settled meanwhile simply drops out of the next batch.
    Other intents and groups of one pass through unchanged.
    """
    groups: dict[tuple[str, str, str], list[ActionIntent]] = {}
    out: list[ActionIntent] = []
    for it in intents:
        size = getattr(params.get(it.protocol), "batch_size", 1)
        if it.kind in BATCHABLE and isinstance(size, int) and size > 1:
            groups.setdefault((it.chain, it.protocol, it.kind), []).append(it)
        else:
            out.append(it)
    for (chain, protocol, kind), members in groups.items():
        size = int(getattr(params[protocol], "batch_size", 1))
        members = sorted(members, key=lambda m: m.key)
        for start in range(0, len(members), size):
            chunk = members[start:start + size]
            if len(chunk) == 1:
                out.append(chunk[0])
                continue
            digest = hashlib.sha256("\n".join(m.key for m in chunk).encode()).hexdigest()[:16]
            out.append(ActionIntent(
                BOT, "settle_batch", chain, protocol, f"{len(chunk)}× {kind} ({chunk[0].target} … {chunk[-1].target})",
                make_key(BOT, "batch", chain, protocol, kind, digest),
                reasons=(f"{len(chunk)} {kind} in one Multicall3 batch", *chunk[0].reasons),
                params=MappingProxyType({"kind": kind, "members": tuple(dict(m.params) for m in chunk),
                                         "member_keys": tuple(m.key for m in chunk)})))
    return out
