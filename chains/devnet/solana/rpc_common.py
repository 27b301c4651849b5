"""Shared plumbing of the RPC method modules: the method registry, response context, account encoding."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from solders.pubkey import Pubkey

from .accounts import (
    encode_account,
    parse_mint,
    parse_token_account,
)
from .chain import DevnetChain
from .errors import (
    MIN_CONTEXT_SLOT_NOT_REACHED,
    RpcError,
)

Handler = Callable[[DevnetChain, Any], Any]
METHODS: dict[str, Handler] = {}
SOLANA_CORE_VERSION = "2.2.0"
LAMPORTS_PER_SIGNATURE = 5000


def method(name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        METHODS[name] = fn
        return fn

    return register


def ctx(chain: DevnetChain, value: Any) -> dict[str, Any]:
    return {"context": {"apiVersion": SOLANA_CORE_VERSION, "slot": chain.slot}, "value": value}


def check_min_slot(chain: DevnetChain, config: dict[str, Any]) -> None:
    mcs = config.get("minContextSlot")
    if mcs is not None and mcs > chain.slot:
        raise RpcError(
            MIN_CONTEXT_SLOT_NOT_REACHED,
            "Minimum context slot has not been reached",
            {"contextSlot": chain.slot},
        )


def mint_decimals(chain: DevnetChain, mint: Pubkey) -> int | None:
    acc = chain.get_account(mint)
    m = parse_mint(acc) if acc is not None else None
    return m.decimals if m is not None else None


def encode_for(chain: DevnetChain, acc: Any, encoding: str, data_slice: Any) -> dict[str, Any]:
    decimals = None
    if encoding == "jsonParsed":
        ta = parse_token_account(acc)
        decimals = mint_decimals(chain, ta.mint) if ta is not None else None
    return encode_account(acc, encoding, data_slice, decimals)
