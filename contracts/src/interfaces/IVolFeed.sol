// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice One raw-SVI slice for (underlying, expiry), all 1e18 fixed point.
/// @dev Convention (shared by VolFeed, PortfolioMargin, OptionAMM and the Python risk core):
///      the slice gives TOTAL implied variance w(k) = a + b·(rho·(k − m) + sqrt((k − m)² + sigma²)) with
///      k = ln(strike / forward); implied vol at time t is sqrt(w(k) / tau), tau = (expiry − t) / 365 days.
///      Validity (else revert): b >= 0, |rho| < 1, sigma > 0, a + b·sigma·sqrt(1 − rho²) >= 0.
struct SviSlice {
    int256 a;
    int256 b;
    int256 rho;
    int256 m;
    int256 sigma;
    uint256 forward; // forward price of the underlying for this expiry, 1e18 USD
    uint64 updatedAt; // block timestamp of the last update
}

/// @title IVolFeed
/// @notice Read side of the Lyra-style SVI vol feed.
interface IVolFeed {
    /// @notice The stored slice; reverts if none was ever set for (underlying, expiry).
    function getSlice(address underlying, uint64 expiry) external view returns (SviSlice memory);
    /// @notice Implied vol (1e18 = 100 %) at `strike` (1e18 USD) evaluated at block.timestamp; reverts at/after expiry.
    function impliedVol(address underlying, uint64 expiry, uint256 strike) external view returns (uint256);
    /// @notice Heartbeat in seconds after which a slice is considered stale by readers.
    function heartbeat() external view returns (uint256);
}
