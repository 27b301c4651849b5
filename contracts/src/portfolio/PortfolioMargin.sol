// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {IVolFeed} from "../interfaces/IVolFeed.sol";
import {PortfolioAccounts} from "./PortfolioAccounts.sol";
import {DutchAuction} from "./DutchAuction.sol";
import {MarginMath} from "./MarginMath.sol";

/// @title PortfolioMargin
/// @notice Subaccounts holding USDC cash and European cash-settled ETH/BTC options, margined with the Lyra v2
///         StandardManager rules and liquidated with the Lyra v2 DutchAuction (see README.md in this folder).
/// @dev Production design: Lyra v2 / Derive (SubAccounts, CashAsset, OptionAsset, StandardManager, DutchAuction,
///      SecurityModule). Deviations: one contract instead of modules; matched trades are authorised by both
///      owners pre-approving the caller as operator (Lyra: signed orders through a trusted matching module);
///      no interest on cash; settlement price = the first fresh feed price read at/after expiry (Lyra: the
///      oracle's price at expiry); the security module is an internal pool without share tokens.
contract PortfolioMargin is DutchAuction, ReentrancyGuard {
    using SafeERC20 for IERC20;

    event Deposited(uint256 indexed accountId, address indexed from, uint256 amountUsdc);
    event Withdrawn(uint256 indexed accountId, address indexed to, uint256 amountUsdc);
    event Traded(
        uint256 indexed seriesId,
        uint256 indexed buyerAccountId,
        uint256 indexed sellerAccountId,
        uint256 amount,
        uint256 price,
        uint256 cash
    );
    event SettlementPriceSet(address indexed underlying, uint64 indexed expiry, uint256 price, uint80 roundId);
    event Settled(uint256 indexed accountId, uint256 indexed seriesId, int256 amount, uint256 price, int256 cashDelta);

    error ZeroAmount();
    error SameAccount(uint256 accountId);
    error SeriesExpired(uint256 seriesId, uint64 expiry);
    error NotExpired(uint256 seriesId, uint64 expiry);
    error UnderAuction(uint256 accountId);

    /// @param usdc_ 6-decimal cash token; volFeed_ SVI vol feed; admin holds DEFAULT_ADMIN_ROLE and LISTER_ROLE.
    constructor(IERC20 usdc_, IVolFeed volFeed_, address admin) PortfolioAccounts(usdc_, volFeed_, admin) {}

    /// @notice Deposit `amountUsdc` (6 decimals) into any subaccount; credits amountUsdc·1e12 of 1e18 cash.
    function deposit(uint256 accountId, uint256 amountUsdc) external nonReentrant {
        _requireAccount(accountId);
        if (amountUsdc == 0) revert ZeroAmount();
        usdc.safeTransferFrom(msg.sender, address(this), amountUsdc);
        _addCash(accountId, int256(amountUsdc * USDC_TO_WAD));
        emit Deposited(accountId, msg.sender, amountUsdc);
    }

    /// @notice Withdraw `amountUsdc` (6 decimals) to `to` (owner/operator); the account must keep MM ≥ 0.
    function withdraw(uint256 accountId, uint256 amountUsdc, address to) external nonReentrant {
        _requireAuthorized(accountId);
        if (amountUsdc == 0) revert ZeroAmount();
        if (to == address(0)) revert ZeroAddress();
        if (_underAuction(accountId)) revert UnderAuction(accountId);
        _addCash(accountId, -int256(amountUsdc * USDC_TO_WAD));
        _requireHealthy(accountId);
        usdc.safeTransfer(to, amountUsdc);
        emit Withdrawn(accountId, to, amountUsdc);
    }

    /// @notice Matched trade: `amount` (1e18 contracts) of `seriesId` moves from seller to buyer, and
    ///         amount·price (rounded up, in 1e18 USD) moves from buyer to seller. The caller must be owner or
    ///         operator of BOTH accounts; both must keep MM ≥ 0 afterwards.
    function trade(uint256 buyerAccountId, uint256 sellerAccountId, uint256 seriesId, uint256 amount, uint256 price)
        external
        nonReentrant
    {
        _requireAuthorized(buyerAccountId);
        _requireAuthorized(sellerAccountId);
        if (buyerAccountId == sellerAccountId) revert SameAccount(buyerAccountId);
        if (amount == 0) revert ZeroAmount();
        if (_underAuction(buyerAccountId)) revert UnderAuction(buyerAccountId);
        if (_underAuction(sellerAccountId)) revert UnderAuction(sellerAccountId);
        Series memory s = getSeries(seriesId);
        if (s.expiry <= block.timestamp) revert SeriesExpired(seriesId, s.expiry);
        int256 a = int256(amount);
        _setPosition(buyerAccountId, seriesId, positionOf[buyerAccountId][seriesId] + a);
        _setPosition(sellerAccountId, seriesId, positionOf[sellerAccountId][seriesId] - a);
        int256 cash = MarginMath.mulUp(a, int256(price));
        _addCash(buyerAccountId, -cash);
        _addCash(sellerAccountId, cash);
        _requireHealthy(buyerAccountId);
        _requireHealthy(sellerAccountId);
        emit Traded(seriesId, buyerAccountId, sellerAccountId, amount, price, uint256(cash));
    }

    /// @notice Settle an expired position of `accountId` into cash at the (underlying, expiry) settlement price,
    ///         fixed from the fresh feed on the first settlement of that expiry. Anyone may call.
    /// @dev cashDelta = amount·payoff rounded toward −∞ (holders of the same series never receive more than the
    ///      writers pay).
    function settleExpired(uint256 accountId, uint256 seriesId) external {
        _requireAccount(accountId);
        Series memory s = getSeries(seriesId);
        if (s.expiry > block.timestamp) revert NotExpired(seriesId, s.expiry);
        uint256 px = settlementPrice[s.underlying][s.expiry];
        if (px == 0) {
            uint80 roundId;
            (px, roundId) = _spot(s.underlying);
            settlementPrice[s.underlying][s.expiry] = px;
            emit SettlementPriceSet(s.underlying, s.expiry, px, roundId);
        }
        int256 amount = positionOf[accountId][seriesId];
        if (amount == 0) revert ZeroAmount();
        int256 cashDelta = MarginMath.mulDown(amount, int256(MarginMath.payoff(s.isCall, s.strike, px)));
        _setPosition(accountId, seriesId, 0);
        _addCash(accountId, cashDelta);
        emit Settled(accountId, seriesId, amount, px, cashDelta);
    }

    /// @inheritdoc DutchAuction
    function fundSecurityModule(uint256 amountUsdc) external override nonReentrant {
        if (amountUsdc == 0) revert ZeroAmount();
        usdc.safeTransferFrom(msg.sender, address(this), amountUsdc);
        uint256 bal = securityModuleBalance + amountUsdc * USDC_TO_WAD;
        securityModuleBalance = bal;
        emit SecurityModuleFunded(msg.sender, amountUsdc, bal);
    }

    function _requireHealthy(uint256 accountId) private view {
        (int256 mm,) = _margin(accountId);
        if (mm < 0) revert InsufficientMargin(accountId, mm);
    }
}
