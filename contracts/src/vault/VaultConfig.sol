// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {AggregatorV3Interface} from "../interfaces/AggregatorV3Interface.sol";

/// @title VaultConfig
/// @notice Governance state of VaultOptions: Chainlink feed per underlying, max oracle age, the upper-bound table
///         UB(τ), and oracle reads with their health checks. Split from VaultOptions to keep each file readable.
/// @dev Production design: Opyn Gamma's Oracle + MarginCalculator configuration (`setUpperBoundValues`,
///      `setSpotShock`, pricer per asset). Deviations: one UB table for every product (Opyn keys it by
///      underlying/strike/collateral/isPut); the spot shock is a constant 0.75; no oracle dispute period.
abstract contract VaultConfig is Ownable {
    struct OracleConfig {
        AggregatorV3Interface feed;
        uint256 scale; // 10**(18 − feed decimals): answer · scale = 1e18 price
    }

    mapping(address => OracleConfig) internal _oracles;
    uint256[] internal _ubTaus; // seconds to expiry, strictly increasing
    uint256[] internal _ubValues; // UB, 1e18
    /// @notice Oldest accepted age (seconds) of the latest feed answer for spot reads.
    uint256 public maxOracleAge;

    /// @notice The feed for `underlying` changed.
    event OracleSet(address indexed underlying, address indexed feed, uint8 decimals);
    /// @notice The max oracle age changed.
    event MaxOracleAgeSet(uint256 maxOracleAge);
    /// @notice The whole upper-bound table was replaced (τ in seconds, values 1e18).
    event UpperBoundSet(uint256[] taus, uint256[] values);

    /// @notice No feed configured for `underlying`.
    error OracleNotSet(address underlying);
    /// @notice The feed answer is zero or negative.
    error InvalidOraclePrice(address feed, uint80 roundId, int256 answer);
    /// @notice The latest feed answer is older than maxOracleAge.
    error StaleOraclePrice(address feed, uint80 roundId, uint256 updatedAt, uint256 maxOracleAge);
    /// @notice Time to expiry is longer than the largest τ of the upper-bound table.
    error TimeToExpiryBeyondTable(uint256 tau, uint256 maxTau);
    /// @notice Upper-bound table input is malformed (what is wrong is in `reason`).
    error BadUpperBoundTable(string reason);
    /// @notice Feed decimals above 18 are not supported.
    error BadFeedDecimals(uint8 decimals);
    /// @notice A zero value where a positive one is required.
    error ZeroValue(string what);

    /// @param governance owner allowed to change the configuration
    /// @param maxOracleAge_ seconds; spot reads older than this revert
    constructor(address governance, uint256 maxOracleAge_) Ownable(governance) {
        _setMaxOracleAge(maxOracleAge_);
        uint256[] memory taus = new uint256[](5);
        uint256[] memory values = new uint256[](5);
        (taus[0], taus[1], taus[2], taus[3], taus[4]) = (7 days, 14 days, 28 days, 42 days, 56 days);
        (values[0], values[1], values[2], values[3], values[4]) = (0.1678e18, 0.237e18, 0.3326e18, 0.4032e18, 0.4603e18);
        _setUpperBoundTable(taus, values);
    }

    // ------------------------------------------------------------------ governance

    /// @notice Set the Chainlink-compatible USD feed for `underlying` (governance).
    function setOracle(address underlying, AggregatorV3Interface feed) external onlyOwner {
        if (underlying == address(0)) revert ZeroValue("underlying");
        if (address(feed) == address(0)) revert ZeroValue("feed");
        uint8 dec = feed.decimals();
        if (dec > 18) revert BadFeedDecimals(dec);
        _oracles[underlying] = OracleConfig({feed: feed, scale: 10 ** (18 - dec)});
        emit OracleSet(underlying, address(feed), dec);
    }

    /// @notice Set the maximum age (seconds) of the latest feed answer accepted for spot reads (governance).
    function setMaxOracleAge(uint256 maxOracleAge_) external onlyOwner {
        _setMaxOracleAge(maxOracleAge_);
    }

    /// @notice Replace the upper-bound table UB(τ) (governance). `taus` strictly increasing seconds > 0, values > 0.
    function setUpperBoundTable(uint256[] calldata taus, uint256[] calldata values) external onlyOwner {
        _setUpperBoundTable(taus, values);
    }

    // ------------------------------------------------------------------ views

    /// @notice The upper-bound table (τ seconds, UB 1e18).
    function upperBoundTable() external view returns (uint256[] memory taus, uint256[] memory values) {
        return (_ubTaus, _ubValues);
    }

    /// @notice UB(τ): the value of the smallest stored τ' >= τ; reverts beyond the last τ.
    function upperBound(uint256 tau) public view returns (uint256) {
        uint256 n = _ubTaus.length;
        for (uint256 i; i < n; ++i) {
            if (_ubTaus[i] >= tau) return _ubValues[i];
        }
        revert TimeToExpiryBeyondTable(tau, _ubTaus[n - 1]);
    }

    /// @notice Feed configured for `underlying` (zero address if none) and its answer→1e18 scale.
    function oracleOf(address underlying) external view returns (address feed, uint256 scale) {
        OracleConfig storage c = _oracles[underlying];
        return (address(c.feed), c.scale);
    }

    /// @notice Latest spot of `underlying` in 1e18 USD; reverts on a missing feed, answer <= 0 or a stale answer.
    function spotPrice(address underlying) public view returns (uint256 price) {
        (price,) = _spot(underlying);
    }

    // ------------------------------------------------------------------ internals

    function _feed(address underlying) internal view returns (OracleConfig storage c) {
        c = _oracles[underlying];
        if (address(c.feed) == address(0)) revert OracleNotSet(underlying);
    }

    /// @dev Latest answer scaled to 1e18 plus its round id, with the health checks.
    function _spot(address underlying) internal view returns (uint256 price, uint80 roundId) {
        OracleConfig storage c = _feed(underlying);
        (uint80 rid, int256 answer,, uint256 updatedAt,) = c.feed.latestRoundData();
        if (answer <= 0) revert InvalidOraclePrice(address(c.feed), rid, answer);
        if (block.timestamp > updatedAt + maxOracleAge) {
            revert StaleOraclePrice(address(c.feed), rid, updatedAt, maxOracleAge);
        }
        return (uint256(answer) * c.scale, rid);
    }

    /// @dev A historical round's price (1e18) and timestamp; reverts on answer <= 0 (no age check).
    function _roundPrice(address underlying, uint80 roundId) internal view returns (uint256 price, uint256 updatedAt) {
        OracleConfig storage c = _feed(underlying);
        int256 answer;
        (, answer,, updatedAt,) = c.feed.getRoundData(roundId);
        if (answer <= 0) revert InvalidOraclePrice(address(c.feed), roundId, answer);
        price = uint256(answer) * c.scale;
    }

    /// @dev Like _roundPrice but never reverts: exists = false for an unknown round (the feed reverted);
    ///      price = 0 for an answer <= 0.
    function _tryRoundPrice(address underlying, uint80 roundId)
        internal
        view
        returns (bool exists, uint256 price, uint256 updatedAt)
    {
        OracleConfig storage c = _feed(underlying);
        try c.feed.getRoundData(roundId) returns (uint80, int256 answer, uint256, uint256 upd, uint80) {
            return (true, answer > 0 ? uint256(answer) * c.scale : 0, upd);
        } catch {
            return (false, 0, 0);
        }
    }

    function _setMaxOracleAge(uint256 maxOracleAge_) private {
        if (maxOracleAge_ == 0) revert ZeroValue("maxOracleAge");
        maxOracleAge = maxOracleAge_;
        emit MaxOracleAgeSet(maxOracleAge_);
    }

    function _setUpperBoundTable(uint256[] memory taus, uint256[] memory values) private {
        uint256 n = taus.length;
        if (n == 0) revert BadUpperBoundTable("empty");
        if (values.length != n) revert BadUpperBoundTable("length mismatch");
        for (uint256 i; i < n; ++i) {
            if (values[i] == 0) revert BadUpperBoundTable("zero value");
            if (taus[i] == 0 || (i > 0 && taus[i] <= taus[i - 1])) {
                revert BadUpperBoundTable("taus not strictly increasing from > 0");
            }
        }
        _ubTaus = taus;
        _ubValues = values;
        emit UpperBoundSet(taus, values);
    }
}
