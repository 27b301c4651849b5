"""Solana side of the devnet book: Pyth PriceUpdateV2 accounts and PsyOptions-style option markets.

Why raw accounts: no custom program can run on the local endpoint (no SBF compiler), so the accounts those
programs would own are written through the admin API with their production byte layouts (Anchor discriminator
+ Borsh fields). Readers therefore parse exactly what they would parse on mainnet; SPL mints and token accounts
are real SPL Token state, so token RPCs (getTokenAccountsByOwner, getTokenSupply) work unchanged.

Layouts:
- PriceUpdateV2 (Pyth receiver ``rec5EKM…``): disc(8) write_authority(32) verification_level(1 = Full |
  0 + u8 signatures = Partial) feed_id(32) price i64 conf u64 exponent i32 publish_time i64 prev_publish_time
  i64 ema_price i64 ema_conf u64 posted_slot u64; allocated 134 bytes (Partial size). Address: PDA of the push
  oracle program ``pythWSn…`` with seeds [shard u16 LE, feed_id], like the sponsored push feeds.
- OptionMarket (PsyOptions American ``R2y9ip…``): disc(8) option_mint writer_token_mint underlying_mint
  quote_mint (4×32) u64 underlying_amount_per_contract u64 quote_amount_per_contract i64 expiration
  underlying_pool quote_pool mint_fee_account exercise_fee_account (4×32) bool expired u8 bump (298 bytes).
"""

from __future__ import annotations

import base64
import hashlib
import random
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from solders.keypair import Keypair
from solders.pubkey import Pubkey
from spl.token.instructions import get_associated_token_address

from chains.devnet.protocols import INITIAL_PRICES, PYTH_FEED_IDS, friday_expiries, to_units
from chains.devnet.solana.admin_client import AccountSpec, SolanaAdmin

PYTH_RECEIVER = Pubkey.from_string("rec5EKMGg6MxZYaMdyBfgwp4d5rB9T1VQH5pJv5LtFJ")
PYTH_PUSH_ORACLE = Pubkey.from_string("pythWSnswVUd12oZpeFP8e9CVaEqJg25g1Vtc2biRsT")
PSY_AMERICAN = Pubkey.from_string("R2y9ip6mxmWUj4pt54jP2hz2CRBWaSGtL1ysKNCymZy")
TOKEN_PROGRAM = Pubkey.from_string("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")
PRICE_UPDATE_LEN = 134
OPTION_MARKET_LEN = 8 + 32 * 4 + 8 + 8 + 8 + 32 * 4 + 1 + 1
PYTH_EXPONENT = -8
SOL_ASSETS = ("SOL", "ETH", "BTC")
USDC_DECIMALS, SOL_DECIMALS = 6, 9
OPTION_DECIMALS = 0  # PsyOptions option and writer tokens are whole contracts


def rent_exempt(size: int) -> int:
    """Solana's default rent-exempt minimum: (size + 128) bytes × 3480 lamports/byte-year × 2 years."""
    return (size + 128) * 3480 * 2


def anchor_discriminator(account: str) -> bytes:
    return hashlib.sha256(f"account:{account}".encode()).digest()[:8]


def pyth_price_address(feed_id: bytes, shard: int = 0) -> Pubkey:
    if len(feed_id) != 32:
        raise ValueError(f"Pyth feed id must be 32 bytes, got {len(feed_id)}")
    return Pubkey.find_program_address([shard.to_bytes(2, "little"), feed_id], PYTH_PUSH_ORACLE)[0]


def price_update_v2_bytes(
    feed_id: bytes,
    price: int,
    conf: int,
    exponent: int,
    publish_time: int,
    posted_slot: int,
    *,
    prev_publish_time: int | None = None,
    ema_price: int | None = None,
    ema_conf: int | None = None,
    write_authority: Pubkey = PYTH_PUSH_ORACLE,
) -> bytes:
    """One PriceUpdateV2 account body (verification level Full), padded to the allocated 134 bytes."""
    body = (
        anchor_discriminator("PriceUpdateV2")
        + bytes(write_authority)
        + b"\x01"  # VerificationLevel::Full
        + feed_id
        + struct.pack(
            "<qQiqqqQQ",
            price,
            conf,
            exponent,
            publish_time,
            publish_time if prev_publish_time is None else prev_publish_time,
            price if ema_price is None else ema_price,
            conf if ema_conf is None else ema_conf,
            posted_slot,
        )
    )
    return body.ljust(PRICE_UPDATE_LEN, b"\x00")


