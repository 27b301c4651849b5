// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {INonfungiblePositionManager} from "./INonfungiblePositionManager.sol";
import {IUniswapV3Pool} from "./IUniswapV3Pool.sol";
import {UniswapPriceMath} from "./UniswapPriceMath.sol";

/// @title UniswapSeeder
/// @notice Creates a Uniswap V3 pool at an oracle price and seeds one wide liquidity position around it,
///         in one call. Stateless helper for the devnet and the forge tests (not a production design).
/// @dev The Python devnet deployer can do the same with three transactions, in this order:
///      1. sqrtPriceX96 = isqrt(floor(raw * 2^192)) (see UniswapPriceMath.sqrtPriceX96FromPrice);
///      2. positionManager.createAndInitializePoolIfNecessary(token0, token1, fee, sqrtPriceX96);
///      3. read pool.slot0().tick and pool.tickSpacing(); tickLower = floorToSpacing(tick - halfWidthTicks),
///         tickUpper = ceilToSpacing(tick + halfWidthTicks); approve and positionManager.mint(...).
///      If the pool already existed, its current price is kept and the range is centred on its tick.
contract UniswapSeeder {
    using SafeERC20 for IERC20;

    struct SeedParams {
        INonfungiblePositionManager positionManager;
        address base; // e.g. WETH
        address quote; // e.g. USDC
        uint24 fee; // e.g. 500
        uint256 priceWad; // quote per base, 1e18 (e.g. 3000e18 USD per WETH)
        uint256 baseAmount; // base token units pulled from msg.sender (leftover refunded)
        uint256 quoteAmount; // quote token units pulled from msg.sender (leftover refunded)
        int24 halfWidthTicks; // range half width in ticks (4055 ticks ~ x1.5 / x0.667)
        address recipient; // owner of the position NFT
    }

    event PoolSeeded(
        address indexed pool,
        uint256 indexed tokenId,
        uint160 sqrtPriceX96,
        int24 tick,
        int24 tickLower,
        int24 tickUpper,
        uint128 liquidity,
        uint256 amount0,
        uint256 amount1
    );

    error SameToken(address token);
    error BadHalfWidth(int24 halfWidthTicks);

    /// @notice Create/initialise the pool at `p.priceWad` and mint a position of `p.baseAmount`/`p.quoteAmount`.
    /// @dev msg.sender must have approved this contract for both amounts; unused tokens are returned.
    /// @return pool the pool address
    /// @return tokenId the minted position NFT id (owned by p.recipient)
    function seed(SeedParams calldata p) external returns (address pool, uint256 tokenId) {
        if (p.base == p.quote) revert SameToken(p.base);
        if (p.halfWidthTicks <= 0 || p.halfWidthTicks > 400_000) revert BadHalfWidth(p.halfWidthTicks);
        bool baseIs0 = p.base < p.quote;
        INonfungiblePositionManager.MintParams memory m;
        (m.token0, m.token1) = baseIs0 ? (p.base, p.quote) : (p.quote, p.base);
        (m.amount0Desired, m.amount1Desired) = baseIs0 ? (p.baseAmount, p.quoteAmount) : (p.quoteAmount, p.baseAmount);
        m.fee = p.fee;
        m.recipient = p.recipient;
        m.deadline = block.timestamp;
        uint160 sqrtP = UniswapPriceMath.sqrtPriceX96FromPrice(
            p.priceWad, IERC20Metadata(p.base).decimals(), IERC20Metadata(p.quote).decimals(), baseIs0
        );
        pool = p.positionManager.createAndInitializePoolIfNecessary(m.token0, m.token1, p.fee, sqrtP);
        (m.tickLower, m.tickUpper) = _range(IUniswapV3Pool(pool), p.halfWidthTicks);
        tokenId = _mintAndRefund(p.positionManager, m, pool);
    }

    /// @dev Pull both amounts from msg.sender, mint, reset approvals, refund what the mint did not use.
    function _mintAndRefund(
        INonfungiblePositionManager pm,
        INonfungiblePositionManager.MintParams memory m,
        address pool
    ) private returns (uint256 tokenId) {
        IERC20(m.token0).safeTransferFrom(msg.sender, address(this), m.amount0Desired);
        IERC20(m.token1).safeTransferFrom(msg.sender, address(this), m.amount1Desired);
        IERC20(m.token0).forceApprove(address(pm), m.amount0Desired);
        IERC20(m.token1).forceApprove(address(pm), m.amount1Desired);
        (uint256 id, uint128 liquidity, uint256 used0, uint256 used1) = pm.mint(m);
        tokenId = id;
        IERC20(m.token0).forceApprove(address(pm), 0);
        IERC20(m.token1).forceApprove(address(pm), 0);
        if (m.amount0Desired > used0) IERC20(m.token0).safeTransfer(msg.sender, m.amount0Desired - used0);
        if (m.amount1Desired > used1) IERC20(m.token1).safeTransfer(msg.sender, m.amount1Desired - used1);
        (uint160 sqrtNow, int24 tick,,,,,) = IUniswapV3Pool(pool).slot0();
        emit PoolSeeded(pool, id, sqrtNow, tick, m.tickLower, m.tickUpper, liquidity, used0, used1);
    }

    /// @dev [tick - w, tick + w] widened outwards to the pool's tick spacing and clamped to the valid tick range.
    function _range(IUniswapV3Pool pool, int24 w) private view returns (int24 lower, int24 upper) {
        (, int24 tick,,,,,) = pool.slot0();
        int24 s = pool.tickSpacing();
        int24 maxTick = (887272 / s) * s;
        lower = _floorTo(tick - w, s);
        upper = -_floorTo(-(tick + w), s); // ceil
        if (lower < -maxTick) lower = -maxTick;
        if (upper > maxTick) upper = maxTick;
    }

    function _floorTo(int24 x, int24 s) private pure returns (int24) {
        int24 q = x / s; // truncates toward zero
        if (x < 0 && x % s != 0) q -= 1;
        return q * s;
    }
}
