"""Deploy steps and post-deploy wiring for every devnet protocol (oracles, VaultOptions, PortfolioMargin,
OptionAMM, CoverMarket, MockPyth, Uniswap V3).

Why two phases: constructor-time wiring is plain data (``PROTOCOL_STEPS``, run by ``PlanDeployer`` right after the
tokens of ``plan.EVERY_EVM_CHAIN``); everything that depends on the chain's clock or on other chains (series
expiries, SVI slices, first oracle rounds, pools at the oracle price, cover rates for protocols on other chains)
runs afterwards in :func:`post_deploy` / :func:`wire_cross_chain`. Both are idempotent: they check the chain
before writing. Transactions go out in batches (local nonces, one wait per batch) so a chain takes a few rounds.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from eth_utils import to_checksum_address
from web3 import AsyncWeb3

from chains.devnet.deployer import PlanDeployer
from chains.devnet.errors import DevnetError
from chains.devnet.manifest import ContractEntry
from chains.devnet.plan import DEPLOYER, EVERY_EVM_CHAIN, Call, Deploy, Ref, Step
from chains.devnet.txbatch import ChainContracts, TxBatch, chain_now
from chains.devnet.uniswap import (
    POOL_ARTIFACT,
    POOL_FEE,
    UNISWAP_STEPS,
    PoolSeed,
    seed_pool,
)

WAD = 10**18
FEED_DECIMALS = 8
CHAIN_IDS: Mapping[str, int] = {"ethereum": 1, "arbitrum": 42161, "base": 8453}

# Starting market (USD). The driver moves everything from here, consistently across chains and Solana.
INITIAL_PRICES: Mapping[str, Decimal] = {
    "ETH": Decimal(3000),
    "BTC": Decimal(60000),
    "USDC": Decimal(1),
    "SOL": Decimal(150),
}
INITIAL_ATM_VOL: Mapping[str, Decimal] = {
    "ETH": Decimal("0.60"),
    "BTC": Decimal("0.50"),
    "SOL": Decimal("0.80"),
}
# Chainlink-style feeds on every EVM chain: manifest name -> (asset, description)
PRICE_FEEDS: Mapping[str, tuple[str, str]] = {
    "ETH_USD": ("ETH", "ETH / USD"),
    "BTC_USD": ("BTC", "BTC / USD"),
    "USDC_USD": ("USDC", "USDC / USD"),
}
# Token contract that stands for an asset in VolFeed/VaultOptions/PortfolioMargin.
UNDERLYING_TOKEN: Mapping[str, str] = {"ETH": "WETH", "BTC": "WBTC"}
# Pyth price feed ids (the production ids, so readers can use their usual constants).
PYTH_FEED_IDS: Mapping[str, bytes] = {
    "ETH": bytes.fromhex("ff61491a931112ddf1bd8147cd1b641375f79f5825126d665480874634fd0ace"),
    "BTC": bytes.fromhex("e62df6c8b4a85fe1a67db44dc12de5db330f7ac66b72dc658afedf0f4a415b43"),
    "SOL": bytes.fromhex("ef0d8b6fda2ceba41da15d4095d1da392a0d2f8ed0c6c7bc0f4cfac8c280b56d"),
    "USDC": bytes.fromhex("eaa020c61cc479712813461ce153894a96a6c00b21ed0cfc2798d1f9a9e9c94a"),
}
PYTH_EXPONENT = -8
PYTH_UPDATE_FEE_WEI = 1
PYTH_VALID_PERIOD = 120

VOL_HEARTBEAT = 86_400
VAULT_MAX_ORACLE_AGE = 86_400
PM_MAX_STALENESS = 86_400
AMM_PRICE_HEARTBEAT = 86_400
# OptionAMM.Params: feeRate, kInv, exposureCap, spreadBase, spreadSlope, maxUtilisation, minVol, deltaHardLimit,
# priceHeartbeat (the README's defaults)
AMM_PARAMS = (
    3 * WAD // 1000,
    2 * WAD // 10,
    1000 * WAD,
    WAD // 100,
    WAD // 10,
    9 * WAD // 10,
    WAD // 100,
    5 * WAD,
    AMM_PRICE_HEARTBEAT,
)
# CoverMarket.Params: liveness, claimWindow, claimBond (USDC), slashToPoolBps
COVER_PARAMS = (2 * 3600, 86_400, 100 * 10**6, 5000)
COVER_RATE = 5 * WAD // 100  # 5 %/year for every covered protocol

# Capital the deployer puts in on start (USDC/WETH token units).
AMM_HOUSE_LP_USDC = 2_000_000 * 10**6
COVER_HOUSE_LP_USDC = 5_000_000 * 10**6
PM_SECURITY_MODULE_USDC = 1_000_000 * 10**6
POOL_WETH = 10_000 * WAD
POOL_USDC = 30_000_000 * 10**6

_FEEDS: tuple[Step, ...] = tuple(
    Deploy(name, "PriceFeed", (desc, FEED_DECIMALS, DEPLOYER)) for name, (_, desc) in PRICE_FEEDS.items()
) + (Deploy("VolFeed", "VolFeed", (DEPLOYER, VOL_HEARTBEAT)),)
_SEQUENCER: tuple[Step, ...] = (Deploy("SequencerUptimeFeed", "SequencerUptimeFeed", (False, DEPLOYER)),)

PROTOCOL_STEPS: Mapping[str, tuple[Step, ...]] = {
    "ethereum": _FEEDS
    + (
        Deploy("VaultOptions", "VaultOptions", (Ref("USDC"), DEPLOYER, VAULT_MAX_ORACLE_AGE)),
        Call("VaultOptions", "setOracle", (Ref("WETH"), Ref("ETH_USD"))),
        Call("VaultOptions", "setOracle", (Ref("WBTC"), Ref("BTC_USD"))),
    ),
    "arbitrum": _FEEDS
    + _SEQUENCER
    + (
        Deploy("PortfolioMargin", "PortfolioMargin", (Ref("USDC"), Ref("VolFeed"), DEPLOYER)),
        Call("PortfolioMargin", "setUnderlying", (Ref("WETH"), Ref("ETH_USD"), PM_MAX_STALENESS)),
        Call("PortfolioMargin", "setUnderlying", (Ref("WBTC"), Ref("BTC_USD"), PM_MAX_STALENESS)),
    )
    + UNISWAP_STEPS,
    "base": _FEEDS
    + _SEQUENCER
    + UNISWAP_STEPS
    + (
        Deploy("MockPyth", "MockPyth", (PYTH_VALID_PERIOD, PYTH_UPDATE_FEE_WEI)),
        Deploy(
            "OptionAMM",
            "OptionAMM",
            (
                Ref("USDC"),
                Ref("WETH"),
                Ref("ETH_USD"),
                Ref("VolFeed"),
                Ref("SwapRouter"),
                POOL_FEE,
                AMM_PARAMS,
                DEPLOYER,
            ),
        ),
        Deploy("CoverMarket", "CoverMarket", (Ref("USDC"), COVER_PARAMS, DEPLOYER)),
    ),
}


def full_plan(chain: str) -> tuple[Step, ...]:
    """Tokens (``plan.EVERY_EVM_CHAIN``) followed by this chain's protocol steps."""
    return EVERY_EVM_CHAIN + PROTOCOL_STEPS.get(chain, ())


