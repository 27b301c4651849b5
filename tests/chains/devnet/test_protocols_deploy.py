"""Protocol deploy steps + post-deploy wiring on real anvil processes, and the pure helpers behind them.

Artifacts come from ``$RTRM_OUT_DIR`` (else the project's ``out/``); the integration tests skip when the
protocol artifacts are not built.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from web3 import AsyncWeb3
from web3.types import RPCEndpoint

from chains.devnet.artifacts import ArtifactError, load_artifact
from chains.devnet.manifest import ChainEntry, ContractEntry, Manifest, utcnow
from chains.devnet.plan import validate_plan
from chains.devnet.protocols import (
    CHAIN_IDS,
    COVER_RATE,
    INITIAL_PRICES,
    PROTOCOL_STEPS,
    PYTH_FEED_IDS,
    ChainContracts,
    default_out_dir,
    deploy_chain,
    friday_expiries,
    full_plan,
    post_deploy,
    svi_slice,
    to_units,
    wire_cross_chain,
)
from chains.devnet.uniswap import POOL_ARTIFACT, price_from_sqrt_x96, sqrt_price_x96, tick_range

ROOT = Path(__file__).resolve().parents[3]
OUT = default_out_dir(ROOT)
NEEDED = ("VaultOptions", "PortfolioMargin", "OptionAMM", "CoverMarket", "MockPyth", "VolFeed", "PriceFeed")


def _artifacts_missing() -> str | None:
    for name in NEEDED:
        try:
            load_artifact(name, root=ROOT, out_dir=OUT)
        except ArtifactError as exc:
            return f"protocol artifacts not built ({exc}); run forge build or set RTRM_OUT_DIR"
    return None


needs_artifacts = pytest.mark.skipif(_artifacts_missing() is not None, reason=str(_artifacts_missing()))


@dataclass
class Devnet:
    manifest: Manifest
    w3: dict[str, AsyncWeb3]
    contracts: dict[str, dict[str, ContractEntry]]
    deploy_seconds: float

    def c(self, chain: str) -> ChainContracts:
        return ChainContracts(self.w3[chain], self.contracts[chain], ROOT, OUT)


@asynccontextmanager
async def build_devnet(anvil_factory: Any, tmp_path: Path, *, solana: bool = False) -> AsyncIterator[Devnet]:
    """Three anvils (+ the in-process Solana endpoint), every protocol deployed and wired."""
    nodes = {c: anvil_factory(chain_id=i) for c, i in CHAIN_IDS.items()}
    w3 = {c: AsyncWeb3(AsyncWeb3.AsyncHTTPProvider(n.url)) for c, n in nodes.items()}
    try:
        t0 = time.perf_counter()
        deployed = await asyncio.gather(*(deploy_chain(w3[c], c, root=ROOT, out_dir=OUT) for c in nodes))
        contracts = dict(zip(nodes, deployed, strict=True))
        await wire_cross_chain(w3, contracts, root=ROOT, out_dir=OUT)
        elapsed = time.perf_counter() - t0
        chains = {
            c: ChainEntry(
                name=c, kind="evm", chain_id=CHAIN_IDS[c], rpc_url=nodes[c].url, contracts=contracts[c]
            )
            for c in nodes
        }
        if solana:
            from chains.devnet.solana import serve_solana

            async with serve_solana("127.0.0.1", 0, tick_interval=0) as ep:
                chains["solana"] = ChainEntry(name="solana", kind="solana", rpc_url=ep.url)
                m = Manifest(
                    status="running",
                    started_at=utcnow(),
                    supervisor_pid=1,
                    directory=str(tmp_path),
                    chains=chains,
                )
                yield Devnet(m, w3, contracts, elapsed)
        else:
            m = Manifest(
                status="running",
                started_at=utcnow(),
                supervisor_pid=1,
                directory=str(tmp_path),
                chains=chains,
            )
            yield Devnet(m, w3, contracts, elapsed)
    finally:
        for x in w3.values():
            await x.provider.disconnect()


# ------------------------------------------------------------------ pure


@pytest.mark.parametrize("chain", sorted(PROTOCOL_STEPS))
def test_full_plan_is_valid(chain: str) -> None:
    validate_plan(full_plan(chain))  # raises on forward references / duplicates


def test_topology_matches_design() -> None:
    names = {c: {getattr(s, "name", None) for s in full_plan(c)} for c in PROTOCOL_STEPS}
    assert "VaultOptions" in names["ethereum"] and "PortfolioMargin" not in names["ethereum"]
    assert {"PortfolioMargin", "UniswapV3Factory", "SequencerUptimeFeed"} <= names["arbitrum"]
    assert {"OptionAMM", "CoverMarket", "MockPyth", "NonfungiblePositionManager"} <= names["base"]
    for n in names.values():
        assert {"ETH_USD", "BTC_USD", "USDC_USD", "VolFeed", "USDC", "WETH", "WBTC"} <= n


@given(
    price=st.integers(min_value=10**15, max_value=10**24),
    base_dec=st.sampled_from([6, 8, 18]),
    quote_dec=st.sampled_from([6, 8, 18]),
    base_is0=st.booleans(),
)
def test_sqrt_price_round_trips(price: int, base_dec: int, quote_dec: int, base_is0: bool) -> None:
    s = sqrt_price_x96(price, base_dec, quote_dec, base_is0)
    back = price_from_sqrt_x96(s, base_dec, quote_dec, base_is0)
    assert abs(back - price) / price < 1e-6


def test_sqrt_price_known_value() -> None:
    # WETH (18) token0, USDC (6) token1 at 3000 USD: raw = 3000e6 / 1e18 = 3e-9
    s = sqrt_price_x96(3000 * 10**18, 18, 6, True)
    assert s == math.isqrt(3000 * 10**6 * 2**192 // 10**18)
    assert abs(s / 2**96 - math.sqrt(3e-9)) / math.sqrt(3e-9) < 1e-12
    with pytest.raises(ValueError, match="positive"):
        sqrt_price_x96(0, 18, 6, True)


def test_tick_range_rounds_outwards() -> None:
    assert tick_range(-196_257, 4055, 10) == (-200_320, -192_200)
    lo, hi = tick_range(887_000, 4055, 60)
    assert hi <= 887_272 and hi % 60 == 0 and lo % 60 == 0


def test_friday_expiries() -> None:
    now = int(datetime(2026, 11, 22, 5, 52, tzinfo=UTC).timestamp())  # a Sunday
    exp = friday_expiries(now)
    days = [datetime.fromtimestamp(e, UTC) for e in exp]
    assert all(d.weekday() == 4 and d.hour == 8 for d in days)
    assert exp[0] - now >= 3 * 86_400 and exp[1] - exp[0] == 28 * 86_400
    assert exp[1] - now <= 56 * 86_400  # inside Opyn's upper-bound table


def test_svi_slice_hits_atm_vol_and_is_valid() -> None:
    tau = Decimal("0.1")
    a, b, rho, m, sigma = svi_slice(Decimal("0.6"), tau)
    wad = 10**18
    w0 = (a + b * sigma // wad) / wad
    assert abs(math.sqrt(w0 / 0.1) - 0.6) < 1e-12
    assert b >= 0 and abs(rho) < wad and sigma > 0
    assert a + b * sigma / wad * math.sqrt(1 - (rho / wad) ** 2) >= 0
    with pytest.raises(ValueError):
        svi_slice(Decimal(0), tau)


# ------------------------------------------------------------------ anvil


@needs_artifacts
async def test_deploy_all_protocols_and_wiring(anvil_factory: Any, tmp_path: Path) -> None:
    async with build_devnet(anvil_factory, tmp_path) as dn:
        print(f"deploy + post-deploy of 3 chains: {dn.deploy_seconds:.2f} s")
        # every feed answers the initial price on every chain
        for chain in CHAIN_IDS:
            c = dn.c(chain)
            for feed, asset in (("ETH_USD", "ETH"), ("BTC_USD", "BTC"), ("USDC_USD", "USDC")):
                rd = await c[feed].functions.latestRoundData().call()
                assert rd[1] == to_units(INITIAL_PRICES[asset], 8)
            weth = c["WETH"].address
            assert len(await c["VolFeed"].functions.expiries(weth).call()) == 2
        eth, arb, base = dn.c("ethereum"), dn.c("arbitrum"), dn.c("base")
        assert await eth["VaultOptions"].functions.seriesCount().call() == 16
        assert await eth["VaultOptions"].functions.spotPrice(eth["WETH"].address).call() == 3000 * 10**18
        assert await arb["PortfolioMargin"].functions.nextSeriesId().call() == 25
        assert await base["OptionAMM"].functions.seriesCount().call() == 12
        assert await base["OptionAMM"].functions.navFresh().call()
        cover = base["CoverMarket"]
        assert (
            await cover.functions.rateOf(1, dn.contracts["ethereum"]["VaultOptions"].address).call()
            == COVER_RATE
        )
        assert (
            await cover.functions.rateOf(42161, dn.contracts["arbitrum"]["PortfolioMargin"].address).call()
            == COVER_RATE
        )
        assert await cover.functions.freeCapital().call() > 0
        pyth = await base["MockPyth"].functions.getPriceUnsafe(PYTH_FEED_IDS["ETH"]).call()
        assert pyth[0] == 3000 * 10**8 and pyth[2] == -8
        # Uniswap pools at the oracle price, with liquidity
        for chain in ("arbitrum", "base"):
            c = dn.c(chain)
            pool = c.at(dn.contracts[chain]["UniswapV3Pool_WETH_USDC_500"].address, POOL_ARTIFACT)
            slot0 = await pool.functions.slot0().call()
            weth_is0 = int(c["WETH"].address, 16) < int(c["USDC"].address, 16)
            px = price_from_sqrt_x96(slot0[0], 18, 6, weth_is0)
            assert abs(px - 3000 * 10**18) / (3000 * 10**18) < 1e-9
            assert await pool.functions.liquidity().call() > 10**15
            quoter = c["QuoterV2"]
            out = await quoter.functions.quoteExactInputSingle(
                (c["WETH"].address, c["USDC"].address, 10**18, 500, 0)
            ).call()
            assert 2990 * 10**6 < out[0] < 3000 * 10**6  # 1 WETH sells for ~3000 USDC less the 0.05 % fee

        # post-deploy is idempotent: a second run adds no series, no rounds, no second pool
        rounds_before = await eth["ETH_USD"].functions.latestRound().call()
        weth_e = eth["WETH"].address
        exp0 = (await eth["VolFeed"].functions.expiries(weth_e).call())[0]
        slice_before = await eth["VolFeed"].functions.getSlice(weth_e, exp0).call()
        extra = await post_deploy(dn.w3["base"], "base", dn.contracts["base"], root=ROOT, out_dir=OUT)
        await post_deploy(dn.w3["ethereum"], "ethereum", dn.contracts["ethereum"], root=ROOT, out_dir=OUT)
        assert (
            extra["UniswapV3Pool_WETH_USDC_500"].address
            == dn.contracts["base"]["UniswapV3Pool_WETH_USDC_500"].address
        )
        assert await eth["VaultOptions"].functions.seriesCount().call() == 16
        assert await eth["ETH_USD"].functions.latestRound().call() == rounds_before
        assert await eth["VolFeed"].functions.getSlice(weth_e, exp0).call() == slice_before
        assert await base["OptionAMM"].functions.seriesCount().call() == 12
        assert await wire_cross_chain(dn.w3, dn.contracts, root=ROOT, out_dir=OUT) == 0


async def test_tx_batch_mines_itself_and_names_reverts(anvil_factory: Any) -> None:
    """On a chain that does not mine by itself, flush mines; a revert is reported with its label."""
    from chains.devnet.txbatch import TxBatch, TxError

    node = anvil_factory(args=("--no-mining",))
    w3 = AsyncWeb3(AsyncWeb3.AsyncHTTPProvider(node.url))
    try:
        accounts = list(await w3.eth.accounts)
        a, b = accounts[0], accounts[1]
        batch = TxBatch(w3, gas=21_000)
        for _ in range(3):
            await batch.send(a, b, b"", value=1, label="transfer")
        receipts = await batch.flush()
        assert [r["status"] for r in receipts] == [1, 1, 1]
        assert await w3.eth.get_transaction_count(a) == 3
        # a call into an address that runs INVALID (0xfe) reverts
        await w3.provider.make_request(RPCEndpoint("anvil_setCode"), [b, "0xfe"])
        await batch.send(a, b, b"\x01", gas=50_000, label="call-into-invalid")
        with pytest.raises(TxError, match="call-into-invalid"):
            await batch.flush()
    finally:
        await w3.provider.disconnect()
