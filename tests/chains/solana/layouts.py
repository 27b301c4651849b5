"""Independent encoders for the Solana layouts, written from the published layouts with struct.pack.

They deliberately share no code with chains.solana.decoders (nor with the devnet seeder), so a decoder test
compares two separate readings of the layout instead of round-tripping one implementation.
"""

from __future__ import annotations

import hashlib
import struct


def disc(name: str) -> bytes:
    return hashlib.sha256(b"account:" + name.encode()).digest()[:8]


def price_update_v2(
    *, authority: bytes, feed_id: bytes, price: int, conf: int, exponent: int, publish_time: int,
    prev_publish_time: int, ema_price: int, ema_conf: int, posted_slot: int, partial_signatures: int | None,
    pad_to: int = 134,
) -> bytes:
    """Borsh PriceUpdateV2: Partial{num_signatures} = b'\\x00' + u8, Full = b'\\x01'."""
    level = b"\x01" if partial_signatures is None else struct.pack("<BB", 0, partial_signatures)
    body = disc("PriceUpdateV2") + authority + level + feed_id + struct.pack(
        "<qQiqqqQQ", price, conf, exponent, publish_time, prev_publish_time, ema_price, ema_conf, posted_slot)
    return body + b"\x00" * max(0, pad_to - len(body))


def coption_key(key: bytes | None) -> bytes:
    return struct.pack("<I", 0) + b"\x00" * 32 if key is None else struct.pack("<I", 1) + key


def token_account(
    *, mint: bytes, owner: bytes, amount: int, delegate: bytes | None = None, state: int = 1,
    native: int | None = None, delegated: int = 0, close: bytes | None = None, token_2022_tlv: bytes | None = None,
) -> bytes:
    native_opt = struct.pack("<IQ", 0, 0) if native is None else struct.pack("<IQ", 1, native)
    base = (mint + owner + struct.pack("<Q", amount) + coption_key(delegate) + struct.pack("<B", state)
            + native_opt + struct.pack("<Q", delegated) + coption_key(close))
    assert len(base) == 165
    return base if token_2022_tlv is None else base + b"\x02" + token_2022_tlv


def mint(*, supply: int, decimals: int, authority: bytes | None, freeze: bytes | None = None,
         token_2022_tlv: bytes | None = None) -> bytes:
    base = coption_key(authority) + struct.pack("<QBB", supply, decimals, 1) + coption_key(freeze)
    assert len(base) == 82
    return base if token_2022_tlv is None else base + b"\x00" * (165 - 82) + b"\x01" + token_2022_tlv


def option_market(
    *, option_mint: bytes, writer_mint: bytes, underlying_mint: bytes, quote_mint: bytes, underlying_amount: int,
    quote_amount: int, expiration: int, underlying_pool: bytes, quote_pool: bytes, mint_fee: bytes,
    exercise_fee: bytes, expired: bool = False, bump: int = 254,
) -> bytes:
    out = (disc("OptionMarket") + option_mint + writer_mint + underlying_mint + quote_mint
           + struct.pack("<QQq", underlying_amount, quote_amount, expiration)
           + underlying_pool + quote_pool + mint_fee + exercise_fee + struct.pack("<BB", int(expired), bump))
    assert len(out) == 290
    return out
