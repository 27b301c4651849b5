"""Settlement keeper: expired VaultOptions vaults → settle; the keeper's expired longs with a payoff → redeem."""

from __future__ import annotations

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
