"""The claimer and the disputer end to end on a real devnet (anvil ×3, every protocol deployed and seeded), real
SQLite: a covered, fragile PortfolioMargin account is liquidated on arbitrum (auction + bid, directly in the
test); the covered wallet's own keeper files `submitClaim` on base with the AuctionBid log as evidence; another
holder files a fabricated claim (evidence = a non-liquidation log) which the same keeper's disputer disputes;
after liveness the claimer settles its claim (paid min(loss, cover)) and the arbiter rejects the fabricated one
(bonds move); journal rows are unique per key and the store's claims equal the chain (`rtrm claims --json`).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

from eth_account import Account
from web3.types import RPCEndpoint

from bots.config import Config, parse_config
from bots.runner import ChainClock, Runtime
from bots.sources.claims import AUCTION_BID
from chains.devnet.driver import LiquidationTarget, MarketDriver
from chains.devnet.multicall import install_multicall3
from chains.devnet.protocols import CHAIN_IDS, COVER_PARAMS
from chains.devnet.seed import seed_devnet, wallet_key
from chains.protocols.cover_market import ClaimStatus
from tests.chains.devnet.test_protocols_deploy import OUT, ROOT, build_devnet, needs_artifacts

HOLDER_ENV = "RTRM_TEST_HOLDER_KEY"
SEED = 9
WAD = 10**18
LIVENESS, _, BOND, SLASH_BPS = COVER_PARAMS

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
[storage]
url = "{db}"
[bots.claimer]
signer = "holder"
interval_s = 0.2
[bots.claimer.protocols.cover_market]
cooldown_s = 0
[bots.disputer]
signer = "holder"
interval_s = 0.2
[bots.disputer.protocols.cover_market]
cooldown_s = 0
"""


async def run_until(rt: Runtime, done: Any, timeout: float = 40.0) -> None:
    """Run the keeper until `done()` holds, then a little longer (duplicates would show), always stopping."""
    await rt.start(risk_interval_s=3600, resync_interval_s=3600)
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not await done():
            if loop.time() > deadline:
                assert rt.engine is not None and rt.store is not None
                why = "\n".join([*await rt.explain("claimer"), *await rt.explain("disputer")])
                why += "\n" + "\n".join(f"journal {r.key} {r.state} {r.reason}" for r in await rt.store.actions(20))
                why += "\n" + "\n".join(f"alert {a.source} {a.message}" for a in await rt.store.alerts(20))
                raise AssertionError(f"keeper did not reach the goal in {timeout}s: {rt.engine.health_report()}\n{why}")
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)
    finally:
        await rt.stop()


async def rows(rt: Runtime, bot: str) -> list[Any]:
    assert rt.store is not None
    return list(await rt.store.actions(limit=1000, bot=bot))


