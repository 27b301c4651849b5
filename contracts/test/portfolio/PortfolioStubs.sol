// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AggregatorV3Interface} from "../../src/interfaces/AggregatorV3Interface.sol";
import {IVolFeed, SviSlice} from "../../src/interfaces/IVolFeed.sol";

/// @dev Minimal Chainlink-style feed double (8 decimals) whose answer and timestamp tests set directly.
contract StubAggregator is AggregatorV3Interface {
    int256 public answer;
    uint256 public updatedAt;
    uint80 public roundId;

    function set(int256 answer_, uint256 updatedAt_) external {
        answer = answer_;
        updatedAt = updatedAt_;
        roundId += 1;
    }

    function decimals() external pure returns (uint8) {
        return 8;
    }

    function description() external pure returns (string memory) {
        return "stub / USD";
    }

    function version() external pure returns (uint256) {
        return 1;
    }

    function getRoundData(uint80 r) external view returns (uint80, int256, uint256, uint256, uint80) {
        return (r, answer, updatedAt, updatedAt, r);
    }

    function latestRoundData() external view returns (uint80, int256, uint256, uint256, uint80) {
        return (roundId, answer, updatedAt, updatedAt, roundId);
    }
}

/// @dev Vol feed double: a flat vol and a forward per (underlying, expiry); the SVI parameters are not used.
contract StubVolFeed is IVolFeed {
    struct Entry {
        uint256 forward;
        uint256 vol;
        uint64 updatedAt;
    }

    mapping(address => mapping(uint64 => Entry)) public entries;

    function set(address underlying, uint64 expiry, uint256 forward, uint256 vol) external {
        entries[underlying][expiry] = Entry(forward, vol, uint64(block.timestamp));
    }

    function getSlice(address underlying, uint64 expiry) external view returns (SviSlice memory s) {
        Entry memory e = entries[underlying][expiry];
        require(e.forward != 0, "no slice");
        s.forward = e.forward;
        s.updatedAt = e.updatedAt;
        s.b = 0;
        s.sigma = 1;
    }

    function impliedVol(address underlying, uint64 expiry, uint256) external view returns (uint256) {
        require(block.timestamp < expiry, "expired");
        return entries[underlying][expiry].vol;
    }

    function heartbeat() external pure returns (uint256) {
        return 1 days;
    }
}
