// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";
import {TestToken} from "../../src/tokens/TestToken.sol";
import {IUniswapV3Factory} from "../../src/uniswap/IUniswapV3Factory.sol";
import {IUniswapV3Pool} from "../../src/uniswap/IUniswapV3Pool.sol";
import {ISwapRouter} from "../../src/uniswap/ISwapRouter.sol";
import {IQuoterV2} from "../../src/uniswap/IQuoterV2.sol";
import {INonfungiblePositionManager} from "../../src/uniswap/INonfungiblePositionManager.sol";
import {UniswapSeeder} from "../../src/uniswap/UniswapSeeder.sol";

/// @notice Deploys the REAL Uniswap V3 bytecode from the npm hardhat artifacts (not recompiled) and a
///         WETH/USDC 0.05 % pool seeded around a given price. Shared by the uniswap and amm tests.
abstract contract UniswapFixture is Test {
    string internal constant CORE = "node_modules/@uniswap/v3-core/artifacts/contracts/";
    string internal constant PERI = "node_modules/@uniswap/v3-periphery/artifacts/contracts/";
    uint24 internal constant FEE = 500;

    TestToken internal usdc;
    TestToken internal weth;
    IUniswapV3Factory internal factory;
    ISwapRouter internal router;
    IQuoterV2 internal quoter;
    INonfungiblePositionManager internal npm;
    UniswapSeeder internal seeder;
    IUniswapV3Pool internal pool;

    function _deployTokens() internal {
        usdc = new TestToken("USD Coin", "USDC", 6);
        weth = new TestToken("Wrapped Ether", "WETH", 18);
    }

    function _deployUniswap() internal {
        factory = IUniswapV3Factory(deployCode(string.concat(CORE, "UniswapV3Factory.sol/UniswapV3Factory.json")));
        router = ISwapRouter(
            deployCode(
                string.concat(PERI, "SwapRouter.sol/SwapRouter.json"), abi.encode(address(factory), address(weth))
            )
        );
        quoter = IQuoterV2(
            deployCode(
                string.concat(PERI, "lens/QuoterV2.sol/QuoterV2.json"), abi.encode(address(factory), address(weth))
            )
        );
        // The token descriptor is only used by tokenURI(); any address works for minting.
        npm = INonfungiblePositionManager(
            deployCode(
                string.concat(PERI, "NonfungiblePositionManager.sol/NonfungiblePositionManager.json"),
                abi.encode(address(factory), address(weth), address(0xdead))
            )
        );
        seeder = new UniswapSeeder();
    }

    /// @dev Seeds `wethAmount` WETH and `usdcAmount` USDC around `priceWad` (USD per WETH, 1e18), +-4055 ticks.
    function _seedPool(uint256 priceWad, uint256 wethAmount, uint256 usdcAmount) internal {
        weth.mint(address(this), wethAmount);
        usdc.mint(address(this), usdcAmount);
        weth.approve(address(seeder), wethAmount);
        usdc.approve(address(seeder), usdcAmount);
        (address p,) = seeder.seed(
            UniswapSeeder.SeedParams({
                positionManager: npm,
                base: address(weth),
                quote: address(usdc),
                fee: FEE,
                priceWad: priceWad,
                baseAmount: wethAmount,
                quoteAmount: usdcAmount,
                halfWidthTicks: 4055,
                recipient: address(this)
            })
        );
        pool = IUniswapV3Pool(p);
    }
}