def default_out_dir(root: Path) -> Path:
    """Forge artifacts: ``$RTRM_OUT_DIR`` when set, else the project's ``out/``."""
    env = os.environ.get("RTRM_OUT_DIR")
    return Path(env) if env else root / "out"


# ---------------------------------------------------------------- pure helpers


def to_units(value: Decimal, decimals: int) -> int:
    """Exact scaling of a Decimal to integer units (rounded half-even at the last unit)."""
    return int((value * (Decimal(10) ** decimals)).to_integral_value())


def friday_expiries(now: int, *, min_days: int = 3, weeks: Sequence[int] = (0, 4)) -> tuple[int, ...]:
    """Deribit-style expiries (Fridays 08:00 UTC): the first at least ``min_days`` ahead, then +N weeks.

    Kept within Opyn's 56-day upper-bound table so every VaultOptions series is marginable.
    """
    t = datetime.fromtimestamp(now, UTC) + timedelta(days=min_days)
    first = t.replace(hour=8, minute=0, second=0, microsecond=0) + timedelta(days=(4 - t.weekday()) % 7)
    if first.timestamp() < now + min_days * 86_400:
        first += timedelta(days=7)
    return tuple(int((first + timedelta(weeks=w)).timestamp()) for w in weeks)


def svi_slice(atm_vol: Decimal, tau_years: Decimal) -> tuple[int, int, int, int, int]:
    """A valid raw-SVI slice (a, b, rho, m, sigma in 1e18) with ATM vol ``atm_vol`` and a put skew.

    w(0) = a + b·sigma = atm² τ, split half/half between a and b·sigma; rho −0.3 gives the usual downside skew.
    """
    if atm_vol <= 0 or tau_years <= 0:
        raise ValueError(f"svi_slice needs positive vol and tau (got {atm_vol}, {tau_years})")
    w0 = atm_vol * atm_vol * tau_years
    sigma = Decimal("0.2")
    a = w0 / 2
    b = w0 / 2 / sigma
    return (to_units(a, 18), to_units(b, 18), to_units(Decimal("-0.3"), 18), 0, to_units(sigma, 18))


