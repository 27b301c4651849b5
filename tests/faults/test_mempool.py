"""Stuck mempool during a liquidation wave, with the full keeper (Runtime) on a seeded devnet.

ethereum stops mining (`evm_setAutomine false`, no interval mining) just before the keeper sees a crash. The
liquidations it sends sit in the mempool: the lane must bump them on the same nonce (rising fees), abandon what
does not get in within its bump budget and free the nonce with a NOOP, and never leave a nonce gap. When mining
resumes every intent ends CONFIRMED or ABANDONED (the lane's "no inclusion" reason), and no vault is liquidated
twice.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from web3.types import RPCEndpoint

from bots.journal import FINAL
from bots.runner import ChainClock, Runtime
from chains.devnet.driver import MarketDriver
from chains.evm.lane import LanePolicy
from tests.chains.devnet.test_protocols_deploy import OUT, ROOT, needs_artifacts
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
ABANDON_REASON = re.compile(r"no inclusion after \d+ bumps|exceeds the (budget|chain cap)")


async def _rpc(w3: Any, method: str, params: list[Any]) -> Any:
    return (await w3.provider.make_request(RPCEndpoint(method), params)).get("result")


@needs_artifacts
@pytest.mark.faults
async def test_stuck_mempool_bumps_without_nonce_gap_and_settles_once(anvil_factory: Any, tmp_path: Any) -> None:
    sw = Stopwatch()
    async with fault_devnet(anvil_factory, tmp_path) as fd, \
            MarketDriver(fd.dn.manifest, root=ROOT, out_dir=OUT) as drv:
        vaults = fd.targets("vault")
        assert len(vaults) >= 2
        w3 = fd.dn.w3["ethereum"]
        vo = fd.dn.c("ethereum")["VaultOptions"]
        policy = LanePolicy(confirmations=1, bump_after_s=1.0, max_bumps=3)
        rt = Runtime(fd.vault_config(), environ=ENV, use_bus=False, clock=ChainClock(), lane_policy=policy)
        await rt.start(risk_interval_s=3600, resync_interval_s=3600)
        try:
            assert rt.engine is not None and rt.journal is not None
            nonce_start = int(await _rpc(w3, "eth_getTransactionCount", [KEEPER, "latest"]), 16)
            # the crash happens while the keeper cannot see ethereum; mining stops before it can
            await fd.proxies["ethereum"].start_outage()
            await drv.advance_time(60)
            await drv.make_liquidatable(vaults)
            await drv.advance_time(1800)  # half the liquidation auction: worth taking
            assert await _rpc(w3, "evm_setAutomine", [False]) is None
            head_stuck = int(await _rpc(w3, "eth_blockNumber", []), 16)
            await fd.proxies["ethereum"].end_outage()
            sw.mark("mining_stopped")

            async def bumped_and_freed() -> bool:
                rows = await intents(rt)
                return any(r.kind == "noop" for r in rows) and any(r.state == "abandoned" for r in rows
                                                                   if r.bot == "liquidator")

            await wait_for(bumped_and_freed, SAFETY_S, "bumps, an abandon and a NOOP while nothing is mined",
                           lambda: explain(rt))
            sw.mark("noop_seen")
            assert int(await _rpc(w3, "eth_blockNumber", []), 16) == head_stuck  # really nothing was mined
            rows = [r for r in await intents(rt, "liquidator") if r.kind == "mint_and_liquidate"]
            assert rows
            bumped = []
            for r in rows:
                assert r.id is not None
                attempts = list(await rt.journal.attempts(r.id))
                by_nonce: dict[int, list[int]] = {}
                for a in attempts:
                    by_nonce.setdefault(a.nonce, []).append(int(a.max_fee_wei))
                for nonce, fees in by_nonce.items():
                    if len(fees) > 1:
                        assert fees == sorted(fees) and len(set(fees)) == len(fees), (r.key, nonce, fees)
                        bumped.append((r.key, nonce, fees))
            assert bumped, "no intent was re-sent on its nonce with higher fees"

            await _rpc(w3, "evm_setAutomine", [True])
            await _rpc(w3, "evm_mine", [])
            sw.mark("mining_resumed")

            async def settled() -> bool:
                await _rpc(w3, "evm_mine", [])  # anything still pending gets a block
                everything = await intents(rt)
                lanes = [lane for lane in rt.lanes.values() if lane._inflight or lane._free_slots]
                return not lanes and all(r.state in FINAL for r in everything)

            await wait_for(settled, SAFETY_S, "every intent final after mining resumed", lambda: explain(rt), 0.3)
            sw.mark("settled")
            everything = await intents(rt)
        finally:
            await rt.stop()

        assert_unique_keys(everything)
        liq = [r for r in everything if r.kind == "mint_and_liquidate"]
        for r in liq:
            assert r.state == "confirmed" or (r.state == "abandoned" and ABANDON_REASON.search(r.reason)), \
                (r.key, r.state, r.reason)
        # no nonce gap: every nonce from the first keeper action up is mined and nothing waits behind a hole
        latest = int(await _rpc(w3, "eth_getTransactionCount", [KEEPER, "latest"]), 16)
        pending = int(await _rpc(w3, "eth_getTransactionCount", [KEEPER, "pending"]), 16)
        assert latest == pending
        sent = [r for r in everything if r.state == "confirmed" and r.nonce is not None and r.nonce >= nonce_start]
        assert sorted(r.nonce for r in sent) == list(range(nonce_start, latest))  # one confirmed intent per nonce
        for r in sent:  # the journal's block hash is the chain's: CONFIRMED means what it says
            receipt = await w3.eth.get_transaction_receipt(r.tx_hash)
            assert receipt["blockHash"].to_0x_hex() == r.block_hash and receipt["from"] == KEEPER
        # nothing happened twice in effect: one liquidation event per vault, one per confirmed intent
        per_vault = await logs_by_account(w3, vo.address, VAULT_LIQUIDATED)
        assert set(per_vault.values()) <= {1}
        assert len(per_vault) == sum(r.state == "confirmed" for r in liq)
        abandoned = [r for r in liq if r.state == "abandoned"]
        noops = [r for r in everything if r.kind == "noop" and r.state == "confirmed"]
        assert {r.nonce for r in abandoned} <= {r.nonce for r in sent}  # every freed nonce was filled
    print(f"\nstuck mempool: {len(liq)} liquidation intents, {len(bumped)} bumped nonces, {len(abandoned)} abandoned, "
          f"{len(noops)} NOOPs confirmed; NOOP after {sw.between('mining_stopped', 'noop_seen'):.1f}s stuck; "
          f"settled {sw.between('mining_resumed', 'settled'):.2f}s after mining resumed")

