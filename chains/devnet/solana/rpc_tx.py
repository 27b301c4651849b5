"""Transaction methods: send (with preflight like a node), simulate, statuses, getTransaction, airdrop."""

from __future__ import annotations

import base64
from typing import Any

from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction
from solders.transaction_metadata import FailedTransactionMetadata

from .chain import FINALITY_DEPTH, DevnetChain, error_json
from .errors import (
    SEND_TRANSACTION_PREFLIGHT_FAILURE,
    TRANSACTION_SIGNATURE_VERIFICATION_FAILURE,
    UNSUPPORTED_TRANSACTION_VERSION,
    RpcError,
    invalid_params,
)
from .history import is_legacy, transaction_json
from .params import Params, decode_bytes, parse_pubkey, parse_signature
from .rpc_common import (
    check_min_slot,
    ctx,
    encode_for,
    method,
)
from .txerrors import transaction_error_message


def _decode_tx(p: Params, cfg: dict[str, Any]) -> VersionedTransaction:
    enc = cfg.get("encoding", "base58") or "base58"
    where = f"param 0 (transaction) of {p.method}"
    if enc not in ("base58", "base64"):
        raise invalid_params(
            f"param 1 (config).encoding of {p.method}: {enc!r} not supported (base58 or base64)"
        )
    data = decode_bytes(p.require(0, "transaction"), enc, where)
    try:
        return VersionedTransaction.from_bytes(data)
    except Exception as exc:
        raise invalid_params(f"{where}: failed to deserialize a (legacy or v0) transaction: {exc}") from None


_NONCE_ADVANCE_TAG = (4).to_bytes(4, "little")  # System AdvanceNonceAccount


def _uses_durable_nonce(tx: VersionedTransaction) -> bool:
    """A durable-nonce tx starts with System AdvanceNonceAccount; its 'blockhash' is the nonce value."""
    msg = tx.message
    if not msg.instructions:
        return False
    ix = msg.instructions[0]
    keys = msg.account_keys
    return (
        ix.program_id_index < len(keys)
        and keys[ix.program_id_index] == Pubkey.default()
        and bytes(ix.data)[:4] == _NONCE_ADVANCE_TAG
    )


def _sim_value(err: Any, logs: list[str], units: int, **extra: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "accounts": None,
        "err": err,
        "innerInstructions": None,
        "logs": logs,
        "replacementBlockhash": None,
        "returnData": None,
        "unitsConsumed": units,
    }
    value.update(extra)
    return value


def _return_data(meta: Any) -> dict[str, Any] | None:
    rd = meta.return_data()
    if rd is None or not bytes(rd.data):
        return None
    return {"programId": str(rd.program_id), "data": [base64.b64encode(bytes(rd.data)).decode(), "base64"]}


@method("sendTransaction")
def send_transaction(chain: DevnetChain, raw: Any) -> Any:
    p = Params("sendTransaction", raw)
    p.max_count(2)
    cfg = p.config(1)
    pc = cfg.get("preflightCommitment")
    if pc is not None and not isinstance(pc, str):
        raise invalid_params("param 1 (config).preflightCommitment of sendTransaction: expected a string")
    tx = _decode_tx(p, cfg)
    if not tx.signatures:
        raise invalid_params("param 0 (transaction) of sendTransaction: the transaction has no signatures")
    sig = tx.signatures[0]
    blockhash_ok = _uses_durable_nonce(tx) or chain.is_blockhash_valid(tx.message.recent_blockhash)
    if not cfg.get("skipPreflight"):
        check_min_slot(chain, cfg)
        if not blockhash_ok:
            raise RpcError(
                SEND_TRANSACTION_PREFLIGHT_FAILURE,
                "Transaction simulation failed: Blockhash not found",
                _sim_value("BlockhashNotFound", [], 0),
            )
        sim = chain.simulate(tx, sig_verify=True)
        if isinstance(sim, FailedTransactionMetadata):
            err = error_json(sim)
            if err == "SignatureFailure":
                raise RpcError(
                    TRANSACTION_SIGNATURE_VERIFICATION_FAILURE, "Transaction signature verification failure"
                )
            meta = sim.meta()
            raise RpcError(
                SEND_TRANSACTION_PREFLIGHT_FAILURE,
                f"Transaction simulation failed: {transaction_error_message(err)}",
                _sim_value(
                    err, list(meta.logs()), meta.compute_units_consumed(), returnData=_return_data(meta)
                ),
            )
    if blockhash_ok:
        chain.execute(tx)  # failures either landed (status has err) or were dropped, like a cluster
    return str(sig)


