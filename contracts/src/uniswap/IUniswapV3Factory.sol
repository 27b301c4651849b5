// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IUniswapV3Factory
/// @notice The subset of Uniswap V3's factory used by rtrm, restated for solc 0.8 (the npm sources target 0.7).
///         Same selectors as the deployed npm bytecode (npm uniswap v3-core 1.0.1).
interface IUniswapV3Factory {
    /// @notice Pool address for the unordered pair and fee, or address(0).
    function getPool(address tokenA, address tokenB, uint24 fee) external view returns (address pool);
    /// @notice Create the pool for the pair and fee (uninitialised); reverts if it exists.
    function createPool(address tokenA, address tokenB, uint24 fee) external returns (address pool);
    /// @notice Tick spacing of an enabled fee tier (0 when not enabled). 500 -> 10, 3000 -> 60, 10000 -> 200.
    function feeAmountTickSpacing(uint24 fee) external view returns (int24);
    /// @notice Factory owner.
    function owner() external view returns (address);
}
