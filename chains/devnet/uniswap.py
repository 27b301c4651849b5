"""Real Uniswap V3 on the devnet: deploy steps for the npm artifacts and pool seeding at the oracle price.

Why the npm artifacts: their bytecode is the one deployed on mainnet, so the pool init-code hash is canonical and
the periphery (SwapRouter, QuoterV2, NonfungiblePositionManager) computes pool addresses exactly as in production.
The price math mirrors ``contracts/src/uniswap/UniswapPriceMath.sol`` (integer sqrt of a floored ratio).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from eth_utils import to_checksum_address
from web3 import AsyncWeb3

from chains.devnet.plan import DEPLOYER, Deploy, Ref, Step

CORE = "node_modules/@uniswap/v3-core/artifacts/contracts"
PERIPHERY = "node_modules/@uniswap/v3-periphery/artifacts/contracts"
FACTORY_ARTIFACT = f"{CORE}/UniswapV3Factory.sol/UniswapV3Factory.json"
POOL_ARTIFACT = f"{CORE}/UniswapV3Pool.sol/UniswapV3Pool.json"
ROUTER_ARTIFACT = f"{PERIPHERY}/SwapRouter.sol/SwapRouter.json"
QUOTER_ARTIFACT = f"{PERIPHERY}/lens/QuoterV2.sol/QuoterV2.json"
NPM_ARTIFACT = f"{PERIPHERY}/NonfungiblePositionManager.sol/NonfungiblePositionManager.json"

POOL_FEE = 500  # 0.05 %, tick spacing 10
MIN_SQRT_RATIO = 4295128739
MAX_SQRT_RATIO = 1461446703485210103287273089000000000000000000000
MIN_TICK, MAX_TICK = -887272, 887272

# Factory, router, quoter and position manager; the descriptor argument of the position manager only serves
# tokenURI, so the deployer address stands in for it.
UNISWAP_STEPS: tuple[Step, ...] = (
    Deploy("UniswapV3Factory", FACTORY_ARTIFACT),
    Deploy("SwapRouter", ROUTER_ARTIFACT, (Ref("UniswapV3Factory"), Ref("WETH"))),
    Deploy("QuoterV2", QUOTER_ARTIFACT, (Ref("UniswapV3Factory"), Ref("WETH"))),
    Deploy("NonfungiblePositionManager", NPM_ARTIFACT, (Ref("UniswapV3Factory"), Ref("WETH"), DEPLOYER)),
)


def sqrt_price_x96(price_wad: int, base_decimals: int, quote_decimals: int, base_is_token0: bool) -> int:
    """sqrtPriceX96 for ``price_wad`` quote per base (1e18), rounded down; same as UniswapPriceMath.sol."""
    if price_wad <= 0:
        raise ValueError(f"price must be positive, got {price_wad}")
    if base_is_token0:
        ratio = (price_wad * 10**quote_decimals << 192) // (10**18 * 10**base_decimals)
    else:
        ratio = (10**18 * 10**base_decimals << 192) // (price_wad * 10**quote_decimals)
    s = math.isqrt(ratio)
    if not MIN_SQRT_RATIO <= s < MAX_SQRT_RATIO:
        raise ValueError(f"sqrtPriceX96 {s} outside Uniswap's range for price {price_wad}")
    return s


def price_from_sqrt_x96(sqrt_x96: int, base_decimals: int, quote_decimals: int, base_is_token0: bool) -> int:
    """Inverse of :func:`sqrt_price_x96`: quote per base in 1e18, rounded down."""
    if sqrt_x96 <= 0:
        raise ValueError("sqrtPriceX96 must be positive")
    sq = sqrt_x96 * sqrt_x96
    if base_is_token0:
        return sq * 10**18 * 10**base_decimals // (10**quote_decimals << 192)
    return (10**18 * 10**base_decimals << 192) // (sq * 10**quote_decimals)


def tick_range(tick: int, half_width: int, spacing: int) -> tuple[int, int]:
    """A range around ``tick`` rounded outwards to ``spacing`` and clamped to the usable ticks."""
    if half_width <= 0 or spacing <= 0:
        raise ValueError(f"half_width and spacing must be positive (got {half_width}, {spacing})")
    lo = (tick - half_width) // spacing * spacing
    hi = -((-(tick + half_width)) // spacing) * spacing
    lo_min = -(-MIN_TICK // spacing) * spacing
    hi_max = MAX_TICK // spacing * spacing
    return max(lo, lo_min), min(hi, hi_max)


@dataclass(frozen=True)
class PoolSeed:
    """One pool to create at the oracle price with a wide position of ``base_amount``/``quote_amount``."""

    base: str  # token address, e.g. WETH
    quote: str  # e.g. USDC
    base_decimals: int
    quote_decimals: int
    price_wad: int
    base_amount: int
    quote_amount: int
    half_width_ticks: int = 4055  # about x1.5 / x0.667 around the price
    fee: int = POOL_FEE


@dataclass(frozen=True)
class SeededPool:
    pool: str
    token0: str
    token1: str
    sqrt_price_x96: int
    tick: int
    tick_lower: int
    tick_upper: int


async def seed_pool(
    w3: AsyncWeb3,
    batch: Any,  # chains.devnet.protocols.TxBatch (typed loosely to avoid an import cycle)
    *,
    sender: str,
    npm: Any,
    factory: Any,
    pool_abi: list[dict[str, Any]],
    erc20_abi: list[dict[str, Any]],
    seed: PoolSeed,
) -> SeededPool:
    """Create + initialise the pool at the price (kept if it exists), then mint a position around its tick.

    The caller must hold ``base_amount`` and ``quote_amount``. Three rounds of transactions: create/approve,
    then mint (needs the pool's tick), all waited for.
    """
    base_is0 = int(seed.base, 16) < int(seed.quote, 16)
    token0, token1 = (seed.base, seed.quote) if base_is0 else (seed.quote, seed.base)
    amount0, amount1 = (
        (seed.base_amount, seed.quote_amount) if base_is0 else (seed.quote_amount, seed.base_amount)
    )
    sqrt_p = sqrt_price_x96(seed.price_wad, seed.base_decimals, seed.quote_decimals, base_is0)
    await batch.send(
        sender,
        npm.address,
        npm.encode_abi("createAndInitializePoolIfNecessary", args=[token0, token1, seed.fee, sqrt_p]),
        gas=6_000_000,
        label="createAndInitializePoolIfNecessary",
    )
    for token, amount in ((token0, amount0), (token1, amount1)):
        erc20 = w3.eth.contract(address=to_checksum_address(token), abi=erc20_abi)
        await batch.send(
            sender, token, erc20.encode_abi("approve", args=[npm.address, amount]), label="approve NPM"
        )
    await batch.flush()
    pool_addr = to_checksum_address(await factory.functions.getPool(token0, token1, seed.fee).call())
    pool = w3.eth.contract(address=pool_addr, abi=pool_abi)
    slot0 = await pool.functions.slot0().call()
    spacing = int(await pool.functions.tickSpacing().call())
    lower, upper = tick_range(int(slot0[1]), seed.half_width_ticks, spacing)
    block = await w3.eth.get_block("latest")
    params = (
        token0,
        token1,
        seed.fee,
        lower,
        upper,
        amount0,
        amount1,
        0,
        0,
        sender,
        int(block["timestamp"]) + 3600,
    )
    await batch.send(
        sender, npm.address, npm.encode_abi("mint", args=[params]), gas=1_500_000, label="NPM.mint"
    )
    await batch.flush()
    return SeededPool(pool_addr, token0, token1, int(slot0[0]), int(slot0[1]), lower, upper)
