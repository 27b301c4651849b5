"""Account → RPC JSON (binary/base58/base64/jsonParsed) and the SPL Token layouts the token methods need.

Token amounts stay integers; only the ``uiAmount`` float that the RPC spec mandates is a float, and the
``uiAmountString`` is formatted exactly from a Decimal.
"""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import base58
from solders.account import Account
from solders.pubkey import Pubkey

from .errors import INVALID_REQUEST, RpcError
from .params import DataSlice

TOKEN_PROGRAM_ID = Pubkey.from_string("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")
TOKEN_2022_PROGRAM_ID = Pubkey.from_string("TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb")
TOKEN_PROGRAMS = (TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID)
TOKEN_ACCOUNT_LEN = 165
MINT_LEN = 82
_ACCOUNT_TYPE_MINT = 1
_ACCOUNT_TYPE_ACCOUNT = 2
_STATES = {0: "uninitialized", 1: "initialized", 2: "frozen"}
BASE58_LIMIT = 128  # agave refuses base58 account data longer than this


@dataclass(frozen=True)
class TokenAccountState:
    mint: Pubkey
    owner: Pubkey
    amount: int
    delegate: Pubkey | None
    state: int
    is_native: int | None
    delegated_amount: int
    close_authority: Pubkey | None


@dataclass(frozen=True)
class MintState:
    mint_authority: Pubkey | None
    supply: int
    decimals: int
    is_initialized: bool
    freeze_authority: Pubkey | None


def _coption_key(data: bytes, offset: int) -> Pubkey | None:
    return (
        Pubkey.from_bytes(data[offset + 4 : offset + 36])
        if data[offset : offset + 4] != b"\0\0\0\0"
        else None
    )


def _kind(account: Account) -> int | None:
    """1 = mint, 2 = token account, None = neither (by owner, length and the Token-2022 type byte)."""
    if account.owner not in TOKEN_PROGRAMS:
        return None
    n = len(account.data)
    if n == TOKEN_ACCOUNT_LEN:
        return _ACCOUNT_TYPE_ACCOUNT
    if n == MINT_LEN:
        return _ACCOUNT_TYPE_MINT
    if n > TOKEN_ACCOUNT_LEN and account.owner == TOKEN_2022_PROGRAM_ID:
        kind = account.data[TOKEN_ACCOUNT_LEN]
        return kind if kind in (_ACCOUNT_TYPE_MINT, _ACCOUNT_TYPE_ACCOUNT) else None
    return None


def parse_token_account(account: Account) -> TokenAccountState | None:
    """The SPL token account in ``account`` or None; uninitialized accounts count as none."""
    if _kind(account) != _ACCOUNT_TYPE_ACCOUNT:
        return None
    d = bytes(account.data)
    if d[108] == 0:
        return None
    (amount,) = struct.unpack_from("<Q", d, 64)
    native = struct.unpack_from("<Q", d, 113)[0] if d[109:113] != b"\0\0\0\0" else None
    return TokenAccountState(
        mint=Pubkey.from_bytes(d[0:32]),
        owner=Pubkey.from_bytes(d[32:64]),
        amount=amount,
        delegate=_coption_key(d, 72),
        state=d[108],
        is_native=native,
        delegated_amount=struct.unpack_from("<Q", d, 121)[0],
        close_authority=_coption_key(d, 129),
    )


def parse_mint(account: Account) -> MintState | None:
    if _kind(account) != _ACCOUNT_TYPE_MINT:
        return None
    d = bytes(account.data)
    if d[45] == 0:
        return None
    return MintState(
        mint_authority=_coption_key(d, 0),
        supply=struct.unpack_from("<Q", d, 36)[0],
        decimals=d[44],
        is_initialized=True,
        freeze_authority=_coption_key(d, 46),
    )


def ui_amount_string(amount: int, decimals: int) -> str:
    """Exact decimal rendering with trailing zeros trimmed, like agave's real_number_string_trimmed."""
    if decimals == 0:
        return str(amount)
    text = format(Decimal(amount).scaleb(-decimals), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def token_amount_json(amount: int, decimals: int) -> dict[str, Any]:
    return {
        "amount": str(amount),
        "decimals": decimals,
        "uiAmount": amount / 10**decimals,
        "uiAmountString": ui_amount_string(amount, decimals),
    }


def _opt(key: Pubkey | None) -> str | None:
    return str(key) if key is not None else None


def _json_parsed(account: Account, mint_decimals: int | None) -> dict[str, Any] | None:
    program = "spl-token" if account.owner == TOKEN_PROGRAM_ID else "spl-token-2022"
    ta = parse_token_account(account)
    if ta is not None and mint_decimals is not None:
        info: dict[str, Any] = {
            "isNative": ta.is_native is not None,
            "mint": str(ta.mint),
            "owner": str(ta.owner),
            "state": _STATES.get(ta.state, "uninitialized"),
            "tokenAmount": token_amount_json(ta.amount, mint_decimals),
        }
        if ta.delegate is not None:
            info["delegate"] = str(ta.delegate)
            info["delegatedAmount"] = token_amount_json(ta.delegated_amount, mint_decimals)
        if ta.close_authority is not None:
            info["closeAuthority"] = str(ta.close_authority)
        if ta.is_native is not None:
            info["rentExemptReserve"] = token_amount_json(ta.is_native, mint_decimals)
        return {"program": program, "parsed": {"info": info, "type": "account"}, "space": len(account.data)}
    mint = parse_mint(account)
    if mint is not None:
        info = {
            "decimals": mint.decimals,
            "freezeAuthority": _opt(mint.freeze_authority),
            "isInitialized": mint.is_initialized,
            "mintAuthority": _opt(mint.mint_authority),
            "supply": str(mint.supply),
        }
        return {"program": program, "parsed": {"info": info, "type": "mint"}, "space": len(account.data)}
    return None


def encode_account(
    account: Account,
    encoding: str,
    data_slice: DataSlice | None = None,
    mint_decimals: int | None = None,
) -> dict[str, Any]:
    """UiAccount JSON. jsonParsed falls back to base64 for data it cannot parse, as agave does."""
    data = bytes(account.data)
    sliced = data_slice.apply(data) if data_slice is not None else data
    ui_data: Any
    if encoding == "jsonParsed":
        parsed = _json_parsed(account, mint_decimals) if data_slice is None else None
        ui_data = parsed if parsed is not None else [base64.b64encode(sliced).decode(), "base64"]
    elif encoding == "base64":
        ui_data = [base64.b64encode(sliced).decode(), "base64"]
    else:
        if len(sliced) > BASE58_LIMIT:
            raise RpcError(
                INVALID_REQUEST,
                f"Encoded binary (base 58) data should be less than {BASE58_LIMIT} bytes, please use Base64 encoding.",
            )
        text = base58.b58encode(sliced).decode()
        ui_data = text if encoding == "binary" else [text, "base58"]
    return {
        "data": ui_data,
        "executable": account.executable,
        "lamports": account.lamports,
        "owner": str(account.owner),
        "rentEpoch": account.rent_epoch,
        "space": len(data),
    }