@method("simulateTransaction")
def simulate_transaction(chain: DevnetChain, raw: Any) -> Any:
    p = Params("simulateTransaction", raw)
    p.max_count(2)
    cfg = p.config(1)
    check_min_slot(chain, cfg)
    sig_verify = bool(cfg.get("sigVerify", False))
    replace = bool(cfg.get("replaceRecentBlockhash", False))
    if sig_verify and replace:
        raise invalid_params("param 1 (config): sigVerify may not be used with replaceRecentBlockhash")
    tx = _decode_tx(p, cfg)
    acc_cfg = cfg.get("accounts")
    addresses: list[Pubkey] = []
    acc_enc = "base64"
    if acc_cfg is not None:
        if not isinstance(acc_cfg, dict) or not isinstance(acc_cfg.get("addresses"), list):
            raise invalid_params(
                "param 1 (config).accounts of simulateTransaction: expected {addresses: [...]}"
            )
        addresses = [
            parse_pubkey(a, f"param 1 (config).accounts.addresses[{i}]")
            for i, a in enumerate(acc_cfg["addresses"])
        ]
        acc_enc = p.encoding(acc_cfg, 1, "base64", frozenset({"base64", "jsonParsed"}))
    extra: dict[str, Any] = {}
    if replace:
        bh, last_valid = chain.latest_blockhash()
        extra["replacementBlockhash"] = {"blockhash": str(bh), "lastValidBlockHeight": last_valid}
    elif not (_uses_durable_nonce(tx) or chain.is_blockhash_valid(tx.message.recent_blockhash)):
        return ctx(chain, _sim_value("BlockhashNotFound", [], 0))
    sim = chain.simulate(tx, sig_verify=sig_verify)
    if isinstance(sim, FailedTransactionMetadata):
        meta = sim.meta()
        return ctx(
            chain, _sim_value(error_json(sim), list(meta.logs()), meta.compute_units_consumed(), **extra)
        )
    meta = sim.meta()
    post = dict(sim.post_accounts())
    accounts = None
    if addresses:
        accounts = []
        for pk in addresses:
            acc = post.get(pk) or chain.get_account(pk)
            accounts.append(
                None if acc is None or acc.lamports == 0 else encode_for(chain, acc, acc_enc, None)
            )
    return ctx(
        chain,
        _sim_value(
            None,
            list(meta.logs()),
            meta.compute_units_consumed(),
            accounts=accounts,
            returnData=_return_data(meta),
            fee=meta.fee(),
            **extra,
        ),
    )


@method("getSignatureStatuses")
def get_signature_statuses(chain: DevnetChain, raw: Any) -> Any:
    p = Params("getSignatureStatuses", raw)
    p.max_count(2)
    sigs = p.require(0, "signatures")
    if not isinstance(sigs, list) or len(sigs) > 256:
        raise invalid_params("param 0 (signatures) of getSignatureStatuses: expected an array of at most 256")
    parsed = [
        parse_signature(s, f"param 0 (signatures)[{i}] of getSignatureStatuses") for i, s in enumerate(sigs)
    ]
    p.config(1)
    out: list[Any] = []
    for sig in parsed:
        st = chain.status(sig)
        if st is None:
            out.append(None)
            continue
        depth = chain.slot - st.slot
        final = depth >= FINALITY_DEPTH
        out.append(
            {
                "slot": st.slot,
                "confirmations": None if final else depth,
                "err": st.err,
                "status": {"Ok": None} if st.err is None else {"Err": st.err},
                "confirmationStatus": "finalized" if final else "confirmed",
            }
        )
    return ctx(chain, out)


@method("getTransaction")
def get_transaction(chain: DevnetChain, raw: Any) -> Any:
    """Landed transactions sent through sendTransaction (airdrops have no stored tx and return null)."""
    p = Params("getTransaction", raw)
    p.max_count(2)
    sig = parse_signature(p.require(0, "signature"), "param 0 (signature) of getTransaction")
    cfg = p.config(1)
    if cfg.get("commitment") == "processed":
        raise invalid_params("param 1 (config).commitment of getTransaction: processed is not supported")
    enc = p.encoding(cfg, 1, "json", frozenset({"json", "jsonParsed", "base64", "base58"}))
    rec = chain.transaction(sig)
    if rec is None:
        return None
    max_version = cfg.get("maxSupportedTransactionVersion")
    if not is_legacy(rec.tx) and (max_version is None or max_version < 0):
        raise RpcError(
            UNSUPPORTED_TRANSACTION_VERSION,
            "Transaction version (0) is not supported by the requesting client. Please try the request again "
            'with the following configuration parameter: "maxSupportedTransactionVersion": 0',
        )
    return transaction_json(rec, "json" if enc == "jsonParsed" else enc)


@method("requestAirdrop")
def request_airdrop(chain: DevnetChain, raw: Any) -> Any:
    p = Params("requestAirdrop", raw)
    p.max_count(3)
    pubkey = p.pubkey(0)
    lamports = p.uint(1, "lamports")
    if lamports == 0:
        raise invalid_params("param 1 (lamports) of requestAirdrop: must be positive")
    p.config(2)
    try:
        return str(chain.airdrop(pubkey, lamports))
    except ValueError as exc:
        raise RpcError(-32603, str(exc)) from None
