"""The local Solana endpoint as a real subprocess, driven through solana-py's AsyncClient and websocket client."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator

import aiohttp
import base58
import pytest
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed
from solana.rpc.core import RPCException
from solana.rpc.models import MemcmpOpts, TokenAccountOpts, TxOpts
from solana.rpc.websocket_api import SolanaWsClient
from solana_fixtures import (  # noqa: F401  (solana_endpoint is a fixture)
    CONFIRMED,
    DECIMALS,
    EndpointProcess,
    funded,
    send,
    solana_endpoint,
    token_setup,
    xfer,
)
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.rpc.errors import SendTransactionPreflightFailureMessage
from solders.rpc.responses import AccountNotification, SignatureNotification, SlotNotification
from solders.signature import Signature
from solders.system_program import TransferParams, transfer
from solders.token.state import TokenAccount
from solders.transaction import VersionedTransaction
from solders.transaction_status import TransactionErrorInstructionError
from spl.token.constants import TOKEN_PROGRAM_ID

from chains.devnet.solana import SolanaAdmin, SolanaAdminError

PYTH_RECEIVER = Pubkey.from_string("rec5EKMGg6MxZYaMdyBfgwp4d5rB9T1VQH5pJv5LtFJ")


@pytest.fixture
async def client(solana_endpoint: EndpointProcess) -> AsyncIterator[AsyncClient]:  # noqa: F811
    c = AsyncClient(solana_endpoint.url, commitment=Confirmed)
    try:
        yield c
    finally:
        await c.close()


@pytest.fixture
async def admin(solana_endpoint: EndpointProcess) -> AsyncIterator[SolanaAdmin]:  # noqa: F811
    async with SolanaAdmin(solana_endpoint.url) as a:
        yield a


async def raw_post(url: str, body: str | bytes) -> tuple[int, object]:
    async with (
        aiohttp.ClientSession() as s,
        s.post(url, data=body, headers={"Content-Type": "application/json"}) as r,
    ):
        text = await r.text()
        return r.status, (json.loads(text) if text else None)


async def blockhash_valid(admin: SolanaAdmin, bh: Hash) -> bool:
    """isBlockhashValid (solana-py's AsyncClient has no wrapper for it)."""
    return bool((await admin.call("isBlockhashValid", [str(bh), {"commitment": "confirmed"}]))["value"])


# ---- chain basics ----------------------------------------------------------------------------------
async def test_slot_advances_with_time_and_clock_is_wall_time(client: AsyncClient) -> None:
    s1 = (await client.get_slot()).value
    e1 = (await client.get_epoch_info()).value
    await asyncio.sleep(0.9)  # two or more 400 ms ticks
    s2 = (await client.get_slot()).value
    e2 = (await client.get_epoch_info()).value
    assert s2 >= s1 + 2 and e2.absolute_slot >= s2 >= e1.absolute_slot >= s1
    assert e2.block_height - e1.block_height == e2.absolute_slot - e1.absolute_slot  # no skipped slots
    assert (await client.get_block_height()).value >= e2.block_height
    clock = (
        await client.get_account_info(Pubkey.from_string("SysvarC1ock11111111111111111111111111111111"))
    ).value
    assert clock is not None
    unix_ts = int.from_bytes(bytes(clock.data)[32:40], "little", signed=True)
    assert abs(unix_ts - time.time()) < 5  # LiteSVM starts at unix 0; the endpoint sets real time
    assert await client.is_connected()
    assert (await client.get_version()).value.solana_core
    g1, g2 = (await client.get_genesis_hash()).value, (await client.get_genesis_hash()).value
    assert g1 == g2


async def test_airdrop_balance_and_signature_status(client: AsyncClient) -> None:
    kp = Keypair()
    sig = (await client.request_airdrop(kp.pubkey(), 2 * 10**9)).value
    st = (await client.get_signature_statuses([sig])).value[0]
    assert st is not None and st.err is None and st.confirmations is not None
    assert (await client.get_balance(kp.pubkey())).value == 2 * 10**9
    assert (await client.get_signature_statuses([Keypair().sign_message(b"x")])).value == [None]


async def test_spl_token_flow_through_async_client(client: AsyncClient) -> None:
    payer, alice, bob, mint, a_ata, b_ata = await token_setup(client)
    sig = await send(client, alice, [xfer(a_ata, b_ata, mint, alice.pubkey(), 250_500_000)])

    landed = (
        await client.get_transaction(Signature.from_string(sig), max_supported_transaction_version=0)
    ).value
    assert landed is not None and landed.slot > 0 and landed.block_time is not None
    meta = landed.transaction.meta
    assert meta is not None and meta.fee == 5000 and meta.err is None and meta.log_messages
    assert meta.pre_balances[0] - meta.post_balances[0] == 5000  # alice paid the fee
    pre_tok = {str(b.owner): b.ui_token_amount.amount for b in meta.pre_token_balances or []}
    post_tok = {str(b.owner): b.ui_token_amount.amount for b in meta.post_token_balances or []}
    assert pre_tok == {str(alice.pubkey()): "1000000000", str(bob.pubkey()): "0"}
    assert post_tok == {str(alice.pubkey()): "749500000", str(bob.pubkey()): "250500000"}
    raw64 = (
        await client.get_transaction(
            Signature.from_string(sig), "base64", max_supported_transaction_version=0
        )
    ).value
    assert raw64 is not None and raw64.transaction.transaction.signatures[0] == Signature.from_string(sig)  # type: ignore[union-attr]
    with pytest.raises(RPCException, match="maxSupportedTransactionVersion"):
        await client.get_transaction(Signature.from_string(sig))

    a_bal = (await client.get_token_account_balance(a_ata)).value
    b_bal = (await client.get_token_account_balance(b_ata)).value
    assert (a_bal.amount, a_bal.decimals, a_bal.ui_amount_string) == ("749500000", 6, "749.5")
    assert (b_bal.amount, b_bal.ui_amount_string) == ("250500000", "250.5")
    supply = (await client.get_token_supply(mint)).value
    assert supply.amount == str(1_000 * 10**DECIMALS) and supply.ui_amount_string == "1000"

    by_mint = (await client.get_token_accounts_by_owner(bob.pubkey(), TokenAccountOpts(mint=mint))).value
    assert [a.pubkey for a in by_mint] == [b_ata]
    assert TokenAccount.from_bytes(bytes(by_mint[0].account.data)).amount == 250_500_000
    by_prog = (
        await client.get_token_accounts_by_owner(
            alice.pubkey(), TokenAccountOpts(program_id=TOKEN_PROGRAM_ID)
        )
    ).value
    assert [a.pubkey for a in by_prog] == [a_ata]
    parsed = (
        await client.get_token_accounts_by_owner_json_parsed(bob.pubkey(), TokenAccountOpts(mint=mint))
    ).value
    info = parsed[0].account.data.parsed["info"]
    assert info["tokenAmount"]["amount"] == "250500000" and info["owner"] == str(bob.pubkey())
    assert (await client.get_token_accounts_by_owner(payer.pubkey(), TokenAccountOpts(mint=mint))).value == []

    accounts = (await client.get_multiple_accounts([a_ata, b_ata, Keypair().pubkey()])).value
    assert accounts[2] is None
    assert [TokenAccount.from_bytes(bytes(a.data)).amount for a in accounts[:2]] == [749_500_000, 250_500_000]


async def test_insufficient_funds_transfer_fails_like_a_node(client: AsyncClient) -> None:
    _, alice, _, mint, a_ata, b_ata = await token_setup(client)
    lamports_before = (await client.get_balance(alice.pubkey())).value
    with pytest.raises(RPCException) as exc_info:
        await send(client, alice, [xfer(a_ata, b_ata, mint, alice.pubkey(), 1_000 * 10**DECIMALS + 1)])
    failure = exc_info.value.args[0]
    assert isinstance(failure, SendTransactionPreflightFailureMessage)
    assert "custom program error: 0x1" in failure.message
    err = failure.data.err
    assert isinstance(err, TransactionErrorInstructionError) and err.index == 0
    assert any("insufficient funds" in line.lower() for line in failure.data.logs or [])
    # preflight failure: nothing landed, no fee charged, balances unchanged
    assert (await client.get_balance(alice.pubkey())).value == lamports_before
    assert (await client.get_token_account_balance(a_ata)).value.amount == str(1_000 * 10**DECIMALS)

    # with skipPreflight the failing tx lands like on a cluster: fee charged, status carries the error
    bh = (await client.get_latest_blockhash()).value.blockhash
    tx = VersionedTransaction(
        MessageV0.try_compile(alice.pubkey(), [xfer(a_ata, b_ata, mint, alice.pubkey(), 10**12)], [], bh),
        [alice],
    )
    sig = (await client.send_transaction(tx, opts=TxOpts(skip_preflight=True))).value
    st = (await client.get_signature_statuses([sig])).value[0]
    assert st is not None and st.err is not None
    assert (await client.get_balance(alice.pubkey())).value == lamports_before - 5000


async def test_duplicate_send_and_expired_blockhash(client: AsyncClient, admin: SolanaAdmin) -> None:
    payer = await funded(client)
    dest = Keypair().pubkey()
    resp = (await client.get_latest_blockhash()).value
    height = (await client.get_block_height()).value
    assert height <= resp.last_valid_block_height <= height + 150
    tx = VersionedTransaction(
        MessageV0.try_compile(
            payer.pubkey(),
            [transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=dest, lamports=10**8))],
            [],
            resp.blockhash,
        ),
        [payer],
    )
    await client.send_transaction(tx, opts=CONFIRMED)
    with pytest.raises(RPCException, match="already been processed"):
        await client.send_transaction(tx)
    assert (await client.get_balance(dest)).value == 10**8

    assert await blockhash_valid(admin, resp.blockhash) is True
    clock = await admin.advance_slots(151)
    assert clock.block_height > resp.last_valid_block_height
    assert await blockhash_valid(admin, resp.blockhash) is False
    stale = VersionedTransaction(
        MessageV0.try_compile(
            payer.pubkey(),
            [transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=dest, lamports=1))],
            [],
            resp.blockhash,
        ),
        [payer],
    )
    with pytest.raises(RPCException, match="Blockhash not found"):
        await client.send_transaction(stale)
    # skipPreflight: the node accepts the signature but the tx never lands
    sig = (await client.send_transaction(stale, opts=TxOpts(skip_preflight=True))).value
    assert (await client.get_signature_statuses([sig])).value == [None]
    assert await blockhash_valid(admin, Hash.new_unique()) is False


