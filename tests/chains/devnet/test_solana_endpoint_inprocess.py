"""``serve_solana`` in-process with the ticker off, so slot-dependent behaviour is deterministic."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import base58
import pytest
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed, Finalized
from solana.rpc.models import MemcmpOpts, TokenAccountOpts
from solana.rpc.websocket_api import SolanaWsClient
from solana_fixtures import funded, make_mint, send, token_setup
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.rpc.config import RpcTransactionLogsFilterMentions
from solders.rpc.responses import (
    AccountNotificationJsonParsed,
    LogsNotification,
    ProgramNotification,
    SignatureNotification,
)
from solders.signature import Signature
from solders.system_program import CreateAccountParams, TransferParams, create_account, transfer
from solders.transaction import VersionedTransaction
from spl.token.constants import TOKEN_2022_PROGRAM_ID, TOKEN_PROGRAM_ID
from spl.token.instructions import (
    create_associated_token_account,
    get_associated_token_address,
    initialize_mint2,
    mint_to_checked,
)
from spl.token.models import InitializeMint2Params, MintToCheckedParams

from chains.devnet.solana import SolanaAdmin, SolanaEndpoint, serve_solana
from chains.devnet.solana.chain import FINALITY_DEPTH
from chains.devnet.solana.server import _is_loopback


@pytest.fixture
async def ep() -> AsyncIterator[SolanaEndpoint]:
    async with serve_solana("127.0.0.1", 0, tick_interval=0) as endpoint:
        yield endpoint


async def test_slots_do_not_move_without_ticker_or_transactions(ep: SolanaEndpoint) -> None:
    async with AsyncClient(ep.url) as c:
        s1 = (await c.get_slot()).value
        await asyncio.sleep(0.5)
        assert (await c.get_slot()).value == s1 == ep.chain.slot
        await funded(c)
        assert (await c.get_slot()).value == s1 + 1  # one slot per landed transaction


async def test_signature_subscribe_default_waits_for_finality(ep: SolanaEndpoint) -> None:
    async with AsyncClient(ep.url, commitment=Confirmed) as c, SolanaAdmin(ep.url) as admin:
        payer = await funded(c)
        bh = (await c.get_latest_blockhash()).value.blockhash
        ix = transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=payer.pubkey(), lamports=1))
        tx = VersionedTransaction(MessageV0.try_compile(payer.pubkey(), [ix], [], bh), [payer])
        async with SolanaWsClient(ep.ws_url) as ws:
            sub = await ws.signature_subscribe(signature=tx.signatures[0])  # default commitment: finalized
            await c.send_transaction(tx)
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(ws.recv(), 0.3)
            await admin.advance_slots(FINALITY_DEPTH)
            note = await asyncio.wait_for(ws.recv(), 5)
            assert isinstance(note, SignatureNotification) and note.subscription == sub.subscription_id
            # subscribing to an already-finalized signature notifies at once
            again = await ws.signature_subscribe(signature=tx.signatures[0], commitment=Finalized)
            note = await asyncio.wait_for(ws.recv(), 5)
            assert isinstance(note, SignatureNotification) and note.subscription == again.subscription_id


async def test_json_parsed_token_account_notification(ep: SolanaEndpoint) -> None:
    async with AsyncClient(ep.url, commitment=Confirmed) as c:
        _, _, _, mint, a_ata, _ = await token_setup(c)
        parsed = (await c.get_account_info_json_parsed(mint)).value
        assert parsed is not None and parsed.data.parsed["info"]["decimals"] == 6
        async with SolanaWsClient(ep.ws_url) as ws:
            await ws.account_subscribe(pubkey=a_ata, encoding="jsonParsed")
            acc = ep.chain.get_account(a_ata)
            assert acc is not None
            data = bytearray(bytes(acc.data))
            data[64:72] = (5).to_bytes(8, "little")  # admin-style write of the amount field
            async with SolanaAdmin(ep.url) as admin:
                await admin.set_account(a_ata, lamports=acc.lamports, data=bytes(data), owner=acc.owner)
            note = await asyncio.wait_for(ws.recv(), 5)
            assert isinstance(note, AccountNotificationJsonParsed)
            assert note.result.value.data.parsed["info"]["tokenAmount"]["amount"] == "5"


async def test_websocket_survives_malformed_messages(ep: SolanaEndpoint) -> None:
    async with aiohttp.ClientSession() as s, s.ws_connect(ep.ws_url) as ws:
        for bad, code in [
            ("{oops", -32700),
            ('{"jsonrpc":"2.0","id":1,"method":"getSlot"}', -32601),
            ('{"jsonrpc":"2.0","id":2,"method":"accountSubscribe","params":["nope"]}', -32602),
            ('{"jsonrpc":"2.0","id":3,"method":"slotUnsubscribe","params":[999999]}', -32602),
        ]:
            await ws.send_str(bad)
            reply = json.loads((await ws.receive(timeout=5)).data)
            assert reply["error"]["code"] == code, reply
        await ws.send_str('{"jsonrpc":"2.0","id":4,"method":"slotSubscribe"}')
        sid = json.loads((await ws.receive(timeout=5)).data)["result"]
        await ws.send_str(
            json.dumps({"jsonrpc": "2.0", "id": 5, "method": "slotUnsubscribe", "params": [sid]})
        )
        assert json.loads((await ws.receive(timeout=5)).data) == {"jsonrpc": "2.0", "result": True, "id": 5}


def test_admin_is_loopback_only() -> None:
    assert _is_loopback("127.0.0.1") and _is_loopback("::1")
    assert not _is_loopback("10.1.2.3") and not _is_loopback(None) and not _is_loopback("garbage")


async def test_get_transaction_inner_instructions_and_legacy(ep: SolanaEndpoint) -> None:
    async with AsyncClient(ep.url, commitment=Confirmed) as c:
        payer = await funded(c)
        mint = await make_mint(c, payer)
        owner = Keypair().pubkey()
        sig = await send(c, payer, [create_associated_token_account(payer.pubkey(), owner, mint)], v0=False)
        got = (await c.get_transaction(Signature.from_string(sig))).value  # legacy: no version opt-in needed
        assert got is not None and got.transaction.meta is not None
        inner = got.transaction.meta.inner_instructions
        assert inner and inner[0].index == 0 and len(inner[0].instructions) >= 3  # ATA program CPIs
        assert (await c.get_transaction(Keypair().sign_message(b"never sent"))).value is None


async def test_every_wrapped_method_parses_in_solders(ep: SolanaEndpoint) -> None:
    """solders' response parsers are strict (and can panic on odd shapes): call each wrapper once."""
    async with AsyncClient(ep.url, commitment=Confirmed) as c:
        _, alice, bob, mint, a_ata, b_ata = await token_setup(c)
        sched = (await c.get_epoch_schedule()).value
        assert sched.slots_per_epoch == 432_000
        assert (await c.get_transaction_count()).value >= 6
        bh = (await c.get_latest_blockhash()).value.blockhash
        ix = transfer(TransferParams(from_pubkey=alice.pubkey(), to_pubkey=bob.pubkey(), lamports=10**6))
        msg = MessageV0.try_compile(alice.pubkey(), [ix], [], bh)
        assert (await c.get_fee_for_message(msg)).value == 5000
        sim = (
            await c.simulate_transaction(
                VersionedTransaction(msg, [alice]), accounts_addresses=[bob.pubkey()], sig_verify=True
            )
        ).value
        assert sim.err is None and sim.accounts is not None and sim.accounts[0].lamports == 10**6  # type: ignore[union-attr]
        multi = (await c.get_multiple_accounts_json_parsed([a_ata, mint, Keypair().pubkey()])).value
        assert multi[0] is not None and multi[0].data.parsed["type"] == "account"  # type: ignore[union-attr]
        assert multi[1] is not None and multi[1].data.parsed["type"] == "mint" and multi[2] is None  # type: ignore[union-attr]
        progs = (await c.get_program_accounts_json_parsed(TOKEN_PROGRAM_ID)).value
        assert {p.pubkey for p in progs} >= {a_ata, b_ata, mint}
        assert (await c.get_token_supply(mint)).value.decimals == 6
        assert (
            await c.get_minimum_balance_for_rent_exemption(165)
        ).value == ep.svm.minimum_balance_for_rent_exemption(165)


