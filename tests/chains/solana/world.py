"""A small Solana options world on the in-process endpoint, built independently of the adapter under test.

Mints and balances are real SPL state created by transactions (create_account + initialize_mint2 +
mint_to_checked); option markets and Pyth accounts are written through the admin API with bytes from
tests/chains/solana/layouts.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.system_program import CreateAccountParams, create_account
from spl.token.constants import MINT_LEN, TOKEN_PROGRAM_ID
from spl.token.instructions import (
    create_associated_token_account,
    get_associated_token_address,
    initialize_mint2,
    mint_to_checked,
)
from spl.token.models import InitializeMint2Params, MintToCheckedParams

from chains.devnet.solana.admin_client import AccountSpec, SolanaAdmin
from tests.chains.devnet.solana_fixtures import funded, send
from tests.chains.solana import layouts

PSY = Pubkey.from_string("R2y9ip6mxmWUj4pt54jP2hz2CRBWaSGtL1ysKNCymZy")
RECEIVER = Pubkey.from_string("rec5EKMGg6MxZYaMdyBfgwp4d5rB9T1VQH5pJv5LtFJ")
SOL_FEED = bytes.fromhex("ef0d8b6fda2ceba41da15d4095d1da392a0d2f8ed0c6c7bc0f4cfac8c280b56d")
ETH_FEED = bytes.fromhex("ff61491a931112ddf1bd8147cd1b641375f79f5825126d665480874634fd0ace")
EXPIRY = 1_900_000_000


async def make_mint(c: AsyncClient, payer: Keypair, decimals: int) -> Pubkey:
    mint = Keypair()
    rent = (await c.get_minimum_balance_for_rent_exemption(MINT_LEN)).value
    await send(c, payer, [
        create_account(CreateAccountParams(from_pubkey=payer.pubkey(), to_pubkey=mint.pubkey(), lamports=rent,
                                           space=MINT_LEN, owner=TOKEN_PROGRAM_ID)),
        initialize_mint2(InitializeMint2Params(decimals=decimals, program_id=TOKEN_PROGRAM_ID, mint=mint.pubkey(),
                                               mint_authority=payer.pubkey())),
    ], mint)
    return mint.pubkey()


async def give(c: AsyncClient, payer: Keypair, mint: Pubkey, owner: Pubkey, amount: int, decimals: int) -> Pubkey:
    ata = get_associated_token_address(owner, mint)
    await send(c, payer, [
        create_associated_token_account(payer.pubkey(), owner, mint),
        mint_to_checked(MintToCheckedParams(program_id=TOKEN_PROGRAM_ID, mint=mint, dest=ata,
                                            mint_authority=payer.pubkey(), amount=amount, decimals=decimals)),
    ])
    return ata


def pyth_bytes(feed: bytes, price: int, conf: int, publish_time: int, slot: int, partial: int | None) -> bytes:
    return layouts.price_update_v2(authority=bytes(Pubkey.new_unique()), feed_id=feed, price=price, conf=conf,
                                   exponent=-8, publish_time=publish_time, prev_publish_time=publish_time - 1,
                                   ema_price=price, ema_conf=conf, posted_slot=slot, partial_signatures=partial)


@dataclass
class World:
    payer: Keypair
    usdc: Pubkey
    sol: Pubkey
    alice: Pubkey
    bob: Pubkey
    call_market: Pubkey
    put_market: Pubkey
    alice_kp: Keypair
    bob_kp: Keypair
    mints: dict[str, Pubkey] = field(default_factory=dict)  # "call-opt", "call-wr", "put-opt", "put-wr"
    atas: dict[str, Pubkey] = field(default_factory=dict)  # "<who>-<mint name>"
    pyth: dict[str, Pubkey] = field(default_factory=dict)


async def build_world(url: str) -> World:
    """Alice: long 3 calls, long 2 puts. Bob: short 4 calls (writer), long 1 call, short 5 puts."""
    c = AsyncClient(url, commitment=Confirmed)
    try:
        payer = await funded(c, 50 * 10**9)
        usdc, sol = await make_mint(c, payer, 6), await make_mint(c, payer, 9)
        names = ("call-opt", "call-wr", "put-opt", "put-wr")
        mints = {n: await make_mint(c, payer, 0) for n in names}
        alice_kp, bob_kp = Keypair(), Keypair()
        alice, bob = alice_kp.pubkey(), bob_kp.pubkey()
        atas: dict[str, Pubkey] = {}
        for who, owner, name, n in (("alice", alice, "call-opt", 3), ("alice", alice, "put-opt", 2),
                                    ("bob", bob, "call-wr", 4), ("bob", bob, "call-opt", 1),
                                    ("bob", bob, "put-wr", 5)):
            atas[f"{who}-{name}"] = await give(c, payer, mints[name], owner, n, 0)
    finally:
        await c.close()
    call_m, put_m = Pubkey.new_unique(), Pubkey.new_unique()
    k = Pubkey.new_unique
    call_raw = layouts.option_market(
        option_mint=bytes(mints["call-opt"]), writer_mint=bytes(mints["call-wr"]), underlying_mint=bytes(sol),
        quote_mint=bytes(usdc), underlying_amount=10**9, quote_amount=165_500_000, expiration=EXPIRY,
        underlying_pool=bytes(k()), quote_pool=bytes(k()), mint_fee=bytes(k()), exercise_fee=bytes(k()))
    put_raw = layouts.option_market(
        option_mint=bytes(mints["put-opt"]), writer_mint=bytes(mints["put-wr"]), underlying_mint=bytes(usdc),
        quote_mint=bytes(sol), underlying_amount=135_000_000, quote_amount=10**9, expiration=EXPIRY,
        underlying_pool=bytes(k()), quote_pool=bytes(k()), mint_fee=bytes(k()), exercise_fee=bytes(k()))
    pyth = {"SOL": Pubkey.new_unique(), "ETH": Pubkey.new_unique(), "BTC": Pubkey.new_unique()}
    async with SolanaAdmin(url) as admin:
        clock = await admin.get_clock()
        t, s = clock.unix_timestamp, clock.slot
        await admin.set_accounts([
            AccountSpec(call_m, 10**7, call_raw, PSY),
            AccountSpec(put_m, 10**7, put_raw, PSY),
            AccountSpec(Pubkey.new_unique(), 10**7, layouts.disc("OptionMarket") + bytes(282), PSY),  # zero amounts
            AccountSpec(pyth["SOL"], 10**7, pyth_bytes(SOL_FEED, 15_012_345_678, 7_500_000, t, s, None), RECEIVER),
            AccountSpec(pyth["ETH"], 10**7, pyth_bytes(ETH_FEED, 300_000_000_000, 1_000_000, t, s, 3), RECEIVER),
            AccountSpec(pyth["BTC"], 10**7, b"\x01" * 50, RECEIVER),  # malformed
        ])
    return World(payer, usdc, sol, alice, bob, call_m, put_m, alice_kp, bob_kp, mints, atas, pyth)