# ---- admin path ----------------------------------------------------------------------------------
async def test_program_accounts_finds_admin_written_account(client: AsyncClient, admin: SolanaAdmin) -> None:
    feed_id = bytes(range(32))
    target, other = Keypair().pubkey(), Keypair().pubkey()
    data = b"\x22" * 8 + feed_id + bytes(94)  # 134 bytes: discriminator, feed id, payload
    await admin.set_account(target, lamports=10**7, data=data, owner=PYTH_RECEIVER)
    await admin.set_account(
        other, lamports=10**7, data=b"\x22" * 8 + bytes(32) + bytes(94), owner=PYTH_RECEIVER
    )

    hit = (
        await client.get_program_accounts(
            PYTH_RECEIVER,
            encoding="base64",
            filters=[134, MemcmpOpts(offset=8, bytes=base58.b58encode(feed_id).decode())],
        )
    ).value
    assert [a.pubkey for a in hit] == [target] and bytes(hit[0].account.data) == data
    assert hit[0].account.owner == PYTH_RECEIVER
    both = (await client.get_program_accounts(PYTH_RECEIVER, encoding="base64", filters=[134])).value
    assert {a.pubkey for a in both} >= {target, other}
    none = (await client.get_program_accounts(PYTH_RECEIVER, encoding="base64", filters=[133])).value
    assert none == []
    info = (await client.get_account_info(target)).value
    assert info is not None and bytes(info.data) == data and info.lamports == 10**7

    # base64 memcmp bytes and withContext through the raw wire format
    body = {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "getProgramAccounts",
        "params": [
            str(PYTH_RECEIVER),
            {
                "encoding": "base64",
                "withContext": True,
                "dataSlice": {"offset": 8, "length": 4},
                "filters": [
                    {
                        "memcmp": {
                            "offset": 8,
                            "bytes": base64.b64encode(feed_id).decode(),
                            "encoding": "base64",
                        }
                    }
                ],
            },
        ],
    }
    _, reply = await raw_post(admin.url, json.dumps(body))
    assert isinstance(reply, dict)
    value = reply["result"]["value"]
    assert reply["result"]["context"]["slot"] > 0
    assert [v["pubkey"] for v in value] == [str(target)]
    assert base64.b64decode(value[0]["account"]["data"][0]) == feed_id[:4]


