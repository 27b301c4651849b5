"""Market driver: pure paths, and on real anvils + the Solana endpoint: a push reaches every feed, time moves on
every chain, and make_liquidatable makes exactly the chosen seeded accounts liquidatable per the contracts."""

from __future__ import annotations

import math
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from solana.rpc.async_api import AsyncClient
from solders.pubkey import Pubkey

from chains.devnet.driver import (
    LiquidationTarget,
    MarketDriver,
    crash_path,
    fragile_targets,
    gbm_path,
)
from chains.devnet.errors import DevnetError
from chains.devnet.protocols import CHAIN_IDS, INITIAL_PRICES, PYTH_FEED_IDS
from chains.devnet.seed import seed_devnet
from chains.devnet.solana.admin_client import SolanaAdmin
from chains.devnet.solana_seed import parse_price_update_v2
from chains.devnet.txbatch import chain_now
from tests.chains.devnet.test_protocols_deploy import OUT, ROOT, build_devnet, needs_artifacts


def test_gbm_path_is_seeded_correlated_and_keeps_usdc() -> None:
    a = gbm_path(INITIAL_PRICES, 500, 3600, seed=3)
    assert a == gbm_path(INITIAL_PRICES, 500, 3600, seed=3)
    assert a != gbm_path(INITIAL_PRICES, 500, 3600, seed=4)
    assert all(p["USDC"] == 1 and p["ETH"] > 0 for p in a)
    r = {k: np.diff(np.log([float(INITIAL_PRICES[k])] + [float(p[k]) for p in a])) for k in ("ETH", "BTC")}
    corr = float(np.corrcoef(r["ETH"], r["BTC"])[0, 1])
    assert 0.5 < corr < 0.9  # common factor rho = 0.7
    # without jumps, the hourly stdev of ETH log returns ≈ 0.6·sqrt(1/8760)
    b = gbm_path(INITIAL_PRICES, 500, 3600, seed=3, jump_prob=0.0)
    eth = np.diff(np.log([3000.0] + [float(p["ETH"]) for p in b]))
    assert abs(float(np.std(eth)) / (0.6 / math.sqrt(8760)) - 1) < 0.15


def test_gbm_jumps_move_all_assets_down_together() -> None:
    p = gbm_path(INITIAL_PRICES, 1, 1, seed=1, jump_prob=1.0, jump_mean=-0.2, jump_std=1e-9)[0]
    for k in ("ETH", "BTC", "SOL"):
        assert abs(float(p[k] / INITIAL_PRICES[k]) - math.exp(-0.2)) < 1e-3


def test_crash_path_ends_exactly_at_the_drop() -> None:
    path = crash_path(INITIAL_PRICES, Decimal("0.30"), 4)
    assert len(path) == 4 and path[-1]["ETH"] == Decimal(2100) and path[-1]["BTC"] == Decimal(42000)
    eth = [p["ETH"] for p in path]
    assert eth == sorted(eth, reverse=True) and path[-1]["USDC"] == 1
    with pytest.raises(ValueError):
        crash_path(INITIAL_PRICES, Decimal("1.5"))


