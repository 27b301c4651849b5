// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

/// @title UniswapPriceMath
/// @notice Conversions between a human price (quote per base, 1e18 fixed point, e.g. USD per WETH) and a
///         Uniswap V3 sqrtPriceX96, for any token ordering and decimals. Used by UniswapSeeder and tests; the
///         Python deployer mirrors `sqrtPriceX96FromPrice` exactly (integer sqrt of a floored mulDiv).
/// @dev Uniswap prices are token1 base units per token0 base unit. With base = WETH (18 dec) and quote = USDC
///      (6 dec) at 3000 USD: if WETH is token0 the raw price is 3000e6/1e18 = 3e-9, else 1e18/3000e6 = 3.33e8.
library UniswapPriceMath {
    /// @dev TickMath.MIN_SQRT_RATIO / MAX_SQRT_RATIO of Uniswap V3 (valid range is [MIN, MAX)).
    uint160 internal constant MIN_SQRT_RATIO = 4295128739;
    uint160 internal constant MAX_SQRT_RATIO = 1461446703485210103287273089000000000000000000000;

    error PriceZero();
    error DecimalsTooLarge(uint8 baseDecimals, uint8 quoteDecimals);
    error SqrtPriceOutOfRange(uint256 sqrtPriceX96);

    /// @notice sqrtPriceX96 for `priceWad` quote-per-base (1e18), rounded down (integer sqrt of a floored ratio).
    /// @param baseIsToken0 true when the base token's address sorts below the quote token's
    function sqrtPriceX96FromPrice(uint256 priceWad, uint8 baseDecimals, uint8 quoteDecimals, bool baseIsToken0)
        internal
        pure
        returns (uint160)
    {
        if (priceWad == 0) revert PriceZero();
        if (baseDecimals > 36 || quoteDecimals > 36) revert DecimalsTooLarge(baseDecimals, quoteDecimals);
        uint256 ratioX192;
        if (baseIsToken0) {
            // raw = price * 10^qd / (1e18 * 10^bd)
            ratioX192 = Math.mulDiv(priceWad * 10 ** quoteDecimals, 1 << 192, 1e18 * 10 ** baseDecimals);
        } else {
            // raw = 1e18 * 10^bd / (price * 10^qd)
            ratioX192 = Math.mulDiv(1e18 * 10 ** baseDecimals, 1 << 192, priceWad * 10 ** quoteDecimals);
        }
        uint256 s = Math.sqrt(ratioX192);
        if (s < MIN_SQRT_RATIO || s >= MAX_SQRT_RATIO) revert SqrtPriceOutOfRange(s);
        return uint160(s);
    }

    /// @notice Inverse of `sqrtPriceX96FromPrice`: quote-per-base price (1e18), rounded down.
    function priceFromSqrtPriceX96(uint160 sqrtPriceX96, uint8 baseDecimals, uint8 quoteDecimals, bool baseIsToken0)
        internal
        pure
        returns (uint256)
    {
        if (sqrtPriceX96 == 0) revert PriceZero();
        if (baseDecimals > 36 || quoteDecimals > 36) revert DecimalsTooLarge(baseDecimals, quoteDecimals);
        // ratioX128 = sqrtP^2 / 2^64 keeps the square inside 256 bits for every valid sqrtP.
        uint256 ratioX128 = Math.mulDiv(sqrtPriceX96, sqrtPriceX96, 1 << 64);
        if (baseIsToken0) {
            // price = raw * 1e18 * 10^bd / 10^qd
            return Math.mulDiv(ratioX128, 1e18 * 10 ** baseDecimals, 1 << 128) / 10 ** quoteDecimals;
        }
        // price = 1e18 * 10^bd / (raw * 10^qd)
        return Math.mulDiv(1e18 * 10 ** baseDecimals, 1 << 128, ratioX128) / 10 ** quoteDecimals;
    }
}
