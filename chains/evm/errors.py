"""Classify what an EVM node said about a transaction, and what a revert means for the keeper.

Pure functions over strings and bytes so the lane's reaction to every node dialect is a table test. The
messages differ between clients (geth, erigon, nethermind, anvil/reth); the patterns below cover the ones seen
in the wild and on anvil 1.7 (verified: "nonce too low", "transaction already imported",
"Insufficient funds for gas * price + value", "intrinsic gas too low",
"max fee per gas less than block base fee", "intrinsic gas too high -- tx.gas_limit > env.block.gas_limit").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class SendError(StrEnum):
    """What a failed `eth_sendRawTransaction` means."""

    NONCE_TOO_LOW = "nonce_too_low"  # the slot is used (by us or externally): resync nonce
    NONCE_TOO_HIGH = "nonce_too_high"  # gap: resync and fill
    ALREADY_KNOWN = "already_known"  # the node has this exact tx: treat as sent
    REPLACEMENT_UNDERPRICED = "replacement_underpriced"  # bump more (>= 12.5 % on both fee fields)
    FEE_BELOW_BASE_FEE = "fee_below_base_fee"  # re-quote fees from the latest block
    INSUFFICIENT_FUNDS = "insufficient_funds"  # stop the lane's sending, alert the operator
    INTRINSIC_GAS_TOO_LOW = "intrinsic_gas_too_low"  # re-estimate gas
    GAS_LIMIT_TOO_HIGH = "gas_limit_too_high"  # above block gas limit: re-estimate / cap
    EXECUTION_REVERTED = "execution_reverted"  # decode and classify the revert
    POOL_FULL = "pool_full"  # node overloaded: retry later / other RPC
    UNKNOWN = "unknown"  # resync nonce, retry bounded, alert


class Reaction(StrEnum):
    RESYNC_NONCE = "resync_nonce"
    TREAT_AS_SENT = "treat_as_sent"
    BUMP_FEES = "bump_fees"
    REQUOTE_FEES = "requote_fees"
    REESTIMATE_GAS = "reestimate_gas"
    HALT_LANE = "halt_lane"
    CLASSIFY_REVERT = "classify_revert"
    RETRY_LATER = "retry_later"


# Ordered: the first match wins ("replacement transaction underpriced" also contains "underpriced").
_SEND_PATTERNS: tuple[tuple[re.Pattern[str], SendError], ...] = tuple(
    (re.compile(p, re.IGNORECASE), e)
    for p, e in (
        (r"nonce too low|nonce has already been used|oldnonce|invalid nonce.*lower", SendError.NONCE_TOO_LOW),
        (r"nonce too high|nonce gap", SendError.NONCE_TOO_HIGH),
        (r"already known|already imported|known transaction|alreadyknown", SendError.ALREADY_KNOWN),
        (r"replacement transaction underpriced|replacement.*underpriced|fee too low to replace",
         SendError.REPLACEMENT_UNDERPRICED),
        (r"max fee per gas less than block base fee|fee cap less than block base fee|feecaptoolow|"
         r"transaction underpriced|underpriced", SendError.FEE_BELOW_BASE_FEE),
        (r"insufficient funds|insufficient balance", SendError.INSUFFICIENT_FUNDS),
        (r"intrinsic gas too low|gas too low", SendError.INTRINSIC_GAS_TOO_LOW),
        (r"exceeds block gas limit|gas_limit > env\.block\.gas_limit|intrinsic gas too high",
         SendError.GAS_LIMIT_TOO_HIGH),
        (r"execution reverted|revert", SendError.EXECUTION_REVERTED),
        (r"txpool is full|pool is full|too many transactions", SendError.POOL_FULL),
    )
)

REACTIONS: Mapping[SendError, Reaction] = {
    SendError.NONCE_TOO_LOW: Reaction.RESYNC_NONCE,
    SendError.NONCE_TOO_HIGH: Reaction.RESYNC_NONCE,
    SendError.ALREADY_KNOWN: Reaction.TREAT_AS_SENT,
    SendError.REPLACEMENT_UNDERPRICED: Reaction.BUMP_FEES,
    SendError.FEE_BELOW_BASE_FEE: Reaction.REQUOTE_FEES,
    SendError.INSUFFICIENT_FUNDS: Reaction.HALT_LANE,
    SendError.INTRINSIC_GAS_TOO_LOW: Reaction.REESTIMATE_GAS,
    SendError.GAS_LIMIT_TOO_HIGH: Reaction.REESTIMATE_GAS,
    SendError.EXECUTION_REVERTED: Reaction.CLASSIFY_REVERT,
    SendError.POOL_FULL: Reaction.RETRY_LATER,
    SendError.UNKNOWN: Reaction.RESYNC_NONCE,
}


def classify_send_error(message: str) -> SendError:
    """Map a node's error message for a send to a `SendError` (UNKNOWN when nothing matches)."""
    for pattern, kind in _SEND_PATTERNS:
        if pattern.search(message):
            return kind
    return SendError.UNKNOWN