def parse_price_update_v2(data: bytes) -> dict[str, int | bytes]:
    """Inverse of :func:`price_update_v2_bytes` (both verification levels), for tests and tools."""
    if data[:8] != anchor_discriminator("PriceUpdateV2"):
        raise ValueError("not a PriceUpdateV2 account (discriminator mismatch)")
    off = 8 + 32
    off += 1 if data[off] == 1 else 2
    feed_id = data[off : off + 32]
    price, conf, expo, pt, ppt, ema, ema_conf, slot = struct.unpack_from("<qQiqqqQQ", data, off + 32)
    return {
        "feed_id": feed_id,
        "price": price,
        "conf": conf,
        "exponent": expo,
        "publish_time": pt,
        "prev_publish_time": ppt,
        "ema_price": ema,
        "ema_conf": ema_conf,
        "posted_slot": slot,
    }


def mint_bytes(supply: int, decimals: int, authority: Pubkey | None) -> bytes:
    """SPL Token Mint (82 bytes)."""
    auth = struct.pack("<I", 1) + bytes(authority) if authority else bytes(36)
    return auth + struct.pack("<QBB", supply, decimals, 1) + bytes(36)


def token_account_bytes(mint: Pubkey, owner: Pubkey, amount: int) -> bytes:
    """SPL Token Account (165 bytes), initialised, no delegate, not native."""
    return (
        bytes(mint)
        + bytes(owner)
        + struct.pack("<Q", amount)
        + bytes(36)
        + b"\x01"
        + bytes(12)
        + struct.pack("<Q", 0)
        + bytes(36)
    )


@dataclass(frozen=True)
class OptionMarket:
    """PsyOptions American market fields (puts are calls with underlying and quote swapped)."""

    address: Pubkey
    option_mint: Pubkey
    writer_token_mint: Pubkey
    underlying_mint: Pubkey
    quote_mint: Pubkey
    underlying_amount_per_contract: int
    quote_amount_per_contract: int
    expiration: int
    underlying_pool: Pubkey
    quote_pool: Pubkey
    mint_fee_account: Pubkey
    exercise_fee_account: Pubkey
    expired: bool = False
    bump: int = 255


def option_market_bytes(m: OptionMarket) -> bytes:
    return (
        anchor_discriminator("OptionMarket")
        + bytes(m.option_mint)
        + bytes(m.writer_token_mint)
        + bytes(m.underlying_mint)
        + bytes(m.quote_mint)
        + struct.pack("<QQq", m.underlying_amount_per_contract, m.quote_amount_per_contract, m.expiration)
        + bytes(m.underlying_pool)
        + bytes(m.quote_pool)
        + bytes(m.mint_fee_account)
        + bytes(m.exercise_fee_account)
        + struct.pack("<?B", m.expired, m.bump)
    )


def parse_option_market(data: bytes) -> dict[str, Any]:
    if data[:8] != anchor_discriminator("OptionMarket") or len(data) < OPTION_MARKET_LEN:
        raise ValueError("not a PsyOptions OptionMarket account")
    keys = [Pubkey.from_bytes(data[8 + 32 * i : 40 + 32 * i]) for i in range(4)]
    ua, qa, exp = struct.unpack_from("<QQq", data, 136)
    pools = [Pubkey.from_bytes(data[160 + 32 * i : 192 + 32 * i]) for i in range(4)]
    expired, bump = struct.unpack_from("<?B", data, 288)
    return {
        "option_mint": keys[0],
        "writer_token_mint": keys[1],
        "underlying_mint": keys[2],
        "quote_mint": keys[3],
        "underlying_amount_per_contract": ua,
        "quote_amount_per_contract": qa,
        "expiration": exp,
        "underlying_pool": pools[0],
        "quote_pool": pools[1],
        "expired": expired,
        "bump": bump,
    }


