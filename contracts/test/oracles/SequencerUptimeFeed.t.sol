// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";
import {SequencerUptimeFeed} from "../../src/oracles/SequencerUptimeFeed.sol";
import {ChainlinkRounds} from "../../src/oracles/ChainlinkRounds.sol";

contract SequencerUptimeFeedTest is Test {
    SequencerUptimeFeed feed;
    uint80 constant R1 = uint80((uint256(1) << 64) | 1);

    event RoundUpdated(int256 status, uint64 updatedAt);
    event UpdateIgnored(bool latestStatus, uint64 latestTimestamp, bool incomingStatus, uint64 incomingTimestamp);

    function setUp() public {
        vm.warp(1_000_000);
        feed = new SequencerUptimeFeed(false, address(this));
    }

    function test_initialRoundIsUp() public view {
        (uint80 rid, int256 ans, uint256 st, uint256 up, uint80 air) = feed.latestRoundData();
        assertEq(rid, R1);
        assertEq(ans, 0);
        assertEq(st, 1_000_000);
        assertEq(up, 1_000_000);
        assertEq(air, R1);
        assertEq(feed.decimals(), 0);
        assertEq(feed.description(), "L2 Sequencer Uptime Status Feed");
    }

    function test_statusChangeOpensRoundWithStartedAtOfChange() public {
        vm.warp(1_000_500);
        feed.updateStatus(true, 1_000_400); // went down at 1_000_400, reported at 1_000_500
        (uint80 rid, int256 ans, uint256 st, uint256 up,) = feed.latestRoundData();
        assertEq(rid, R1 + 1);
        assertEq(ans, 1);
        assertEq(st, 1_000_400);
        assertEq(up, 1_000_500);

        vm.warp(1_004_000);
        feed.updateStatus(false, 1_003_900); // back up
        (rid, ans, st, up,) = feed.latestRoundData();
        assertEq(rid, R1 + 2);
        assertEq(ans, 0);
        assertEq(st, 1_003_900);
        // history: the down round is still readable
        (, ans, st,,) = feed.getRoundData(R1 + 1);
        assertEq(ans, 1);
        assertEq(st, 1_000_400);
    }

    function test_sameStatusOnlyRefreshesUpdatedAt() public {
        vm.warp(1_002_000);
        vm.expectEmit(false, false, false, true);
        emit RoundUpdated(0, 1_002_000);
        feed.updateStatus(false, 1_001_000);
        (uint80 rid,, uint256 st, uint256 up,) = feed.latestRoundData();
        assertEq(rid, R1);
        assertEq(st, 1_000_000); // the last status change is unchanged
        assertEq(up, 1_002_000);
    }

    function test_staleReportIsIgnored() public {
        vm.warp(1_000_500);
        feed.updateStatus(true, 1_000_400);
        vm.expectEmit(false, false, false, true);
        emit UpdateIgnored(true, 1_000_400, false, 1_000_300);
        feed.updateStatus(false, 1_000_300);
        (uint80 rid, int256 ans,,,) = feed.latestRoundData();
        assertEq(rid, R1 + 1);
        assertEq(ans, 1);
    }

    function test_unknownRoundReverts() public {
        vm.expectRevert(ChainlinkRounds.NoDataPresent.selector);
        feed.getRoundData(R1 + 1);
    }

    function test_onlyFeeder() public {
        vm.prank(makeAddr("x"));
        vm.expectRevert();
        feed.updateStatus(true, 1_000_000);
    }
}
