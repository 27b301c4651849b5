"""Pyth confidence blow-out on the devnet: the base chain's MockPyth read as a guard oracle blocks the claimer.

No bot prices on Pyth on EVM, so the runner reads the configured Pyth feeds (`kind = "pyth"`, bots.sources.pyth)
before every tick and hands them to the guards, which judge them by `pyth_max_conf_ratio`. Scenario: a covered
PortfolioMargin account is liquidated on arbitrum (its owner has a claim to file on base), then MockPyth on base
publishes a round whose confidence is 20 % of the price. While it holds: no claim is filed, exactly one alert names
the confidence, however many ticks pass. A normal round (5 bps) → the claim is filed exactly once. The time from
the healthy round to the claim being sent is printed, never asserted.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from bots.config import parse_config
from bots.runner import ChainClock, Runtime
from bots.sources.pyth import PythConfigError, pyth_feeds
from chains.devnet.driver import LiquidationTarget, MarketDriver
from chains.devnet.multicall import install_multicall3
from chains.devnet.protocols import CHAIN_IDS, PYTH_FEED_IDS
from chains.devnet.seed import seed_devnet, wallet_key
from tests.bots.test_claims_devnet import SEED, liquidate
from tests.chains.devnet.test_protocols_deploy import OUT, ROOT, build_devnet, needs_artifacts
from tests.faults._keeper import SENT_OR_LATER, alerts, report_time, rows, running, ticks, wait_until

HOLDER_ENV = "RTRM_TEST_HOLDER_KEY"
BLOWN_BPS = 2000  # confidence = 20 % of the price; the guard allows 2 %
CONFIG = """
[chains.arbitrum]
rpc_urls = ["{arb}"]
chain_id = {arb_id}
[chains.base]
rpc_urls = ["{base}"]
chain_id = {base_id}
[signers.holder]
env = "{env}"
[protocols.portfolio_margin]
kind = "portfolio_margin"
chain = "arbitrum"
addresses = {{ PortfolioMargin = "{pm}" }}
[protocols.cover_market]
kind = "cover_market"
chain = "base"
addresses = {{ CoverMarket = "{cover}" }}
[protocols.pyth_base]
kind = "pyth"
chain = "base"
addresses = {{ MockPyth = "{pyth}", ETH = "0x{eth_id}" }}
[guards]
max_oracle_age_s = {{ chainlink = 3600, pyth = 3600 }}
pyth_max_conf_ratio = "0.02"
[storage]
url = "{db}"
[bots.claimer]
signer = "holder"
interval_s = 0.2
[bots.claimer.protocols.cover_market]
cooldown_s = 0
"""


@needs_artifacts
@pytest.mark.faults
async def test_pyth_confidence_blowout_blocks_base_claim_alerts_once_then_files_once(anvil_factory: Any,
                                                                                     tmp_path: Path) -> None:
    async with build_devnet(anvil_factory, tmp_path) as dn:
        arb_w3, base_w3 = dn.w3["arbitrum"], dn.w3["base"]
        for chain in ("arbitrum", "base"):
            await install_multicall3(dn.w3[chain], root=ROOT, chain=chain)
        report = await seed_devnet(dn.manifest, wallets=4, seed=SEED, root=ROOT, out_dir=OUT)
        arb, base = dn.c("arbitrum"), dn.c("base")
        pm, cover = arb["PortfolioMargin"], base["CoverMarket"]
        covered = {c["holder"] for c in report["cover_market"]["covers"] if c["chain_id"] == CHAIN_IDS["arbitrum"]}
        victim = next(a for a in report["portfolio_margin"]["accounts"] if a["fragile"] and a["owner"] in covered)
        keys = {Account.from_key(wallet_key(SEED, i)).address: "0x" + wallet_key(SEED, i).hex() for i in range(4)}
        submitted_topic = cover.events.ClaimSubmitted().topic

        async def claims_on_chain() -> list[Any]:
            return list(await base_w3.eth.get_logs({"address": cover.address, "fromBlock": 0, "toBlock": "latest",
                                                    "topics": [submitted_topic]}))

        async with MarketDriver(dn.manifest, root=ROOT, out_dir=OUT) as drv:
            await drv.advance_time(60)
            await drv.make_liquidatable([LiquidationTarget("portfolio", victim["account_id"])])
            await liquidate(arb_w3, pm, arb["USDC"], victim["account_id"])
            await drv.push_pyth_confidence(BLOWN_BPS, chains=["base"])  # the blow-out, before the keeper starts
            cfg = parse_config(CONFIG.format(
                arb=dn.manifest.chains["arbitrum"].rpc_url, base=dn.manifest.chains["base"].rpc_url,
                arb_id=CHAIN_IDS["arbitrum"], base_id=CHAIN_IDS["base"], env=HOLDER_ENV, pm=pm.address,
                cover=cover.address, pyth=base["MockPyth"].address, eth_id=PYTH_FEED_IDS["ETH"].hex(),
                db=tmp_path / "pyth.db"))
            rt = Runtime(cfg, environ={HOLDER_ENV: keys[victim["owner"]]}, use_bus=False, clock=ChainClock())
            async with running(rt):
                async def blocked_alert() -> bool:
                    return any("confidence" in a.message for a in await alerts(rt, "guard:oracle"))

                await wait_until(blocked_alert, 60, "the Pyth confidence alert", rt=rt)
                await ticks(rt, 10, bot="claimer")  # the blow-out holds across ticks: still one alert
                (alert,) = await alerts(rt, "guard:oracle")
                assert "submit_claim" in alert.message and "pyth:ETH@base" in alert.message
                assert "confidence 20.0000% of price > max 2.0000%" in alert.message
                assert alert.chain == "base"
                assert await claims_on_chain() == []
                assert [r.key for r in await rows(rt, "claimer")] == []

                loop = asyncio.get_running_loop()
                healed = loop.time()
                await drv.push(chains=["base"])  # a normal round: confidence 5 bps

                async def claim_sent() -> bool:
                    return any(r.kind == "submit_claim" and r.state in SENT_OR_LATER for r in await rows(rt, "claimer"))

                await wait_until(claim_sent, 60, "the claim after the confidence recovered", rt=rt)
                report_time("pyth confidence blow-out", "healthy round → claim sent", loop.time() - healed)

                async def claim_confirmed() -> bool:
                    return any(r.kind == "submit_claim" and r.state == "confirmed" for r in await rows(rt, "claimer"))

                await wait_until(claim_confirmed, 60, "the claim confirmed", rt=rt)
                await ticks(rt, 5, bot="claimer")  # more decisions: nothing filed twice, no new alert
                mine = await rows(rt, "claimer")
                assert [r.kind for r in mine] == ["submit_claim"] and mine[0].state == "confirmed"
                assert len(await alerts(rt, "guard:oracle")) == 1
            filed = await claims_on_chain()
            assert len(filed) == 1
            receipt = await base_w3.eth.get_transaction_receipt(filed[0]["transactionHash"])
            assert receipt["from"] == victim["owner"]


def test_pyth_section_errors_name_the_key() -> None:
    eth = "0x" + PYTH_FEED_IDS["ETH"].hex()
    ok = pyth_feeds("p", {"MockPyth": "0x" + "ab" * 20, "ETH": eth})
    assert len(ok) == 1 and ok[0].price_id == PYTH_FEED_IDS["ETH"] and ok[0].asset.value == "ETH"
    with pytest.raises(PythConfigError, match=r"protocols\.p\.addresses: needs exactly one of Pyth / MockPyth"):
        pyth_feeds("p", {"ETH": eth})
    with pytest.raises(PythConfigError, match=r"protocols\.p\.addresses\.DOGE: not an asset"):
        pyth_feeds("p", {"Pyth": "0x" + "ab" * 20, "DOGE": eth})
    with pytest.raises(PythConfigError, match=r"protocols\.p\.addresses\.ETH: '0x12' is not a 32-byte hex"):
        pyth_feeds("p", {"Pyth": "0x" + "ab" * 20, "ETH": "0x12"})
    with pytest.raises(PythConfigError, match=r"protocols\.p\.addresses: names no price id"):
        pyth_feeds("p", {"Pyth": "0x" + "ab" * 20})
