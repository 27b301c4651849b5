// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AggregatorV3Interface} from "../interfaces/AggregatorV3Interface.sol";

/// @title ChainlinkRounds
/// @notice Round storage and the AggregatorV3Interface read side shared by PriceFeed and SequencerUptimeFeed.
/// @dev Follows Chainlink's proxy view of an aggregator: round ids are (phaseId << 64) | aggregatorRoundId with
///      phaseId fixed at 1 (one aggregator per feed, never re-phased); aggregator round ids start at 1 and grow by
///      one per round; answeredInRound == roundId (every round is answered in the round that opened it).
///      Unknown rounds (phase other than 1, aggregator round 0 or beyond the latest) revert with
///      `NoDataPresent()` — the custom error Chainlink's L2 sequencer feed uses (older aggregators revert with the
///      string "No data present"); `latestRoundData` on a feed with no round reverts the same way.
abstract contract ChainlinkRounds is AggregatorV3Interface {
    /// @notice The phase every round of this feed belongs to.
    uint16 public constant PHASE_ID = 1;
    uint256 internal constant PHASE_OFFSET = 64;

    struct Round {
        int256 answer;
        uint64 startedAt;
        uint64 updatedAt;
    }

    /// @dev aggregator round id => round; index 0 unused.
    mapping(uint64 => Round) internal _rounds;
    /// @dev latest aggregator round id (0 = no round yet).
    uint64 internal _latestAggregatorRound;

    /// @notice Chainlink's AggregatorInterface event: a new answer for `roundId` (the full phased id here).
    event AnswerUpdated(int256 indexed current, uint256 indexed roundId, uint256 updatedAt);
    /// @notice Chainlink's AggregatorInterface event: round `roundId` (the full phased id here) was opened.
    event NewRound(uint256 indexed roundId, address indexed startedBy, uint256 startedAt);

    /// @notice The round id does not exist on this feed (Chainlink semantics: reads of unknown rounds revert).
    error NoDataPresent();

    /// @notice Full phased round id of the aggregator round `aggregatorRoundId`.
    function _phasedId(uint64 aggregatorRoundId) internal pure returns (uint80) {
        return uint80((uint256(PHASE_ID) << PHASE_OFFSET) | aggregatorRoundId);
    }

    /// @dev Appends a round and returns its phased id; emits NewRound and AnswerUpdated like Chainlink.
    function _appendRound(int256 answer, uint64 startedAt, uint64 updatedAt) internal returns (uint80 roundId) {
        uint64 aggRound = _latestAggregatorRound + 1;
        _latestAggregatorRound = aggRound;
        _rounds[aggRound] = Round({answer: answer, startedAt: startedAt, updatedAt: updatedAt});
        roundId = _phasedId(aggRound);
        emit NewRound(roundId, msg.sender, startedAt);
        emit AnswerUpdated(answer, roundId, updatedAt);
    }

    /// @dev Round data for a phased id, reverting with NoDataPresent for unknown ids.
    function _roundData(uint80 roundId) internal view returns (uint80, int256, uint256, uint256, uint80) {
        uint256 phase = uint256(roundId) >> PHASE_OFFSET;
        uint64 aggRound = uint64(roundId);
        if (phase != PHASE_ID || aggRound == 0 || aggRound > _latestAggregatorRound) revert NoDataPresent();
        Round storage r = _rounds[aggRound];
        return (roundId, r.answer, r.startedAt, r.updatedAt, roundId);
    }

    /// @notice Chainlink getRoundData: the stored round `_roundId`; reverts NoDataPresent() for unknown rounds.
    function getRoundData(uint80 _roundId)
        external
        view
        override
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        return _roundData(_roundId);
    }

    /// @notice Chainlink latestRoundData: the newest round; reverts NoDataPresent() before the first round.
    function latestRoundData()
        external
        view
        override
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        return _roundData(_phasedId(_latestAggregatorRound));
    }

    /// @notice Phased id of the newest round (0 before the first round), as Chainlink's proxy `latestRound()`.
    function latestRound() external view returns (uint256) {
        uint64 aggRound = _latestAggregatorRound;
        return aggRound == 0 ? 0 : _phasedId(aggRound);
    }
}