def strike_grid(spot: Decimal, moneyness: Sequence[Decimal], step: Decimal) -> tuple[int, ...]:
    """Strikes (1e18 USD) at spot × moneyness rounded to ``step``."""
    return tuple(to_units((spot * m / step).to_integral_value() * step, 18) for m in moneyness)


# ---------------------------------------------------------------- batched transactions


def _feed_answer(asset: str, price: Decimal | None = None) -> int:
    return to_units(INITIAL_PRICES[asset] if price is None else price, FEED_DECIMALS)


async def _seed_oracles(
    c: ChainContracts, batch: TxBatch, sender: str, expiries: Sequence[int], now: int
) -> None:
    """First Chainlink rounds and SVI slices for every expiry (skipped when a round already exists)."""
    for name, (asset, _) in PRICE_FEEDS.items():
        if not c.has(name) or int(await c[name].functions.latestRound().call()) > 0:
            continue
        await batch.send(
            sender, c[name].address, c[name].encode_abi("updateAnswer", args=[_feed_answer(asset)])
        )
    if c.has("VolFeed") and not await c["VolFeed"].functions.underlyings().call():
        vf = c["VolFeed"]
        for asset, token in UNDERLYING_TOKEN.items():
            for expiry in expiries:
                tau = Decimal(expiry - now) / Decimal(365 * 86_400)
                a, b, rho, m, sigma = svi_slice(INITIAL_ATM_VOL[asset], tau)
                fwd = to_units(INITIAL_PRICES[asset], 18)
                args = [c[token].address, expiry, a, b, rho, m, sigma, fwd]
                await batch.send(
                    sender, vf.address, vf.encode_abi("setSlice", args=args), label="VolFeed.setSlice"
                )


async def _mint(c: ChainContracts, batch: TxBatch, sender: str, token: str, to: str, amount: int) -> None:
    await batch.send(
        sender, c[token].address, c[token].encode_abi("mint", args=[to, amount]), label=f"{token}.mint"
    )


async def _approve(
    c: ChainContracts, batch: TxBatch, owner: str, token: str, spender: str, amount: int
) -> None:
    await batch.send(
        owner, c[token].address, c[token].encode_abi("approve", args=[spender, amount]), label="approve"
    )


VAULT_MONEYNESS = (Decimal("0.8"), Decimal("0.9"), Decimal("1.1"), Decimal("1.2"))
PM_MONEYNESS = (Decimal("0.9"), Decimal("1.0"), Decimal("1.1"))
STRIKE_STEP = {"ETH": Decimal(100), "BTC": Decimal(1000)}


async def _ethereum(c: ChainContracts, batch: TxBatch, sender: str, expiries: Sequence[int]) -> None:
    vo = c["VaultOptions"]
    if int(await vo.functions.seriesCount().call()) > 0:
        return
    for asset, token in UNDERLYING_TOKEN.items():
        for expiry in expiries:
            for k, mny in zip(
                strike_grid(INITIAL_PRICES[asset], VAULT_MONEYNESS, STRIKE_STEP[asset]),
                VAULT_MONEYNESS,
                strict=True,
            ):
                is_put = mny < 1
                args = [c[token].address, k, expiry, is_put]
                await batch.send(
                    sender,
                    vo.address,
                    vo.encode_abi("createSeries", args=args),
                    gas=2_500_000,
                    label="VaultOptions.createSeries",
                )


async def _arbitrum(c: ChainContracts, batch: TxBatch, sender: str, expiries: Sequence[int]) -> None:
    pm = c["PortfolioMargin"]
    if int(await pm.functions.nextSeriesId().call()) == 1:
        for asset, token in UNDERLYING_TOKEN.items():
            for expiry in expiries:
                for k in strike_grid(INITIAL_PRICES[asset], PM_MONEYNESS, STRIKE_STEP[asset]):
                    for is_call in (True, False):
                        args = [c[token].address, expiry, k, is_call]
                        await batch.send(
                            sender,
                            pm.address,
                            pm.encode_abi("addSeries", args=args),
                            label="PortfolioMargin.addSeries",
                        )
        await _mint(c, batch, sender, "USDC", sender, PM_SECURITY_MODULE_USDC)
        await _approve(c, batch, sender, "USDC", pm.address, PM_SECURITY_MODULE_USDC)
        await batch.send(
            sender,
            pm.address,
            pm.encode_abi("fundSecurityModule", args=[PM_SECURITY_MODULE_USDC]),
            label="fundSecurityModule",
        )


