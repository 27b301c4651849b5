// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {Strings} from "@openzeppelin/contracts/utils/Strings.sol";
import {FixedPointMathLib as FPM} from "solady/utils/FixedPointMathLib.sol";
import {VaultConfig} from "./VaultConfig.sol";
import {NakedMargin} from "./NakedMargin.sol";
import {OptionToken} from "./OptionToken.sol";

/// @title VaultOptions
/// @notice Cash-settled European options (one 8-decimal OptionToken per series) written from naked-margin vaults
///         collateralised in USDC, with Dutch-auction liquidations and settlement from a Chainlink round.
/// @dev Production design: Opyn Gamma (Controller + MarginCalculator naked-margin vaults, type 1). Kept: spot shock
///      0.75, UB(τ) table, one short series per vault, liquidation price rising linearly over 1 h from
///      (cash value − 5 %·P, floored at 0; P = price of the Chainlink round the liquidator names) to
///      collateral/short, timed from that round;
///      settlement from the first round at/after expiry (Opyn ChainlinkPricer rule); `operate(Action[])` batches
///      with the collateral check at the end of the batch (so mint-and-liquidate works in one call).
///      Deviations: calls are also USDC-collateralised, with the requirement converted at the up-shocked price S/s;
///      vault ids are global (not per owner) and `vaultId = 0` in a batch means "the vault opened last in this
///      batch"; no operators, no whitelist, no dispute period, no partial-liquidation dust limit; anyone may
///      settle a vault (the excess always goes to its owner), so keepers can settle expiries; the liquidation
///      round check is stronger than Opyn's (see `liquidate`).
contract VaultOptions is VaultConfig, ReentrancyGuard {
    using SafeERC20 for IERC20;

    /// @notice What one step of an `operate` batch does.
    enum ActionType {
        OpenVault,
        Deposit,
        Withdraw,
        Mint,
        Burn,
        Liquidate,
        Settle,
        Redeem
    }

    /// @notice One step of an `operate` batch; unused fields are ignored. vaultId 0 = vault opened last in the batch.
    struct Action {
        ActionType kind;
        uint256 vaultId;
        uint256 seriesId;
        uint256 amount;
        uint80 roundId;
    }

    struct Series {
        address token;
        address underlying;
        uint64 expiry;
        bool isPut;
        uint256 strike; // 1e18 USD
    }

    struct Vault {
        address owner;
        uint64 lastUpdate; // block time of the last owner action (open, deposit, withdraw, mint, burn)
        bool settled;
        uint256 seriesId; // 0 = no short series yet
        uint256 collateral; // USDC base units
        uint256 shortAmount; // option base units (8 decimals)
    }

    struct ExpiryPrice {
        uint256 price; // 1e18 USD; 0 = not set
        uint80 roundId;
    }

    /// @notice Collateral token (USDC).
    IERC20 public immutable collateral;
    /// @dev 10**(8 + 18 − collateral decimals): amount(8 dec) · price(1e18) / divisor = collateral units.
    uint256 internal immutable _divisor;

    /// @notice Number of series created; ids are 1..seriesCount.
    uint256 public seriesCount;
    /// @notice Number of vaults opened; ids are 1..vaultCount.
    uint256 public vaultCount;
    mapping(uint256 => Series) internal _series;
    mapping(bytes32 => uint256) internal _seriesIdOfKey;
    mapping(uint256 => Vault) internal _vaults;
    mapping(address => mapping(uint64 => ExpiryPrice)) internal _expiryPrices;

    /// @notice Series `seriesId` (ERC20 `token`) on `underlying` at `strike` (1e18 USD) expiring `expiry`.
    event SeriesCreated(
        uint256 indexed seriesId,
        address indexed token,
        address indexed underlying,
        uint256 strike,
        uint64 expiry,
        bool isPut
    );
    /// @notice Vault `vaultId` opened for `owner`.
    event VaultOpened(uint256 indexed vaultId, address indexed owner);
    /// @notice `amount` USDC deposited; `vaultCollateral` is the vault's collateral afterwards.
    event CollateralDeposited(uint256 indexed vaultId, address indexed from, uint256 amount, uint256 vaultCollateral);
    /// @notice `amount` USDC withdrawn to `to`; `vaultCollateral` is the vault's collateral afterwards.
    event CollateralWithdrawn(uint256 indexed vaultId, address indexed to, uint256 amount, uint256 vaultCollateral);
    /// @notice `amount` options of `seriesId` written and minted to `to`; `vaultShort` is the short afterwards.
    event ShortMinted(
        uint256 indexed vaultId, uint256 indexed seriesId, address indexed to, uint256 amount, uint256 vaultShort
    );
    /// @notice `amount` options burned from `from` to reduce the short; `vaultShort` is the short afterwards.
    event ShortBurned(
        uint256 indexed vaultId, uint256 indexed seriesId, address indexed from, uint256 amount, uint256 vaultShort
    );
    /// @notice `liquidator` burned `amount` options against vault `vaultId` and received `collateralPaid`; the
    ///         auction was timed from Chainlink round `roundId`.
    event VaultLiquidated(
        uint256 indexed vaultId, address indexed liquidator, uint256 amount, uint256 collateralPaid, uint80 roundId
    );
    /// @notice Settlement price (1e18 USD) of (underlying, expiry) taken from feed round `roundId`.
    event ExpiryPriceSet(address indexed underlying, uint64 indexed expiry, uint80 roundId, uint256 price);
    /// @notice Vault closed after expiry: it owed `liability` USDC for `shortAmount` options and returned
    ///         `collateralReturned` to `owner`.
    event VaultSettled(
        uint256 indexed vaultId,
        address indexed owner,
        uint256 indexed seriesId,
        uint256 shortAmount,
        uint256 liability,
        uint256 collateralReturned
    );
    /// @notice `holder` burned `amount` expired options of `seriesId` for `payout` USDC.
    event Redeemed(uint256 indexed seriesId, address indexed holder, uint256 amount, uint256 payout);

    error UnknownSeries(uint256 seriesId);
    error UnknownVault(uint256 vaultId);
    error SeriesExists(uint256 seriesId);
    error ExpiryNotInFuture(uint64 expiry);
    error NotVaultOwner(uint256 vaultId, address caller);
    error VaultIsSettled(uint256 vaultId);
    error SeriesMismatch(uint256 vaultId, uint256 vaultSeriesId, uint256 seriesId);
    error SeriesExpired(uint256 seriesId, uint64 expiry);
    error SeriesNotExpired(uint256 seriesId, uint64 expiry);
    error InsufficientCollateral(uint256 vaultId, uint256 collateral, uint256 amount);
    error ShortTooSmall(uint256 vaultId, uint256 shortAmount, uint256 amount);
    error VaultUndercollateralized(uint256 vaultId, uint256 collateral, uint256 requirement);
    error VaultNotLiquidatable(uint256 vaultId, uint256 collateral, uint256 requirement);
    error RoundBeforeVaultUpdate(uint80 roundId, uint256 roundUpdatedAt, uint256 vaultLastUpdate);
    error RoundDidNotMakeVaultUnsafe(uint80 roundId, uint256 requirementAtRound, uint256 collateral);
    error NotFirstUnsafeRound(uint80 roundId, uint80 earlierUnsafeRound);
    error ExpiryPriceAlreadySet(address underlying, uint64 expiry);
    error ExpiryPriceNotSet(address underlying, uint64 expiry);
    error NotFirstRoundAfterExpiry(uint80 roundId, uint256 roundUpdatedAt, uint256 previousUpdatedAt, uint64 expiry);
    error NoShortSeries(uint256 vaultId);
    error NoVaultOpenedInBatch();

    /// @param collateral_ USDC (any decimals <= 26)
    /// @param governance owner of the configuration
    /// @param maxOracleAge_ seconds; spot answers older than this revert
    constructor(IERC20Metadata collateral_, address governance, uint256 maxOracleAge_)
        VaultConfig(governance, maxOracleAge_)
    {
        collateral = IERC20(address(collateral_));
        _divisor = 10 ** (26 - uint256(collateral_.decimals()));
    }

    // ================================================================== series

    /// @notice Create the option series (underlying, strike 1e18 USD, expiry, put/call) and its OptionToken.
    /// @dev Anyone may create a series whose underlying has a feed; duplicates revert SeriesExists.
    function createSeries(address underlying, uint256 strike, uint64 expiry, bool isPut)
        external
        returns (uint256 seriesId, address token)
    {
        _feed(underlying);
        if (strike == 0) revert ZeroValue("strike");
        if (expiry <= block.timestamp) revert ExpiryNotInFuture(expiry);
        bytes32 key = keccak256(abi.encode(underlying, strike, expiry, isPut));
        if (_seriesIdOfKey[key] != 0) revert SeriesExists(_seriesIdOfKey[key]);
        seriesId = ++seriesCount;
        _seriesIdOfKey[key] = seriesId;
        string memory tag = string.concat(
            IERC20Metadata(underlying).symbol(),
            "-",
            Strings.toString(strike / 1e18),
            isPut ? "-P-" : "-C-",
            Strings.toString(expiry)
        );
        token = address(
            new OptionToken(
                string.concat("rtrm option ", tag), string.concat("o", tag), seriesId, underlying, strike, expiry, isPut
            )
        );
        _series[seriesId] = Series({token: token, underlying: underlying, expiry: expiry, isPut: isPut, strike: strike});
        emit SeriesCreated(seriesId, token, underlying, strike, expiry, isPut);
    }

    /// @notice Series id for (underlying, strike, expiry, isPut), 0 if none.
    function seriesIdOf(address underlying, uint256 strike, uint64 expiry, bool isPut) external view returns (uint256) {
        return _seriesIdOfKey[keccak256(abi.encode(underlying, strike, expiry, isPut))];
    }

    /// @notice The series record (token, underlying, expiry, isPut, strike 1e18).
    function getSeries(uint256 seriesId) external view returns (Series memory) {
        return _getSeries(seriesId);
    }

    // ================================================================== vault actions (single)

    /// @notice Open an empty vault owned by the caller.
    function openVault() external nonReentrant returns (uint256 vaultId) {
        return _open();
    }

    /// @notice Deposit `amount` USDC (pulled from the caller, the owner) into vault `vaultId`.
    function deposit(uint256 vaultId, uint256 amount) external nonReentrant {
        _deposit(vaultId, amount);
    }

    /// @notice Withdraw `amount` USDC to the owner; reverts unless the vault stays at or above its requirement.
    function withdraw(uint256 vaultId, uint256 amount) external nonReentrant {
        _withdraw(vaultId, amount);
        _requireSafe(vaultId);
    }

    /// @notice Write `amount` options of `seriesId` from vault `vaultId`, minted to the owner; the vault must stay
    ///         at or above its requirement.
    function mint(uint256 vaultId, uint256 seriesId, uint256 amount) external nonReentrant {
        _mint(vaultId, seriesId, amount);
        _requireSafe(vaultId);
    }

    /// @notice Burn `amount` options held by the owner to reduce the vault's short (before expiry).
    function burn(uint256 vaultId, uint256 amount) external nonReentrant {
        _burn(vaultId, amount);
    }

    /// @notice Liquidate `amount` of vault `vaultId`'s short: burns the caller's options and pays the auction price.
    /// @dev `roundId` must be the first feed round that made the vault unsafe: its updatedAt is after the vault's
    ///      last owner action (Opyn's rule), the vault's requirement at that round's price (τ at the round's time)
    ///      exceeds the vault's collateral, and the previous round either predates the vault's last update, is
    ///      not a valid price, or did not make the vault unsafe. The vault must also be unsafe at the current spot.
    ///      Pays min(amount · auctionPrice / 1e20 (rounded down), vault collateral).
    function liquidate(uint256 vaultId, uint256 amount, uint80 roundId) external nonReentrant returns (uint256 paid) {
        return _liquidate(vaultId, amount, roundId);
    }

    /// @notice Record the settlement price of (underlying, expiry) from `roundId`, the first feed round with
    ///         updatedAt >= expiry and a positive answer (Opyn ChainlinkPricer rule; earlier rounds at/after expiry
    ///         with answers <= 0 are skipped). Anyone may call.
    function setExpiryPrice(address underlying, uint64 expiry, uint80 roundId) external {
        if (block.timestamp < expiry) revert SeriesNotExpired(0, expiry);
        if (_expiryPrices[underlying][expiry].price != 0) revert ExpiryPriceAlreadySet(underlying, expiry);
        (uint256 price, uint256 updatedAt) = _roundPrice(underlying, roundId);
        if (updatedAt < expiry) revert NotFirstRoundAfterExpiry(roundId, updatedAt, 0, expiry);
        // Walk back over rounds at/after expiry: a valid one among them was the real settlement round; invalid
        // (answer <= 0) ones are skipped, so the first VALID round at/after expiry settles.
        for (uint80 prev = roundId - 1;; --prev) {
            (bool exists, uint256 prevPrice, uint256 prevUpdatedAt) = _tryRoundPrice(underlying, prev);
            if (!exists || prevUpdatedAt < expiry) break;
            if (prevPrice != 0) revert NotFirstRoundAfterExpiry(roundId, updatedAt, prevUpdatedAt, expiry);
        }
        _expiryPrices[underlying][expiry] = ExpiryPrice({price: price, roundId: roundId});
        emit ExpiryPriceSet(underlying, expiry, roundId, price);
    }

    /// @notice After expiry and the expiry price: close vault `vaultId`, paying collateral − liability (floored at
    ///         0) to its owner. liability = short · payoff / 1e20, rounded up. Anyone may call.
    function settleVault(uint256 vaultId) external nonReentrant returns (uint256 returned) {
        return _settle(vaultId);
    }

    /// @notice After expiry and the expiry price: burn `amount` of the caller's options of `seriesId` for
    ///         amount · payoff / 1e20 USDC, rounded down.
    function redeem(uint256 seriesId, uint256 amount) external nonReentrant returns (uint256 payout) {
        return _redeem(seriesId, amount);
    }

    // ================================================================== batch

    /// @notice Run `actions` in order as the caller; vaults changed by Withdraw or Mint are checked against
    ///         their requirement only at the end (so open + deposit + mint + liquidate works in one call).
    /// @return lastOpened the id of the vault opened last in the batch (0 if none)
    function operate(Action[] calldata actions) external nonReentrant returns (uint256 lastOpened) {
        uint256 n = actions.length;
        uint256[] memory toCheck = new uint256[](n);
        uint256 nCheck;
        for (uint256 i; i < n; ++i) {
            Action calldata a = actions[i];
            if (a.kind == ActionType.OpenVault) {
                lastOpened = _open();
                continue;
            }
            uint256 vaultId = a.vaultId;
            if (vaultId == 0 && a.kind != ActionType.Redeem) {
                if (lastOpened == 0) revert NoVaultOpenedInBatch();
                vaultId = lastOpened;
            }
            if (a.kind == ActionType.Deposit) {
                _deposit(vaultId, a.amount);
            } else if (a.kind == ActionType.Withdraw) {
                _withdraw(vaultId, a.amount);
                toCheck[nCheck++] = vaultId;
            } else if (a.kind == ActionType.Mint) {
                _mint(vaultId, a.seriesId, a.amount);
                toCheck[nCheck++] = vaultId;
            } else if (a.kind == ActionType.Burn) {
                _burn(vaultId, a.amount);
            } else if (a.kind == ActionType.Liquidate) {
                _liquidate(vaultId, a.amount, a.roundId);
            } else if (a.kind == ActionType.Settle) {
                _settle(vaultId);
            } else {
                _redeem(a.seriesId, a.amount);
            }
        }
        for (uint256 i; i < nCheck; ++i) {
            _requireSafe(toCheck[i]);
        }
    }

    // ================================================================== views

    /// @notice The vault record.
    function getVault(uint256 vaultId) external view returns (Vault memory) {
        return _getVault(vaultId);
    }

    /// @notice Naked-margin requirement of the vault in USDC base units at the current spot:
    ///         ceil(short · perOption / 1e20); perOption as in `marginPerOption`. 0 without a short.
    /// @dev Reverts on a stale/invalid oracle, after the series' expiry (SeriesExpired) or beyond the UB table.
    function requirement(uint256 vaultId) public view returns (uint256) {
        Vault storage v = _getVault(vaultId);
        if (v.shortAmount == 0 || v.settled) return 0;
        Series storage s = _series[v.seriesId];
        if (block.timestamp >= s.expiry) revert SeriesExpired(v.seriesId, s.expiry); // before the oracle read
        (uint256 spot,) = _spot(s.underlying);
        return _requirementAt(v.seriesId, v.shortAmount, spot, block.timestamp);
    }

    /// @notice True iff the series is not expired, the vault has a short and collateral < requirement.
    function isLiquidatable(uint256 vaultId) public view returns (bool) {
        Vault storage v = _getVault(vaultId);
        if (v.shortAmount == 0 || v.settled || block.timestamp >= _series[v.seriesId].expiry) return false;
        return v.collateral < requirement(vaultId);
    }

    /// @notice collateral − requirement in USDC base units (negative = liquidatable).
    function headroom(uint256 vaultId) external view returns (int256) {
        return int256(_getVault(vaultId).collateral) - int256(requirement(vaultId));
    }

    /// @notice Per-option naked-margin requirement (1e18 USD) for explicit inputs, τ in seconds:
    ///         put  UB(τ)·min(K, 0.75·S) + max(K − 0.75·S, 0);
    ///         call UB(τ)·min(K, S/0.75) + max(S/0.75 − K, 0)   (USD at the up-shocked price S/0.75).
    function marginPerOption(bool isPut, uint256 strike, uint256 spot, uint256 tau) public view returns (uint256) {
        return NakedMargin.perOption(isPut, strike, spot, upperBound(tau));
    }

    /// @notice Requirement (USDC base units) of `amount` short options of `seriesId` at `spot` (1e18) and `tau` s.
    function requirementFor(uint256 seriesId, uint256 amount, uint256 spot, uint256 tau)
        external
        view
        returns (uint256)
    {
        Series storage s = _getSeries(seriesId);
        return FPM.mulDivUp(amount, marginPerOption(s.isPut, s.strike, spot, tau), _divisor);
    }

    /// @notice Current auction price per option (1e18 USD) for liquidating vault `vaultId` from round `roundId`;
    ///         runs every check `liquidate` runs. As in Opyn, the cash value and the 5 % deduction use the
    ///         round's price P: start = max(cash(P) − 5 %·P, 0); the vault must be unsafe at the current spot.
    function auctionPrice(uint256 vaultId, uint80 roundId) public view returns (uint256) {
        Vault storage v = _getVault(vaultId);
        if (v.settled) revert VaultIsSettled(vaultId);
        if (v.shortAmount == 0) revert VaultNotLiquidatable(vaultId, v.collateral, 0);
        Series storage s = _series[v.seriesId];
        if (block.timestamp >= s.expiry) revert SeriesExpired(v.seriesId, s.expiry);
        (uint256 spot,) = _spot(s.underlying);
        uint256 req = _requirementAt(v.seriesId, v.shortAmount, spot, block.timestamp);
        if (v.collateral >= req) revert VaultNotLiquidatable(vaultId, v.collateral, req);
        (uint256 roundPrice, uint256 startTime) = _checkAuctionRound(v, roundId);
        uint256 endPrice = v.collateral * _divisor / v.shortAmount;
        return NakedMargin.auctionPrice(
            NakedMargin.cashValue(s.isPut, s.strike, roundPrice), roundPrice, endPrice, block.timestamp - startTime
        );
    }

    /// @notice Settlement price (1e18 USD) and round of (underlying, expiry); price 0 if not set yet.
    function expiryPrice(address underlying, uint64 expiry) external view returns (uint256 price, uint80 roundId) {
        ExpiryPrice storage e = _expiryPrices[underlying][expiry];
        return (e.price, e.roundId);
    }

    /// @notice Payoff per option (1e18 USD) of an expired series with a recorded expiry price.
    function payoffPerOption(uint256 seriesId) public view returns (uint256) {
        Series storage s = _getSeries(seriesId);
        ExpiryPrice storage e = _expiryPrices[s.underlying][s.expiry];
        if (e.price == 0) revert ExpiryPriceNotSet(s.underlying, s.expiry);
        return NakedMargin.cashValue(s.isPut, s.strike, e.price);
    }

    // ================================================================== internals

    function _getSeries(uint256 seriesId) internal view returns (Series storage s) {
        s = _series[seriesId];
        if (s.token == address(0)) revert UnknownSeries(seriesId);
    }

    function _getVault(uint256 vaultId) internal view returns (Vault storage v) {
        v = _vaults[vaultId];
        if (v.owner == address(0)) revert UnknownVault(vaultId);
    }

    /// @dev The caller's open (not settled) vault, touched now.
    function _ownedVault(uint256 vaultId) internal returns (Vault storage v) {
        v = _getVault(vaultId);
        if (v.owner != msg.sender) revert NotVaultOwner(vaultId, msg.sender);
        if (v.settled) revert VaultIsSettled(vaultId);
        v.lastUpdate = uint64(block.timestamp);
    }

    /// @dev Requirement in collateral units of `amount` shorts of `seriesId` at `spot`, τ measured from `time`.
    function _requirementAt(uint256 seriesId, uint256 amount, uint256 spot, uint256 time)
        internal
        view
        returns (uint256)
    {
        Series storage s = _series[seriesId];
        if (time >= s.expiry) revert SeriesExpired(seriesId, s.expiry);
        uint256 perOpt = NakedMargin.perOption(s.isPut, s.strike, spot, upperBound(s.expiry - time));
        return FPM.mulDivUp(amount, perOpt, _divisor);
    }

    function _requireSafe(uint256 vaultId) internal view {
        uint256 req = requirement(vaultId);
        uint256 col = _vaults[vaultId].collateral;
        if (col < req) revert VaultUndercollateralized(vaultId, col, req);
    }

    /// @dev Validates the liquidator's round (see `liquidate`); returns its price (1e18) and time (auction start).
    function _checkAuctionRound(Vault storage v, uint80 roundId)
        internal
        view
        returns (uint256 price, uint256 updatedAt)
    {
        address underlying = _series[v.seriesId].underlying;
        (price, updatedAt) = _roundPrice(underlying, roundId);
        if (updatedAt <= v.lastUpdate) revert RoundBeforeVaultUpdate(roundId, updatedAt, v.lastUpdate);
        uint256 reqAtRound = _requirementAt(v.seriesId, v.shortAmount, price, updatedAt);
        if (reqAtRound <= v.collateral) revert RoundDidNotMakeVaultUnsafe(roundId, reqAtRound, v.collateral);
        (bool exists, uint256 prevPrice, uint256 prevUpdatedAt) = _tryRoundPrice(underlying, roundId - 1);
        if (
            exists && prevPrice != 0 && prevUpdatedAt > v.lastUpdate
                && _requirementAt(v.seriesId, v.shortAmount, prevPrice, prevUpdatedAt) > v.collateral
        ) revert NotFirstUnsafeRound(roundId, roundId - 1);
    }

    function _open() internal returns (uint256 vaultId) {
        vaultId = ++vaultCount;
        _vaults[vaultId].owner = msg.sender;
        _vaults[vaultId].lastUpdate = uint64(block.timestamp);
        emit VaultOpened(vaultId, msg.sender);
    }

    function _deposit(uint256 vaultId, uint256 amount) internal {
        if (amount == 0) revert ZeroValue("amount");
        Vault storage v = _ownedVault(vaultId);
        v.collateral += amount;
        collateral.safeTransferFrom(msg.sender, address(this), amount);
        emit CollateralDeposited(vaultId, msg.sender, amount, v.collateral);
    }

    function _withdraw(uint256 vaultId, uint256 amount) internal {
        if (amount == 0) revert ZeroValue("amount");
        Vault storage v = _ownedVault(vaultId);
        if (amount > v.collateral) revert InsufficientCollateral(vaultId, v.collateral, amount);
        v.collateral -= amount;
        collateral.safeTransfer(msg.sender, amount);
        emit CollateralWithdrawn(vaultId, msg.sender, amount, v.collateral);
    }

    function _mint(uint256 vaultId, uint256 seriesId, uint256 amount) internal {
        if (amount == 0) revert ZeroValue("amount");
        Vault storage v = _ownedVault(vaultId);
        Series storage s = _getSeries(seriesId);
        if (block.timestamp >= s.expiry) revert SeriesExpired(seriesId, s.expiry);
        if (v.shortAmount == 0) {
            v.seriesId = seriesId; // an empty vault may switch to another series
        } else if (v.seriesId != seriesId) {
            revert SeriesMismatch(vaultId, v.seriesId, seriesId);
        }
        v.shortAmount += amount;
        OptionToken(s.token).mint(msg.sender, amount);
        emit ShortMinted(vaultId, seriesId, msg.sender, amount, v.shortAmount);
    }

    function _burn(uint256 vaultId, uint256 amount) internal {
        if (amount == 0) revert ZeroValue("amount");
        Vault storage v = _ownedVault(vaultId);
        if (amount > v.shortAmount) revert ShortTooSmall(vaultId, v.shortAmount, amount);
        Series storage s = _series[v.seriesId];
        if (block.timestamp >= s.expiry) revert SeriesExpired(v.seriesId, s.expiry);
        v.shortAmount -= amount;
        OptionToken(s.token).burn(msg.sender, amount);
        emit ShortBurned(vaultId, v.seriesId, msg.sender, amount, v.shortAmount);
    }

    function _liquidate(uint256 vaultId, uint256 amount, uint80 roundId) internal returns (uint256 paid) {
        if (amount == 0) revert ZeroValue("amount");
        uint256 price = auctionPrice(vaultId, roundId); // every liquidation check lives here
        Vault storage v = _vaults[vaultId];
        if (amount > v.shortAmount) revert ShortTooSmall(vaultId, v.shortAmount, amount);
        paid = FPM.min(amount * price / _divisor, v.collateral);
        v.shortAmount -= amount;
        v.collateral -= paid;
        OptionToken(_series[v.seriesId].token).burn(msg.sender, amount);
        collateral.safeTransfer(msg.sender, paid);
        emit VaultLiquidated(vaultId, msg.sender, amount, paid, roundId);
    }

    function _settle(uint256 vaultId) internal returns (uint256 returned) {
        Vault storage v = _getVault(vaultId);
        if (v.settled) revert VaultIsSettled(vaultId);
        if (v.seriesId == 0) revert NoShortSeries(vaultId);
        Series storage s = _series[v.seriesId];
        if (block.timestamp < s.expiry) revert SeriesNotExpired(v.seriesId, s.expiry);
        uint256 shortAmount = v.shortAmount;
        uint256 liability = FPM.mulDivUp(shortAmount, payoffPerOption(v.seriesId), _divisor);
        returned = FPM.zeroFloorSub(v.collateral, liability);
        v.settled = true;
        v.collateral = 0;
        v.shortAmount = 0;
        address owner_ = v.owner;
        if (returned != 0) collateral.safeTransfer(owner_, returned);
        emit VaultSettled(vaultId, owner_, v.seriesId, shortAmount, liability, returned);
    }

    function _redeem(uint256 seriesId, uint256 amount) internal returns (uint256 payout) {
        if (amount == 0) revert ZeroValue("amount");
        Series storage s = _getSeries(seriesId);
        if (block.timestamp < s.expiry) revert SeriesNotExpired(seriesId, s.expiry);
        payout = amount * payoffPerOption(seriesId) / _divisor;
        OptionToken(s.token).burn(msg.sender, amount);
        if (payout != 0) collateral.safeTransfer(msg.sender, payout);
        emit Redeemed(seriesId, msg.sender, amount, payout);
    }
}
