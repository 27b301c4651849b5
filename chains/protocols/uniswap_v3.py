"""Uniswap V3 as a hedge venue (base, arbitrum): QuoterV2 quotes, SwapRouter swap call data, pool mid price.

It holds no accounts of ours, so discovery/read are empty; `oracles()` gives each configured pool's mid price
(slot0) as an AMM-sourced quote, computed exactly from sqrtPriceX96 (an integer ratio) with 160-digit Decimals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from eth_utils import to_checksum_address

from chains.evm.multicall import Call, MulticallReader
from chains.evm.watcher import LogFilter
from chains.model import EXACT, AccountState, OracleQuote, OracleSource, Underlying
from chains.protocols.abi import decode_exact, encode_call, selector
from chains.protocols.base import (
    AdapterError,
    CallData,
    DecodeError,
    Discovery,
    OracleFault,
    OracleReadings,
    Rpc,
)
from chains.protocols.blocks import resolve_block

PROTOCOL = "uniswap_v3"
_SLOT0_T = ("uint160", "int24", "uint16", "uint16", "uint16", "uint8", "bool")
_QUOTE_T = ("uint256", "uint160", "uint32", "uint256")
MAX_SQRT_PRICE = 1461446703485210103287273052203988822378723970342


@dataclass(frozen=True, slots=True)
class PoolSpec:
    """A pool whose mid price is `base` in `quote` units (e.g. WETH in USDC), with both tokens' decimals."""

    address: str
    base: str
    quote: str
    base_decimals: int
    quote_decimals: int
    asset: Underlying


@dataclass(frozen=True, slots=True)
class SwapQuote:
    """QuoterV2 answer in token base units: the other side's amount and the price after the swap."""

    amount: int
    sqrt_price_x96_after: int
    ticks_crossed: int
    gas_estimate: int


def decode_quote(data: bytes, where: str = "quoteExactInputSingle") -> SwapQuote:
    amount, sqrt_after, ticks, gas = decode_exact(_QUOTE_T, data, where)
    return SwapQuote(amount, sqrt_after, ticks, gas)


def mid_price(sqrt_price_x96: int, base_is_token0: bool, base_decimals: int, quote_decimals: int) -> Decimal:
    """Quote units per base unit: token1/token0 = (sqrtP/2^96)^2 in raw units, scaled by decimals, inverted
    when the base token is token1."""
    if not 0 < sqrt_price_x96 <= MAX_SQRT_PRICE:
        raise DecodeError("slot0", f"sqrtPriceX96 {sqrt_price_x96} out of range")
    num, den = sqrt_price_x96 * sqrt_price_x96, 1 << 192
    if not base_is_token0:
        num, den = den, num
    raw = EXACT.divide(Decimal(num), Decimal(den))
    return raw.scaleb(base_decimals - quote_decimals, context=EXACT)


def _uint(name: str, value: int, bits: int = 256) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1 << bits:
        raise ValueError(f"{name} must be an integer in [0, 2**{bits}), got {value!r}")
    return value


def build_exact_input_single(router: str, token_in: str, token_out: str, fee: int, recipient: str, deadline: int,
                             amount_in: int, amount_out_min: int, sqrt_price_limit_x96: int = 0) -> CallData:
    """SwapRouter `exactInputSingle`: sell exactly `amount_in`, revert below `amount_out_min`."""
    params = (to_checksum_address(token_in), to_checksum_address(token_out), _uint("fee", fee, 24),
              to_checksum_address(recipient), _uint("deadline", deadline), _uint("amount_in", amount_in),
              _uint("amount_out_min", amount_out_min), _uint("sqrt_price_limit", sqrt_price_limit_x96, 160))
    data = encode_call("exactInputSingle((address,address,uint24,address,uint256,uint256,uint256,uint160))",
                       ["(address,address,uint24,address,uint256,uint256,uint256,uint160)"], [params])
    return CallData(to_checksum_address(router), data)


def build_exact_output_single(router: str, token_in: str, token_out: str, fee: int, recipient: str, deadline: int,
                              amount_out: int, amount_in_max: int, sqrt_price_limit_x96: int = 0) -> CallData:
    """SwapRouter `exactOutputSingle`: buy exactly `amount_out`, revert above `amount_in_max`."""
    params = (to_checksum_address(token_in), to_checksum_address(token_out), _uint("fee", fee, 24),
              to_checksum_address(recipient), _uint("deadline", deadline), _uint("amount_out", amount_out),
              _uint("amount_in_max", amount_in_max), _uint("sqrt_price_limit", sqrt_price_limit_x96, 160))
    data = encode_call("exactOutputSingle((address,address,uint24,address,uint256,uint256,uint256,uint160))",
                       ["(address,address,uint24,address,uint256,uint256,uint256,uint160)"], [params])
    return CallData(to_checksum_address(router), data)


def build_quote_exact_input_single(quoter: str, token_in: str, token_out: str, fee: int, amount_in: int,
                                   sqrt_price_limit_x96: int = 0) -> CallData:
    """QuoterV2 call (state-changing internally, so use it with eth_call only)."""
    params = (to_checksum_address(token_in), to_checksum_address(token_out), _uint("amount_in", amount_in),
              _uint("fee", fee, 24), _uint("sqrt_price_limit", sqrt_price_limit_x96, 160))
    data = encode_call("quoteExactInputSingle((address,address,uint256,uint24,uint160))",
                       ["(address,address,uint256,uint24,uint160)"], [params])
    return CallData(to_checksum_address(quoter), data)