def _key(seed: int, name: str) -> Keypair:
    return Keypair.from_seed(hashlib.sha256(f"rtrm-devnet-sol:{seed}:{name}".encode()).digest())


def holder_pubkey(seed: int, wallet_index: int) -> Pubkey:
    """The Solana pubkey of wallet ``wallet_index`` (the entity's second address)."""
    return _key(seed, f"wallet-{wallet_index}").pubkey()


def pyth_accounts(
    prices: Mapping[str, Decimal], publish_time: int, slot: int, conf_bps: int = 5
) -> list[AccountSpec]:
    out = []
    for asset, px in prices.items():
        p = to_units(px, -PYTH_EXPONENT)
        data = price_update_v2_bytes(
            PYTH_FEED_IDS[asset], p, p * conf_bps // 10_000, PYTH_EXPONENT, publish_time, slot
        )
        out.append(
            AccountSpec(
                pyth_price_address(PYTH_FEED_IDS[asset]), rent_exempt(PRICE_UPDATE_LEN), data, PYTH_RECEIVER
            )
        )
    return out


async def seed_solana(url: str, holders: Sequence[Any], *, seed: int, rng: random.Random) -> dict[str, Any]:
    """Write Pyth accounts, a USDC-like quote mint, SOL option markets and holders' option/writer balances.

    ``holders`` are seed wallets (``.index``); each gets long option tokens, and every other one writer tokens
    (short) backed by underlying in the market's pool. One atomic ``rtrm_setAccounts`` call.
    """
    async with SolanaAdmin(url) as admin:
        clock = await admin.get_clock()
        now = clock.unix_timestamp
        specs: list[AccountSpec] = pyth_accounts({a: INITIAL_PRICES[a] for a in SOL_ASSETS}, now, clock.slot)
        authority = _key(seed, "mint-authority").pubkey()
        usdc = _key(seed, "usdc-mint").pubkey()
        wsol = _key(seed, "sol-mint").pubkey()
        fee_owner = _key(seed, "fee-owner").pubkey()
        markets: list[dict[str, Any]] = []
        balances: dict[Pubkey, int] = {}  # token account -> amount (used for supplies)
        token_accounts: list[tuple[Pubkey, Pubkey, Pubkey, int]] = []  # (address, mint, owner, amount)
        spot = INITIAL_PRICES["SOL"]
        expiry = friday_expiries(now)[0]
        holder_rows = [
            {
                "wallet_index": h.index,
                "pubkey": str(holder_pubkey(seed, h.index)),
                "options": {},
                "writers": {},
            }
            for h in holders
        ]
        for name, is_call, strike in (
            ("SOL-C-165", True, spot * Decimal("1.1")),
            ("SOL-P-135", False, spot * Decimal("0.9")),
        ):
            strike_usdc = to_units(strike, USDC_DECIMALS)
            sol_units = 10**SOL_DECIMALS
            ua, qa = (sol_units, strike_usdc) if is_call else (strike_usdc, sol_units)
            umint, qmint = (wsol, usdc) if is_call else (usdc, wsol)
            market_kp, opt_mint, wr_mint = (
                _key(seed, name),
                _key(seed, name + "-opt"),
                _key(seed, name + "-wr"),
            )
            upool, qpool = _key(seed, name + "-upool").pubkey(), _key(seed, name + "-qpool").pubkey()
            m = OptionMarket(
                market_kp.pubkey(),
                opt_mint.pubkey(),
                wr_mint.pubkey(),
                umint,
                qmint,
                ua,
                qa,
                expiry,
                upool,
                qpool,
                get_associated_token_address(fee_owner, umint),
                get_associated_token_address(fee_owner, qmint),
            )
            specs.append(
                AccountSpec(m.address, rent_exempt(OPTION_MARKET_LEN), option_market_bytes(m), PSY_AMERICAN)
            )
            written = 0
            for i, row in enumerate(holder_rows):
                owner = Pubkey.from_string(row["pubkey"])
                n_long = rng.randint(1, 10)
                token_accounts.append(
                    (get_associated_token_address(owner, m.option_mint), m.option_mint, owner, n_long)
                )
                row["options"][name] = n_long
                if i % 2 == 0:  # writer: short the same number of contracts as it sold
                    n_short = n_long + rng.randint(1, 5)
                    token_accounts.append(
                        (
                            get_associated_token_address(owner, m.writer_token_mint),
                            m.writer_token_mint,
                            owner,
                            n_short,
                        )
                    )
                    row["writers"][name] = n_short
                    written += n_short
            longs = sum(r["options"][name] for r in holder_rows)
            # options not held by seeded holders sit with the market maker (the fee owner) so supplies match
            if written > longs:
                token_accounts.append(
                    (
                        get_associated_token_address(fee_owner, m.option_mint),
                        m.option_mint,
                        fee_owner,
                        written - longs,
                    )
                )
            minted = max(written, longs)
            if written < minted:
                token_accounts.append(
                    (
                        get_associated_token_address(fee_owner, m.writer_token_mint),
                        m.writer_token_mint,
                        fee_owner,
                        minted - written,
                    )
                )
            token_accounts.append((upool, umint, m.address, minted * ua))
            token_accounts.append((qpool, qmint, m.address, 0))
            markets.append(
                {
                    "name": name,
                    "address": str(m.address),
                    "option_mint": str(m.option_mint),
                    "writer_token_mint": str(m.writer_token_mint),
                    "underlying_mint": str(umint),
                    "quote_mint": str(qmint),
                    "underlying_amount_per_contract": ua,
                    "quote_amount_per_contract": qa,
                    "expiration": expiry,
                    "is_call": is_call,
                    "contracts_minted": minted,
                }
            )
        supply: dict[Pubkey, int] = {}
        for addr, mint, owner, amount in token_accounts:
            balances[addr] = amount
            supply[mint] = supply.get(mint, 0) + amount
            specs.append(
                AccountSpec(addr, rent_exempt(165), token_account_bytes(mint, owner, amount), TOKEN_PROGRAM)
            )
        mints = {usdc: USDC_DECIMALS, wsol: SOL_DECIMALS}
        for mk in markets:
            mints[Pubkey.from_string(mk["option_mint"])] = OPTION_DECIMALS
            mints[Pubkey.from_string(mk["writer_token_mint"])] = OPTION_DECIMALS
        for mint, dec in mints.items():
            specs.append(
                AccountSpec(
                    mint, rent_exempt(82), mint_bytes(supply.get(mint, 0), dec, authority), TOKEN_PROGRAM
                )
            )
        for row in holder_rows:  # fee payers for anything the holders do later
            specs.append(AccountSpec(Pubkey.from_string(row["pubkey"]), 10 * 10**9))
        await admin.set_accounts(specs)
    return {
        "pyth": {a: str(pyth_price_address(PYTH_FEED_IDS[a])) for a in SOL_ASSETS},
        "usdc_mint": str(usdc),
        "sol_mint": str(wsol),
        "markets": markets,
        "holders": holder_rows,
        "count": len(markets),
    }


async def push_solana_prices(url: str, prices: Mapping[str, Decimal]) -> int:
    """Rewrite the Pyth accounts at the endpoint's clock; returns the publish time used."""
    async with SolanaAdmin(url) as admin:
        clock = await admin.get_clock()
        await admin.set_accounts(
            pyth_accounts(
                {a: p for a, p in prices.items() if a in SOL_ASSETS}, clock.unix_timestamp, clock.slot
            )
        )
        return clock.unix_timestamp


async def read_solana_price(url: str, asset: str) -> Decimal | None:
    """The price in ``asset``'s PriceUpdateV2 account, or None when the account does not exist yet."""
    async with SolanaAdmin(url) as admin:
        reply = await admin.call(
            "getAccountInfo", [str(pyth_price_address(PYTH_FEED_IDS[asset])), {"encoding": "base64"}]
        )
    value = reply.get("value") if isinstance(reply, dict) else None
    if not value:
        return None
    parsed = parse_price_update_v2(base64.b64decode(value["data"][0]))
    return Decimal(int(parsed["price"])).scaleb(int(parsed["exponent"]))