async def _base(c: ChainContracts, batch: TxBatch, sender: str, expiries: Sequence[int]) -> None:
    amm, cover = c["OptionAMM"], c["CoverMarket"]
    if int(await amm.functions.seriesCount().call()) == 0:
        for expiry in expiries:
            for k in strike_grid(INITIAL_PRICES["ETH"], PM_MONEYNESS, STRIKE_STEP["ETH"]):
                for is_call in (True, False):
                    await batch.send(
                        sender,
                        amm.address,
                        amm.encode_abi("listSeries", args=[k, expiry, is_call]),
                        label="OptionAMM.listSeries",
                    )
        hedger = await amm.functions.HEDGER_ROLE().call()
        await batch.send(
            sender, amm.address, amm.encode_abi("grantRole", args=[hedger, sender]), label="HEDGER_ROLE"
        )
        await _mint(c, batch, sender, "USDC", sender, AMM_HOUSE_LP_USDC)
        await _approve(c, batch, sender, "USDC", amm.address, AMM_HOUSE_LP_USDC)
        await batch.send(
            sender,
            amm.address,
            amm.encode_abi("deposit", args=[AMM_HOUSE_LP_USDC, sender]),
            label="OptionAMM.deposit",
        )
    if int(await cover.functions.totalSupply().call()) == 0:
        arbiter = await cover.functions.ARBITER_ROLE().call()
        await batch.send(
            sender, cover.address, cover.encode_abi("grantRole", args=[arbiter, sender]), label="ARBITER_ROLE"
        )
        await batch.send(
            sender,
            cover.address,
            cover.encode_abi("setProtocolRate", args=[CHAIN_IDS["base"], amm.address, COVER_RATE]),
            label="setProtocolRate",
        )
        await _mint(c, batch, sender, "USDC", sender, COVER_HOUSE_LP_USDC)
        await _approve(c, batch, sender, "USDC", cover.address, COVER_HOUSE_LP_USDC)
        await batch.send(
            sender,
            cover.address,
            cover.encode_abi("deposit", args=[COVER_HOUSE_LP_USDC, sender]),
            label="CoverMarket.deposit",
        )


async def _uniswap(c: ChainContracts, batch: TxBatch, sender: str) -> dict[str, ContractEntry]:
    """WETH/USDC 0.05 % pool at the oracle price with deep liquidity (kept when it already exists)."""
    factory = c["UniswapV3Factory"]
    existing = await factory.functions.getPool(c["WETH"].address, c["USDC"].address, POOL_FEE).call()
    if int(existing, 16) == 0:
        await _mint(c, batch, sender, "WETH", sender, POOL_WETH)
        await _mint(c, batch, sender, "USDC", sender, POOL_USDC)
        seeded = await seed_pool(
            c.w3,
            batch,
            sender=sender,
            npm=c["NonfungiblePositionManager"],
            factory=factory,
            pool_abi=c.abi(POOL_ARTIFACT),
            erc20_abi=c["USDC"].abi,
            seed=PoolSeed(
                c["WETH"].address,
                c["USDC"].address,
                18,
                6,
                to_units(INITIAL_PRICES["ETH"], 18),
                POOL_WETH,
                POOL_USDC,
            ),
        )
        existing = seeded.pool
    block = await c.w3.eth.block_number
    return {
        "UniswapV3Pool_WETH_USDC_500": ContractEntry(
            address=to_checksum_address(existing), block=int(block), artifact=POOL_ARTIFACT
        )
    }


async def post_deploy(
    w3: AsyncWeb3,
    chain: str,
    contracts: Mapping[str, ContractEntry],
    *,
    root: Path,
    out_dir: Path | None = None,
) -> dict[str, ContractEntry]:
    """Initialise a chain after its plan ran: first oracle rounds, SVI slices, series, house liquidity, Uniswap
    pool, MockPyth prices, roles. Returns extra manifest entries (the Uniswap pool). Safe to run twice."""
    c = ChainContracts(w3, contracts, root, out_dir or default_out_dir(root))
    sender = (await w3.eth.accounts)[0]
    batch = TxBatch(w3)
    now = await chain_now(w3)
    expiries = friday_expiries(now)
    await _seed_oracles(c, batch, sender, expiries, now)
    if c.has("MockPyth") and not await c["MockPyth"].functions.priceFeedExists(PYTH_FEED_IDS["ETH"]).call():
        await push_pyth(
            c["MockPyth"], batch, sender, {a: INITIAL_PRICES[a] for a in ("ETH", "BTC", "USDC")}, now
        )
    await batch.flush()  # series and margin views need the feeds
    extra: dict[str, ContractEntry] = {}
    if c.has("VaultOptions"):
        await _ethereum(c, batch, sender, expiries)
    if c.has("PortfolioMargin"):
        await _arbitrum(c, batch, sender, expiries)
    if c.has("OptionAMM") and c.has("CoverMarket"):
        await _base(c, batch, sender, expiries)
    await batch.flush()
    if c.has("NonfungiblePositionManager"):
        extra.update(await _uniswap(c, batch, sender))
    return extra