@needs_artifacts
async def test_push_reaches_every_feed_and_time_moves(anvil_factory: Any, tmp_path: Path) -> None:
    async with build_devnet(anvil_factory, tmp_path, solana=True) as dn:
        report = await seed_devnet(dn.manifest, wallets=2, seed=5, root=ROOT, out_dir=OUT)
        async with MarketDriver(dn.manifest, root=ROOT, out_dir=OUT) as drv:
            await drv.push(
                {"ETH": Decimal("3123.45"), "BTC": Decimal("61000"), "SOL": Decimal("151.5")},
                vols={"ETH": Decimal("0.75")},
            )
            for chain in CHAIN_IDS:
                c = dn.c(chain)
                assert (await c["ETH_USD"].functions.latestRoundData().call())[1] == 312_345_000_000
                assert (await c["BTC_USD"].functions.latestRoundData().call())[1] == 6_100_000_000_000
                weth = c["WETH"].address
                expiry = (await c["VolFeed"].functions.expiries(weth).call())[0]
                assert (await c["VolFeed"].functions.getSlice(weth, expiry).call())[5] == 3123_45 * 10**16
                iv = await c["VolFeed"].functions.impliedVol(weth, expiry, 3123_45 * 10**16).call()
                assert abs(iv / 1e18 - 0.75) < 1e-3  # ATM vol of the pushed slice
            pyth = await dn.c("base")["MockPyth"].functions.getPriceUnsafe(PYTH_FEED_IDS["ETH"]).call()
            assert pyth[0] == 312_345_000_000
            async with AsyncClient(dn.manifest.chains["solana"].rpc_url) as client:
                acc = (
                    await client.get_account_info(Pubkey.from_string(report["solana"]["pyth"]["SOL"]))
                ).value
                assert acc is not None and parse_price_update_v2(bytes(acc.data))["price"] == 15_150_000_000

            # a second driver continues the same market (prices and vols read back from the oracles)
            async with MarketDriver(dn.manifest, root=ROOT, out_dir=OUT) as again:
                assert again.prices["ETH"] == Decimal("3123.45") and again.prices["SOL"] == Decimal("151.5")
                assert abs(again.vols["ETH"] - Decimal("0.75")) < Decimal("1e-4")

            # L2 sequencer outage is visible in the Chainlink-style uptime feed
            await drv.set_sequencer("arbitrum", down=True)
            assert (await dn.c("arbitrum")["SequencerUptimeFeed"].functions.latestRoundData().call())[1] == 1
            await drv.set_sequencer("arbitrum", down=False)
            assert (await dn.c("arbitrum")["SequencerUptimeFeed"].functions.latestRoundData().call())[1] == 0

            before = {n: await chain_now(dn.w3[n]) for n in CHAIN_IDS}
            async with SolanaAdmin(dn.manifest.chains["solana"].rpc_url) as admin:
                sol_before = (await admin.get_clock()).unix_timestamp
                await drv.advance_time(86_400)
                assert (await admin.get_clock()).unix_timestamp >= sol_before + 86_400
            for n in CHAIN_IDS:
                assert await chain_now(dn.w3[n]) >= before[n] + 86_400
                # re-pushed at the new time, so the protocols' staleness checks still pass
                rd = await dn.c(n)["ETH_USD"].functions.latestRoundData().call()
                assert rd[3] >= before[n] + 86_400
            assert await dn.c("base")["OptionAMM"].functions.navFresh().call()

            # to the first expiry: the round pushed there is the one VaultOptions settles with
            eth = dn.c("ethereum")
            vault = report["vault_options"]["vaults"][0]
            await drv.advance_to(vault["expiry"] + 1)
            assert await chain_now(dn.w3["arbitrum"]) >= vault["expiry"]
            round_id = await eth["ETH_USD"].functions.latestRound().call()
            vo = eth["VaultOptions"]
            await vo.functions.setExpiryPrice(
                eth["WETH"].address, vault["expiry"], round_id
            ).call()  # no revert


@needs_artifacts
async def test_crash_hits_fragile_positions_only(anvil_factory: Any, tmp_path: Path) -> None:
    async with build_devnet(anvil_factory, tmp_path) as dn:
        report = await seed_devnet(dn.manifest, wallets=6, seed=2, root=ROOT, out_dir=OUT)
        fragile = fragile_targets(report)
        safe_vaults = [
            LiquidationTarget("vault", v["vault_id"])
            for v in report["vault_options"]["vaults"]
            if not v["fragile"]
        ]
        async with MarketDriver(dn.manifest, root=ROOT, out_dir=OUT) as drv:
            await drv.crash(Decimal("0.30"), steps=3)
            assert drv.prices["ETH"] == Decimal(2100)
            assert all([await drv.is_liquidatable(t) for t in fragile])
            assert not any([await drv.is_liquidatable(t) for t in safe_vaults])
            await drv.vol_spike(Decimal(2))
            c = dn.c("arbitrum")
            weth = c["WETH"].address
            expiry = (await c["VolFeed"].functions.expiries(weth).call())[0]
            iv = await c["VolFeed"].functions.impliedVol(weth, expiry, 2100 * 10**18).call()
            assert abs(iv / 1e18 - 1.2) < 1e-3