async def test_admin_clock_and_slots(client: AsyncClient, admin: SolanaAdmin) -> None:
    before = await admin.get_clock()
    after = await admin.advance_time(86_400)
    assert after.unix_timestamp >= before.unix_timestamp + 86_400
    set_to = await admin.set_clock(2_000_000_000)
    assert set_to.unix_timestamp == 2_000_000_000
    warped = await admin.warp_slot(set_to.slot + 1000)
    assert warped.slot == (await client.get_slot()).value >= set_to.slot + 1000
    with pytest.raises(SolanaAdminError) as e:
        await admin.warp_slot(1)
    assert e.value.code == -32602 and "current slot" in str(e.value)
    with pytest.raises(SolanaAdminError, match="pubkey"):
        await admin.call("rtrm_setAccount", {"lamports": 1})
    with pytest.raises(SolanaAdminError, match=r"accounts\[1\]\.lamports"):
        await admin.call(
            "rtrm_setAccounts",
            {
                "accounts": [
                    {"pubkey": str(Pubkey.new_unique()), "lamports": 1},
                    {"pubkey": str(Pubkey.new_unique()), "lamports": -5},
                ]
            },
        )


# ---- websockets ----------------------------------------------------------------------------------
async def next_of(ws: SolanaWsClient, kind: type, timeout: float = 5.0) -> object:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        left = deadline - asyncio.get_running_loop().time()
        msg = await asyncio.wait_for(ws.recv(), left)
        if isinstance(msg, kind):
            return msg


