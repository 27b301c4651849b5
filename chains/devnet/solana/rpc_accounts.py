"""Account, token and chain-info methods (shapes as agave returns them; all commitments read the latest state)."""

from __future__ import annotations

from typing import Any

from solders.hash import Hash
from solders.message import from_bytes_versioned
from solders.pubkey import Pubkey

from .accounts import (
    TOKEN_PROGRAMS,
    parse_mint,
    parse_token_account,
    token_amount_json,
)
from .chain import DevnetChain
from .errors import (
    invalid_params,
)
from .params import ACCOUNT_ENCODINGS, Params, decode_bytes, parse_pubkey
from .rpc_common import (
    LAMPORTS_PER_SIGNATURE,
    SOLANA_CORE_VERSION,
    check_min_slot,
    ctx,
    encode_for,
    method,
    mint_decimals,
)


# ---- accounts --------------------------------------------------------------------------------
@method("getAccountInfo")
def get_account_info(chain: DevnetChain, raw: Any) -> Any:
    p = Params("getAccountInfo", raw)
    p.max_count(2)
    pubkey = p.pubkey(0)
    cfg = p.config(1)
    check_min_slot(chain, cfg)
    enc = p.encoding(cfg, 1, "binary", ACCOUNT_ENCODINGS)
    acc = chain.get_account(pubkey)
    return ctx(chain, None if acc is None else encode_for(chain, acc, enc, p.data_slice(cfg, 1)))


@method("getMultipleAccounts")
def get_multiple_accounts(chain: DevnetChain, raw: Any) -> Any:
    p = Params("getMultipleAccounts", raw)
    p.max_count(2)
    keys = p.require(0, "pubkeys")
    if not isinstance(keys, list) or len(keys) > 100:
        raise invalid_params(
            "param 0 (pubkeys) of getMultipleAccounts: expected an array of at most 100 pubkeys"
        )
    pubkeys = [parse_pubkey(k, f"param 0 (pubkeys)[{i}] of getMultipleAccounts") for i, k in enumerate(keys)]
    cfg = p.config(1)
    check_min_slot(chain, cfg)
    enc = p.encoding(cfg, 1, "base64", ACCOUNT_ENCODINGS)
    ds = p.data_slice(cfg, 1)
    accounts = [chain.get_account(pk) for pk in pubkeys]
    return ctx(chain, [None if a is None else encode_for(chain, a, enc, ds) for a in accounts])


@method("getProgramAccounts")
def get_program_accounts(chain: DevnetChain, raw: Any) -> Any:
    p = Params("getProgramAccounts", raw)
    p.max_count(2)
    program = p.pubkey(0, "programId")
    cfg = p.config(1)
    check_min_slot(chain, cfg)
    enc = p.encoding(cfg, 1, "binary", ACCOUNT_ENCODINGS)
    ds = p.data_slice(cfg, 1)
    filters = p.filters(cfg, 1)
    found: list[dict[str, Any]] = []
    for pubkey, acc in chain.svm.get_program_accounts(program):
        if acc.lamports == 0:
            continue
        data = bytes(acc.data)
        if all(f.matches(data) for f in filters):
            found.append({"pubkey": str(pubkey), "account": encode_for(chain, acc, enc, ds)})
    found.sort(key=lambda x: x["pubkey"])
    return ctx(chain, found) if cfg.get("withContext") else found


@method("getBalance")
def get_balance(chain: DevnetChain, raw: Any) -> Any:
    p = Params("getBalance", raw)
    p.max_count(2)
    pubkey = p.pubkey(0)
    check_min_slot(chain, p.config(1))
    acc = chain.get_account(pubkey)
    return ctx(chain, acc.lamports if acc is not None else 0)


@method("getMinimumBalanceForRentExemption")
def get_min_rent(chain: DevnetChain, raw: Any) -> Any:
    p = Params("getMinimumBalanceForRentExemption", raw)
    p.max_count(2)
    n = p.uint(0, "dataLength")
    if n > 10 * 1024 * 1024:
        raise invalid_params("param 0 (dataLength): accounts are at most 10 MiB")
    p.config(1)
    return chain.svm.minimum_balance_for_rent_exemption(n)


# ---- tokens --------------------------------------------------------------------------------
@method("getTokenAccountsByOwner")
def get_token_accounts_by_owner(chain: DevnetChain, raw: Any) -> Any:
    p = Params("getTokenAccountsByOwner", raw)
    p.max_count(3)
    owner = p.pubkey(0, "owner")
    flt = p.require(1, "filter")
    where = "param 1 (filter) of getTokenAccountsByOwner"
    if not isinstance(flt, dict) or len(flt) != 1 or not ({"mint", "programId"} & set(flt)):
        raise invalid_params(f"{where}: expected {{mint: <pubkey>}} or {{programId: <pubkey>}}")
    mint: Pubkey | None = None
    if "mint" in flt:
        mint = parse_pubkey(flt["mint"], f"{where}.mint")
        mint_acc = chain.get_account(mint)
        if mint_acc is None or parse_mint(mint_acc) is None:
            raise invalid_params(f"{where}.mint: {mint} is not a token mint")
        programs = [mint_acc.owner]
    else:
        program = parse_pubkey(flt["programId"], f"{where}.programId")
        if program not in TOKEN_PROGRAMS:
            raise invalid_params(f"{where}.programId: unrecognized token program {program}")
        programs = [program]
    cfg = p.config(2)
    check_min_slot(chain, cfg)
    enc = p.encoding(cfg, 2, "binary", ACCOUNT_ENCODINGS)
    ds = p.data_slice(cfg, 2)
    out: list[dict[str, Any]] = []
    for program in programs:
        for pubkey, acc in chain.svm.get_program_accounts(program):
            ta = parse_token_account(acc)
            if ta is None or ta.owner != owner or (mint is not None and ta.mint != mint):
                continue
            out.append({"pubkey": str(pubkey), "account": encode_for(chain, acc, enc, ds)})
    out.sort(key=lambda x: x["pubkey"])
    return ctx(chain, out)


