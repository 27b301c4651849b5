"""Reorg of the blocks holding the keeper's confirmed actions, with the full keeper (Runtime) on a seeded devnet.

After the keeper's liquidations confirm, `anvil_reorg` replaces the blocks that hold them with empty blocks of the
same height (anvil 1.7.1: `anvil_reorg [depth, []]`; the dropped transactions are gone). The lanes' re-verification
must notice the changed block hashes (journal REORGED), re-evaluate each action (re-simulate, never blindly
re-send) and end with exactly one liquidation per vault on the final chain; journal keys stay unique. The
detection time (reorg → first REORGED transition, monotonic clock) is printed.

A second scenario reorgs the blocks holding a hedger rebalance (OptionAMM on base) and a claimer submitClaim
(CoverMarket on base) of the same keeper: REORGED for both, re-landed under the same keys, one of each on chain.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from eth_account import Account
from web3.types import RPCEndpoint

from bots.config import parse_config
from bots.runner import ChainClock, Runtime
from chains.devnet.driver import LiquidationTarget, MarketDriver
from chains.devnet.multicall import install_multicall3
from chains.devnet.protocols import CHAIN_IDS
from chains.devnet.seed import seed_devnet, wallet_key
from chains.evm.lane import LanePolicy
from tests.bots.test_claims_devnet import SEED, liquidate
from tests.bots.test_hedger_devnet import REBALANCED, UNI, WAD, atm_series, buy, inline
from tests.chains.devnet.test_protocols_deploy import OUT, ROOT, build_devnet, needs_artifacts
from tests.faults._devnet import (
    ENV,
    KEEPER,
    VAULT_LIQUIDATED,
    Stopwatch,
    assert_unique_keys,
    explain,
    fault_devnet,
    intents,
    logs_by_account,
    wait_for,
)

SAFETY_S = 120.0


async def _rpc(w3: Any, method: str, params: list[Any]) -> Any:
    reply = await w3.provider.make_request(RPCEndpoint(method), params)
    assert "error" not in reply, reply
    return reply.get("result")


@needs_artifacts
@pytest.mark.faults
async def test_reorg_of_confirmed_liquidations_is_detected_and_settles_once(anvil_factory: Any,
                                                                             tmp_path: Any) -> None:
    sw = Stopwatch()
    async with fault_devnet(anvil_factory, tmp_path) as fd, \
            MarketDriver(fd.dn.manifest, root=ROOT, out_dir=OUT) as drv:
        vaults = fd.targets("vault")
        w3 = fd.dn.w3["ethereum"]
        vo = fd.dn.c("ethereum")["VaultOptions"]
        await drv.advance_time(60)
        await drv.make_liquidatable(vaults)
        await drv.advance_time(1800)  # half the liquidation auction: worth taking
        # confirmed after 1 block, re-verified for 20 more: the reorg lands inside the re-verification window
        policy = LanePolicy(confirmations=1, reverify_blocks=20, bump_after_s=2.0)
        rt = Runtime(fd.vault_config(), environ=ENV, use_bus=False, clock=ChainClock(), lane_policy=policy)
        await rt.start(risk_interval_s=3600, resync_interval_s=3600)
        try:
            assert rt.journal is not None

            async def all_confirmed() -> bool:
                rows = [r for r in await intents(rt, "liquidator")]
                return len(rows) >= len(vaults) and all(r.state == "confirmed" for r in rows)

            await wait_for(all_confirmed, SAFETY_S, "every liquidation confirmed", lambda: explain(rt))
            before = {r.key: r for r in await intents(rt, "liquidator")}
            first_block = min(r.block_number or 0 for r in before.values())
            head = int(await _rpc(w3, "eth_blockNumber", []), 16)
            depth = head - first_block + 1
            assert sum((await logs_by_account(w3, vo.address, VAULT_LIQUIDATED)).values()) == len(before)
            await _rpc(w3, "anvil_reorg", [depth, []])
            sw.mark("reorg")
            assert await logs_by_account(w3, vo.address, VAULT_LIQUIDATED) == {}  # the liquidations are gone

            async def reorged_seen() -> bool:
                for r in before.values():
                    assert r.id is not None
                    if any(t.to_state == "reorged" for t in await rt.journal.transitions(r.id)):
                        return True
                return False

            await wait_for(reorged_seen, SAFETY_S, "a REORGED journal transition", lambda: explain(rt), 0.02)
            sw.mark("detected")

            async def all_reconfirmed() -> bool:
                rows = await intents(rt, "liquidator")
                reorged = 0
                for r in rows:
                    assert r.id is not None
                    if any(t.to_state == "reorged" for t in await rt.journal.transitions(r.id)):
                        reorged += 1
                return reorged == len(before) and all(r.state == "confirmed" for r in rows)

            await wait_for(all_reconfirmed, SAFETY_S, "every reorged liquidation re-evaluated and confirmed again",
                           lambda: explain(rt), 0.1)
            sw.mark("reconfirmed")
            await asyncio.sleep(2.0)  # long enough for a duplicate to show up
            after = await intents(rt, "liquidator")
        finally:
            await rt.stop()

        assert_unique_keys(after)
        assert {r.key for r in after} == set(before)  # re-evaluated under the same keys, nothing new planned
        for r in after:
            assert r.state == "confirmed" and r.signer == KEEPER
            receipt = await w3.eth.get_transaction_receipt(r.tx_hash)
            assert receipt["blockHash"].to_0x_hex() == r.block_hash  # the journal follows the new chain
            assert receipt["blockNumber"] > head - depth  # mined again after the reorg point
        per_vault = await logs_by_account(w3, vo.address, VAULT_LIQUIDATED)
        assert {t.id for t in vaults} <= set(per_vault) and set(per_vault.values()) == {1}
        assert len(per_vault) == len(after)
    print(f"\nreorg: depth {depth} over {len(before)} confirmed liquidations; REORGED detected "
          f"{sw.between('reorg', 'detected'):.2f}s after anvil_reorg; all re-confirmed "
          f"{sw.between('reorg', 'reconfirmed'):.2f}s after it")


HEDGE_CLAIM = """
[chains.arbitrum]
rpc_urls = ["{arb}"]
chain_id = {arb_id}
[chains.base]
rpc_urls = ["{base}"]
chain_id = {base_id}
confirmations = 1
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
[protocols.option_amm]
kind = "option_amm"
chain = "base"
addresses = {{ OptionAMM = "{amm}" }}
[protocols.uniswap_base]
kind = "uniswap_v3"
chain = "base"
addresses = {uni}
[storage]
url = "{db}"
[bots.claimer]
signer = "holder"
interval_s = 0.2
[bots.claimer.protocols.cover_market]
cooldown_s = 0
[bots.hedger]
signer = "holder"
interval_s = 0.3
[bots.hedger.protocols.uniswap_base]
risk_aversion = 0.01
policy = "to_zero"
max_slippage_bps = 3000
[bots.hedger.protocols.option_amm]
risk_aversion = 0.01
max_slippage_bps = 3000
"""
# wide slippage: the crash that made the victim liquidatable moved the oracle, not the Uniswap pool's price


@needs_artifacts
@pytest.mark.faults
async def test_reorg_of_a_hedge_and_a_claim_is_reevaluated_without_duplicates(anvil_factory: Any,
                                                                               tmp_path: Any) -> None:
    """The covered holder's keeper rebalances the OptionAMM (it holds HEDGER_ROLE) and files its claim, both on
    base; `anvil_reorg` drops the blocks holding both. The lane must journal REORGED for each, re-simulate and
    land them again under the same keys: one Rebalanced and one ClaimSubmitted on the final chain."""
    sw = Stopwatch()
    async with build_devnet(anvil_factory, tmp_path) as dn:
        arb_w3, wb = dn.w3["arbitrum"], dn.w3["base"]
        for chain in ("arbitrum", "base"):
            await install_multicall3(dn.w3[chain], root=ROOT, chain=chain)
        report = await seed_devnet(dn.manifest, wallets=4, seed=SEED, root=ROOT, out_dir=OUT)
        arb, base = dn.c("arbitrum"), dn.c("base")
        pm, cover, amm = arb["PortfolioMargin"], base["CoverMarket"], base["OptionAMM"]
        covered = {c["holder"] for c in report["cover_market"]["covers"] if c["chain_id"] == CHAIN_IDS["arbitrum"]}
        victim = next(a for a in report["portfolio_margin"]["accounts"] if a["fragile"] and a["owner"] in covered)
        keys = {Account.from_key(wallet_key(SEED, i)).address: "0x" + wallet_key(SEED, i).hex() for i in range(4)}
        holder = victim["owner"]
        deployer, trader = (await wb.eth.accounts)[:2]
        await amm.functions.grantRole(await amm.functions.HEDGER_ROLE().call(), holder).transact({"from": deployer})
        async with MarketDriver(dn.manifest, root=ROOT, out_dir=OUT) as drv:
            await drv.advance_time(60)
            await drv.make_liquidatable([LiquidationTarget("portfolio", victim["account_id"])])
        await liquidate(arb_w3, pm, arb["USDC"], victim["account_id"])
        spot_wad = (await amm.functions.spot().call())[0]
        call_id, _put, _k, _exp = await atm_series(amm, spot_wad)
        await buy(wb, amm, base["USDC"], trader, call_id, 20 * WAD, deployer)  # the pool goes short 20 calls
        cfg = parse_config(HEDGE_CLAIM.format(
            arb=dn.manifest.chains["arbitrum"].rpc_url, base=dn.manifest.chains["base"].rpc_url,
            arb_id=CHAIN_IDS["arbitrum"], base_id=CHAIN_IDS["base"], env="RTRM_TEST_HOLDER_KEY", pm=pm.address,
            cover=cover.address, amm=amm.address, uni=inline({n: base[n].address for n in UNI}),
            db=tmp_path / "hc.db"))
        policy = LanePolicy(confirmations=1, reverify_blocks=20, bump_after_s=2.0)
        rt = Runtime(cfg, environ={"RTRM_TEST_HOLDER_KEY": keys[holder]}, use_bus=False, clock=ChainClock(),
                     lane_policy=policy)
        submitted = cover.events.ClaimSubmitted().topic

        async def on_chain() -> tuple[int, int]:
            reb = await wb.eth.get_logs({"address": amm.address, "topics": [REBALANCED], "fromBlock": 0})
            sub = await wb.eth.get_logs({"address": cover.address, "topics": [submitted], "fromBlock": 0})
            return len(reb), len(sub)

        def acted(rows: Any) -> list[Any]:
            return [r for r in rows if (r.bot, r.kind) in (("hedger", "rebalance"), ("claimer", "submit_claim"))]

        await rt.start(risk_interval_s=3600, resync_interval_s=3600)
        try:
            assert rt.journal is not None

            async def both_confirmed() -> bool:
                rows = acted(await intents(rt))
                return len(rows) == 2 and all(r.state == "confirmed" for r in rows)

            await wait_for(both_confirmed, SAFETY_S, "the rebalance and the claim confirmed", lambda: explain(rt))
            before = {r.key: r for r in acted(await intents(rt))}
            assert await on_chain() == (1, 1)
            first_block = min(r.block_number or 0 for r in before.values())
            head = int(await _rpc(wb, "eth_blockNumber", []), 16)
            depth = head - first_block + 1
            await _rpc(wb, "anvil_reorg", [depth, []])
            sw.mark("reorg")
            assert await on_chain() == (0, 0)  # both are gone from the canonical chain

            async def reorged(key: str) -> bool:
                r = before[key]
                assert r.id is not None
                return any(t.to_state == "reorged" for t in await rt.journal.transitions(r.id))

            async def all_reorged() -> bool:
                return all([await reorged(k) for k in before])

            await wait_for(all_reorged, SAFETY_S, "REORGED for the rebalance and the claim", lambda: explain(rt), 0.02)
            sw.mark("detected")
            await wait_for(both_confirmed, SAFETY_S, "both re-landed and confirmed", lambda: explain(rt))
            sw.mark("relanded")
            await asyncio.sleep(2.0)  # long enough for a duplicate to show up
            after_all = await intents(rt)
        finally:
            await rt.stop()

        assert_unique_keys(after_all)
        after = acted(after_all)
        assert {r.key for r in after} == set(before)  # re-evaluated under the same keys
        for r in after:
            assert r.state == "confirmed" and r.signer == holder
            receipt = await wb.eth.get_transaction_receipt(r.tx_hash)
            assert receipt["blockHash"].to_0x_hex() == r.block_hash and receipt["blockNumber"] > head - depth
        assert await on_chain() == (1, 1)  # one hedge for the decision, exactly one claim for the evidence
    print(f"\nreorg hedge+claim: depth {depth}; REORGED detected {sw.between('reorg', 'detected'):.2f}s after "
          f"anvil_reorg; both re-landed {sw.between('reorg', 'relanded'):.2f}s after it")