async def test_websocket_account_slot_and_signature_notifications(
    solana_endpoint: EndpointProcess,  # noqa: F811
    client: AsyncClient,
    admin: SolanaAdmin,
) -> None:
    _, alice, bob, mint, a_ata, b_ata = await token_setup(client)
    watched = Keypair().pubkey()
    async with SolanaWsClient(solana_endpoint.ws_url) as ws:
        slot_sub = await ws.slot_subscribe()
        slot_msg = await next_of(ws, SlotNotification)
        assert isinstance(slot_msg, SlotNotification) and slot_msg.result.slot > 0
        await ws.unsubscribe(slot_sub)

        sub = await ws.account_subscribe(pubkey=watched, commitment=Confirmed, encoding="base64")
        await admin.set_account(watched, lamports=123_456, data=b"hello", owner=PYTH_RECEIVER)
        note = await next_of(ws, AccountNotification)
        assert isinstance(note, AccountNotification) and note.subscription == sub.subscription_id
        assert note.result.value.lamports == 123_456 and bytes(note.result.value.data) == b"hello"

        ata_sub = await ws.account_subscribe(pubkey=b_ata, commitment=Confirmed, encoding="base64")
        bh = (await client.get_latest_blockhash()).value.blockhash
        tx = VersionedTransaction(
            MessageV0.try_compile(alice.pubkey(), [xfer(a_ata, b_ata, mint, alice.pubkey(), 42)], [], bh),
            [alice],
        )
        sig_sub = await ws.signature_subscribe(signature=tx.signatures[0], commitment=Confirmed)
        await client.send_transaction(tx)
        got: dict[type, object] = {}
        while len(got) < 2:
            msg = await next_of(ws, (AccountNotification, SignatureNotification))
            got[type(msg)] = msg
        acc_note = got[AccountNotification]
        assert isinstance(acc_note, AccountNotification) and acc_note.subscription == ata_sub.subscription_id
        assert TokenAccount.from_bytes(bytes(acc_note.result.value.data)).amount == 42
        sig_note = got[SignatureNotification]
        assert (
            isinstance(sig_note, SignatureNotification) and sig_note.subscription == sig_sub.subscription_id
        )
        assert sig_note.result.value.err is None
        await ws.unsubscribe(sub)
        await admin.set_account(watched, lamports=1, data=b"", owner=PYTH_RECEIVER)
        with pytest.raises(TimeoutError):  # unsubscribed: no more notifications for `watched`
            await next_of(ws, AccountNotification, timeout=0.5)


