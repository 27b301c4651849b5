// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title ISwapRouter
/// @notice Single-pool swaps of Uniswap V3's SwapRouter (periphery 1.4.4), restated for solc 0.8.
/// @dev The router pulls `tokenIn` from msg.sender (approve it first). It reverts with the string
///      "Too little received" (exact input) or "Too much requested" (exact output) when the limit binds,
///      and "Transaction too old" after `deadline`.
interface ISwapRouter {
    struct ExactInputSingleParams {
        address tokenIn;
        address tokenOut;
        uint24 fee;
        address recipient;
        uint256 deadline;
        uint256 amountIn;
        uint256 amountOutMinimum;
        uint160 sqrtPriceLimitX96;
    }

    struct ExactOutputSingleParams {
        address tokenIn;
        address tokenOut;
        uint24 fee;
        address recipient;
        uint256 deadline;
        uint256 amountOut;
        uint256 amountInMaximum;
        uint160 sqrtPriceLimitX96;
    }

    /// @notice Swap exactly `amountIn` of tokenIn for as much tokenOut as possible (>= amountOutMinimum).
    function exactInputSingle(ExactInputSingleParams calldata params) external payable returns (uint256 amountOut);

    /// @notice Swap as little tokenIn as possible (<= amountInMaximum) for exactly `amountOut` of tokenOut.
    function exactOutputSingle(ExactOutputSingleParams calldata params) external payable returns (uint256 amountIn);
}
