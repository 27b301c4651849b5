// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IQuoterV2
/// @notice Single-pool quotes of Uniswap V3's QuoterV2, restated for solc 0.8.
/// @dev Not `view`: the quoter runs the swap and reverts inside the callback to read the result. Call it with
///      eth_call (off-chain) or from a test; the state change is always rolled back.
interface IQuoterV2 {
    struct QuoteExactInputSingleParams {
        address tokenIn;
        address tokenOut;
        uint256 amountIn;
        uint24 fee;
        uint160 sqrtPriceLimitX96;
    }

    struct QuoteExactOutputSingleParams {
        address tokenIn;
        address tokenOut;
        uint256 amount;
        uint24 fee;
        uint160 sqrtPriceLimitX96;
    }

    /// @notice Output amount of an exact-input single-pool swap.
    function quoteExactInputSingle(QuoteExactInputSingleParams memory params)
        external
        returns (uint256 amountOut, uint160 sqrtPriceX96After, uint32 initializedTicksCrossed, uint256 gasEstimate);

    /// @notice Input amount of an exact-output single-pool swap.
    function quoteExactOutputSingle(QuoteExactOutputSingleParams memory params)
        external
        returns (uint256 amountIn, uint160 sqrtPriceX96After, uint32 initializedTicksCrossed, uint256 gasEstimate);
}
