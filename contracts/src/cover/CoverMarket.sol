// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20, IERC20Metadata, ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC4626} from "@openzeppelin/contracts/token/ERC20/extensions/ERC4626.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

/// @title CoverMarket
/// @notice Optimistic liquidation cover: underwriters pool USDC (ERC4626 shares), buyers pay a premium for
///         cover of an account on (chainId, protocol), and claims are paid unless disputed within a liveness
///         window; disputes are decided by an ARBITER_ROLE and the losing bond is slashed.
/// @dev Production design followed: UMA's Optimistic Oracle as used by on-chain cover (e.g. Sherlock / Nexus
///      style claim flow): assert with a bond -> liveness -> settle if undisputed; a dispute posts an equal bond
///      and escalates to a resolver; the loser's bond goes part to the winner, part to the protocol.
///      Deviations: the resolver is an ARBITER_ROLE account instead of UMA's DVM vote; the bond is a fixed USDC
///      amount (a parameter) instead of a percentage; the claim evidence (sourceChainId, txHash, logIndex of the
///      liquidation event) is stored but verified OFF-CHAIN by disputers/the arbiter — on-chain checks are
///      structural (cover period, chain, amount, duplicate evidence). A claim may be submitted from the cover
///      start until `claimWindow` seconds after its end (a liquidation in the last block must still be
///      claimable); whether the liquidation itself happened inside the period is for disputers to check.
///      Premium: ceil(amount · annualRate · period / (1e18 · 365 days)) USDC, rate 1e18 = 100 %/year, set per
///      (chainId, protocol) by the admin (rate 0 = not coverable).
///      Capital: every unreleased cover locks (amount − paidOut) USDC of pool assets; new cover needs free
///      capital and LP withdrawals can only take free capital. totalAssets() excludes bonds held.
///      Slashing: the loser's bond is split; `slashToPoolBps` of it goes to the pool (underwriters) and the
///      rest to the winner, who also gets their own bond back.
///      Units: USDC token units (6 decimals) for amounts, premiums, bonds; shares have 18 decimals.
contract CoverMarket is ERC4626, AccessControl, ReentrancyGuard {
    using SafeERC20 for IERC20;

    /// @notice Role that resolves disputed claims.
    bytes32 public constant ARBITER_ROLE = keccak256("ARBITER_ROLE");
    uint256 private constant YEAR = 365 days;
    uint256 private constant BPS = 10_000;
    uint256 public constant MIN_PERIOD = 1 days;
    uint256 public constant MAX_PERIOD = 365 days;

    enum ClaimStatus {
        None,
        Pending, // in liveness, disputable
        Disputed, // waiting for the arbiter
        Paid, // settled undisputed, or resolved valid
        Rejected // resolved invalid
    }

    struct Cover {
        address holder; // bought the cover; files claims and receives payouts
        address account; // covered account on the source chain
        uint64 chainId; // source chain of the covered protocol
        address protocol; // covered protocol contract on that chain
        uint256 amount; // cover amount, USDC units
        uint256 paidOut; // paid so far
        uint256 reserved; // losses of claims not yet final
        uint64 start;
        uint64 end;
        uint32 openClaims; // Pending + Disputed claims
        bool released;
    }

    struct Claim {
        uint256 coverId;
        address claimant;
        uint64 sourceChainId;
        bytes32 txHash;
        uint32 logIndex;
        uint64 submittedAt;
        ClaimStatus status;
        uint256 loss; // claimed loss, USDC units
        uint256 bond; // bond posted by the claimant (and by a disputer), USDC units
        address disputer;
        uint256 payout;
    }

    struct Params {
        uint64 liveness; // seconds a claim is disputable (default 2 h)
        uint64 claimWindow; // seconds after cover end during which claims may still be filed
        uint256 claimBond; // USDC units posted by the claimant and, equally, by a disputer
        uint256 slashToPoolBps; // share of the losing bond that goes to the pool
    }

    Params private _params;
    Cover[] private _covers;
    Claim[] private _claims;
    /// @notice Annual premium rate per (chainId, protocol), 1e18 = 100 %/year; 0 = not coverable.
    mapping(uint64 chainId => mapping(address protocol => uint256)) public rateOf;
    /// @notice Whether evidence keccak256(sourceChainId, txHash, logIndex) was already claimed.
    mapping(bytes32 => bool) public evidenceUsed;
    /// @notice Σ (amount − paidOut) over unreleased covers, USDC units.
    uint256 public totalLocked;
    /// @notice Claim and dispute bonds held for open claims (not pool assets), USDC units.
    uint256 public bondsHeld;

    event ParamsUpdated(Params params);
    event ProtocolRateSet(uint64 indexed chainId, address indexed protocol, uint256 annualRate);
    event PoolDeposit(address indexed caller, address indexed receiver, uint256 assets, uint256 shares);
    event PoolWithdraw(
        address indexed caller, address indexed receiver, address indexed owner, uint256 assets, uint256 shares
    );
    event CoverBought(
        uint256 indexed coverId,
        address indexed holder,
        address indexed account,
        uint64 chainId,
        address protocol,
        uint256 amount,
        uint256 premium,
        uint64 start,
        uint64 end
    );
    event CoverReleased(uint256 indexed coverId, uint256 unlocked);
    event ClaimSubmitted(
        uint256 indexed claimId,
        uint256 indexed coverId,
        address indexed claimant,
        uint64 sourceChainId,
        bytes32 txHash,
        uint32 logIndex,
        uint256 loss,
        uint256 bond,
        uint64 disputableUntil
    );
    event ClaimDisputed(uint256 indexed claimId, address indexed disputer, uint256 bond);
    event ClaimSettled(
        uint256 indexed claimId, uint256 indexed coverId, address indexed claimant, uint256 payout, uint256 bondReturned
    );
    event ClaimResolved(
        uint256 indexed claimId,
        bool claimValid,
        address indexed winner,
        address indexed loser,
        uint256 payout,
        uint256 winnerReward,
        uint256 poolShare
    );

    error InvalidParams(string what);
    error ProtocolNotCoverable(uint64 chainId, address protocol);
    error ZeroAmount();
    error ZeroAddress();
    error BadPeriod(uint256 period, uint256 min, uint256 max);
    error PremiumTooHigh(uint256 premium, uint256 maxPremium);
    error InsufficientCapacity(uint256 requested, uint256 free);
    error UnknownCover(uint256 coverId);
    error UnknownClaim(uint256 claimId);
    error NotCoverHolder(address caller, address holder);
    error WrongChain(uint64 sourceChainId, uint64 coverChainId);
    error OutsideCoverPeriod(uint256 timestamp, uint64 start, uint64 lastClaimTime);
    error ExceedsRemainingCover(uint256 loss, uint256 remaining);
    error EmptyEvidence();
    error DuplicateEvidence(bytes32 evidenceKey);
    error WrongClaimStatus(uint256 claimId, ClaimStatus status);
    error LivenessExpired(uint256 claimId, uint256 disputableUntil);
    error LivenessNotExpired(uint256 claimId, uint256 disputableUntil);
    error SelfDispute(uint256 claimId);
    error CoverStillActive(uint256 coverId, uint256 releasableAt, uint32 openClaims);

    /// @param usdc_ pool asset (USDC)
    /// @param params_ initial parameters (liveness 2 h recommended)
    /// @param admin receives DEFAULT_ADMIN_ROLE (rates, params, role grants)
    constructor(IERC20 usdc_, Params memory params_, address admin)
        ERC4626(usdc_)
        ERC20("rtrm Cover Underwriter", "rCOVER")
    {
        if (admin == address(0)) revert ZeroAddress();
        if (IERC20Metadata(address(usdc_)).decimals() > 18) revert InvalidParams("asset decimals > 18");
        _setParams(params_);
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    // ------------------------------------------------------------------ admin

    /// @notice Replace the parameters (admin). Applies to claims submitted afterwards (bonds are per claim).
    function setParams(Params calldata p) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setParams(p);
    }

    /// @notice Set the annual premium rate for (chainId, protocol); 0 stops new cover (admin).
    function setProtocolRate(uint64 chainId, address protocol, uint256 annualRate)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        if (protocol == address(0) || chainId == 0) revert ZeroAddress();
        if (annualRate > 1e18) revert InvalidParams("annualRate > 100%");
        rateOf[chainId][protocol] = annualRate;
        emit ProtocolRateSet(chainId, protocol, annualRate);
    }

    // ------------------------------------------------------------------ cover

    /// @notice Premium in USDC units: ceil(amount · rate · period / (1e18 · 365 days)).
    function quotePremium(uint64 chainId, address protocol, uint256 amount, uint256 period)
        public
        view
        returns (uint256)
    {
        uint256 rate = rateOf[chainId][protocol];
        if (rate == 0) revert ProtocolNotCoverable(chainId, protocol);
        return Math.mulDiv(amount * rate, period, 1e18 * YEAR, Math.Rounding.Ceil);
    }

    /// @notice Buy `amount` USDC of liquidation cover for `account` on (`chainId`, `protocol`) from now for
    ///         `period` seconds, paying at most `maxPremium`. The caller becomes the holder. Emits CoverBought.
    function buyCover(
        address account,
        uint64 chainId,
        address protocol,
        uint256 amount,
        uint256 period,
        uint256 maxPremium
    ) external nonReentrant returns (uint256 coverId) {
        if (account == address(0)) revert ZeroAddress();
        if (amount == 0) revert ZeroAmount();
        if (period < MIN_PERIOD || period > MAX_PERIOD) revert BadPeriod(period, MIN_PERIOD, MAX_PERIOD);
        uint256 premium = quotePremium(chainId, protocol, amount, period);
        if (premium > maxPremium) revert PremiumTooHigh(premium, maxPremium);
        IERC20(asset()).safeTransferFrom(msg.sender, address(this), premium);
        uint256 free = freeCapital();
        if (amount > free) revert InsufficientCapacity(amount, free);
        totalLocked += amount;
        coverId = _covers.length;
        uint64 start = uint64(block.timestamp);
        uint64 end = uint64(block.timestamp + period);
        _covers.push(Cover(msg.sender, account, chainId, protocol, amount, 0, 0, start, end, 0, false));
        emit CoverBought(coverId, msg.sender, account, chainId, protocol, amount, premium, start, end);
    }

    /// @notice Unlock the capital of an ended cover with no open claims (anyone, after end + claimWindow).
    function releaseCover(uint256 coverId) external {
        Cover storage c = _coverOrRevert(coverId);
        uint256 releasableAt = uint256(c.end) + _params.claimWindow;
        if (c.released || block.timestamp <= releasableAt || c.openClaims != 0) {
            revert CoverStillActive(coverId, releasableAt, c.openClaims);
        }
        uint256 unlocked = c.amount - c.paidOut;
        c.released = true;
        totalLocked -= unlocked;
        emit CoverReleased(coverId, unlocked);
    }

    // ------------------------------------------------------------------ claims

    /// @notice File a claim on `coverId` for `loss` USDC with the liquidation event as evidence, posting the
    ///         claim bond. Only the cover holder. Emits ClaimSubmitted.
    /// @param sourceChainId chain of the liquidation event (must equal the cover's chain)
    /// @param txHash transaction hash of the liquidation on the source chain
    /// @param logIndex log index of the liquidation event in that block
    /// @param loss claimed loss, USDC units (<= remaining cover)
    function submitClaim(uint256 coverId, uint64 sourceChainId, bytes32 txHash, uint32 logIndex, uint256 loss)
        external
        nonReentrant
        returns (uint256 claimId)
    {
        Cover storage c = _coverOrRevert(coverId);
        if (msg.sender != c.holder) revert NotCoverHolder(msg.sender, c.holder);
        if (sourceChainId != c.chainId) revert WrongChain(sourceChainId, c.chainId);
        uint64 lastClaimTime = c.end + _params.claimWindow;
        if (block.timestamp < c.start || block.timestamp > lastClaimTime || c.released) {
            revert OutsideCoverPeriod(block.timestamp, c.start, lastClaimTime);
        }
        if (loss == 0) revert ZeroAmount();
        uint256 remaining = c.amount - c.paidOut - c.reserved;
        if (loss > remaining) revert ExceedsRemainingCover(loss, remaining);
        if (txHash == bytes32(0)) revert EmptyEvidence();
        bytes32 key = evidenceKey(sourceChainId, txHash, logIndex);
        if (evidenceUsed[key]) revert DuplicateEvidence(key);
        evidenceUsed[key] = true;
        uint256 bond = _params.claimBond;
        IERC20(asset()).safeTransferFrom(msg.sender, address(this), bond);
        bondsHeld += bond;
        c.reserved += loss;
        c.openClaims += 1;
        claimId = _claims.length;
        _claims.push(
            Claim(
                coverId,
                msg.sender,
                sourceChainId,
                txHash,
                logIndex,
                uint64(block.timestamp),
                ClaimStatus.Pending,
                loss,
                bond,
                address(0),
                0
            )
        );
        emit ClaimSubmitted(
            claimId,
            coverId,
            msg.sender,
            sourceChainId,
            txHash,
            logIndex,
            loss,
            bond,
            uint64(block.timestamp) + _params.liveness
        );
    }

    /// @notice Dispute a pending claim before its liveness ends, posting an equal bond. Emits ClaimDisputed.
    function dispute(uint256 claimId) external nonReentrant {
        Claim storage k = _claimOrRevert(claimId);
        if (k.status != ClaimStatus.Pending) revert WrongClaimStatus(claimId, k.status);
        uint256 until = uint256(k.submittedAt) + _params.liveness;
        if (block.timestamp >= until) revert LivenessExpired(claimId, until);
        if (msg.sender == k.claimant) revert SelfDispute(claimId);
        IERC20(asset()).safeTransferFrom(msg.sender, address(this), k.bond);
        bondsHeld += k.bond;
        k.status = ClaimStatus.Disputed;
        k.disputer = msg.sender;
        emit ClaimDisputed(claimId, msg.sender, k.bond);
    }

    /// @notice Pay an undisputed claim after liveness: min(loss, remaining cover) plus the bond back to the
    ///         claimant (anyone may call). Emits ClaimSettled.
    function settle(uint256 claimId) external nonReentrant {
        Claim storage k = _claimOrRevert(claimId);
        if (k.status != ClaimStatus.Pending) revert WrongClaimStatus(claimId, k.status);
        uint256 until = uint256(k.submittedAt) + _params.liveness;
        if (block.timestamp < until) revert LivenessNotExpired(claimId, until);
        k.status = ClaimStatus.Paid;
        uint256 payout = _payClaim(k);
        bondsHeld -= k.bond;
        IERC20(asset()).safeTransfer(k.claimant, payout + k.bond);
        emit ClaimSettled(claimId, k.coverId, k.claimant, payout, k.bond);
    }

    /// @notice Decide a disputed claim (ARBITER_ROLE). Valid: pay the claim, claimant gets the bond back plus
    ///         (1 − slashToPoolBps) of the disputer's bond. Invalid: nothing paid, disputer gets the bond back plus
    ///         (1 − slashToPoolBps) of the claimant's bond. The slashed pool share stays in the pool. Emits ClaimResolved.
    function resolve(uint256 claimId, bool claimValid) external onlyRole(ARBITER_ROLE) nonReentrant {
        Claim storage k = _claimOrRevert(claimId);
        if (k.status != ClaimStatus.Disputed) revert WrongClaimStatus(claimId, k.status);
        uint256 bond = k.bond;
        uint256 poolShare = bond * _params.slashToPoolBps / BPS;
        uint256 reward = bond - poolShare;
        bondsHeld -= 2 * bond;
        (address winner, address loser) = claimValid ? (k.claimant, k.disputer) : (k.disputer, k.claimant);
        uint256 payout;
        if (claimValid) {
            k.status = ClaimStatus.Paid;
            payout = _payClaim(k);
        } else {
            k.status = ClaimStatus.Rejected;
            Cover storage c = _covers[k.coverId];
            c.reserved -= k.loss;
            c.openClaims -= 1;
        }
        IERC20(asset()).safeTransfer(winner, payout + bond + reward);
        emit ClaimResolved(claimId, claimValid, winner, loser, payout, reward, poolShare);
    }

    // ------------------------------------------------------------------ views

    /// @notice Current parameters.
    function params() external view returns (Params memory) {
        return _params;
    }

    /// @notice Cover `coverId`.
    function cover(uint256 coverId) external view returns (Cover memory) {
        return _coverOrRevert(coverId);
    }

    /// @notice Claim `claimId`.
    function claim(uint256 claimId) external view returns (Claim memory) {
        return _claimOrRevert(claimId);
    }

    /// @notice Number of covers / claims (ids are 0 .. n-1).
    function counts() external view returns (uint256 covers, uint256 claims) {
        return (_covers.length, _claims.length);
    }

    /// @notice Cover not yet paid or reserved by open claims, USDC units.
    function remainingCover(uint256 coverId) external view returns (uint256) {
        Cover storage c = _coverOrRevert(coverId);
        return c.amount - c.paidOut - c.reserved;
    }

    /// @notice Key under which evidence is de-duplicated: keccak256(abi.encode(sourceChainId, txHash, logIndex)).
    function evidenceKey(uint64 sourceChainId, bytes32 txHash, uint32 logIndex) public pure returns (bytes32) {
        return keccak256(abi.encode(sourceChainId, txHash, logIndex));
    }

    /// @notice Pool assets not locked by cover, USDC units.
    function freeCapital() public view returns (uint256) {
        uint256 a = totalAssets();
        return a > totalLocked ? a - totalLocked : 0;
    }

    /// @notice ERC4626 assets: USDC held minus bonds held.
    function totalAssets() public view override returns (uint256) {
        return IERC20(asset()).balanceOf(address(this)) - bondsHeld;
    }

    /// @notice Withdrawable by `owner`: their share value capped by free capital.
    function maxWithdraw(address owner) public view override returns (uint256) {
        return Math.min(previewRedeem(balanceOf(owner)), freeCapital());
    }

    /// @notice Redeemable shares of `owner`, capped by free capital.
    function maxRedeem(address owner) public view override returns (uint256) {
        return Math.min(balanceOf(owner), convertToShares(freeCapital()));
    }

    // ------------------------------------------------------------------ internals

    function _decimalsOffset() internal view override returns (uint8) {
        return uint8(18 - IERC20Metadata(asset()).decimals());
    }

    function _deposit(address caller, address receiver, uint256 assets, uint256 shares) internal override {
        super._deposit(caller, receiver, assets, shares);
        emit PoolDeposit(caller, receiver, assets, shares);
    }

    function _withdraw(address caller, address receiver, address owner, uint256 assets, uint256 shares)
        internal
        override
        nonReentrant
    {
        super._withdraw(caller, receiver, owner, assets, shares);
        emit PoolWithdraw(caller, receiver, owner, assets, shares);
    }

    /// @dev Final accounting of a paid claim; returns the payout (transferred by the caller).
    function _payClaim(Claim storage k) private returns (uint256 payout) {
        Cover storage c = _covers[k.coverId];
        payout = Math.min(k.loss, c.amount - c.paidOut);
        c.reserved -= k.loss;
        c.paidOut += payout;
        c.openClaims -= 1;
        k.payout = payout;
        if (!c.released) totalLocked -= payout;
    }

    function _setParams(Params memory p) private {
        if (p.liveness == 0 || p.liveness > 30 days) revert InvalidParams("liveness");
        if (p.claimWindow > 90 days) revert InvalidParams("claimWindow");
        if (p.claimBond == 0) revert InvalidParams("claimBond == 0");
        if (p.slashToPoolBps > BPS) revert InvalidParams("slashToPoolBps > 10000");
        _params = p;
        emit ParamsUpdated(p);
    }

    function _coverOrRevert(uint256 id) private view returns (Cover storage) {
        if (id >= _covers.length) revert UnknownCover(id);
        return _covers[id];
    }

    function _claimOrRevert(uint256 id) private view returns (Claim storage) {
        if (id >= _claims.length) revert UnknownClaim(id);
        return _claims[id];
    }
}