async def test_program_and_logs_subscriptions(ep: SolanaEndpoint) -> None:
    owner = Pubkey.new_unique()
    hit, miss = Pubkey.new_unique(), Pubkey.new_unique()
    async with AsyncClient(ep.url, commitment=Confirmed) as c, SolanaAdmin(ep.url) as admin:
        payer = await funded(c)
        async with SolanaWsClient(ep.ws_url) as ws:
            prog = await ws.program_subscribe(
                program_id=owner,
                encoding="base64",
                filters=[16, MemcmpOpts(offset=0, bytes=base58.b58encode(b"\x07").decode())],
            )
            await admin.set_account(miss, lamports=10**6, data=b"\x07" * 15, owner=owner)  # wrong size
            await admin.set_account(hit, lamports=10**6, data=b"\x07" * 16, owner=owner)
            note = await asyncio.wait_for(ws.recv(), 5)
            assert isinstance(note, ProgramNotification) and note.subscription == prog.subscription_id
            assert note.result.value.pubkey == hit and bytes(note.result.value.account.data) == b"\x07" * 16
            await ws.unsubscribe(prog)

            logs = await ws.logs_subscribe(filter_=RpcTransactionLogsFilterMentions(payer.pubkey()))
            dest = Keypair().pubkey()
            ix = transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=dest, lamports=10**6))
            sig = await send(c, payer, [ix])
            await funded(c)  # an unrelated tx: not reported to this subscription
            note = await asyncio.wait_for(ws.recv(), 5)
            assert isinstance(note, LogsNotification) and note.subscription == logs.subscription_id
            assert str(note.result.value.signature) == sig and note.result.value.err is None
            assert any("11111111111111111111111111111111 success" in line for line in note.result.value.logs)
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(ws.recv(), 0.3)


