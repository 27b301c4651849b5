// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {PriceFeed} from "../../src/oracles/PriceFeed.sol";
import {ChainlinkRounds} from "../../src/oracles/ChainlinkRounds.sol";

contract PriceFeedTest is Test {
    PriceFeed feed;
    address feeder = makeAddr("feeder");
    uint80 constant R1 = uint80((uint256(1) << 64) | 1); // phase 1, aggregator round 1

    event AnswerUpdated(int256 indexed current, uint256 indexed roundId, uint256 updatedAt);
    event NewRound(uint256 indexed roundId, address indexed startedBy, uint256 startedAt);

    function setUp() public {
        vm.warp(1_700_000_000);
        feed = new PriceFeed("ETH / USD", 8, address(this));
        feed.grantRole(feed.FEEDER_ROLE(), feeder);
    }

    function test_metadata() public view {
        assertEq(feed.decimals(), 8);
        assertEq(feed.description(), "ETH / USD");
        assertEq(feed.version(), 4);
        assertEq(feed.latestRound(), 0);
    }

    function test_latestRoundDataRevertsBeforeFirstRound() public {
        vm.expectRevert(ChainlinkRounds.NoDataPresent.selector);
        feed.latestRoundData();
    }

    function test_roundIdsArePhasedAndHistoryIsKept() public {
        vm.prank(feeder);
        vm.expectEmit(true, true, false, true);
        emit NewRound(R1, feeder, 1_700_000_000);
        vm.expectEmit(true, true, false, true);
        emit AnswerUpdated(3000e8, R1, 1_700_000_000);
        uint80 id1 = feed.updateAnswer(3000e8);
        assertEq(id1, R1);
        assertEq(uint256(id1), 18446744073709551617); // 2^64 + 1

        vm.warp(1_700_000_060);
        vm.prank(feeder);
        uint80 id2 = feed.updateAnswer(2950e8);
        assertEq(id2, R1 + 1);

        (uint80 rid, int256 ans, uint256 st, uint256 up, uint80 air) = feed.latestRoundData();
        assertEq(rid, id2);
        assertEq(ans, 2950e8);
        assertEq(st, 1_700_000_060);
        assertEq(up, 1_700_000_060);
        assertEq(air, id2);

        (rid, ans, st, up, air) = feed.getRoundData(id1);
        assertEq(rid, id1);
        assertEq(ans, 3000e8);
        assertEq(up, 1_700_000_000);
        assertEq(air, id1);
        assertEq(feed.latestRound(), id2);
        assertEq(feed.latestAnswer(), 2950e8);
        assertEq(feed.latestTimestamp(), 1_700_000_060);
    }

    function test_unknownRoundsRevert() public {
        vm.prank(feeder);
        feed.updateAnswer(3000e8);
        uint80[4] memory bad = [
            uint80(0), // no phase
            uint80(uint256(1) << 64), // phase 1, aggregator round 0
            R1 + 1, // beyond the latest round
            uint80((uint256(2) << 64) | 1) // phase 2 does not exist
        ];
        for (uint256 i; i < bad.length; ++i) {
            vm.expectRevert(ChainlinkRounds.NoDataPresent.selector);
            feed.getRoundData(bad[i]);
        }
    }

    function test_onlyFeederUpdates() public {
        address stranger = makeAddr("stranger");
        bytes32 role = feed.FEEDER_ROLE();
        vm.prank(stranger);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, stranger, role)
        );
        feed.updateAnswer(1);
    }

    function test_negativeAndZeroAnswersAreStoredForConsumersToReject() public {
        vm.startPrank(feeder);
        feed.updateAnswer(0);
        feed.updateAnswer(-5);
        vm.stopPrank();
        (, int256 ans,,,) = feed.latestRoundData();
        assertEq(ans, -5);
    }

    function test_updateAnswerAtBackfillsInOrder() public {
        vm.startPrank(feeder);
        uint80 id1 = feed.updateAnswerAt(2000e8, 1_699_990_000);
        (,,, uint256 up,) = feed.getRoundData(id1);
        assertEq(up, 1_699_990_000);
        feed.updateAnswerAt(2001e8, 1_699_990_000); // equal timestamps are allowed
        vm.expectRevert(
            abi.encodeWithSelector(PriceFeed.TimestampBeforeLatestRound.selector, 1_699_989_999, 1_699_990_000)
        );
        feed.updateAnswerAt(1, 1_699_989_999);
        vm.expectRevert(abi.encodeWithSelector(PriceFeed.TimestampInFuture.selector, 1_700_000_001, 1_700_000_000));
        feed.updateAnswerAt(1, 1_700_000_001);
        vm.stopPrank();
        assertEq(feed.latestRound(), R1 + 1);
    }
}