@method("getTokenAccountBalance")
def get_token_account_balance(chain: DevnetChain, raw: Any) -> Any:
    p = Params("getTokenAccountBalance", raw)
    p.max_count(2)
    pubkey = p.pubkey(0)
    check_min_slot(chain, p.config(1))
    acc = chain.get_account(pubkey)
    if acc is None:
        raise invalid_params(f"param 0 (pubkey): could not find account {pubkey}")
    ta = parse_token_account(acc)
    if ta is None:
        raise invalid_params(f"param 0 (pubkey): {pubkey} is not a Token account")
    decimals = mint_decimals(chain, ta.mint)
    if decimals is None:
        raise invalid_params(f"param 0 (pubkey): the mint {ta.mint} of {pubkey} is missing")
    return ctx(chain, token_amount_json(ta.amount, decimals))


@method("getTokenSupply")
def get_token_supply(chain: DevnetChain, raw: Any) -> Any:
    p = Params("getTokenSupply", raw)
    p.max_count(2)
    pubkey = p.pubkey(0, "mint")
    check_min_slot(chain, p.config(1))
    acc = chain.get_account(pubkey)
    mint = parse_mint(acc) if acc is not None else None
    if mint is None:
        raise invalid_params(f"param 0 (mint): {pubkey} is not a Token mint")
    return ctx(chain, token_amount_json(mint.supply, mint.decimals))


# ---- chain info --------------------------------------------------------------------------------
@method("getSlot")
def get_slot(chain: DevnetChain, raw: Any) -> Any:
    p = Params("getSlot", raw)
    p.max_count(1)
    check_min_slot(chain, p.config(0))
    return chain.slot


@method("getBlockHeight")
def get_block_height(chain: DevnetChain, raw: Any) -> Any:
    p = Params("getBlockHeight", raw)
    p.max_count(1)
    check_min_slot(chain, p.config(0))
    return chain.block_height


@method("getTransactionCount")
def get_transaction_count(chain: DevnetChain, raw: Any) -> Any:
    Params("getTransactionCount", raw).config(0)
    return chain.transaction_count


@method("getLatestBlockhash")
def get_latest_blockhash(chain: DevnetChain, raw: Any) -> Any:
    p = Params("getLatestBlockhash", raw)
    p.max_count(1)
    check_min_slot(chain, p.config(0))
    bh, last_valid = chain.latest_blockhash()
    return ctx(chain, {"blockhash": str(bh), "lastValidBlockHeight": last_valid})


def _parse_hash(value: Any, where: str) -> Hash:
    raw = decode_bytes(value, "base58", where)
    if len(raw) != 32:
        raise invalid_params(f"{where}: a blockhash is 32 bytes, got {len(raw)}")
    return Hash(raw)


@method("isBlockhashValid")
def is_blockhash_valid(chain: DevnetChain, raw: Any) -> Any:
    p = Params("isBlockhashValid", raw)
    p.max_count(2)
    bh = _parse_hash(p.require(0, "blockhash"), "param 0 (blockhash) of isBlockhashValid")
    check_min_slot(chain, p.config(1))
    return ctx(chain, chain.is_blockhash_valid(bh))


@method("getHealth")
def get_health(chain: DevnetChain, raw: Any) -> Any:
    return "ok"


@method("getVersion")
def get_version(chain: DevnetChain, raw: Any) -> Any:
    return {"solana-core": SOLANA_CORE_VERSION, "feature-set": 3294202862}


@method("getGenesisHash")
def get_genesis_hash(chain: DevnetChain, raw: Any) -> Any:
    return str(chain.genesis_hash)


@method("getEpochSchedule")
def get_epoch_schedule(chain: DevnetChain, raw: Any) -> Any:
    s = chain.svm.get_epoch_schedule()
    return {
        "firstNormalEpoch": s.first_normal_epoch,
        "firstNormalSlot": s.first_normal_slot,
        "leaderScheduleSlotOffset": s.leader_schedule_slot_offset,
        "slotsPerEpoch": s.slots_per_epoch,
        "warmup": s.warmup,
    }


@method("getEpochInfo")
def get_epoch_info(chain: DevnetChain, raw: Any) -> Any:
    p = Params("getEpochInfo", raw)
    check_min_slot(chain, p.config(0))
    s = chain.svm.get_epoch_schedule()
    epoch, index = s.get_epoch_and_slot_index(chain.slot)
    return {
        "absoluteSlot": chain.slot,
        "blockHeight": chain.block_height,
        "epoch": epoch,
        "slotIndex": index,
        "slotsInEpoch": s.get_slots_in_epoch(epoch),
        "transactionCount": chain.transaction_count,
    }


@method("getFeeForMessage")
def get_fee_for_message(chain: DevnetChain, raw: Any) -> Any:
    """Signature fee only (no priority fee); null when the message's blockhash is not valid, as agave."""
    p = Params("getFeeForMessage", raw)
    p.max_count(2)
    data = decode_bytes(p.require(0, "message"), "base64", "param 0 (message) of getFeeForMessage")
    try:
        msg = from_bytes_versioned(data)
    except Exception:
        raise invalid_params("param 0 (message) of getFeeForMessage: not a serialized message") from None
    check_min_slot(chain, p.config(1))
    if not chain.is_blockhash_valid(msg.recent_blockhash):
        return ctx(chain, None)
    return ctx(chain, LAMPORTS_PER_SIGNATURE * msg.header.num_required_signatures)
