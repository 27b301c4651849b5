// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IVolFeed, SviSlice} from "../interfaces/IVolFeed.sol";
import {SviMath} from "../lib/SviMath.sol";

/// @title VolFeed
/// @notice Per (underlying token, expiry) raw-SVI total-variance slice plus forward, pushed by a feeder.
/// @dev Production design: Lyra v2's SVI vol feed (signed SVI parameters + forward per expiry, with a heartbeat).
///      Deviations: a FEEDER_ROLE account writes slices directly (no signed-data submission, no confidence
///      field); the forward lives on the slice instead of a separate forward feed; the update time is the block
///      time of the write. Slices violating raw-SVI validity revert with an error naming the condition
///      (SviBNegative, SviRhoOutOfRange, SviSigmaNotPositive, SviMinVarianceNegative from SviMath.sol).
contract VolFeed is IVolFeed, AccessControl {
    /// @notice Role allowed to write slices.
    bytes32 public constant FEEDER_ROLE = keccak256("FEEDER_ROLE");

    mapping(address => mapping(uint64 => SviSlice)) private _slices;
    mapping(address => uint64[]) private _expiries;
    address[] private _underlyings;
    uint256 private _heartbeat;

    /// @notice A slice was written; carries every field so an indexer needs no extra read.
    event SliceUpdated(
        address indexed underlying,
        uint64 indexed expiry,
        int256 a,
        int256 b,
        int256 rho,
        int256 m,
        int256 sigma,
        uint256 forward,
        uint64 updatedAt
    );
    /// @notice The heartbeat (seconds) readers use for staleness changed.
    event HeartbeatSet(uint256 heartbeat);

    /// @notice No slice was ever written for (underlying, expiry).
    error UnknownSlice(address underlying, uint64 expiry);
    /// @notice The slice's expiry is not after the current block time.
    error ExpiryNotInFuture(uint64 expiry, uint256 blockTimestamp);
    /// @notice Forward must be positive.
    error ZeroForward();
    /// @notice Underlying must be a non-zero address.
    error ZeroUnderlying();
    /// @notice Heartbeat must be positive.
    error ZeroHeartbeat();

    /// @param admin receives DEFAULT_ADMIN_ROLE and FEEDER_ROLE
    /// @param heartbeat_ seconds after which readers treat a slice as stale
    constructor(address admin, uint256 heartbeat_) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(FEEDER_ROLE, admin);
        _setHeartbeat(heartbeat_);
    }

    /// @notice Write the slice for (underlying, expiry); parameters in 1e18, forward in 1e18 USD.
    /// @dev Reverts on a past expiry, a zero forward or an invalid raw-SVI slice (error names the condition).
    function setSlice(
        address underlying,
        uint64 expiry,
        int256 a,
        int256 b,
        int256 rho,
        int256 m,
        int256 sigma,
        uint256 forward
    ) external onlyRole(FEEDER_ROLE) {
        if (underlying == address(0)) revert ZeroUnderlying();
        if (expiry <= block.timestamp) revert ExpiryNotInFuture(expiry, block.timestamp);
        if (forward == 0) revert ZeroForward();
        SviMath.validate(a, b, rho, sigma);
        SviSlice storage s = _slices[underlying][expiry];
        if (s.updatedAt == 0) {
            if (_expiries[underlying].length == 0) _underlyings.push(underlying);
            _expiries[underlying].push(expiry);
        }
        uint64 nowTs = uint64(block.timestamp);
        _slices[underlying][expiry] =
            SviSlice({a: a, b: b, rho: rho, m: m, sigma: sigma, forward: forward, updatedAt: nowTs});
        emit SliceUpdated(underlying, expiry, a, b, rho, m, sigma, forward, nowTs);
    }

    /// @notice Set the heartbeat (admin).
    function setHeartbeat(uint256 heartbeat_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setHeartbeat(heartbeat_);
    }

    /// @inheritdoc IVolFeed
    function getSlice(address underlying, uint64 expiry) public view override returns (SviSlice memory s) {
        s = _slices[underlying][expiry];
        if (s.updatedAt == 0) revert UnknownSlice(underlying, expiry);
    }

    /// @inheritdoc IVolFeed
    /// @dev Reverts UnknownSlice, or SviZeroTau at/after expiry.
    function impliedVol(address underlying, uint64 expiry, uint256 strike) external view override returns (uint256) {
        SviSlice memory s = getSlice(underlying, expiry);
        uint256 tau = expiry > block.timestamp ? expiry - block.timestamp : 0;
        return SviMath.impliedVol(s.a, s.b, s.rho, s.m, s.sigma, s.forward, strike, tau);
    }

    /// @notice Total variance w(k) (1e18) of the slice at `strike` (1e18 USD); independent of time.
    function totalVariance(address underlying, uint64 expiry, uint256 strike) external view returns (uint256) {
        SviSlice memory s = getSlice(underlying, expiry);
        return SviMath.totalVariance(s.a, s.b, s.rho, s.m, s.sigma, SviMath.logMoneyness(strike, s.forward));
    }

    /// @inheritdoc IVolFeed
    function heartbeat() external view override returns (uint256) {
        return _heartbeat;
    }

    /// @notice Every expiry ever written for `underlying`, in first-write order (expired ones included).
    function expiries(address underlying) external view returns (uint64[] memory) {
        return _expiries[underlying];
    }

    /// @notice Every underlying that has at least one slice, in first-write order.
    function underlyings() external view returns (address[] memory) {
        return _underlyings;
    }

    function _setHeartbeat(uint256 heartbeat_) private {
        if (heartbeat_ == 0) revert ZeroHeartbeat();
        _heartbeat = heartbeat_;
        emit HeartbeatSet(heartbeat_);
    }
}