def reaction_for(message: str) -> Reaction:
    """What the lane does next after a failed send with this message."""
    return REACTIONS[classify_send_error(message)]


class RevertClass(StrEnum):
    """Why a simulation or a mined transaction reverted, from the keeper's point of view."""

    OUTCOMPETED = "outcompeted"  # someone else acted first (already liquidated, auction over): drop the intent
    RETRYABLE = "retryable"  # transient (stale price, not yet unsafe at this block): re-plan later, bounded
    FATAL = "fatal"  # our intent is wrong (bad params, no allowance): never retry, alert


@dataclass(frozen=True, slots=True)
class DecodedRevert:
    """A revert's payload decoded: custom error selector, `Error(string)` reason or `Panic(uint256)` code."""

    selector: str  # 0x-prefixed 4-byte selector, "" for empty revert data
    reason: str = ""  # Error(string) text, or the custom error's name when known
    panic_code: int | None = None
    args_hex: str = ""


ERROR_STRING_SELECTOR = "0x08c379a0"  # Error(string)
PANIC_SELECTOR = "0x4e487b71"  # Panic(uint256)


def decode_revert(data: bytes | str, custom_errors: Mapping[str, str] | None = None) -> DecodedRevert:
    """Decode revert data; `custom_errors` maps selector → error name (from the contracts' ABIs).

    Malformed payloads never raise: they decode to their selector with an explanatory reason, because a
    revert must always be classifiable (a keeper that crashes on odd bytes stops liquidating).
    """
    raw = bytes.fromhex(data.removeprefix("0x")) if isinstance(data, str) else bytes(data)
    if len(raw) < 4:
        return DecodedRevert(selector="", reason="empty revert data" if not raw else "short revert data")
    selector = "0x" + raw[:4].hex()
    body = raw[4:]
    if selector == ERROR_STRING_SELECTOR:
        return DecodedRevert(selector, reason=_decode_abi_string(body))
    if selector == PANIC_SELECTOR:
        code = int.from_bytes(body[:32], "big") if len(body) >= 32 else None
        return DecodedRevert(selector, reason="panic", panic_code=code)
    name = (custom_errors or {}).get(selector, "")
    return DecodedRevert(selector, reason=name, args_hex=body.hex())


def _decode_abi_string(body: bytes) -> str:
    if len(body) < 64:
        return "<malformed Error(string)>"
    offset = int.from_bytes(body[:32], "big")
    if offset + 32 > len(body):
        return "<malformed Error(string)>"
    length = int.from_bytes(body[offset : offset + 32], "big")
    start = offset + 32
    if start + length > len(body):
        return "<malformed Error(string)>"
    return body[start : start + length].decode("utf-8", errors="replace")


@dataclass(frozen=True, slots=True)
class RevertRules:
    """Per-protocol knowledge of which reverts mean what. Names are custom-error names or reason substrings."""

    outcompeted: frozenset[str] = frozenset()
    retryable: frozenset[str] = frozenset()


def classify_revert(revert: DecodedRevert, rules: RevertRules) -> tuple[RevertClass, str]:
    """Classify a decoded revert with the protocol's rules; returns the class and a reason for the journal.

    Unknown reverts are FATAL: retrying something we do not understand is how keepers burn gas in loops.
    """
    label = revert.reason or revert.selector or "empty revert"
    if revert.panic_code is not None:
        return RevertClass.FATAL, f"panic 0x{revert.panic_code:02x}"
    for name in rules.outcompeted:
        if name and (revert.reason == name or name.lower() in revert.reason.lower()):
            return RevertClass.OUTCOMPETED, label
    for name in rules.retryable:
        if name and (revert.reason == name or name.lower() in revert.reason.lower()):
            return RevertClass.RETRYABLE, label
    return RevertClass.FATAL, label
