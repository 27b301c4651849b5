// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {AggregatorV3Interface} from "../interfaces/AggregatorV3Interface.sol";
import {IVolFeed, SviSlice} from "../interfaces/IVolFeed.sol";

/// @title PortfolioAccounts
/// @notice Storage and bookkeeping of the PortfolioMargin protocol: subaccount registry, operators, option
///         series, per-account USDC cash and signed positions, oracle reads.
/// @dev Follows Lyra v2's SubAccounts + CashAsset + OptionAsset split, collapsed into one contract.
///      Deviations: subaccounts are a plain id → owner registry (not ERC721); cash is an internal 1e18 USD
///      balance (no interest rate model); series are listed by a LISTER role instead of being implicit ids.
abstract contract PortfolioAccounts is AccessControl {
    /// @notice Role allowed to list new option series.
    bytes32 public constant LISTER_ROLE = keccak256("LISTER_ROLE");
    /// @notice USDC has 6 decimals; internal cash is 1e18 USD: deposit credits amount·1e12 (exact).
    uint256 public constant USDC_TO_WAD = 1e12;
    /// @notice Chainlink answers have 8 decimals; spot is scaled by 1e10 to 1e18 (exact).
    uint256 internal constant FEED_TO_WAD = 1e10;
    /// @notice Bound on distinct series per subaccount (keeps margin evaluation gas bounded).
    uint256 public constant MAX_POSITIONS = 32;
    /// @notice Longest listable term (Black76 accepts tau ≤ 100 years; 10 years is ample).
    uint256 public constant MAX_TERM = 3650 days;

    struct Series {
        address underlying;
        uint64 expiry;
        bool isCall;
        uint256 strike; // 1e18 USD
    }

    struct Underlying {
        AggregatorV3Interface feed; // 8-decimal USD price
        uint64 maxStaleness; // seconds
    }

    IERC20 public immutable usdc;
    IVolFeed public volFeed;

    uint256 public nextAccountId = 1;
    uint256 public nextSeriesId = 1;

    mapping(uint256 accountId => address) public ownerOf;
    mapping(address owner => mapping(address operator => bool)) public isOperator;
    mapping(uint256 accountId => int256) public cashOf; // 1e18 USD, may be negative
    mapping(uint256 accountId => mapping(uint256 seriesId => int256)) public positionOf; // 1e18 contracts
    mapping(uint256 accountId => uint256[]) internal _held;
    mapping(uint256 accountId => mapping(uint256 seriesId => uint256)) internal _heldIndex; // index + 1

    mapping(uint256 seriesId => Series) internal _series;
    mapping(bytes32 key => uint256) public seriesIdOf;
    mapping(address underlying => Underlying) public underlyings;
    /// @notice Settlement price (1e18 USD) fixed at the first settlement of an (underlying, expiry).
    mapping(address underlying => mapping(uint64 expiry => uint256)) public settlementPrice;

    event AccountCreated(uint256 indexed accountId, address indexed owner);
    event OperatorSet(address indexed owner, address indexed operator, bool approved);
    event UnderlyingSet(address indexed underlying, address feed, uint64 maxStaleness);
    event VolFeedSet(address indexed volFeed);
    event SeriesAdded(uint256 indexed seriesId, address indexed underlying, uint64 expiry, uint256 strike, bool isCall);
    event PositionUpdated(uint256 indexed accountId, uint256 indexed seriesId, int256 amount);
    event CashUpdated(uint256 indexed accountId, int256 cash);

    error UnknownAccount(uint256 accountId);
    error NotAuthorized(uint256 accountId, address caller);
    error UnknownSeries(uint256 seriesId);
    error SeriesExists(uint256 seriesId);
    error InvalidSeries(address underlying, uint64 expiry, uint256 strike);
    error UnknownUnderlying(address underlying);
    error InvalidFeed(address underlying, address feed, uint64 maxStaleness);
    error StalePrice(address underlying, int256 answer, uint256 updatedAt);
    error StaleVol(address underlying, uint64 expiry, uint64 updatedAt);
    error TooManyPositions(uint256 accountId);
    error ZeroAddress();

    constructor(IERC20 usdc_, IVolFeed volFeed_, address admin) {
        if (address(usdc_) == address(0) || address(volFeed_) == address(0) || admin == address(0)) {
            revert ZeroAddress();
        }
        usdc = usdc_;
        volFeed = volFeed_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(LISTER_ROLE, admin);
        emit VolFeedSet(address(volFeed_));
    }

    // ------------------------------------------------------------------ admin

    /// @notice Register or update the Chainlink-style spot feed of an underlying (admin).
    function setUnderlying(address underlying, AggregatorV3Interface feed, uint64 maxStaleness)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        if (underlying == address(0) || address(feed) == address(0) || maxStaleness == 0 || feed.decimals() != 8) {
            revert InvalidFeed(underlying, address(feed), maxStaleness);
        }
        underlyings[underlying] = Underlying(feed, maxStaleness);
        emit UnderlyingSet(underlying, address(feed), maxStaleness);
    }

    /// @notice Replace the SVI vol feed (admin).
    function setVolFeed(IVolFeed volFeed_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (address(volFeed_) == address(0)) revert ZeroAddress();
        volFeed = volFeed_;
        emit VolFeedSet(address(volFeed_));
    }

    /// @notice List a European cash-settled series (LISTER_ROLE); returns its id.
    function addSeries(address underlying, uint64 expiry, uint256 strike, bool isCall)
        external
        onlyRole(LISTER_ROLE)
        returns (uint256 seriesId)
    {
        if (address(underlyings[underlying].feed) == address(0)) {
            revert UnknownUnderlying(underlying);
        }
        if (expiry <= block.timestamp || expiry > block.timestamp + MAX_TERM || strike == 0 || strike > 1e36) {
            revert InvalidSeries(underlying, expiry, strike);
        }
        bytes32 key = keccak256(abi.encode(underlying, expiry, strike, isCall));
        if (seriesIdOf[key] != 0) revert SeriesExists(seriesIdOf[key]);
        seriesId = nextSeriesId++;
        seriesIdOf[key] = seriesId;
        _series[seriesId] = Series(underlying, expiry, isCall, strike);
        emit SeriesAdded(seriesId, underlying, expiry, strike, isCall);
    }

    // ------------------------------------------------------------------ accounts

    /// @notice Create a subaccount owned by the caller.
    function createAccount() external returns (uint256 accountId) {
        accountId = nextAccountId++;
        ownerOf[accountId] = msg.sender;
        emit AccountCreated(accountId, msg.sender);
    }

    /// @notice Approve or revoke `operator` to trade, withdraw and bid for all of the caller's subaccounts.
    function setOperator(address operator, bool approved) external {
        isOperator[msg.sender][operator] = approved;
        emit OperatorSet(msg.sender, operator, approved);
    }

    /// @notice Series parameters.
    function getSeries(uint256 seriesId) public view returns (Series memory s) {
        s = _series[seriesId];
        if (s.underlying == address(0)) revert UnknownSeries(seriesId);
    }

    /// @notice Series ids with a non-zero position in `accountId`.
    function heldSeries(uint256 accountId) external view returns (uint256[] memory) {
        return _held[accountId];
    }

    // ------------------------------------------------------------------ internal bookkeeping

    function _requireAuthorized(uint256 accountId) internal view {
        address owner = ownerOf[accountId];
        if (owner == address(0)) revert UnknownAccount(accountId);
        if (msg.sender != owner && !isOperator[owner][msg.sender]) revert NotAuthorized(accountId, msg.sender);
    }

    function _requireAccount(uint256 accountId) internal view {
        if (ownerOf[accountId] == address(0)) revert UnknownAccount(accountId);
    }

    function _addCash(uint256 accountId, int256 delta) internal {
        if (delta == 0) return;
        int256 c = cashOf[accountId] + delta;
        cashOf[accountId] = c;
        emit CashUpdated(accountId, c);
    }

    function _setPosition(uint256 accountId, uint256 seriesId, int256 amount) internal {
        uint256 idx = _heldIndex[accountId][seriesId];
        if (amount != 0 && idx == 0) {
            uint256[] storage held = _held[accountId];
            if (held.length >= MAX_POSITIONS) revert TooManyPositions(accountId);
            held.push(seriesId);
            _heldIndex[accountId][seriesId] = held.length;
        } else if (amount == 0 && idx != 0) {
            uint256[] storage held = _held[accountId];
            uint256 last = held[held.length - 1];
            held[idx - 1] = last;
            _heldIndex[accountId][last] = idx;
            held.pop();
            delete _heldIndex[accountId][seriesId];
        }
        positionOf[accountId][seriesId] = amount;
        emit PositionUpdated(accountId, seriesId, amount);
    }

    // ------------------------------------------------------------------ oracles

    /// @notice Spot price (1e18 USD) and round id; reverts if the answer is ≤ 0 or older than maxStaleness.
    function _spot(address underlying) internal view returns (uint256 spot, uint80 roundId) {
        Underlying memory u = underlyings[underlying];
        if (address(u.feed) == address(0)) revert UnknownUnderlying(underlying);
        (uint80 rid, int256 answer,, uint256 updatedAt,) = u.feed.latestRoundData();
        if (answer <= 0 || updatedAt > block.timestamp || block.timestamp - updatedAt > u.maxStaleness) {
            revert StalePrice(underlying, answer, updatedAt);
        }
        return (uint256(answer) * FEED_TO_WAD, rid);
    }

    /// @notice Forward (1e18 USD) of the SVI slice; reverts if the slice is older than the feed heartbeat.
    function _forward(address underlying, uint64 expiry) internal view returns (uint256) {
        SviSlice memory s = volFeed.getSlice(underlying, expiry);
        if (s.forward == 0 || s.updatedAt > block.timestamp || block.timestamp - s.updatedAt > volFeed.heartbeat()) {
            revert StaleVol(underlying, expiry, s.updatedAt);
        }
        return s.forward;
    }
}