async def test_token_2022_accounts(ep: SolanaEndpoint) -> None:
    """Token-2022 token accounts are 165 bytes + account-type byte (+ extensions): found and parsed too."""
    async with AsyncClient(ep.url, commitment=Confirmed) as c:
        payer = await funded(c)
        mint = Keypair()
        space = 82
        rent = (await c.get_minimum_balance_for_rent_exemption(space)).value
        create = create_account(
            CreateAccountParams(
                from_pubkey=payer.pubkey(),
                to_pubkey=mint.pubkey(),
                lamports=rent,
                space=space,
                owner=TOKEN_2022_PROGRAM_ID,
            )
        )
        init = initialize_mint2(
            InitializeMint2Params(
                decimals=2,
                program_id=TOKEN_2022_PROGRAM_ID,
                mint=mint.pubkey(),
                mint_authority=payer.pubkey(),
            )
        )
        await send(c, payer, [create, init], mint)
        owner = Keypair().pubkey()
        await send(
            c,
            payer,
            [create_associated_token_account(payer.pubkey(), owner, mint.pubkey(), TOKEN_2022_PROGRAM_ID)],
        )
        ata = get_associated_token_address(owner, mint.pubkey(), TOKEN_2022_PROGRAM_ID)
        mint_ix = mint_to_checked(
            MintToCheckedParams(
                program_id=TOKEN_2022_PROGRAM_ID,
                mint=mint.pubkey(),
                dest=ata,
                mint_authority=payer.pubkey(),
                amount=12_345,
                decimals=2,
            )
        )
        await send(c, payer, [mint_ix])
        acc = ep.chain.get_account(ata)
        assert acc is not None and len(acc.data) > 165  # the Token-2022 layout, not the legacy one
        bal = (await c.get_token_account_balance(ata)).value
        assert (bal.amount, bal.ui_amount_string) == ("12345", "123.45")
        by_prog = (
            await c.get_token_accounts_by_owner(owner, TokenAccountOpts(program_id=TOKEN_2022_PROGRAM_ID))
        ).value
        assert [a.pubkey for a in by_prog] == [ata]
        by_mint = (
            await c.get_token_accounts_by_owner_json_parsed(owner, TokenAccountOpts(mint=mint.pubkey()))
        ).value
        assert by_mint[0].account.data.program == "spl-token-2022"
        assert by_mint[0].account.data.parsed["info"]["tokenAmount"]["uiAmountString"] == "123.45"
        assert (
            await c.get_token_accounts_by_owner(owner, TokenAccountOpts(program_id=TOKEN_PROGRAM_ID))
        ).value == []