def pyth_update_data(
    w3: AsyncWeb3, asset: str, price: Decimal, publish_time: int, conf_bps: int = 5
) -> bytes:
    """MockPyth update bytes: abi.encode(PriceFeed(id, price, emaPrice), prevPublishTime)."""
    p = to_units(price, -PYTH_EXPONENT)
    conf = p * conf_bps // 10_000
    price_t = (p, conf, PYTH_EXPONENT, publish_time)
    return w3.codec.encode(
        ["(bytes32,(int64,uint64,int32,uint256),(int64,uint64,int32,uint256))", "uint64"],
        [(PYTH_FEED_IDS[asset], price_t, price_t), publish_time],
    )


async def push_pyth(
    pyth: Any, batch: TxBatch, sender: str, prices: Mapping[str, Decimal], publish_time: int
) -> None:
    """One ``updatePriceFeeds`` carrying every asset (fee = 1 wei per update)."""
    data = [pyth_update_data(pyth.w3, a, p, publish_time) for a, p in prices.items()]
    await batch.send(
        sender,
        pyth.address,
        pyth.encode_abi("updatePriceFeeds", args=[data]),
        value=PYTH_UPDATE_FEE_WEI * len(data),
        label="MockPyth.updatePriceFeeds",
    )


async def wire_cross_chain(
    w3_by_chain: Mapping[str, AsyncWeb3],
    contracts_by_chain: Mapping[str, Mapping[str, ContractEntry]],
    *,
    root: Path,
    out_dir: Path | None = None,
) -> int:
    """Make the base CoverMarket cover VaultOptions (ethereum) and PortfolioMargin (arbitrum); returns the number
    of rates set (0 when already set or when a chain is missing). Run once every chain is deployed."""
    if "base" not in w3_by_chain or "CoverMarket" not in contracts_by_chain.get("base", {}):
        return 0
    c = ChainContracts(
        w3_by_chain["base"], contracts_by_chain["base"], root, out_dir or default_out_dir(root)
    )
    cover = c["CoverMarket"]
    sender = (await c.w3.eth.accounts)[0]
    batch = TxBatch(c.w3)
    for chain, name in (("ethereum", "VaultOptions"), ("arbitrum", "PortfolioMargin")):
        entry = contracts_by_chain.get(chain, {}).get(name)
        if entry is None:
            continue
        if int(await cover.functions.rateOf(CHAIN_IDS[chain], entry.address).call()) == COVER_RATE:
            continue
        args = [CHAIN_IDS[chain], entry.address, COVER_RATE]
        await batch.send(
            sender, cover.address, cover.encode_abi("setProtocolRate", args=args), label="setProtocolRate"
        )
    n = batch.sent
    await batch.flush()
    return n


async def deploy_chain(
    w3: AsyncWeb3,
    chain: str,
    *,
    root: Path,
    out_dir: Path | None = None,
    reuse: Mapping[str, ContractEntry] | None = None,
) -> dict[str, ContractEntry]:
    """Run ``full_plan(chain)`` with the project's PlanDeployer, then :func:`post_deploy` (tests and scripts)."""
    out = out_dir or default_out_dir(root)
    result = await PlanDeployer(w3, chain=chain, root=root, out_dir=out).run(full_plan(chain), reuse=reuse)
    if result.skipped:
        raise DevnetError(f"{chain}: plan steps skipped: {'; '.join(result.skipped)}")
    contracts = dict(result.contracts)
    contracts.update(await post_deploy(w3, chain, contracts, root=root, out_dir=out))
    return contracts


__all__ = [
    "CHAIN_IDS",
    "INITIAL_PRICES",
    "PROTOCOL_STEPS",
    "PYTH_FEED_IDS",
    "ChainContracts",
    "TxBatch",
    "deploy_chain",
    "full_plan",
    "post_deploy",
    "wire_cross_chain",
]
