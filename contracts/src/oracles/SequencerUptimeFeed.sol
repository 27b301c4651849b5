// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ChainlinkRounds} from "./ChainlinkRounds.sol";

/// @title SequencerUptimeFeed
/// @notice Devnet L2 sequencer-uptime feed (arbitrum, base) with Chainlink's semantics: answer 0 = sequencer up,
///         1 = down; startedAt = time of the last status change; updatedAt = time the status was last reported.
/// @dev Production design: Chainlink's BaseSequencerUptimeFeed (Arbitrum/Optimism variants) behind a proxy.
///      `updateStatus(status, timestamp)` behaves like the production `updateStatus`: a changed status opens a new
///      round with startedAt = `timestamp` (the L1 time of the change) and updatedAt = block.timestamp; a repeated
///      status only refreshes updatedAt of the latest round (`RoundUpdated`); a report older than the latest
///      status change is ignored (`UpdateIgnored`). The constructor records round 1 like production.
///      Deviations: written by a FEEDER_ROLE account instead of the L1→L2 cross-domain messenger; round ids are
///      phased (1 << 64 | n) like a proxied feed; AnswerUpdated/NewRound carry the phased id.
contract SequencerUptimeFeed is ChainlinkRounds, AccessControl {
    /// @notice Role allowed to report the sequencer status.
    bytes32 public constant FEEDER_ROLE = keccak256("FEEDER_ROLE");

    /// @notice Chainlink: a repeated status refreshed the latest round's updatedAt.
    event RoundUpdated(int256 status, uint64 updatedAt);
    /// @notice Chainlink: a report older than the latest status change was dropped.
    event UpdateIgnored(bool latestStatus, uint64 latestTimestamp, bool incomingStatus, uint64 incomingTimestamp);

    /// @param initialStatusDown true if the sequencer starts as down (answer 1)
    /// @param admin receives DEFAULT_ADMIN_ROLE and FEEDER_ROLE
    constructor(bool initialStatusDown, address admin) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(FEEDER_ROLE, admin);
        uint64 nowTs = uint64(block.timestamp);
        _appendRound(_answerOf(initialStatusDown), nowTs, nowTs);
    }

    /// @notice 0 decimals: the answer is a status code.
    function decimals() external pure override returns (uint8) {
        return 0;
    }

    /// @notice Same description as Chainlink's feeds.
    function description() external pure override returns (string memory) {
        return "L2 Sequencer Uptime Status Feed";
    }

    /// @notice Version 1, as Chainlink's uptime feeds.
    function version() external pure override returns (uint256) {
        return 1;
    }

    /// @notice Report the sequencer status.
    /// @param status true = sequencer down (answer 1), false = up (answer 0)
    /// @param timestamp time the status changed (becomes startedAt of a new round)
    function updateStatus(bool status, uint64 timestamp) external onlyRole(FEEDER_ROLE) {
        uint64 aggRound = _latestAggregatorRound;
        Round storage latest = _rounds[aggRound];
        bool latestStatus = latest.answer == 1;
        if (timestamp < latest.startedAt) {
            emit UpdateIgnored(latestStatus, latest.startedAt, status, timestamp);
            return;
        }
        if (latestStatus == status) {
            latest.updatedAt = uint64(block.timestamp);
            emit RoundUpdated(_answerOf(status), uint64(block.timestamp));
        } else {
            _appendRound(_answerOf(status), timestamp, uint64(block.timestamp));
        }
    }

    function _answerOf(bool down) private pure returns (int256) {
        return down ? int256(1) : int256(0);
    }
}
