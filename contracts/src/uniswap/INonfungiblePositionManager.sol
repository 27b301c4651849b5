// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title INonfungiblePositionManager
/// @notice The pool-creation and liquidity-minting subset of Uniswap V3's NonfungiblePositionManager
///         (periphery 1.4.4), restated for solc 0.8. The manager pulls token0/token1 from msg.sender.
interface INonfungiblePositionManager {
    struct MintParams {
        address token0;
        address token1;
        uint24 fee;
        int24 tickLower;
        int24 tickUpper;
        uint256 amount0Desired;
        uint256 amount1Desired;
        uint256 amount0Min;
        uint256 amount1Min;
        address recipient;
        uint256 deadline;
    }

    /// @notice Create the pool if missing and initialise it at `sqrtPriceX96` if uninitialised (token0 < token1).
    function createAndInitializePoolIfNecessary(address token0, address token1, uint24 fee, uint160 sqrtPriceX96)
        external
        payable
        returns (address pool);

    /// @notice Mint a new position NFT holding liquidity in [tickLower, tickUpper).
    function mint(MintParams calldata params)
        external
        payable
        returns (uint256 tokenId, uint128 liquidity, uint256 amount0, uint256 amount1);

    /// @notice Factory the manager was deployed with.
    function factory() external view returns (address);
}
