"""Token-2022 accounts made by the real programs (the ATA program adds the ImmutableOwner extension) decode, and
an options market whose option mint lives on Token-2022 yields positions."""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator

import pytest
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.system_program import CreateAccountParams, create_account
from spl.token.constants import MINT_LEN, TOKEN_2022_PROGRAM_ID
from spl.token.instructions import (
    create_associated_token_account,
    get_associated_token_address,
    initialize_mint2,
    mint_to_checked,
)
from spl.token.models import InitializeMint2Params, MintToCheckedParams

from chains.devnet.solana.admin_client import SolanaAdmin
from chains.devnet.solana.server import serve_solana
from chains.solana.adapter import TokenizedOptionsAdapter
from chains.solana.client import SolanaClient
from chains.solana.decoders import decode_mint, decode_token_account
from tests.chains.devnet.solana_fixtures import funded, send
from tests.chains.solana import layouts
from tests.chains.solana.world import EXPIRY, PSY, make_mint

pytestmark = pytest.mark.timeout(60)
IMMUTABLE_OWNER = 7  # Token-2022 ExtensionType::ImmutableOwner


@pytest.fixture
async def url() -> AsyncIterator[str]:
    async with serve_solana("127.0.0.1", 0, tick_interval=0) as ep:
        yield ep.url


async def test_real_token_2022_accounts(url: str) -> None:
    c = AsyncClient(url, commitment=Confirmed)
    try:
        payer = await funded(c, 10 * 10**9)
        mint = Keypair()
        rent = (await c.get_minimum_balance_for_rent_exemption(MINT_LEN)).value
        await send(c, payer, [
            create_account(CreateAccountParams(from_pubkey=payer.pubkey(), to_pubkey=mint.pubkey(), lamports=rent,
                                               space=MINT_LEN, owner=TOKEN_2022_PROGRAM_ID)),
            initialize_mint2(InitializeMint2Params(decimals=0, program_id=TOKEN_2022_PROGRAM_ID, mint=mint.pubkey(),
                                                   mint_authority=payer.pubkey())),
        ], mint)
        holder = Pubkey.new_unique()
        ata = get_associated_token_address(holder, mint.pubkey(), TOKEN_2022_PROGRAM_ID)
        await send(c, payer, [
            create_associated_token_account(payer.pubkey(), holder, mint.pubkey(), TOKEN_2022_PROGRAM_ID),
            mint_to_checked(MintToCheckedParams(program_id=TOKEN_2022_PROGRAM_ID, mint=mint.pubkey(), dest=ata,
                                                mint_authority=payer.pubkey(), amount=6, decimals=0)),
        ])
        usdc, sol = await make_mint(c, payer, 6), await make_mint(c, payer, 9)
        writer = await make_mint(c, payer, 0)
    finally:
        await c.close()

    async with SolanaClient(url) as client:
        mint_snap, ata_snap = await client.get_multiple_accounts([mint.pubkey(), ata])
        m = decode_mint(mint_snap.data or b"")
        assert (m.decimals, m.supply, m.mint_authority) == (0, 6, payer.pubkey())
        assert ata_snap.data is not None and len(ata_snap.data) > 165  # base + account type + extensions
        acct = decode_token_account(ata_snap.data)
        assert (acct.mint, acct.owner, acct.amount) == (mint.pubkey(), holder, 6)
        ext_type, ext_len = struct.unpack_from("<HH", acct.extensions)
        assert (ext_type, ext_len) == (IMMUTABLE_OWNER, 0)

        market = Pubkey.new_unique()
        async with SolanaAdmin(url) as admin:
            await admin.set_account(market, lamports=10**7, owner=PSY, data=layouts.option_market(
                option_mint=bytes(mint.pubkey()), writer_mint=bytes(writer), underlying_mint=bytes(sol),
                quote_mint=bytes(usdc), underlying_amount=10**9, quote_amount=100_000_000, expiration=EXPIRY,
                underlying_pool=bytes(32), quote_pool=bytes(32), mint_fee=bytes(32), exercise_fee=bytes(32)))
        ad = TokenizedOptionsAdapter("solana", client, assets={str(usdc): "USDC", str(sol): "SOL"})
        (pos,) = await ad.positions()
        assert (pos.owner, pos.size, pos.account_id) == (str(holder), 6, str(ata))
        assert ad.markets[market].option_mint.program == TOKEN_2022_PROGRAM_ID
