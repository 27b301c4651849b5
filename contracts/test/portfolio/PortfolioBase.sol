// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";
import {TestToken} from "../../src/tokens/TestToken.sol";
import {PortfolioMargin} from "../../src/portfolio/PortfolioMargin.sol";
import {StubAggregator, StubVolFeed} from "./PortfolioStubs.sol";

/// @dev Shared fixture: ETH at S = 2000, expiry 1 = +30 d (F = 2010), expiry 2 = +60 d (F = 2020), flat vol 60 %.
abstract contract PortfolioBase is Test {
    uint256 internal constant T0 = 1_700_000_000;
    address internal constant ETH = address(0xE7);
    uint64 internal constant EXP1 = uint64(T0 + 30 days);
    uint64 internal constant EXP2 = uint64(T0 + 60 days);

    TestToken internal usdc;
    StubAggregator internal ethFeed;
    StubVolFeed internal vols;
    PortfolioMargin internal pm;

    address internal alice = makeAddr("alice");
    address internal bob = makeAddr("bob");
    address internal keeper = makeAddr("keeper");
    address internal matcher = makeAddr("matcher");
    uint256 internal mm; // market maker counterparty account (bob)

    function setUp() public virtual {
        vm.warp(T0);
        usdc = new TestToken("USD Coin", "USDC", 6);
        ethFeed = new StubAggregator();
        ethFeed.set(2000e8, T0);
        vols = new StubVolFeed();
        vols.set(ETH, EXP1, 2010e18, 0.6e18);
        vols.set(ETH, EXP2, 2020e18, 0.6e18);
        pm = new PortfolioMargin(usdc, vols, address(this));
        pm.setUnderlying(ETH, ethFeed, 1 hours);
        for (uint256 i; i < 3; ++i) {
            address who = i == 0 ? alice : i == 1 ? bob : keeper;
            usdc.mint(who, 10_000_000e6);
            vm.startPrank(who);
            usdc.approve(address(pm), type(uint256).max);
            pm.setOperator(matcher, true);
            vm.stopPrank();
        }
        mm = _account(bob, 1_000_000e6);
    }

    function _account(address owner, uint256 usdcAmount) internal returns (uint256 id) {
        vm.startPrank(owner);
        id = pm.createAccount();
        if (usdcAmount > 0) pm.deposit(id, usdcAmount);
        vm.stopPrank();
    }

    function _series(uint64 expiry, uint256 strike, bool isCall) internal returns (uint256 id) {
        bytes32 key = keccak256(abi.encode(ETH, expiry, strike, isCall));
        id = pm.seriesIdOf(key);
        if (id == 0) id = pm.addSeries(ETH, expiry, strike, isCall);
    }

    /// @dev `acct` sells `amount` of the series to the market maker (amount < 0) or buys (amount > 0) at `price`.
    function _trade(uint256 acct, uint64 expiry, uint256 strike, bool isCall, int256 amount, uint256 price) internal {
        uint256 sid = _series(expiry, strike, isCall);
        vm.prank(matcher);
        if (amount < 0) pm.trade(mm, acct, sid, uint256(-amount), price);
        else pm.trade(acct, mm, sid, uint256(amount), price);
    }

    /// @dev Refresh both oracles at the current time (keeps them fresh across warps).
    function _refresh(uint256 spot8, uint256 fwd1, uint256 fwd2, uint256 vol) internal {
        ethFeed.set(int256(spot8), block.timestamp);
        vols.set(ETH, EXP1, fwd1, vol);
        vols.set(ETH, EXP2, fwd2, vol);
    }
}
