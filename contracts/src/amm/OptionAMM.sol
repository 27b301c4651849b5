// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20, IERC20Metadata, ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC4626} from "@openzeppelin/contracts/token/ERC20/extensions/ERC4626.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {AggregatorV3Interface} from "../interfaces/AggregatorV3Interface.sol";
import {IVolFeed, SviSlice} from "../interfaces/IVolFeed.sol";
import {ISwapRouter} from "../uniswap/ISwapRouter.sol";
import {Black76} from "../lib/Black76.sol";
import {AmmGreeks} from "./AmmGreeks.sol";
import {AmmPricing} from "./AmmPricing.sol";

/// @title OptionAMM
/// @notice A USDC liquidity pool that is the counterparty to traders of European, cash-settled ETH options,
///         priced with Black-76 at the SVI vol plus an inventory skew and a utilisation spread, and delta
///         hedged with WETH on Uniswap V3 by a HEDGER_ROLE keeper.
/// @dev Production design followed: Lyra v1 (Avalon) LiquidityPool/OptionMarket/ShortCollateral and Premia v2
///      pools — LPs are the counterparty, trades move the IV (skew), a keeper hedges the pool's net delta.
///      Deviations (all deliberate simplifications for a devnet):
///      - LP shares are an OZ ERC4626 vault on USDC whose totalAssets() is the mark-to-model NAV (Lyra uses
///        round-based deposits/withdrawals with a queue; here they are instant but gated on fresh data).
///      - Traders can only BUY options from the pool and SELL back what they hold (no trader shorts, so no
///        trader collateral accounting); the pool is therefore always short OI.
///      - The forward is the Chainlink spot (zero rates), Black-76 is undiscounted; vol comes from the SVI
///        feed slice for (WETH, expiry) at the strike.
///      - The hedge is spot WETH bought/sold on Uniswap V3 (no perps/borrowing): a positive net delta can only
///        be reduced by selling WETH the pool holds.
///      - Settlement uses the latest Chainlink round, which must have been published at/after expiry.
///      Units: amounts of options in 1e18 contracts (1 contract = 1 ETH); prices, strikes, NAV 1e18 USD;
///      vols and ratios 1e18; deltas 1e18 ETH; USDC in its token units (6 decimals). Rounding: what a trader
///      pays rounds up, what the pool pays out rounds down.
contract OptionAMM is ERC4626, AccessControl, ReentrancyGuard {
    using SafeERC20 for IERC20;

    /// @notice Keeper role allowed to call `rebalance`.
    bytes32 public constant HEDGER_ROLE = keccak256("HEDGER_ROLE");
    /// @notice Maximum number of series ever listed (bounds every loop over the book).
    uint256 public constant MAX_SERIES = 64;
    uint256 private constant WAD = 1e18;
    uint256 private constant BPS = 10_000;

    struct Series {
        uint256 strike; // 1e18 USD
        uint64 expiry; // unix seconds
        bool isCall;
        bool settled;
        uint256 openInterest; // traders' long contracts (the pool is short this), 1e18
        uint256 settlementPrice; // 1e18 USD, set at settlement
        uint256 payoff; // per contract, 1e18 USD, set at settlement
    }

    struct Params {
        uint256 feeRate; // fee = feeRate · F · amount (e.g. 0.003e18)
        uint256 kInv; // inventory skew coefficient (e.g. 0.2e18)
        uint256 exposureCap; // max open interest per series, contracts 1e18 (> 0)
        uint256 spreadBase; // vol spread at zero utilisation (e.g. 0.01e18 = 1 vol point)
        uint256 spreadSlope; // extra vol spread per 1.0 utilisation (e.g. 0.1e18)
        uint256 maxUtilisation; // buys must leave utilisation <= this (e.g. 0.9e18)
        uint256 minVol; // floor of the sell vol (e.g. 0.01e18)
        uint256 deltaHardLimit; // LP withdrawals blocked while |netDelta| > this (ETH 1e18)
        uint256 priceHeartbeat; // seconds after which the Chainlink answer is stale
    }

    struct Quote {
        uint256 premium; // USDC units (buy: rounded up; sell: rounded down)
        uint256 fee; // USDC units, rounded up (on a sell capped at the premium)
        uint256 iv; // trade vol, 1e18
        uint256 ivSvi; // feed vol at the strike, 1e18
        uint256 forward; // 1e18 USD
        uint256 utilisationAfter; // 1e18
        uint256 openInterestAfter; // contracts 1e18
    }

    IERC20 public immutable weth;
    AggregatorV3Interface public immutable priceFeed;
    IVolFeed public immutable volFeed;
    ISwapRouter public immutable swapRouter;
    uint24 public immutable poolFee;
    uint256 private immutable _priceScale; // 10^(18 - feed decimals)
    uint256 private immutable _usdcScale; // 10^(18 - usdc decimals)

    Params private _params;
    Series[] private _series;
    mapping(bytes32 => uint256) private _seriesIdPlusOne;
    /// @notice Long contracts (1e18) of `trader` in series `id`.
    mapping(uint256 id => mapping(address trader => uint256)) public positionOf;

    event ParamsUpdated(Params params);
    event SeriesListed(uint256 indexed seriesId, uint256 strike, uint64 expiry, bool isCall);
    /// @notice One trade. premium and fee in USDC units; iv and forward 1e18.
    event Trade(
        address indexed trader,
        uint256 indexed seriesId,
        bool isBuy,
        uint256 amount,
        uint256 premium,
        uint256 fee,
        uint256 iv,
        uint256 forward,
        uint256 openInterestAfter
    );
    /// @notice Hedge swap. Deltas in ETH 1e18; amounts in token units of tokenIn/tokenOut; price 1e18 USD.
    event Rebalanced(
        int256 deltaBefore,
        int256 deltaAfter,
        address tokenIn,
        address tokenOut,
        uint256 amountIn,
        uint256 amountOut,
        uint256 oraclePrice
    );
    event SeriesSettled(
        uint256 indexed seriesId, uint80 roundId, uint256 settlementPrice, uint256 payoff, uint256 openInterest
    );
    event Claimed(uint256 indexed seriesId, address indexed trader, uint256 amount, uint256 payout);

    error InvalidParams(string what);
    error InvalidSeries(string what);
    error UnknownSeries(uint256 seriesId);
    error TooManySeries(uint256 max);
    error SeriesExpired(uint256 seriesId, uint64 expiry);
    error SeriesNotExpired(uint256 seriesId, uint64 expiry);
    error SeriesAlreadySettled(uint256 seriesId);
    error SeriesNotSettled(uint256 seriesId);
    error ZeroAmount();
    error InvalidPrice(int256 answer);
    error PriceStale(uint256 updatedAt, uint256 heartbeat);
    error VolStale(uint256 seriesId, uint256 updatedAt, uint256 heartbeat);
    error SettlementRoundBeforeExpiry(uint80 roundId, uint256 updatedAt, uint64 expiry);
    error ExposureCapExceeded(uint256 openInterestAfter, uint256 cap);
    error UtilisationTooHigh(uint256 utilisationAfter, uint256 maxUtilisation);
    error SlippageExceeded(uint256 amount, uint256 limit);
    error InsufficientPosition(uint256 held, uint256 requested);
    error InsufficientLiquidity(uint256 needed, uint256 available);
    error DeltaOutsideLimit(int256 netDelta, uint256 limit);
    error DeltaWithinBand(int256 netDelta, uint256 band);
    error SlippageBpsTooLarge(uint256 maxSlippageBps);
    error NothingToSell(int256 netDelta);

    /// @param usdc_ the LP asset and trade currency (USDC, <= 18 decimals)
    /// @param weth_ the underlying and hedge asset (18 decimals); also the vol feed's underlying key
    /// @param priceFeed_ Chainlink-style ETH/USD feed (<= 18 decimals)
    /// @param volFeed_ SVI vol feed
    /// @param swapRouter_ Uniswap V3 SwapRouter used by `rebalance`
    /// @param poolFee_ Uniswap fee tier of the WETH/USDC pool (500)
    /// @param params_ initial parameters (see Params)
    /// @param admin receives DEFAULT_ADMIN_ROLE (params, listing)
    constructor(
        IERC20 usdc_,
        IERC20 weth_,
        AggregatorV3Interface priceFeed_,
        IVolFeed volFeed_,
        ISwapRouter swapRouter_,
        uint24 poolFee_,
        Params memory params_,
        address admin
    ) ERC4626(usdc_) ERC20("rtrm OptionAMM LP", "rAMM-LP") {
        uint8 ud = IERC20Metadata(address(usdc_)).decimals();
        uint8 fd = priceFeed_.decimals();
        if (ud > 18 || fd > 18) revert InvalidParams("decimals > 18");
        if (IERC20Metadata(address(weth_)).decimals() != 18) revert InvalidParams("weth decimals != 18");
        weth = weth_;
        priceFeed = priceFeed_;
        volFeed = volFeed_;
        swapRouter = swapRouter_;
        poolFee = poolFee_;
        _priceScale = 10 ** (18 - fd);
        _usdcScale = 10 ** (18 - ud);
        _setParams(params_);
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    // ------------------------------------------------------------------ admin

    /// @notice Replace all parameters (admin). Emits ParamsUpdated.
    function setParams(Params calldata p) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setParams(p);
    }

    /// @notice List a new series (admin); the id is its index. Emits SeriesListed.
    function listSeries(uint256 strike, uint64 expiry, bool isCall)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
        returns (uint256 id)
    {
        if (strike == 0 || strike > 1e36) revert InvalidSeries("strike");
        if (expiry <= block.timestamp) revert InvalidSeries("expiry in the past");
        bytes32 key = keccak256(abi.encode(strike, expiry, isCall));
        if (_seriesIdPlusOne[key] != 0) revert InvalidSeries("duplicate");
        if (_series.length >= MAX_SERIES) revert TooManySeries(MAX_SERIES);
        id = _series.length;
        _series.push(Series(strike, expiry, isCall, false, 0, 0, 0));
        _seriesIdPlusOne[key] = id + 1;
        emit SeriesListed(id, strike, expiry, isCall);
    }

    // ------------------------------------------------------------------ trading

    /// @notice Price of buying (`isBuy`) or selling `amount` contracts of series `id` now (see AmmPricing).
    /// @dev premium = Black76(F, K, τ, iv_trade)·amount; fee = feeRate·F·amount; both converted to USDC.
    function quote(uint256 id, uint256 amount, bool isBuy) external view returns (Quote memory) {
        _seriesOrRevert(id);
        if (amount == 0) revert ZeroAmount();
        if (!isBuy && amount > _series[id].openInterest) {
            revert InsufficientPosition(_series[id].openInterest, amount);
        }
        return _quote(id, amount, isBuy);
    }

    /// @notice Buy `amount` contracts of series `id`, paying at most `maxCost` USDC (premium + fee).
    function buy(uint256 id, uint256 amount, uint256 maxCost) external nonReentrant returns (uint256 cost) {
        _requireTradable(id, amount);
        Quote memory q = _quote(id, amount, true);
        if (q.openInterestAfter > _params.exposureCap) {
            revert ExposureCapExceeded(q.openInterestAfter, _params.exposureCap);
        }
        if (q.utilisationAfter > _params.maxUtilisation) {
            revert UtilisationTooHigh(q.utilisationAfter, _params.maxUtilisation);
        }
        cost = q.premium + q.fee;
        if (cost > maxCost) revert SlippageExceeded(cost, maxCost);
        IERC20(asset()).safeTransferFrom(msg.sender, address(this), cost);
        _series[id].openInterest = q.openInterestAfter;
        positionOf[id][msg.sender] += amount;
        emit Trade(msg.sender, id, true, amount, q.premium, q.fee, q.iv, q.forward, q.openInterestAfter);
    }

    /// @notice Sell back `amount` held contracts of series `id`, receiving at least `minProceeds` USDC.
    function sell(uint256 id, uint256 amount, uint256 minProceeds) external nonReentrant returns (uint256 proceeds) {
        _requireTradable(id, amount);
        uint256 held = positionOf[id][msg.sender];
        if (held < amount) revert InsufficientPosition(held, amount);
        Quote memory q = _quote(id, amount, false);
        proceeds = q.premium - q.fee;
        if (proceeds < minProceeds) revert SlippageExceeded(proceeds, minProceeds);
        uint256 cash = IERC20(asset()).balanceOf(address(this));
        if (cash < proceeds) revert InsufficientLiquidity(proceeds, cash);
        _series[id].openInterest = q.openInterestAfter;
        positionOf[id][msg.sender] = held - amount;
        IERC20(asset()).safeTransfer(msg.sender, proceeds);
        emit Trade(msg.sender, id, false, amount, q.premium, q.fee, q.iv, q.forward, q.openInterestAfter);
    }

    // ------------------------------------------------------------------ hedging

    /// @notice Swap WETH<->USDC on Uniswap V3 so that netDelta() moves to zero, when it is outside ±band.
    /// @dev netDelta > band: sell min(netDelta, WETH held) WETH with exactInputSingle and
    ///      amountOutMinimum = ceil(amountIn·F·(1 − bps/1e4)) USDC. netDelta < −band: buy exactly −netDelta WETH
    ///      with exactOutputSingle and amountInMaximum = floor(amountOut·F·(1 + bps/1e4)) USDC. The router reverts
    ///      ("Too little received"/"Too much requested") when the pool price is worse than that.
    /// @param targetDeltaBand half width of the no-trade band, ETH 1e18
    /// @param maxSlippageBps tolerated execution price vs the oracle price, basis points (<= 10 000)
    /// @return deltaAfter netDelta() after the swap
    function rebalance(uint256 targetDeltaBand, uint256 maxSlippageBps)
        external
        onlyRole(HEDGER_ROLE)
        nonReentrant
        returns (int256 deltaAfter)
    {
        if (maxSlippageBps > BPS) revert SlippageBpsTooLarge(maxSlippageBps);
        uint256 f = _freshSpot();
        _requireBookVolFresh();
        int256 deltaBefore = netDelta();
        if (_abs(deltaBefore) <= targetDeltaBand) revert DeltaWithinBand(deltaBefore, targetDeltaBand);
        address usdc = asset();
        uint256 amountIn;
        uint256 amountOut;
        if (deltaBefore > 0) {
            amountIn = Math.min(uint256(deltaBefore), weth.balanceOf(address(this)));
            if (amountIn == 0) revert NothingToSell(deltaBefore);
            uint256 minOut =
                Math.mulDiv(amountIn, f * (BPS - maxSlippageBps), WAD * _usdcScale * BPS, Math.Rounding.Ceil);
            weth.forceApprove(address(swapRouter), amountIn);
            amountOut = swapRouter.exactInputSingle(
                ISwapRouter.ExactInputSingleParams(
                    address(weth), usdc, poolFee, address(this), block.timestamp, amountIn, minOut, 0
                )
            );
            emit Rebalanced(deltaBefore, deltaAfter = netDelta(), address(weth), usdc, amountIn, amountOut, f);
        } else {
            amountOut = uint256(-deltaBefore);
            uint256 maxIn = Math.mulDiv(amountOut, f * (BPS + maxSlippageBps), WAD * _usdcScale * BPS);
            uint256 cash = IERC20(usdc).balanceOf(address(this));
            if (cash < maxIn) revert InsufficientLiquidity(maxIn, cash);
            // Approve the whole balance (reset below) so the router's own amountInMaximum check fires with
            // "Too much requested" instead of a bare transfer failure ("STF") inside the pool callback.
            IERC20(usdc).forceApprove(address(swapRouter), cash);
            amountIn = swapRouter.exactOutputSingle(
                ISwapRouter.ExactOutputSingleParams(
                    usdc, address(weth), poolFee, address(this), block.timestamp, amountOut, maxIn, 0
                )
            );
            IERC20(usdc).forceApprove(address(swapRouter), 0);
            emit Rebalanced(deltaBefore, deltaAfter = netDelta(), usdc, address(weth), amountIn, amountOut, f);
        }
    }

    // ------------------------------------------------------------------ settlement

    /// @notice Fix the settlement price of an expired series from the latest feed round (published at/after
    ///         expiry and within the heartbeat). Anyone may call. Emits SeriesSettled.
    function settleSeries(uint256 id) external {
        Series storage s = _seriesOrRevert(id);
        if (block.timestamp < s.expiry) revert SeriesNotExpired(id, s.expiry);
        if (s.settled) revert SeriesAlreadySettled(id);
        (uint80 roundId, int256 answer,, uint256 updatedAt,) = priceFeed.latestRoundData();
        if (answer <= 0) revert InvalidPrice(answer);
        if (updatedAt < s.expiry) revert SettlementRoundBeforeExpiry(roundId, updatedAt, s.expiry);
        if (block.timestamp > updatedAt + _params.priceHeartbeat) revert PriceStale(updatedAt, _params.priceHeartbeat);
        uint256 px = uint256(answer) * _priceScale;
        uint256 payoff = s.isCall ? (px > s.strike ? px - s.strike : 0) : (s.strike > px ? s.strike - px : 0);
        s.settled = true;
        s.settlementPrice = px;
        s.payoff = payoff;
        emit SeriesSettled(id, roundId, px, payoff, s.openInterest);
    }

    /// @notice Pay the caller's settled position in series `id`: floor(amount·payoff) USDC. Emits Claimed.
    function claim(uint256 id) external nonReentrant returns (uint256 payout) {
        Series storage s = _seriesOrRevert(id);
        if (!s.settled) revert SeriesNotSettled(id);
        uint256 held = positionOf[id][msg.sender];
        if (held == 0) revert InsufficientPosition(0, 1);
        payout = Math.mulDiv(held, s.payoff, WAD * _usdcScale);
        positionOf[id][msg.sender] = 0;
        s.openInterest -= held;
        if (payout > 0) IERC20(asset()).safeTransfer(msg.sender, payout);
        emit Claimed(id, msg.sender, held, payout);
    }

    // ------------------------------------------------------------------ views

    /// @notice Current parameters.
    function params() external view returns (Params memory) {
        return _params;
    }

    /// @notice Number of series ever listed (ids are 0 .. count-1).
    function seriesCount() external view returns (uint256) {
        return _series.length;
    }

    /// @notice Series `id`.
    function series(uint256 id) external view returns (Series memory) {
        return _seriesOrRevert(id);
    }

    /// @notice Oracle price, 1e18 USD (reverts if the answer is not positive; freshness not checked).
    function spot() public view returns (uint256 price, uint256 updatedAt) {
        int256 answer;
        (, answer,, updatedAt,) = priceFeed.latestRoundData();
        if (answer <= 0) revert InvalidPrice(answer);
        price = uint256(answer) * _priceScale;
    }

    /// @notice Net asset value, 1e18 USD (may be negative):
    ///         USDC·1e12 + WETH·F − Σ OI·mark, mark = Black-76 at the SVI vol (live), intrinsic at F (expired,
    ///         unsettled) or the fixed payoff (settled, unclaimed).
    function nav() public view returns (int256) {
        (uint256 f,) = spot();
        (,,, uint256 liability) = _book(f);
        return int256(_grossAssets(f)) - int256(liability);
    }

    /// @notice Pool delta, ETH 1e18: options delta (Σ −OI·Black-76 delta at the SVI vol) + WETH held.
    function netDelta() public view returns (int256) {
        (uint256 f,) = spot();
        (int256 optionsDelta,,,) = _book(f);
        return optionsDelta + int256(weth.balanceOf(address(this)));
    }

    /// @notice (netDelta incl. the WETH hedge, options gamma, options vega); units in AmmGreeks.
    function netGreeks() external view returns (int256 delta, int256 gamma, int256 vega) {
        (uint256 f,) = spot();
        (delta, gamma, vega,) = _book(f);
        delta += int256(weth.balanceOf(address(this)));
    }

    /// @notice Open notional / gross assets, 1e18: Σ_unsettled OI·(call ? F : K) ÷ (USDC·1e12 + WETH·F).
    function utilisation() external view returns (uint256) {
        (uint256 f,) = spot();
        return AmmPricing.ratio(_openNotional(f), _grossAssets(f));
    }

    /// @notice Whether the data NAV depends on is fresh: the price within priceHeartbeat and, for every
    ///         unexpired series with open interest, the vol slice within the vol feed's heartbeat.
    function navFresh() external view returns (bool) {
        (, uint256 updatedAt) = spot();
        if (block.timestamp > updatedAt + _params.priceHeartbeat) return false;
        return _staleSeries() == type(uint256).max;
    }

    /// @notice ERC4626 assets = max(nav, 0) in USDC units, rounded down.
    function totalAssets() public view override returns (uint256) {
        int256 v = nav();
        return v > 0 ? uint256(v) / _usdcScale : 0;
    }

    // ------------------------------------------------------------------ internals

    function _decimalsOffset() internal view override returns (uint8) {
        return uint8(18 - IERC20Metadata(asset()).decimals());
    }

    /// @dev LP deposits need a fresh NAV.
    function _deposit(address caller, address receiver, uint256 assets, uint256 shares) internal override {
        _freshSpot();
        _requireBookVolFresh();
        super._deposit(caller, receiver, assets, shares);
    }

    /// @dev LP withdrawals need a fresh NAV, |netDelta| <= deltaHardLimit and enough USDC in the pool.
    function _withdraw(address caller, address receiver, address owner, uint256 assets, uint256 shares)
        internal
        override
        nonReentrant
    {
        _freshSpot();
        _requireBookVolFresh();
        int256 d = netDelta();
        if (_abs(d) > _params.deltaHardLimit) revert DeltaOutsideLimit(d, _params.deltaHardLimit);
        uint256 cash = IERC20(asset()).balanceOf(address(this));
        if (cash < assets) revert InsufficientLiquidity(assets, cash);
        super._withdraw(caller, receiver, owner, assets, shares);
    }

    function _setParams(Params memory p) private {
        if (p.exposureCap == 0) revert InvalidParams("exposureCap == 0");
        if (p.feeRate > 0.1e18) revert InvalidParams("feeRate > 10%");
        if (p.priceHeartbeat == 0) revert InvalidParams("priceHeartbeat == 0");
        if (p.minVol == 0 || p.minVol > 10e18) revert InvalidParams("minVol");
        if (p.kInv > 10e18 || p.spreadBase > 1e18 || p.spreadSlope > 10e18) revert InvalidParams("skew/spread");
        _params = p;
        emit ParamsUpdated(p);
    }

    function _quote(uint256 id, uint256 amount, bool isBuy) private view returns (Quote memory q) {
        Series storage s = _series[id];
        if (block.timestamp >= s.expiry) revert SeriesExpired(id, s.expiry);
        (q.forward,) = spot();
        q.ivSvi = volFeed.impliedVol(address(weth), s.expiry, s.strike);
        q.openInterestAfter = isBuy ? s.openInterest + amount : s.openInterest - amount;
        uint256 leg = amount * (s.isCall ? q.forward : s.strike) / WAD;
        uint256 notional = _openNotional(q.forward);
        notional = isBuy ? notional + leg : (notional > leg ? notional - leg : 0);
        q.utilisationAfter = AmmPricing.ratio(notional, _grossAssets(q.forward));
        Params memory p = _params;
        q.iv = AmmPricing.tradeVol(
            q.ivSvi,
            q.openInterestAfter,
            p.exposureCap,
            p.kInv,
            p.spreadBase,
            p.spreadSlope,
            q.utilisationAfter,
            p.minVol,
            isBuy
        );
        uint256 tau = (uint256(s.expiry) - block.timestamp) * WAD / 365 days;
        uint256 unit = Black76.price(s.isCall, q.forward, s.strike, tau, q.iv);
        q.premium = Math.mulDiv(unit, amount, WAD * _usdcScale, isBuy ? Math.Rounding.Ceil : Math.Rounding.Floor);
        q.fee = Math.mulDiv(p.feeRate * q.forward, amount, WAD * WAD * _usdcScale, Math.Rounding.Ceil);
        if (!isBuy && q.fee > q.premium) q.fee = q.premium;
    }

    /// @dev One pass over the book: (options delta, gamma, vega, liability) of the pool's short positions.
    function _book(uint256 f) private view returns (int256 delta, int256 gamma, int256 vega, uint256 liability) {
        uint256 n = _series.length;
        for (uint256 i; i < n; ++i) {
            Series storage s = _series[i];
            uint256 oi = s.openInterest;
            if (oi == 0) continue;
            if (s.settled) {
                liability += oi * s.payoff / WAD;
                continue;
            }
            uint256 tau;
            uint256 vol;
            if (block.timestamp < s.expiry) {
                tau = (uint256(s.expiry) - block.timestamp) * WAD / 365 days;
                vol = volFeed.impliedVol(address(weth), s.expiry, s.strike);
            }
            (uint256 px, int256 d) = Black76.priceAndDelta(s.isCall, f, s.strike, tau, vol);
            liability += oi * px / WAD;
            delta -= int256(oi) * d / int256(WAD);
            (uint256 g, uint256 v) = AmmGreeks.gammaVega(f, s.strike, tau, vol);
            gamma -= int256(oi * g / WAD);
            vega -= int256(oi * v / WAD);
        }
    }

    function _openNotional(uint256 f) private view returns (uint256 notional) {
        uint256 n = _series.length;
        for (uint256 i; i < n; ++i) {
            Series storage s = _series[i];
            if (s.openInterest == 0 || s.settled) continue;
            notional += s.openInterest * (s.isCall ? f : s.strike) / WAD;
        }
    }

    function _grossAssets(uint256 f) private view returns (uint256) {
        return IERC20(asset()).balanceOf(address(this)) * _usdcScale + weth.balanceOf(address(this)) * f / WAD;
    }

    function _seriesOrRevert(uint256 id) private view returns (Series storage) {
        if (id >= _series.length) revert UnknownSeries(id);
        return _series[id];
    }

    function _requireTradable(uint256 id, uint256 amount) private view {
        Series storage s = _seriesOrRevert(id);
        if (amount == 0) revert ZeroAmount();
        if (block.timestamp >= s.expiry) revert SeriesExpired(id, s.expiry);
        _freshSpot();
        _requireVolFresh(id);
    }

    function _freshSpot() private view returns (uint256 f) {
        uint256 updatedAt;
        (f, updatedAt) = spot();
        if (block.timestamp > updatedAt + _params.priceHeartbeat) revert PriceStale(updatedAt, _params.priceHeartbeat);
    }

    function _requireVolFresh(uint256 id) private view {
        Series storage s = _series[id];
        SviSlice memory sl = volFeed.getSlice(address(weth), s.expiry);
        uint256 hb = volFeed.heartbeat();
        if (block.timestamp > sl.updatedAt + hb) revert VolStale(id, sl.updatedAt, hb);
    }

    function _requireBookVolFresh() private view {
        uint256 bad = _staleSeries();
        if (bad != type(uint256).max) _requireVolFresh(bad); // reverts with VolStale(bad, ...)
    }

    /// @dev First unexpired series with open interest whose vol slice is stale, or type(uint256).max.
    function _staleSeries() private view returns (uint256) {
        uint256 hb = volFeed.heartbeat();
        uint256 n = _series.length;
        for (uint256 i; i < n; ++i) {
            Series storage s = _series[i];
            if (s.openInterest == 0 || s.settled || block.timestamp >= s.expiry) continue;
            if (block.timestamp > volFeed.getSlice(address(weth), s.expiry).updatedAt + hb) return i;
        }
        return type(uint256).max;
    }

    function _abs(int256 x) private pure returns (uint256) {
        return x >= 0 ? uint256(x) : uint256(-x);
    }
}