@needs_artifacts
async def test_make_liquidatable_hits_exactly_the_chosen_accounts(anvil_factory: Any, tmp_path: Path) -> None:
    async with build_devnet(anvil_factory, tmp_path) as dn:
        report = await seed_devnet(dn.manifest, wallets=6, seed=9, root=ROOT, out_dir=OUT)
        targets = fragile_targets(report)
        assert {t.kind for t in targets} == {"vault", "portfolio"}
        safe = [
            LiquidationTarget("vault", v["vault_id"])
            for v in report["vault_options"]["vaults"]
            if not v["fragile"]
        ]
        async with MarketDriver(dn.manifest, root=ROOT, out_dir=OUT) as drv:
            assert not any([await drv.is_liquidatable(t) for t in targets])
            rounds = await dn.c("ethereum")["ETH_USD"].functions.latestRound().call()
            factor = await drv.make_liquidatable(targets)
            assert Decimal("0.5") < factor < 1  # a crash, but not an absurd one
            assert all([await drv.is_liquidatable(t) for t in targets])
            assert not any([await drv.is_liquidatable(t) for t in safe])  # over-collateralised vaults survive
            # trials ran on snapshots: only the final move left one new round behind
            assert await dn.c("ethereum")["ETH_USD"].functions.latestRound().call() == rounds + 1
            assert drv.prices["ETH"] == (INITIAL_PRICES["ETH"] * factor).quantize(Decimal("1e-8"))
            # "just enough": a move a bit smaller leaves at least one target solvent
            await drv.push(
                {
                    k: (INITIAL_PRICES[k] * (factor + Decimal("0.02"))).quantize(Decimal("1e-8"))
                    for k in ("ETH", "BTC", "SOL")
                }
            )
            assert not all([await drv.is_liquidatable(t) for t in targets])


@needs_artifacts
async def test_make_liquidatable_upwards_for_short_calls(anvil_factory: Any, tmp_path: Path) -> None:
    async with build_devnet(anvil_factory, tmp_path) as dn:
        report = await seed_devnet(dn.manifest, wallets=6, seed=9, root=ROOT, out_dir=OUT)
        calls = [v for v in report["vault_options"]["vaults"] if not v["is_put"]]
        assert calls, "seed 9 should include short-call vaults"
        targets = [LiquidationTarget("vault", v["vault_id"]) for v in calls]
        async with MarketDriver(dn.manifest, root=ROOT, out_dir=OUT) as drv:
            with pytest.raises(DevnetError, match="no up move"):
                await drv.make_liquidatable(targets, direction="up", max_move=Decimal("0.2"))
            factor = await drv.make_liquidatable(targets, direction="up")
            assert factor > Decimal("1.4")  # these vaults were funded to survive a 40 % rally
            assert all([await drv.is_liquidatable(t) for t in targets])


@needs_artifacts
async def test_driver_command_line(anvil_factory: Any, tmp_path: Path) -> None:
    import asyncio

    from chains.devnet.driver import main
    from chains.devnet.manifest import write_manifest

    async with build_devnet(anvil_factory, tmp_path) as dn:
        write_manifest(dn.manifest, tmp_path)
        rc = await asyncio.to_thread(main, ["--dir", str(tmp_path), "push", "eth=2999.5"])
        assert rc == 0
        for chain in CHAIN_IDS:
            assert (await dn.c(chain)["ETH_USD"].functions.latestRoundData().call())[1] == 299_950_000_000
        keeper = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"
        rc = await asyncio.to_thread(main, ["--dir", str(tmp_path), "fund", keeper, "--usdc", "1234.5", "--eth", "7"])
        assert rc == 0
        for chain in CHAIN_IDS:
            c = dn.c(chain)
            assert await c["USDC"].functions.balanceOf(keeper).call() == 1_234_500_000
            assert await c.w3.eth.get_balance(keeper) == 7 * 10**18
        assert await asyncio.to_thread(main, ["--dir", str(tmp_path), "fund", "0xnot-an-address"]) == 2
    assert await asyncio.to_thread(main, ["--dir", str(tmp_path / "nowhere"), "crash"]) == 2
