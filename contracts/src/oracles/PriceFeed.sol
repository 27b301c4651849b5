// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ChainlinkRounds} from "./ChainlinkRounds.sol";

/// @title PriceFeed
/// @notice Devnet price feed with Chainlink AggregatorV3Interface semantics (ETH/USD, BTC/USD, USDC/USD, …).
/// @dev Production design: a Chainlink EACAggregatorProxy in front of an OCR aggregator. Reads behave like the
///      proxy (phased round ids, phase 1; history through getRoundData; unknown rounds revert).
///      Deviations: one contract is proxy and aggregator at once; a FEEDER_ROLE account writes answers directly
///      instead of an OCR committee; answers are not range-checked (min/max answer) so tests and the devnet can
///      push zero or negative answers to exercise consumers' checks; `AnswerUpdated`/`NewRound` carry the full
///      phased round id (Chainlink's aggregator emits its own 32-bit round id) so an indexer can pass the id from
///      the event straight to getRoundData; startedAt == updatedAt for every round.
contract PriceFeed is ChainlinkRounds, AccessControl {
    /// @notice Role allowed to push answers.
    bytes32 public constant FEEDER_ROLE = keccak256("FEEDER_ROLE");

    uint8 private immutable _decimals;
    string private _description;

    /// @notice Backfill timestamp is older than the newest round (rounds must stay in time order).
    error TimestampBeforeLatestRound(uint256 timestamp, uint256 latestUpdatedAt);
    /// @notice Backfill timestamp lies after the current block time.
    error TimestampInFuture(uint256 timestamp, uint256 blockTimestamp);

    /// @param description_ e.g. "ETH / USD"
    /// @param decimals_ answer decimals (8 for every Chainlink USD feed)
    /// @param admin receives DEFAULT_ADMIN_ROLE and FEEDER_ROLE
    constructor(string memory description_, uint8 decimals_, address admin) {
        _description = description_;
        _decimals = decimals_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(FEEDER_ROLE, admin);
    }

    /// @notice Number of decimals of `answer`.
    function decimals() external view override returns (uint8) {
        return _decimals;
    }

    /// @notice Human-readable pair, e.g. "ETH / USD".
    function description() external view override returns (string memory) {
        return _description;
    }

    /// @notice Aggregator version (4, as Chainlink's OCR aggregators report).
    function version() external pure override returns (uint256) {
        return 4;
    }

    /// @notice Chainlink AggregatorInterface: answer of the newest round (0 before the first round).
    function latestAnswer() external view returns (int256) {
        return _rounds[_latestAggregatorRound].answer;
    }

    /// @notice Chainlink AggregatorInterface: updatedAt of the newest round (0 before the first round).
    function latestTimestamp() external view returns (uint256) {
        return _rounds[_latestAggregatorRound].updatedAt;
    }

    /// @notice Push a new answer stamped with the current block time; opens a new round.
    /// @return roundId the new phased round id
    function updateAnswer(int256 answer) external onlyRole(FEEDER_ROLE) returns (uint80 roundId) {
        uint64 nowTs = uint64(block.timestamp);
        return _appendRound(answer, nowTs, nowTs);
    }

    /// @notice Devnet backfill: push a new round stamped `timestamp` (startedAt = updatedAt = timestamp).
    /// @dev Used to replay historical prices onto a fresh devnet. Rounds stay time-ordered so consumers that
    ///      locate "the first round after T" (settlement, liquidation auctions) stay correct: `timestamp` must be
    ///      >= the newest round's updatedAt and <= block.timestamp.
    /// @return roundId the new phased round id
    function updateAnswerAt(int256 answer, uint256 timestamp) external onlyRole(FEEDER_ROLE) returns (uint80 roundId) {
        uint256 latestUpdatedAt = _rounds[_latestAggregatorRound].updatedAt;
        if (timestamp < latestUpdatedAt) revert TimestampBeforeLatestRound(timestamp, latestUpdatedAt);
        if (timestamp > block.timestamp) revert TimestampInFuture(timestamp, block.timestamp);
        return _appendRound(answer, uint64(timestamp), uint64(timestamp));
    }
}
