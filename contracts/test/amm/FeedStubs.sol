// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AggregatorV3Interface} from "../../src/interfaces/AggregatorV3Interface.sol";
import {IVolFeed, SviSlice} from "../../src/interfaces/IVolFeed.sol";

/// @notice Test-only Chainlink-style feed (8 decimals) whose answer and timestamp the test sets.
contract StubPriceFeed is AggregatorV3Interface {
    int256 public answer;
    uint256 public updatedAt;
    uint80 public roundId = uint80(1 << 64);

    constructor(int256 answer_) {
        set(answer_);
    }

    function set(int256 answer_) public {
        answer = answer_;
        updatedAt = block.timestamp;
        roundId += 1;
    }

    function setAt(int256 answer_, uint256 at) external {
        answer = answer_;
        updatedAt = at;
        roundId += 1;
    }

    function decimals() external pure returns (uint8) {
        return 8;
    }

    function description() external pure returns (string memory) {
        return "ETH / USD (stub)";
    }

    function version() external pure returns (uint256) {
        return 4;
    }

    function getRoundData(uint80 id) external view returns (uint80, int256, uint256, uint256, uint80) {
        return (id, answer, updatedAt, updatedAt, id);
    }

    function latestRoundData() external view returns (uint80, int256, uint256, uint256, uint80) {
        return (roundId, answer, updatedAt, updatedAt, roundId);
    }
}

/// @notice Test-only vol feed: a flat vol per (underlying, expiry) exposed as an SVI slice with b = 0
///         (w = a = vol^2 * tau at the time it was set), so impliedVol returns the flat vol exactly.
contract StubVolFeed is IVolFeed {
    mapping(address => mapping(uint64 => uint256)) public flatVol;
    mapping(address => mapping(uint64 => uint64)) public setAt;
    mapping(address => mapping(uint64 => uint256)) public fwd;
    uint256 public heartbeat = 3600;

    error NoSlice(address underlying, uint64 expiry);
    error Expired(uint64 expiry);

    function setVol(address underlying, uint64 expiry, uint256 vol, uint256 forward) external {
        flatVol[underlying][expiry] = vol;
        fwd[underlying][expiry] = forward;
        setAt[underlying][expiry] = uint64(block.timestamp);
    }

    function setUpdatedAt(address underlying, uint64 expiry, uint64 at) external {
        setAt[underlying][expiry] = at;
    }

    function getSlice(address underlying, uint64 expiry) external view returns (SviSlice memory s) {
        if (setAt[underlying][expiry] == 0) revert NoSlice(underlying, expiry);
        uint256 v = flatVol[underlying][expiry];
        uint256 tau = expiry > block.timestamp ? (uint256(expiry) - block.timestamp) * 1e18 / 365 days : 0;
        s.a = int256(v * v / 1e18 * tau / 1e18);
        s.sigma = 1e17;
        s.forward = fwd[underlying][expiry];
        s.updatedAt = setAt[underlying][expiry];
    }

    function impliedVol(address underlying, uint64 expiry, uint256) external view returns (uint256) {
        if (setAt[underlying][expiry] == 0) revert NoSlice(underlying, expiry);
        if (block.timestamp >= expiry) revert Expired(expiry);
        return flatVol[underlying][expiry];
    }
}
