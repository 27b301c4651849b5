"""Landed-transaction records for ``getTransaction``: the tx bytes plus the status meta a node keeps.

Balances (lamports and SPL token) are captured right before and after execution over the full account
list (static keys, then lookup-table writable, then readonly), which is the order agave's
``preBalances``/``postBalances`` use.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import base58
from solders.account import Account
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from .accounts import parse_mint, parse_token_account, token_amount_json

AccountReader = Callable[[Pubkey], Account | None]


@dataclass(frozen=True)
class TxRecord:
    slot: int
    block_time: int
    tx: VersionedTransaction
    err: Any
    fee: int
    keys: tuple[Pubkey, ...]
    n_loaded_writable: int
    pre_balances: tuple[int, ...]
    post_balances: tuple[int, ...]
    pre_token: tuple[dict[str, Any], ...]
    post_token: tuple[dict[str, Any], ...]
    logs: tuple[str, ...]
    units: int
    inner: tuple[dict[str, Any], ...]


def balances(
    read: AccountReader, keys: tuple[Pubkey, ...]
) -> tuple[tuple[int, ...], tuple[dict[str, Any], ...]]:
    """(lamports per key, UiTransactionTokenBalance list) for the account list of a transaction."""
    lamports: list[int] = []
    tokens: list[dict[str, Any]] = []
    for i, key in enumerate(keys):
        acc = read(key)
        lamports.append(acc.lamports if acc is not None else 0)
        ta = parse_token_account(acc) if acc is not None else None
        if acc is None or ta is None:
            continue
        mint_acc = read(ta.mint)
        mint = parse_mint(mint_acc) if mint_acc is not None else None
        if mint is None:
            continue
        tokens.append(
            {
                "accountIndex": i,
                "mint": str(ta.mint),
                "owner": str(ta.owner),
                "programId": str(acc.owner),
                "uiTokenAmount": token_amount_json(ta.amount, mint.decimals),
            }
        )
    return tuple(lamports), tuple(tokens)


def inner_json(inner: list[list[Any]]) -> tuple[dict[str, Any], ...]:
    return tuple(
        {
            "index": i,
            "instructions": [
                {
                    "programIdIndex": ci.program_id_index,
                    "accounts": list(bytes(ci.accounts)),
                    "data": base58.b58encode(bytes(ci.data)).decode(),
                    "stackHeight": ix.stack_height(),  # solders 0.29: metadata getters are methods
                }
                for ix in group
                for ci in (ix.instruction(),)
            ],
        }
        for i, group in enumerate(inner)
        if group
    )


def _message_json(tx: VersionedTransaction) -> dict[str, Any]:
    msg = tx.message
    h = msg.header
    out: dict[str, Any] = {
        "accountKeys": [str(k) for k in msg.account_keys],
        "header": {
            "numReadonlySignedAccounts": h.num_readonly_signed_accounts,
            "numReadonlyUnsignedAccounts": h.num_readonly_unsigned_accounts,
            "numRequiredSignatures": h.num_required_signatures,
        },
        "instructions": [
            {
                "accounts": list(bytes(ix.accounts)),
                "data": base58.b58encode(bytes(ix.data)).decode(),
                "programIdIndex": ix.program_id_index,
                "stackHeight": None,
            }
            for ix in msg.instructions
        ],
        "recentBlockhash": str(msg.recent_blockhash),
    }
    lookups = getattr(msg, "address_table_lookups", None)
    if lookups is not None:
        out["addressTableLookups"] = [
            {
                "accountKey": str(lk.account_key),
                "writableIndexes": list(bytes(lk.writable_indexes)),
                "readonlyIndexes": list(bytes(lk.readonly_indexes)),
            }
            for lk in lookups
        ]
    return out


def is_legacy(tx: VersionedTransaction) -> bool:
    return getattr(tx.message, "address_table_lookups", None) is None


def transaction_json(rec: TxRecord, encoding: str) -> dict[str, Any]:
    """EncodedConfirmedTransactionWithStatusMeta in the given encoding (json, base64 or base58)."""
    raw = bytes(rec.tx)
    if encoding == "base64":
        tx: Any = [base64.b64encode(raw).decode(), "base64"]
    elif encoding == "base58":
        tx = [base58.b58encode(raw).decode(), "base58"]
    else:
        tx = {"signatures": [str(s) for s in rec.tx.signatures], "message": _message_json(rec.tx)}
    n_static = len(rec.tx.message.account_keys)
    loaded = rec.keys[n_static:]
    meta = {
        "computeUnitsConsumed": rec.units,
        "err": rec.err,
        "fee": rec.fee,
        "innerInstructions": list(rec.inner),
        "loadedAddresses": {
            "readonly": [str(k) for k in loaded[rec.n_loaded_writable :]],
            "writable": [str(k) for k in loaded[: rec.n_loaded_writable]],
        },
        "logMessages": list(rec.logs),
        "postBalances": list(rec.post_balances),
        "postTokenBalances": list(rec.post_token),
        "preBalances": list(rec.pre_balances),
        "preTokenBalances": list(rec.pre_token),
        "rewards": [],
        "status": {"Ok": None} if rec.err is None else {"Err": rec.err},
    }
    return {
        "blockTime": rec.block_time,
        "meta": meta,
        "slot": rec.slot,
        "transaction": tx,
        "version": "legacy" if is_legacy(rec.tx) else 0,
    }