async def liquidate(w3: Any, pm: Any, usdc: Any, victim: int) -> dict[str, Any]:
    """The deployer opens a funded bidder account, starts the auction on `victim` and takes the largest fraction
    the contract allows; returns the AuctionBid log."""
    deployer = (await w3.eth.accounts)[0]
    tx = {"from": deployer}
    receipt = await w3.eth.wait_for_transaction_receipt(await pm.functions.createAccount().transact(tx))
    bidder = int(pm.events.AccountCreated().process_receipt(receipt)[0]["args"]["accountId"])
    amount = 1_000_000 * 10**6
    await usdc.functions.mint(deployer, amount).transact(tx)
    await usdc.functions.approve(pm.address, amount).transact(tx)
    await pm.functions.deposit(bidder, amount).transact(tx)
    await pm.functions.startAuction(victim).transact(tx)
    for fraction in (WAD, WAD // 2, WAD // 4, WAD // 10, WAD // 20, WAD // 100):
        try:
            await pm.functions.bid(victim, bidder, fraction, 2**255).call(tx)
        except Exception:
            continue
        h = await pm.functions.bid(victim, bidder, fraction, 2**255).transact(tx)
        receipt = await w3.eth.wait_for_transaction_receipt(h)
        (log,) = [lg for lg in receipt["logs"] if lg["topics"][0].hex().removeprefix("0x") == AUCTION_BID[2:]]
        return {"receipt": receipt, "log": log, "args": pm.events.AuctionBid().process_log(log)["args"]}
    raise AssertionError(f"no bid fraction accepted on account {victim}")


@needs_artifacts
async def test_claim_filed_settled_and_fabricated_claim_disputed(anvil_factory: Any, tmp_path: Path) -> None:
    async with build_devnet(anvil_factory, tmp_path) as dn:
        arb_w3, base_w3 = dn.w3["arbitrum"], dn.w3["base"]
        await install_multicall3(arb_w3, root=ROOT, chain="arbitrum")
        await install_multicall3(base_w3, root=ROOT, chain="base")
        report = await seed_devnet(dn.manifest, wallets=4, seed=SEED, root=ROOT, out_dir=OUT)
        arb, base = dn.c("arbitrum"), dn.c("base")
        pm, cover = arb["PortfolioMargin"], base["CoverMarket"]
        usdc_b = base["USDC"]
        arb_covers = {c["holder"]: c for c in report["cover_market"]["covers"] if c["chain_id"] == CHAIN_IDS["arbitrum"]}
        victim = next(a for a in report["portfolio_margin"]["accounts"] if a["fragile"] and a["owner"] in arb_covers)
        fabricator = next(h for h in arb_covers if h != victim["owner"])
        keys = {Account.from_key(wallet_key(SEED, i)).address: "0x" + wallet_key(SEED, i).hex() for i in range(4)}
        holder, holder_key = victim["owner"], keys[victim["owner"]]
        my_cover, fake_cover = arb_covers[holder], arb_covers[fabricator]

        async with MarketDriver(dn.manifest, root=ROOT, out_dir=OUT) as drv:
            await drv.advance_time(60)
            await drv.make_liquidatable([LiquidationTarget("portfolio", victim["account_id"])])
        bid = await liquidate(arb_w3, pm, arb["USDC"], victim["account_id"])
        a = bid["args"]
        assert a["mtm"] > 0 and a["bidPrice"] > 0  # a solvent auction: the owner lost value to the discount
        events_loss = Decimal(a["mtm"] * a["fraction"] // WAD - a["bidPrice"]) / Decimal(WAD)
        tx_hash = bytes(bid["log"]["transactionHash"])
        bid_index = int(bid["log"]["logIndex"])
        # fabricated: another holder claims on its own cover with a log of the same tx that is no liquidation
        other_index = next(int(lg["logIndex"]) for lg in bid["receipt"]["logs"] if int(lg["logIndex"]) != bid_index)
        fake_key = keys[fabricator]
        fake_tx = await cover.functions.submitClaim(fake_cover["cover_id"], CHAIN_IDS["arbitrum"], tx_hash,
                                                    other_index, 50 * 10**6).build_transaction(
            {"from": fabricator, "nonce": await base_w3.eth.get_transaction_count(fabricator)})
        signed = Account.sign_transaction(fake_tx, fake_key)
        await base_w3.eth.wait_for_transaction_receipt(await base_w3.eth.send_raw_transaction(signed.raw_transaction))
        fake_id = int((await cover.functions.counts().call())[1]) - 1
        bal = {who: await usdc_b.functions.balanceOf(who).call() for who in (holder, fabricator)}

        env = {HOLDER_ENV: holder_key}

        def cfg(db: Path) -> Config:
            return parse_config(CONFIG.format(
                arb=dn.manifest.chains["arbitrum"].rpc_url, base=dn.manifest.chains["base"].rpc_url,
                arb_id=CHAIN_IDS["arbitrum"], base_id=CHAIN_IDS["base"], env=HOLDER_ENV, pm=pm.address,
                cover=cover.address, db=db))

        db = tmp_path / "claims.db"
        rt = Runtime(cfg(db), environ=env, use_bus=False, clock=ChainClock())

        async def filed_and_disputed() -> bool:
            mine = [r for r in await rows(rt, "claimer") if r.kind == "submit_claim" and r.state == "confirmed"]
            disputes = [r for r in await rows(rt, "disputer") if r.state == "confirmed"]
            return bool(mine) and bool(disputes)

        await run_until(rt, filed_and_disputed)
        claims = {c[0]: c for c in [(i, await cover.functions.claim(i).call())
                                    for i in range(int((await cover.functions.counts().call())[1]))]}
        assert len(claims) == 2
        my_id = next(i for i in claims if i != fake_id)
        (cover_id, claimant, chain_id, ev_tx, ev_index, _sub, status, loss, bond, disputer, _payout) = claims[my_id][1]
        assert (cover_id, claimant, chain_id, bytes(ev_tx), ev_index) == (
            my_cover["cover_id"], holder, CHAIN_IDS["arbitrum"], tx_hash, bid_index)  # the right evidence
        assert status == ClaimStatus.PENDING and bond == BOND
        expected = min(int(events_loss * 10**6), my_cover["amount"])
        assert loss == expected and Decimal(loss) / 10**6 <= events_loss  # ≤ what the events show
        fake = claims[fake_id][1]
        assert fake[6] == ClaimStatus.DISPUTED and fake[9] == holder  # disputed by the keeper, within liveness
        # the keeper approved the bond token once, through its lane, at start
        assert await usdc_b.functions.allowance(holder, cover.address).call() == 2**256 - 1
        assert [r.kind for r in await rows(rt, "setup")] == ["approve"]
        # the holder posted two bonds: its claim's and the dispute's
        assert await usdc_b.functions.balanceOf(holder).call() == bal[holder] - 2 * BOND

        # liveness passes on base: the claimer settles its undisputed claim; the arbiter rejects the fabricated one
        await base_w3.provider.make_request(RPCEndpoint("evm_increaseTime"), [LIVENESS + 60])
        await base_w3.provider.make_request(RPCEndpoint("evm_mine"), [])
        deployer = (await base_w3.eth.accounts)[0]
        await cover.functions.resolve(fake_id, False).transact({"from": deployer})
        rt2 = Runtime(cfg(db), environ=env, use_bus=False, clock=ChainClock())

        async def settled() -> bool:
            return any(r.kind == "settle_claim" and r.state == "confirmed" for r in await rows(rt2, "claimer"))

        await run_until(rt2, settled)
        mine = await cover.functions.claim(my_id).call()
        assert mine[6] == ClaimStatus.PAID and mine[10] == expected  # paid min(loss, cover)
        assert (await cover.functions.claim(fake_id).call())[6] == ClaimStatus.REJECTED
        reward = BOND - BOND * SLASH_BPS // 10_000
        # holder: payout + own bond back + dispute bond back + the winner's share of the slashed bond
        assert await usdc_b.functions.balanceOf(holder).call() == bal[holder] + expected + reward
        assert await usdc_b.functions.balanceOf(fabricator).call() == bal[fabricator]  # its bond is gone

        # every claim/dispute/settle journaled once under a stable key, across both runs
        claimer_rows, disputer_rows = await rows(rt2, "claimer"), await rows(rt2, "disputer")
        assert sorted(r.kind for r in claimer_rows) == ["settle_claim", "submit_claim"]
        assert [(r.kind, r.target) for r in disputer_rows] == [("dispute", f"base:cover_market:{fake_id}")]
        assert len({r.key for r in claimer_rows + disputer_rows}) == 3
        assert all(r.state == "confirmed" for r in claimer_rows + disputer_rows)
        submitted = await base_w3.eth.get_logs({"address": cover.address, "fromBlock": 0, "toBlock": "latest",
                                                "topics": [cover.events.ClaimSubmitted().topic]})
        assert len(submitted) == 2  # the keeper filed exactly once

        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bots.cli", "claims", "--json", "--store", str(db), cwd=str(ROOT),
            env=dict(os.environ), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()[-2000:]
        listed = {r["claim_id"]: r for r in map(json.loads, out.decode().splitlines())}
        on_chain = {k: v for k, v in listed.items() if k.startswith("base:cover_market:")}
        assert set(on_chain) == {f"base:cover_market:{my_id}", f"base:cover_market:{fake_id}"}
        mine_row, fake_row = on_chain[f"base:cover_market:{my_id}"], on_chain[f"base:cover_market:{fake_id}"]
        assert mine_row["status"] == "settled" and Decimal(mine_row["loss_usd"]) == Decimal(expected) / 10**6
        assert mine_row["evidence"] == f"arbitrum:0x{tx_hash.hex()}:{bid_index}"
        assert fake_row["status"] == "rejected"
        assert fake_row["evidence"] == f"arbitrum:0x{tx_hash.hex()}:{other_index}"
        planned = [r for k, r in listed.items() if not k.startswith("base:cover_market:")]
        assert [r["status"] for r in planned] == [f"on-chain base:cover_market:{my_id}"]