def build_quote_exact_output_single(quoter: str, token_in: str, token_out: str, fee: int, amount_out: int,
                                    sqrt_price_limit_x96: int = 0) -> CallData:
    params = (to_checksum_address(token_in), to_checksum_address(token_out), _uint("amount_out", amount_out),
              _uint("fee", fee, 24), _uint("sqrt_price_limit", sqrt_price_limit_x96, 160))
    data = encode_call("quoteExactOutputSingle((address,address,uint256,uint24,uint160))",
                       ["(address,address,uint256,uint24,uint160)"], [params])
    return CallData(to_checksum_address(quoter), data)


class UniswapV3Adapter:
    """The venue: quotes, swap call data and pool mids. No accounts of its own."""

    protocol = PROTOCOL

    def __init__(self, chain: str, rpc: Rpc, router: str, quoter: str, pools: Sequence[PoolSpec] = (), *,
                 multicall: MulticallReader | None = None) -> None:
        self.chain = chain
        self.rpc = rpc
        self.router = to_checksum_address(router)
        self.quoter = to_checksum_address(quoter)
        self.pools = tuple(pools)
        self.multicall = multicall or MulticallReader(rpc)

    async def discover(self, from_block: int | None = None, to_block: int | None = None) -> Discovery:
        start = from_block or 0
        return Discovery((), start, start - 1)

    async def read(self, accounts: Sequence[str], block: int | str = "latest") -> list[AccountState]:
        if accounts:
            raise AdapterError("uniswap_v3 is a hedge venue: it has no accounts to read")
        return []

    async def oracles(self, block: int | str = "latest") -> OracleReadings:
        ref = await resolve_block(self.rpc, block)
        res = await self.multicall.read([Call(p.address, selector("slot0()")) for p in self.pools], ref.number)
        quotes: list[OracleQuote] = []
        faults: list[OracleFault] = []
        when = datetime.fromtimestamp(ref.timestamp, UTC)  # a pool's price is as of the block itself
        for p, r in zip(self.pools, res, strict=True):
            try:
                if not r.ok:
                    raise DecodeError(f"{p.address}.slot0", "call reverted (not a pool?)")
                sqrt_p = decode_exact(_SLOT0_T, r.data, f"{p.address}.slot0")[0]
                base_is_0 = int(p.base, 16) < int(p.quote, 16)
                price = mid_price(sqrt_p, base_is_0, p.base_decimals, p.quote_decimals)
                quotes.append(OracleQuote(OracleSource.AMM, p.asset, price, when, self.chain, ref.number, None,
                                          p.address))
            except DecodeError as exc:
                faults.append(OracleFault(p.address, "uniswap_v3", str(exc)))
        return OracleReadings(ref.number, tuple(quotes), faults=tuple(faults))

    def log_filters(self, from_block: int) -> list[LogFilter]:
        return []

    async def quote_exact_input(self, token_in: str, token_out: str, fee: int, amount_in: int,
                                block: int | str = "latest") -> SwapQuote:
        call = build_quote_exact_input_single(self.quoter, token_in, token_out, fee, amount_in)
        return decode_quote(await self._eth_call(call, block), "quoteExactInputSingle")

    async def quote_exact_output(self, token_in: str, token_out: str, fee: int, amount_out: int,
                                 block: int | str = "latest") -> SwapQuote:
        call = build_quote_exact_output_single(self.quoter, token_in, token_out, fee, amount_out)
        return decode_quote(await self._eth_call(call, block), "quoteExactOutputSingle")

    async def _eth_call(self, call: CallData, block: int | str) -> bytes:
        tag = hex(block) if isinstance(block, int) else block
        reply = await self.rpc.request("eth_call", [{"to": call.to, "data": "0x" + call.data.hex()}, tag])
        if not isinstance(reply, str):
            raise AdapterError(f"QuoterV2 call reverted: {reply} (no pool for this pair/fee, or no liquidity?)")
        return bytes.fromhex(reply.removeprefix("0x"))

    def exact_input(self, token_in: str, token_out: str, fee: int, recipient: str, deadline: int, amount_in: int,
                    amount_out_min: int) -> CallData:
        return build_exact_input_single(self.router, token_in, token_out, fee, recipient, deadline, amount_in,
                                        amount_out_min)

    def exact_output(self, token_in: str, token_out: str, fee: int, recipient: str, deadline: int, amount_out: int,
                     amount_in_max: int) -> CallData:
        return build_exact_output_single(self.router, token_in, token_out, fee, recipient, deadline, amount_out,
                                         amount_in_max)


def factory(chain: str, rpc: Rpc, config: Mapping[str, Any]) -> UniswapV3Adapter:
    """Registry entry: `router`, `quoter` (required), `pools`: list of PoolSpec fields as mappings."""
    for key in ("router", "quoter"):
        if key not in config:
            raise AdapterError(f"{PROTOCOL} on {chain}: config needs {key!r}")
    pools = [PoolSpec(p["address"], p["base"], p["quote"], int(p["base_decimals"]), int(p["quote_decimals"]),
                      Underlying(p["asset"])) for p in config.get("pools", [])]
    return UniswapV3Adapter(chain, rpc, str(config["router"]), str(config["quoter"]), pools)
