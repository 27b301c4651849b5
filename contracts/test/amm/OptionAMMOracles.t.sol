// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {TestToken} from "../../src/tokens/TestToken.sol";
import {PriceFeed} from "../../src/oracles/PriceFeed.sol";
import {VolFeed} from "../../src/oracles/VolFeed.sol";
import {OptionAMM} from "../../src/amm/OptionAMM.sol";
import {AggregatorV3Interface} from "../../src/interfaces/AggregatorV3Interface.sol";
import {IVolFeed} from "../../src/interfaces/IVolFeed.sol";
import {ISwapRouter} from "../../src/uniswap/ISwapRouter.sol";

/// @notice OptionAMM against the project's real PriceFeed and VolFeed (skewed SVI smile, no Uniswap needed).
/// @dev Reference (mpmath, 40 digits): SVI a=0.01 b=0.05 rho=-0.3 m=0 sigma=0.1, forward 3000, tau 30/365,
///      K=2800 put: iv_svi = 0.456250779321453446; buying 10: iv = iv_svi·1.002 + 0.01 + 0.1·0.028
///      = 0.469963280880096353, premium = 10·Black76 put = 757.0693327732156 USD.
contract OptionAMMOraclesTest is Test {
    TestToken internal usdc;
    TestToken internal weth;
    PriceFeed internal feed;
    VolFeed internal vol;
    OptionAMM internal amm;
    uint64 internal expiry;
    uint256 internal putId;
    address internal alice = makeAddr("alice");

    function setUp() public {
        vm.warp(1_800_000_000);
        usdc = new TestToken("USD Coin", "USDC", 6);
        weth = new TestToken("Wrapped Ether", "WETH", 18);
        feed = new PriceFeed("ETH / USD", 8, address(this));
        feed.updateAnswer(3_000e8);
        vol = new VolFeed(address(this), 3600);
        expiry = uint64(block.timestamp + 30 days);
        vol.setSlice(address(weth), expiry, 0.01e18, 0.05e18, -0.3e18, 0, 0.1e18, 3_000e18);
        amm = new OptionAMM(
            IERC20(address(usdc)),
            IERC20(address(weth)),
            AggregatorV3Interface(address(feed)),
            IVolFeed(address(vol)),
            ISwapRouter(address(0)), // hedging is covered in OptionAMM.t.sol
            500,
            OptionAMM.Params({
                feeRate: 0.003e18,
                kInv: 0.2e18,
                exposureCap: 1_000e18,
                spreadBase: 0.01e18,
                spreadSlope: 0.1e18,
                maxUtilisation: 0.9e18,
                minVol: 0.01e18,
                deltaHardLimit: 5e18,
                priceHeartbeat: 3600
            }),
            address(this)
        );
        putId = amm.listSeries(2_800e18, expiry, false);
        usdc.mint(address(this), 1_000_000e6);
        usdc.approve(address(amm), type(uint256).max);
        amm.deposit(1_000_000e6, address(this));
        usdc.mint(alice, 100_000e6);
        vm.prank(alice);
        usdc.approve(address(amm), type(uint256).max);
    }

    function test_quoteUsesSviSmile() public {
        OptionAMM.Quote memory q = amm.quote(putId, 10e18, true);
        assertEq(q.ivSvi, vol.impliedVol(address(weth), expiry, 2_800e18));
        assertApproxEqRel(q.ivSvi, 0.456250779321453446e18, 1e9, "SVI vol vs mpmath");
        assertApproxEqRel(q.iv, 0.469963280880096353e18, 1e9, "trade vol");
        assertEq(q.utilisationAfter, 0.028e18);
        assertApproxEqRel(q.premium, 757_069_333, 1e9, "premium vs mpmath Black-76");
        assertEq(q.fee, 90e6);
        vm.prank(alice);
        assertEq(amm.buy(putId, 10e18, q.premium + q.fee), q.premium + q.fee);
    }

    function test_settleWithRealFeedRound() public {
        vm.prank(alice);
        amm.buy(putId, 10e18, type(uint256).max);
        vm.warp(expiry + 10);
        uint80 rid = feed.updateAnswer(2_500e8);
        vm.expectEmit(address(amm));
        emit OptionAMM.SeriesSettled(putId, rid, 2_500e18, 300e18, 10e18);
        amm.settleSeries(putId);
        uint256 before = usdc.balanceOf(alice);
        vm.prank(alice);
        amm.claim(putId);
        assertEq(usdc.balanceOf(alice) - before, 3_000e6);
    }
}
