"""Pure parts of the Solana endpoint: chain bookkeeping with a fake wall clock, codecs, envelope handling."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from solders.account import Account
from solders.address_lookup_table_account import AddressLookupTableAccount, derive_lookup_table_address
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import MessageV0, to_bytes_versioned
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction

from chains.devnet.solana.accounts import encode_account, ui_amount_string
from chains.devnet.solana.admin import ADMIN_METHODS
from chains.devnet.solana.chain import FINALITY_DEPTH, MAX_PROCESSING_AGE, DevnetChain
from chains.devnet.solana.errors import RpcError
from chains.devnet.solana.jsonrpc import handle_payload
from chains.devnet.solana.params import Filter, Params
from chains.devnet.solana.rpc import METHODS
from chains.devnet.solana.server import slots_due
from chains.devnet.solana.state_file import StateFileError, load_state, save_state
from chains.devnet.solana.txerrors import transaction_error_message


class FakeWall:
    def __init__(self, t: float = 1_800_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def rpc(chain: DevnetChain, method: str, *params: Any) -> Any:
    return METHODS[method](chain, list(params))


def transfer_tx(chain: DevnetChain, payer: Keypair, lamports: int, bh: Any = None) -> VersionedTransaction:
    ix = transfer(
        TransferParams(from_pubkey=payer.pubkey(), to_pubkey=Pubkey.new_unique(), lamports=lamports)
    )
    blockhash = bh if bh is not None else chain.latest_blockhash()[0]
    return VersionedTransaction(MessageV0.try_compile(payer.pubkey(), [ix], [], blockhash), [payer])


def b64(tx: VersionedTransaction) -> str:
    return base64.b64encode(bytes(tx)).decode()


# ---- time, slots, blockhashes --------------------------------------------------------------------
def test_clock_follows_wall_time_and_admin_offset() -> None:
    wall = FakeWall()
    chain = DevnetChain(wall_clock=wall)
    assert chain.svm.get_clock().unix_timestamp == 1_800_000_000
    wall.t += 10
    chain.tick()
    clock = chain.svm.get_clock()
    assert (clock.slot, clock.unix_timestamp) == (chain.genesis_slot + 1, 1_800_000_010)
    assert clock.epoch == chain.svm.get_epoch_schedule().get_epoch(clock.slot)
    chain.advance_time(3600)
    assert chain.svm.get_clock().unix_timestamp == 1_800_003_610
    wall.t -= 5  # wall clock stepping back never moves chain time backwards ...
    chain.tick()
    assert chain.unix_timestamp == 1_800_003_610
    chain.set_unix_timestamp(1_700_000_000)  # ... but the admin may
    assert chain.svm.get_clock().unix_timestamp == 1_700_000_000
    wall.t += 2
    chain.tick()
    assert chain.unix_timestamp == 1_700_000_002


def test_blockhash_valid_for_exactly_150_blocks() -> None:
    chain = DevnetChain(wall_clock=FakeWall())
    bh, last_valid = chain.latest_blockhash()
    assert last_valid == chain.block_height + MAX_PROCESSING_AGE
    chain.advance_slots(MAX_PROCESSING_AGE)
    assert chain.block_height == last_valid and chain.is_blockhash_valid(bh)
    assert chain.latest_blockhash()[0] != bh
    chain.advance_slots(1)
    assert not chain.is_blockhash_valid(bh)
    with pytest.raises(ValueError, match="greater than the current slot"):
        chain.warp_to_slot(chain.slot)


def test_send_lands_in_its_slot_and_finalizes_after_32() -> None:
    chain = DevnetChain(wall_clock=FakeWall())
    payer = Keypair()
    chain.airdrop(payer.pubkey(), 10**9)
    tx = transfer_tx(chain, payer, 10**6)
    slot_before = chain.slot
    sig = rpc(chain, "sendTransaction", b64(tx), {"encoding": "base64"})
    assert sig == str(tx.signatures[0]) and chain.slot == slot_before + 1
    status = rpc(chain, "getSignatureStatuses", [sig])["value"][0]
    assert status == {
        "slot": slot_before,
        "confirmations": 1,
        "err": None,
        "status": {"Ok": None},
        "confirmationStatus": "confirmed",
    }
    chain.advance_slots(FINALITY_DEPTH - 1)
    status = rpc(chain, "getSignatureStatuses", [sig])["value"][0]
    assert (status["confirmationStatus"], status["confirmations"]) == ("finalized", None)


def test_slot_per_tx_can_be_disabled() -> None:
    chain = DevnetChain(wall_clock=FakeWall(), slot_per_tx=False)
    payer = Keypair()
    chain.airdrop(payer.pubkey(), 10**9)
    slot = chain.slot
    rpc(chain, "sendTransaction", b64(transfer_tx(chain, payer, 10**6)), {"encoding": "base64"})
    assert chain.slot == slot


def test_base58_send_simulate_and_fee_for_message() -> None:
    import base58

    chain = DevnetChain(wall_clock=FakeWall())
    payer = Keypair()
    chain.airdrop(payer.pubkey(), 10**9)
    tx = transfer_tx(chain, payer, 1_012_345)
    sim = rpc(
        chain,
        "simulateTransaction",
        b64(tx),
        {"encoding": "base64", "accounts": {"addresses": [str(payer.pubkey())]}},
    )
    assert sim["value"]["err"] is None and sim["value"]["fee"] == 5000
    assert sim["value"]["accounts"][0]["lamports"] == 10**9 - 1_012_345 - 5000
    assert chain.get_account(payer.pubkey()).lamports == 10**9  # type: ignore[union-attr]  (simulation only)
    msg = base64.b64encode(to_bytes_versioned(tx.message)).decode()
    assert rpc(chain, "getFeeForMessage", msg)["value"] == 5000
    rpc(chain, "sendTransaction", base58.b58encode(bytes(tx)).decode())  # default encoding is base58
    assert chain.get_account(payer.pubkey()).lamports == 10**9 - 1_012_345 - 5000  # type: ignore[union-attr]
    chain.advance_slots(MAX_PROCESSING_AGE + 1)
    assert rpc(chain, "getFeeForMessage", msg)["value"] is None
    stale = rpc(
        chain,
        "simulateTransaction",
        b64(transfer_tx(chain, payer, 10**6, tx.message.recent_blockhash)),
        {"encoding": "base64"},
    )
    assert stale["value"]["err"] == "BlockhashNotFound"
    replaced = rpc(
        chain,
        "simulateTransaction",
        b64(transfer_tx(chain, payer, 10**6, tx.message.recent_blockhash)),
        {"encoding": "base64", "replaceRecentBlockhash": True},
    )
    assert replaced["value"]["err"] is None and replaced["value"]["replacementBlockhash"]["blockhash"]


def test_bad_signature_is_reported_as_verification_failure() -> None:
    chain = DevnetChain(wall_clock=FakeWall())
    payer = Keypair()
    chain.airdrop(payer.pubkey(), 10**9)
    raw = bytearray(bytes(transfer_tx(chain, payer, 10**6)))
    raw[5] ^= 0xFF  # corrupt the first signature
    with pytest.raises(RpcError) as e:
        rpc(chain, "sendTransaction", base64.b64encode(bytes(raw)).decode(), {"encoding": "base64"})
    assert e.value.code == -32003


def test_min_context_slot_not_reached() -> None:
    chain = DevnetChain(wall_clock=FakeWall())
    with pytest.raises(RpcError) as e:
        rpc(chain, "getSlot", {"minContextSlot": chain.slot + 10})
    assert e.value.code == -32016 and e.value.data == {"contextSlot": chain.slot}


# ---- codecs ----------------------------------------------------------------------------------------
@settings(deadline=None)  # shared 2-core machine: no per-example time limit
@given(st.integers(0, 2**64 - 1), st.integers(0, 18))
def test_ui_amount_string_is_exact(amount: int, decimals: int) -> None:
    text = ui_amount_string(amount, decimals)
    assert Decimal(text) * Decimal(10) ** decimals == amount
    assert not (("." in text) and text.endswith(("0", ".")))


def test_ui_amount_examples() -> None:
    assert [ui_amount_string(a, d) for a, d in [(0, 6), (1, 6), (250_000_000, 6), (1_500, 3), (7, 0)]] == [
        "0",
        "0.000001",
        "250",
        "1.5",
        "7",
    ]


def test_encodings_and_base58_limit() -> None:
    acc = Account(1, bytes(range(200)), Pubkey.default(), False, 2**64 - 1)
    enc = encode_account(acc, "base64")
    assert base64.b64decode(enc["data"][0]) == bytes(range(200)) and enc["space"] == 200
    with pytest.raises(RpcError, match="128 bytes"):
        encode_account(acc, "base58")
    from chains.devnet.solana.params import DataSlice

    small = encode_account(acc, "binary", DataSlice(10, 3))
    assert isinstance(small["data"], str) and small["space"] == 200


@pytest.mark.parametrize(
    ("err", "message"),
    [
        (
            {"InstructionError": [0, {"Custom": 1}]},
            "Error processing Instruction 0: custom program error: 0x1",
        ),
        (
            {"InstructionError": [2, "InsufficientFunds"]},
            "Error processing Instruction 2: insufficient funds for instruction",
        ),
        ("BlockhashNotFound", "Blockhash not found"),
        (
            {"InsufficientFundsForRent": {"account_index": 1}},
            "Transaction results in an account (1) with insufficient funds for rent",
        ),
        ("SomeFutureError", "some future error"),
    ],
)
def test_transaction_error_messages(err: Any, message: str) -> None:
    assert transaction_error_message(err) == message


def test_filters_and_params_errors() -> None:
    assert Filter(data_size=3).matches(b"abc") and not Filter(data_size=3).matches(b"ab")
    assert Filter(offset=1, bytes_=b"bc").matches(b"abcd") and not Filter(offset=3, bytes_=b"de").matches(
        b"abcd"
    )
    p = Params(
        "getProgramAccounts",
        ["x", {"filters": [{"memcmp": {"offset": 0, "bytes": "!!", "encoding": "base64"}}]}],
    )
    with pytest.raises(RpcError, match=r"filters\[0\].memcmp.bytes: not valid base64"):
        p.filters(p.config(1), 1)
    with pytest.raises(RpcError, match="takes positional params"):
        Params("getSlot", {"a": 1})


# ---- envelopes --------------------------------------------------------------------------------------
def test_handler_exceptions_become_internal_errors() -> None:
    def call(name: str, params: Any) -> Any:
        raise ZeroDivisionError("boom")

    reply = handle_payload(b'{"jsonrpc":"2.0","id":9,"method":"x"}', call, lambda n: True)
    assert reply["id"] == 9 and reply["error"]["code"] == -32603 and "boom" in reply["error"]["message"]
    assert handle_payload(b'{"jsonrpc":"2.0","method":"x"}', call, lambda n: True) is None  # notification
    assert handle_payload(json.dumps([{}] * 1001), call, lambda n: True)["error"]["code"] == -32600


# ---- persistence ----------------------------------------------------------------------------------
def test_state_round_trip_and_closed_accounts(tmp_path: Path) -> None:
    chain = DevnetChain(wall_clock=FakeWall())
    kept, closed = Pubkey.new_unique(), Pubkey.new_unique()
    owner = Pubkey.new_unique()
    chain.set_accounts(
        [(kept, Account(10, b"abc", owner, False, 0)), (closed, Account(10, b"", owner, False, 0))]
    )
    chain.set_accounts([(closed, Account(0, b"", Pubkey.default(), False, 0))])
    chain.advance_slots(500)
    chain.set_unix_timestamp(1_000_000_000)  # far in the past: a negative offset must survive too
    path = tmp_path / "s.json"
    assert save_state(chain, path) == 1
    fresh = DevnetChain(wall_clock=FakeWall())
    assert load_state(fresh, path) == 1
    got = fresh.get_account(kept)
    assert got is not None and (bytes(got.data), got.owner) == (b"abc", owner)
    assert fresh.get_account(closed) is None and fresh.slot == chain.slot
    assert fresh.genesis_hash == chain.genesis_hash and fresh.block_height == chain.block_height
    assert fresh.svm.get_clock().unix_timestamp == 1_000_000_000
    path.write_text('{"version": 1, "slot": "x"}')
    with pytest.raises(StateFileError, match="malformed"):
        load_state(DevnetChain(wall_clock=FakeWall()), path)


# ---- address lookup tables (needs a live SlotHashes sysvar) ----------------------------------------
ALT_PROGRAM = Pubkey.from_string("AddressLookupTab1e1111111111111111111111111")


def _alt_ix(variant: int, payload: bytes, table: Pubkey, authority: Pubkey) -> Instruction:
    metas = [
        AccountMeta(table, is_signer=False, is_writable=True),
        AccountMeta(authority, is_signer=True, is_writable=False),
        AccountMeta(authority, is_signer=True, is_writable=True),
        AccountMeta(Pubkey.default(), is_signer=False, is_writable=False),
    ]
    return Instruction(ALT_PROGRAM, variant.to_bytes(4, "little") + payload, metas)


def test_v0_transaction_through_a_lookup_table() -> None:
    chain = DevnetChain(wall_clock=FakeWall())
    payer = Keypair()
    chain.airdrop(payer.pubkey(), 10**10)
    chain.advance_slots(3)
    recent = chain.slot - 1
    table, bump = derive_lookup_table_address(payer.pubkey(), recent)
    create = _alt_ix(0, recent.to_bytes(8, "little") + bytes([bump]), table, payer.pubkey())
    dest = Pubkey.new_unique()
    extend = _alt_ix(2, (1).to_bytes(8, "little") + bytes(dest), table, payer.pubkey())
    for ix in (create, extend):
        tx = VersionedTransaction(
            MessageV0.try_compile(payer.pubkey(), [ix], [], chain.latest_blockhash()[0]), [payer]
        )
        rpc(chain, "sendTransaction", b64(tx), {"encoding": "base64"})
    lut = AddressLookupTableAccount(table, [dest])
    ix = transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=dest, lamports=10**7))
    tx = VersionedTransaction(
        MessageV0.try_compile(payer.pubkey(), [ix], [lut], chain.latest_blockhash()[0]), [payer]
    )
    assert dest not in tx.message.account_keys  # really loaded through the table
    sig = rpc(chain, "sendTransaction", b64(tx), {"encoding": "base64"})
    assert chain.get_account(dest).lamports == 10**7  # type: ignore[union-attr]
    got = rpc(chain, "getTransaction", sig, {"encoding": "json", "maxSupportedTransactionVersion": 0})
    assert got["meta"]["loadedAddresses"] == {"writable": [str(dest)], "readonly": []}
    assert got["meta"]["postBalances"][len(tx.message.account_keys)] == 10**7 and got["version"] == 0
    assert dest in {pk for pk, _ in chain.persistable_accounts()}


# ---- fuzz: arbitrary params never crash a handler (no -32603) --------------------------------------
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=50),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=20), children, max_size=4)
    ),
    max_leaves=12,
)
_interesting = st.sampled_from(
    [
        "11111111111111111111111111111111",
        "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA",
        "AQID",
        {"encoding": "base64"},
        {"encoding": "jsonParsed", "dataSlice": {"offset": 0, "length": 2}},
        {"filters": [{"memcmp": {"offset": 0, "bytes": "2"}}, {"dataSize": 82}]},
        {"mint": "11111111111111111111111111111111"},
        {"commitment": "confirmed", "minContextSlot": 0},
        [],
        0,
        2**64,
    ]
)
_FUZZ_CHAIN = DevnetChain(wall_clock=FakeWall())


@settings(deadline=None)
@given(
    st.sampled_from(sorted({**METHODS, **ADMIN_METHODS})),
    st.lists(_interesting | _json, max_size=3)
    | st.dictionaries(
        st.sampled_from(["slot", "n", "pubkey", "lamports", "seconds", "accounts", "unixTimestamp"]),
        _interesting | _json,
    ),
)
def test_fuzzed_params_get_clean_errors(name: str, params: Any) -> None:
    table = {**METHODS, **ADMIN_METHODS}
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": name, "params": params})
    reply = handle_payload(body, lambda n, p: table[n](_FUZZ_CHAIN, p), lambda n: True)
    assert reply["id"] == 1
    if "error" in reply:
        assert reply["error"]["code"] != -32603, reply["error"]["message"]
    json.dumps(reply)  # the result is always serializable


def test_refused_admin_write_rolls_back_the_batch() -> None:
    chain = DevnetChain(wall_clock=FakeWall())
    first, bad = Pubkey.new_unique(), Pubkey.new_unique()
    chain.set_accounts([(first, Account(7, b"old", Pubkey.default(), False, 0))])
    batch = {
        "accounts": [
            {"pubkey": str(first), "lamports": 9, "data": base64.b64encode(b"new").decode()},
            {
                "pubkey": str(bad),
                "lamports": 10**9,
                "data": "anVuaw==",
                "owner": str(ALT_PROGRAM),
                "executable": True,
            },
        ]
    }
    with pytest.raises(RpcError, match=r"accounts: account 1 .* refused by LiteSVM") as e:
        ADMIN_METHODS["rtrm_setAccounts"](chain, batch)
    assert e.value.code == -32602
    kept = chain.get_account(first)
    assert kept is not None and (kept.lamports, bytes(kept.data)) == (7, b"old")
    assert chain.get_account(bad) is None


@pytest.mark.parametrize(
    ("now", "due", "n"),
    [(10.0, 10.0, 1), (10.39, 10.0, 1), (10.41, 10.0, 2), (14.0, 10.0, 11), (9.9, 10.0, 1)],
)
def test_ticker_catches_up_in_one_step(now: float, due: float, n: int) -> None:
    assert slots_due(now, due, 0.4) == n