# ---- malformed input ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "code", "fragment"),
    [
        ("{not json", -32700, "Parse error"),
        ("[]", -32600, "empty batch"),
        ('"just a string"', -32600, "JSON object"),
        ('{"jsonrpc":"1.0","id":1,"method":"getSlot"}', -32600, "jsonrpc"),
        ('{"jsonrpc":"2.0","id":1}', -32600, "method"),
        ('{"jsonrpc":"2.0","id":{"x":1},"method":"getSlot"}', -32600, "id"),
        ('{"jsonrpc":"2.0","id":1,"method":"getSlot","params":5}', -32600, "params"),
        ('{"jsonrpc":"2.0","id":1,"method":"getEverything"}', -32601, "Method not found"),
        ('{"jsonrpc":"2.0","id":1,"method":"getBalance"}', -32602, "param 0 (pubkey)"),
        ('{"jsonrpc":"2.0","id":1,"method":"getBalance","params":["0OIl"]}', -32602, "base58"),
        ('{"jsonrpc":"2.0","id":1,"method":"getBalance","params":[17]}', -32602, "param 0 (pubkey)"),
        (
            '{"jsonrpc":"2.0","id":1,"method":"getAccountInfo","params":["11111111111111111111111111111111",{"encoding":"xml"}]}',
            -32602,
            "encoding",
        ),
        (
            '{"jsonrpc":"2.0","id":1,"method":"getSlot","params":[{"commitment":"eventually"}]}',
            -32602,
            "commitment",
        ),
        (
            '{"jsonrpc":"2.0","id":1,"method":"sendTransaction","params":["AAAA",{"encoding":"base64"}]}',
            -32602,
            "deserialize",
        ),
        (
            '{"jsonrpc":"2.0","id":1,"method":"sendTransaction","params":["!!",{"encoding":"base64"}]}',
            -32602,
            "base64",
        ),
        (
            '{"jsonrpc":"2.0","id":1,"method":"requestAirdrop","params":["11111111111111111111111111111111",-1]}',
            -32602,
            "lamports",
        ),
        ('{"jsonrpc":"2.0","id":1,"method":"getSignatureStatuses","params":[["abc"]]}', -32602, "signatures"),
        (
            '{"jsonrpc":"2.0","id":1,"method":"getProgramAccounts","params":["11111111111111111111111111111111",{"filters":[{"bogus":1}]}]}',
            -32602,
            "filters[0]",
        ),
        (
            '{"jsonrpc":"2.0","id":1,"method":"getTokenAccountBalance","params":["11111111111111111111111111111111"]}',
            -32602,
            "Token account",
        ),
        ('{"jsonrpc":"2.0","id":1,"method":"rtrm_warpSlot","params":{"slot":"soon"}}', -32602, "slot"),
    ],
)
async def test_malformed_requests_get_jsonrpc_errors(
    solana_endpoint: EndpointProcess,  # noqa: F811
    body: str,
    code: int,
    fragment: str,
) -> None:
    status, reply = await raw_post(solana_endpoint.url, body)
    assert status == 200 and isinstance(reply, dict)
    assert reply["error"]["code"] == code and fragment in reply["error"]["message"], reply
    _, health = await raw_post(solana_endpoint.url, '{"jsonrpc":"2.0","id":2,"method":"getHealth"}')
    assert health == {"jsonrpc": "2.0", "result": "ok", "id": 2}


async def test_batch_and_notifications(solana_endpoint: EndpointProcess) -> None:  # noqa: F811
    batch = [
        {"jsonrpc": "2.0", "id": "a", "method": "getSlot"},
        {"jsonrpc": "2.0", "method": "getSlot"},  # notification: no response
        {"jsonrpc": "2.0", "id": "b", "method": "nope"},
        17,
    ]
    status, reply = await raw_post(solana_endpoint.url, json.dumps(batch))
    assert status == 200 and isinstance(reply, list) and len(reply) == 3
    assert isinstance(reply[0]["result"], int) and reply[0]["id"] == "a"
    assert reply[1]["error"]["code"] == -32601 and reply[1]["id"] == "b"
    assert reply[2]["error"]["code"] == -32600 and reply[2]["id"] is None
    status, reply = await raw_post(solana_endpoint.url, json.dumps([{"jsonrpc": "2.0", "method": "getSlot"}]))
    assert status == 204 and reply is None
    status, _ = await raw_post(solana_endpoint.url, b"\xff\xfe" * 1000)
    assert status == 200
    assert solana_endpoint.proc.poll() is None
