// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {UniswapFixture} from "./UniswapFixture.sol";
import {TestToken} from "../../src/tokens/TestToken.sol";
import {ISwapRouter} from "../../src/uniswap/ISwapRouter.sol";
import {IQuoterV2} from "../../src/uniswap/IQuoterV2.sol";
import {IUniswapV3Pool} from "../../src/uniswap/IUniswapV3Pool.sol";
import {UniswapPriceMath} from "../../src/uniswap/UniswapPriceMath.sol";
import {UniswapSeeder} from "../../src/uniswap/UniswapSeeder.sol";
import {StubPriceFeed} from "../amm/FeedStubs.sol";

/// @dev Exposes the library's reverts to expectRevert (internal library calls are inlined otherwise).
contract PriceMathHarness {
    function toSqrt(uint256 p, uint8 bd, uint8 qd, bool b0) external pure returns (uint160) {
        return UniswapPriceMath.sqrtPriceX96FromPrice(p, bd, qd, b0);
    }
}

contract UniswapV3VenueTest is UniswapFixture {
    StubPriceFeed internal feed;

    function setUp() public {
        vm.warp(1_800_000_000);
        feed = new StubPriceFeed(3_000e8);
    }

    function _oraclePriceWad() internal view returns (uint256) {
        (, int256 answer,,,) = feed.latestRoundData();
        return uint256(answer) * 1e10; // 8 -> 18 decimals
    }

    function _deployOrdered(bool wethIsToken0) internal {
        (address lo, address hi) =
            (address(0x1000000000000000000000000000000000000001), address(0x2000000000000000000000000000000000000002));
        deployCodeTo("TestToken.sol:TestToken", abi.encode("Wrapped Ether", "WETH", uint8(18)), wethIsToken0 ? lo : hi);
        deployCodeTo("TestToken.sol:TestToken", abi.encode("USD Coin", "USDC", uint8(6)), wethIsToken0 ? hi : lo);
        weth = TestToken(wethIsToken0 ? lo : hi);
        usdc = TestToken(wethIsToken0 ? hi : lo);
    }

    function _checkPoolAtOraclePrice(bool wethIsToken0) internal {
        _deployOrdered(wethIsToken0);
        _deployUniswap();
        _seedPool(_oraclePriceWad(), 1_000e18, 3_000_000e6);
        assertEq(factory.getPool(address(weth), address(usdc), FEE), address(pool), "factory registry");
        assertEq(pool.fee(), FEE);
        assertEq(pool.tickSpacing(), 10);
        assertEq(pool.token0(), wethIsToken0 ? address(weth) : address(usdc));
        (uint160 sqrtP,,,,,,) = pool.slot0();
        uint256 px = UniswapPriceMath.priceFromSqrtPriceX96(sqrtP, 18, 6, wethIsToken0);
        assertApproxEqRel(px, 3_000e18, 1e9, "pool price = oracle price to 1e-9");
        assertGt(pool.liquidity(), 0, "in-range liquidity");
        // the seeded position holds both tokens (range straddles the price)
        assertGt(weth.balanceOf(address(pool)), 900e18);
        assertGt(usdc.balanceOf(address(pool)), 2_700_000e6);
    }

    function test_poolInitialisedAtOraclePrice_wethToken0() public {
        _checkPoolAtOraclePrice(true);
    }

    function test_poolInitialisedAtOraclePrice_usdcToken0() public {
        _checkPoolAtOraclePrice(false);
    }

    function test_quoterMatchesExecutedSwaps() public {
        _deployTokens();
        _deployUniswap();
        _seedPool(_oraclePriceWad(), 1_000e18, 3_000_000e6);
        address trader = makeAddr("trader");
        weth.mint(trader, 10e18);
        usdc.mint(trader, 100_000e6);

        (uint256 quotedOut,,,) = quoter.quoteExactInputSingle(
            IQuoterV2.QuoteExactInputSingleParams(address(weth), address(usdc), 10e18, FEE, 0)
        );
        vm.startPrank(trader);
        weth.approve(address(router), 10e18);
        uint256 out = router.exactInputSingle(
            ISwapRouter.ExactInputSingleParams(
                address(weth), address(usdc), FEE, trader, block.timestamp, 10e18, quotedOut, 0
            )
        );
        vm.stopPrank();
        assertEq(out, quotedOut, "exact-input quote == executed output");
        assertEq(usdc.balanceOf(trader), 100_000e6 + out);
        // 10 WETH at ~3000 minus 5 bps fee and a little impact
        assertGt(out, 29_900e6);
        assertLt(out, 29_985e6);

        (uint256 quotedIn,,,) = quoter.quoteExactOutputSingle(
            IQuoterV2.QuoteExactOutputSingleParams(address(usdc), address(weth), 5e18, FEE, 0)
        );
        vm.startPrank(trader);
        usdc.approve(address(router), quotedIn);
        uint256 paid = router.exactOutputSingle(
            ISwapRouter.ExactOutputSingleParams(
                address(usdc), address(weth), FEE, trader, block.timestamp, 5e18, quotedIn, 0
            )
        );
        vm.stopPrank();
        assertEq(paid, quotedIn, "exact-output quote == executed input");
        assertEq(weth.balanceOf(trader), 5e18);
    }

    function test_routerRejectsTooLittleReceived() public {
        _deployTokens();
        _deployUniswap();
        _seedPool(_oraclePriceWad(), 1_000e18, 3_000_000e6);
        weth.mint(address(this), 1e18);
        weth.approve(address(router), 1e18);
        vm.expectRevert(bytes("Too little received"));
        router.exactInputSingle(
            ISwapRouter.ExactInputSingleParams(
                address(weth), address(usdc), FEE, address(this), block.timestamp, 1e18, 3_000e6, 0
            )
        );
    }

    function testFuzz_priceRoundTrip(uint256 priceWad, bool baseIs0) public pure {
        priceWad = bound(priceWad, 1e14, 1e24); // 0.0001 .. 1e6 USD per base
        uint160 s = UniswapPriceMath.sqrtPriceX96FromPrice(priceWad, 18, 6, baseIs0);
        uint256 back = UniswapPriceMath.priceFromSqrtPriceX96(s, 18, 6, baseIs0);
        assertApproxEqRel(back, priceWad, 1e9); // 1e-9 relative
    }

    function test_seedingAnExistingPoolKeepsItsPrice() public {
        _deployTokens();
        _deployUniswap();
        _seedPool(_oraclePriceWad(), 100e18, 300_000e6);
        (uint160 sqrtBefore,,,,,,) = pool.slot0();
        uint128 liqBefore = pool.liquidity();
        _seedPool(3_300e18, 100e18, 300_000e6); // a different price does not re-initialise
        (uint160 sqrtAfter,,,,,,) = pool.slot0();
        assertEq(sqrtAfter, sqrtBefore);
        assertGt(pool.liquidity(), liqBefore);
    }

    function test_seederRejectsBadInput() public {
        _deployTokens();
        _deployUniswap();
        UniswapSeeder.SeedParams memory p = UniswapSeeder.SeedParams({
            positionManager: npm,
            base: address(weth),
            quote: address(weth),
            fee: FEE,
            priceWad: 3_000e18,
            baseAmount: 1e18,
            quoteAmount: 1e18,
            halfWidthTicks: 100,
            recipient: address(this)
        });
        vm.expectRevert(abi.encodeWithSelector(UniswapSeeder.SameToken.selector, address(weth)));
        seeder.seed(p);
        p.quote = address(usdc);
        p.halfWidthTicks = 0;
        vm.expectRevert(abi.encodeWithSelector(UniswapSeeder.BadHalfWidth.selector, int24(0)));
        seeder.seed(p);
    }

    function test_priceMathRejectsBadInput() public {
        PriceMathHarness h = new PriceMathHarness();
        vm.expectRevert(UniswapPriceMath.PriceZero.selector);
        h.toSqrt(0, 18, 6, true);
        vm.expectRevert(abi.encodeWithSelector(UniswapPriceMath.DecimalsTooLarge.selector, uint8(40), uint8(6)));
        h.toSqrt(1e18, 40, 6, true);
    }
}
