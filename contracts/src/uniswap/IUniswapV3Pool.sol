// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IUniswapV3Pool
/// @notice The read/initialise subset of a Uniswap V3 pool, restated for solc 0.8.
/// @dev Price convention: sqrtPriceX96 = sqrt(token1 base units per token0 base unit) * 2^96.
interface IUniswapV3Pool {
    /// @notice Lower-address token of the pair.
    function token0() external view returns (address);
    /// @notice Higher-address token of the pair.
    function token1() external view returns (address);
    /// @notice Fee tier in hundredths of a bip (500 = 0.05 %).
    function fee() external view returns (uint24);
    /// @notice Tick spacing of the pool.
    function tickSpacing() external view returns (int24);
    /// @notice In-range liquidity.
    function liquidity() external view returns (uint128);
    /// @notice Current price, tick and oracle/fee bookkeeping.
    function slot0()
        external
        view
        returns (
            uint160 sqrtPriceX96,
            int24 tick,
            uint16 observationIndex,
            uint16 observationCardinality,
            uint16 observationCardinalityNext,
            uint8 feeProtocol,
            bool unlocked
        );
    /// @notice Set the initial price; reverts if already initialised.
    function initialize(uint160 sqrtPriceX96) external;
}
