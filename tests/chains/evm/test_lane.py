"""EVM lane against real anvil processes: send once, bump, abandon + replace, budget, external use, reorg."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from eth_account import Account
from web3 import AsyncHTTPProvider, AsyncWeb3

from bots.journal import IntentState, Journal
from chains.evm.fees import GWEI, FeePolicy
from chains.evm.lane import ActionRequest, EvmLane, LanePolicy
from chains.evm.signer import Signer
from tests.chains.evm.anvil_node import DEV_KEYS, anvil

RECIPIENT = "0x000000000000000000000000000000000000bEEF"


def _signer(i: int = 0) -> Signer:
    acct = Account.from_key(DEV_KEYS[i])
    return Signer(acct.address, acct)


class Env:
    def __init__(self, url: str, journal: Journal, w3: AsyncWeb3) -> None:
        self.url, self.journal, self.w3 = url, journal, w3
        self.lanes: list[EvmLane] = []

    async def lane(self, policy: LanePolicy | None = None, fee_policy: FeePolicy | None = None) -> EvmLane:
        lane = EvmLane(self.w3, _signer(), "testchain", 31337, self.journal,
                       fee_policy=fee_policy, policy=policy or LanePolicy(bump_after_s=0.4, poll_interval_s=0.05))
        await lane.start()
        self.lanes.append(lane)
        return lane

    async def rpc(self, method: str, *params: object) -> object:
        return (await self.w3.provider.make_request(method, list(params)))["result"]  # type: ignore[arg-type]


async def _env(tmp_path: Path, *anvil_args: str) -> AsyncIterator[Env]:
    with anvil(*anvil_args) as url:
        journal = await Journal(str(tmp_path / "journal.db")).open()
        env = Env(url, journal, AsyncWeb3(AsyncHTTPProvider(url)))
        try:
            yield env
        finally:
            for lane in env.lanes:
                await lane.stop()
            await journal.close()
            await env.w3.provider.disconnect()


@pytest.fixture
async def automine(tmp_path: Path) -> AsyncIterator[Env]:
    async for env in _env(tmp_path):
        yield env


@pytest.fixture
async def manual(tmp_path: Path) -> AsyncIterator[Env]:
    """anvil that mines only when told (evm_mine): transactions stay pending like in a congested mempool."""
    async for env in _env(tmp_path, "--no-mining"):
        yield env


def _transfer(key: str, value: int = 1, **kw: object) -> ActionRequest:
    return ActionRequest(key=key, to=RECIPIENT, value=value, bot="test", kind="transfer", **kw)  # type: ignore[arg-type]


async def _nonce(env: Env, address: str, tag: str = "latest") -> int:
    return int(str(await env.rpc("eth_getTransactionCount", address, tag)), 16)


async def test_action_confirms_once_even_if_submitted_twice(automine: Env) -> None:
    lane = await automine.lane()
    await lane.submit(_transfer("pay:1", 5))
    await lane.submit(_transfer("pay:1", 5))  # same idempotency key: journaled once, sent once
    intent = await lane.wait_final("pay:1", timeout=20)
    assert intent.state == IntentState.CONFIRMED and intent.nonce == 0
    assert await _nonce(automine, lane.signer.address) == 1
    assert int(str(await automine.rpc("eth_getBalance", RECIPIENT, "latest")), 16) == 5
    block = await automine.rpc("eth_getBlockByNumber", hex(intent.block_number or 0), False)
    assert block["hash"] == intent.block_hash  # type: ignore[index]


async def test_stuck_transaction_is_bumped_then_included(manual: Env) -> None:
    lane = await manual.lane()
    await lane.submit(_transfer("stuck:1"))
    intent = await lane.wait_final("stuck:1", states=frozenset({IntentState.SENT}), timeout=10)
    assert intent.id is not None
    while len(await manual.journal.attempts(intent.id)) < 2:  # the lane bumps after bump_after_s
        await asyncio.sleep(0.05)
    await manual.rpc("evm_mine")
    done = await lane.wait_final("stuck:1", timeout=10)
    attempts = list(await manual.journal.attempts(intent.id))
    assert done.state == IntentState.CONFIRMED
    first, bumped = attempts[0], attempts[1]
    assert first.nonce == bumped.nonce == 0
    assert int(bumped.max_fee_wei) * 1000 >= int(first.max_fee_wei) * 1125
    assert int(bumped.tip_wei) * 1000 >= int(first.tip_wei) * 1125
    assert done.tx_hash in {a.tx_hash for a in attempts[1:]}  # a bumped version landed, not the original
    assert await _nonce(manual, lane.signer.address) == 1


async def test_abandoned_nonce_is_taken_by_the_next_action(manual: Env) -> None:
    lane = await manual.lane(LanePolicy(bump_after_s=0.2, max_bumps=1, poll_interval_s=0.05))
    await lane.submit(_transfer("first"))
    abandoned = await lane.wait_final("first", timeout=10)
    assert abandoned.state == IntentState.ABANDONED and "bumps" in abandoned.reason
    await lane.submit(_transfer("second", 7))
    second = await lane.wait_final("second", states=frozenset({IntentState.SENT}), timeout=10)
    assert second.nonce == abandoned.nonce == 0  # the freed slot is reused, no gap
    await manual.rpc("evm_mine")
    done = await lane.wait_final("second", timeout=10)
    assert done.state == IntentState.CONFIRMED
    assert int(str(await manual.rpc("eth_getBalance", RECIPIENT, "latest")), 16) == 7  # only the 2nd landed


async def test_abandoned_nonce_without_next_action_gets_a_noop(manual: Env) -> None:
    lane = await manual.lane(LanePolicy(bump_after_s=0.2, max_bumps=0, poll_interval_s=0.05))
    await lane.submit(_transfer("lonely", 3))
    assert (await lane.wait_final("lonely", timeout=10)).state == IntentState.ABANDONED
    async def noop_broadcast() -> bool:
        for i in await manual.journal.non_final():
            if i.kind == "noop" and i.id is not None:
                return any(a.status == "broadcast" for a in await manual.journal.attempts(i.id))
        return False

    while not await noop_broadcast():
        await asyncio.sleep(0.05)
    await manual.rpc("evm_mine")
    for _ in range(200):
        noops = [i for i in await manual.journal.non_final() if i.kind == "noop"]
        if not noops:
            break
        await asyncio.sleep(0.05)
    assert await _nonce(manual, lane.signer.address) == 1  # the slot was consumed by the NOOP
    assert int(str(await manual.rpc("eth_getBalance", RECIPIENT, "latest")), 16) == 0


async def test_budget_cap_refuses_a_bump(manual: Env) -> None:
    policy = FeePolicy(min_tip=GWEI)
    lane = await manual.lane(fee_policy=policy)
    # budget = the first quote exactly: any ≥12.5 % bump exceeds it
    market = await lane.rpc.fee_market()
    from chains.evm.fees import Urgency, quote

    first = quote(market, Urgency.ROUTINE, policy)
    await lane.submit(_transfer("capped", budget_max_fee=first.max_fee))
    done = await lane.wait_final("capped", timeout=10)
    assert done.state == IntentState.ABANDONED and "budget" in done.reason
    assert done.id is not None and len(await manual.journal.attempts(done.id)) == 1


async def test_external_use_of_the_key_is_detected_and_action_replanned(manual: Env) -> None:
    lane = await manual.lane(LanePolicy(bump_after_s=30, poll_interval_s=0.05))
    await lane.submit(_transfer("mine", 2))
    sent = await lane.wait_final("mine", states=frozenset({IntentState.SENT}), timeout=10)
    # someone else with the same key replaces nonce 0 with a much higher fee, and it is mined
    acct = Account.from_key(DEV_KEYS[0])
    ext = acct.sign_transaction({"type": 2, "chainId": 31337, "nonce": sent.nonce, "to": RECIPIENT, "value": 100,
                                 "gas": 21000, "maxFeePerGas": 100 * GWEI, "maxPriorityFeePerGas": 50 * GWEI})
    await manual.rpc("eth_sendRawTransaction", "0x" + bytes(ext.raw_transaction).hex())
    await manual.rpc("evm_mine")
    replanned = await lane.wait_final("mine", states=frozenset({IntentState.SENT}), timeout=10)
    while replanned.nonce == sent.nonce:
        await asyncio.sleep(0.05)
        replanned = await lane.wait_final("mine", states=frozenset({IntentState.SENT}), timeout=10)
    assert replanned.nonce == 1
    await manual.rpc("evm_mine")
    done = await lane.wait_final("mine", timeout=10)
    assert done.state == IntentState.CONFIRMED
    assert int(str(await manual.rpc("eth_getBalance", RECIPIENT, "latest")), 16) == 102


async def test_reorged_action_is_reevaluated_and_lands_once(automine: Env) -> None:
    lane = await automine.lane(LanePolicy(confirmations=3, poll_interval_s=0.05, bump_after_s=30))
    await lane.submit(_transfer("hedge:1", 9))
    mined = await lane.wait_final("hedge:1", states=frozenset({IntentState.MINED}), timeout=10)
    await automine.rpc("anvil_reorg", 1, [])  # replace the block holding our tx with an empty one
    assert mined.id is not None
    for _ in range(400):  # the lane notices, re-evaluates, re-sends; automine puts it in a new block
        path = [t.to_state for t in await automine.journal.transitions(mined.id)]
        if path.count("mined") == 2:
            break
        await asyncio.sleep(0.05)
    await automine.rpc("anvil_mine", "0x3")
    done = await lane.wait_final("hedge:1", timeout=20)
    assert done.state == IntentState.CONFIRMED
    assert done.id is not None
    path = [t.to_state for t in await automine.journal.transitions(done.id)]
    assert "reorged" in path
    assert int(str(await automine.rpc("eth_getBalance", RECIPIENT, "latest")), 16) == 9  # exactly once
    assert done.block_hash != mined.block_hash or done.block_number != mined.block_number


async def test_parallel_planners_send_each_key_once(automine: Env) -> None:
    """Four planning workers: a key submitted five times while planned is still sent once, and a burst of
    keys gets one transaction each with gap-free nonces."""
    lane = await automine.lane(LanePolicy(poll_interval_s=0.05, bump_after_s=30, workers=4))
    await asyncio.gather(*(lane.submit(_transfer("dup:1", 3)) for _ in range(5)))
    await asyncio.gather(*(lane.submit(_transfer(f"par:{i}", 1)) for i in range(30)))
    finals = [await lane.wait_final(k, timeout=60) for k in ["dup:1", *(f"par:{i}" for i in range(30))]]
    assert all(f.state == IntentState.CONFIRMED for f in finals)
    assert sorted(f.nonce for f in finals) == list(range(31))
    assert await _nonce(automine, lane.signer.address) == 31
    assert int(str(await automine.rpc("eth_getBalance", RECIPIENT, "latest")), 16) == 3 + 30


@pytest.mark.parametrize("workers", [1, 4])
async def test_many_concurrent_intents_get_sequential_nonces(automine: Env, workers: int) -> None:
    lane = await automine.lane(LanePolicy(poll_interval_s=0.05, bump_after_s=1.0, workers=workers))
    n = 200
    await asyncio.gather(*(lane.submit(_transfer(f"bulk:{i}", 1)) for i in range(n)))
    finals = [await lane.wait_final(f"bulk:{i}", timeout=60) for i in range(n)]
    assert all(f.state == IntentState.CONFIRMED for f in finals)
    assert sorted(f.nonce for f in finals) == list(range(n))  # no gaps, no duplicates
    assert await _nonce(automine, lane.signer.address) == n


async def test_sigkill_between_send_and_receipt_resolves_from_chain(manual: Env, tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    db = str(tmp_path / "journal.db")
    root = Path(__file__).resolve().parents[3]
    child = subprocess.Popen([sys.executable, "-m", "tests.chains.evm.lane_child", manual.url, db], cwd=root,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "BROADCAST"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    await manual.rpc("evm_mine")  # the tx lands while the keeper is down
    lane = await manual.lane()  # restart: resolves the SENT intent before planning anything
    await lane.submit(_transfer("liquidate:crash", 11))  # the bot re-submits the same key: nothing new is sent
    done = await lane.wait_final("liquidate:crash", timeout=10)
    assert done.state == IntentState.CONFIRMED
    assert await _nonce(manual, lane.signer.address, "pending") == 1  # exactly one tx from the signer
    assert int(str(await manual.rpc("eth_getBalance", RECIPIENT, "latest")), 16) == 11


async def test_crash_after_signing_before_broadcast_rebroadcasts_the_same_bytes(manual: Env) -> None:
    lane = EvmLane(manual.w3, _signer(), "testchain", 31337, manual.journal)
    # What a crash leaves behind: the intent is SENT with a journaled, signed, never-broadcast attempt.
    intent, _ = await manual.journal.create_intent("claim:x", chain="testchain", signer=lane.signer.address,
                                                   bot="test", kind="claim", to_address=RECIPIENT, value_wei="4")
    assert intent.id is not None
    await manual.journal.transition(intent.id, IntentState.SIMULATED)
    await manual.journal.transition(intent.id, IntentState.SENT, nonce=0)
    from chains.evm.fees import FeeQuote

    raw, tx_hash = lane._sign(0, FeeQuote(10 * GWEI, GWEI), RECIPIENT, "0x", 4, 21000)
    await manual.journal.record_attempt(intent.id, 0, 10 * GWEI, GWEI, tx_hash, raw_tx=raw, gas=21000)
    assert await manual.rpc("eth_getTransactionByHash", tx_hash) is None
    await lane.start()
    manual.lanes.append(lane)
    assert (await manual.rpc("eth_getTransactionByHash", tx_hash)) is not None  # re-broadcast on start-up
    await manual.rpc("evm_mine")
    done = await lane.wait_final("claim:x", timeout=10)
    assert done.state == IntentState.CONFIRMED and done.tx_hash == tx_hash
    assert await _nonce(manual, lane.signer.address, "pending") == 1


async def test_fee_spike_with_interval_mining_bumps_until_included(tmp_path: Path) -> None:
    """automine off, a block every second; the base fee spikes right after our send, leaving it underpriced."""
    async for env in _env(tmp_path, "--block-time", "1"):
        lane = await env.lane(LanePolicy(bump_after_s=1.5, max_bumps=3, poll_interval_s=0.05, confirmations=1))
        await env.rpc("evm_setIntervalMining", 0)  # pause blocks while we send, so the order is deterministic
        await lane.submit(_transfer("spiked", 6))
        await lane.wait_final("spiked", states=frozenset({IntentState.SENT}), timeout=10)
        await env.rpc("anvil_setNextBlockBaseFeePerGas", hex(200 * GWEI))  # then the base fee spikes
        await env.rpc("evm_setIntervalMining", 1)
        done = await lane.wait_final("spiked", timeout=30)
        assert done.state == IntentState.CONFIRMED and done.id is not None
        attempts = list(await env.journal.attempts(done.id))
        assert len(attempts) >= 2  # the first quote could not pay 200 gwei: it was bumped on the same nonce
        assert {a.nonce for a in attempts} == {0}
        landed = next(a for a in attempts if a.tx_hash == done.tx_hash)
        assert int(landed.max_fee_wei) > int(attempts[0].max_fee_wei)
        assert int(str(await env.rpc("eth_getBalance", RECIPIENT, "latest")), 16) == 6


async def test_signer_key_never_reaches_logs_or_journal(manual: Env, tmp_path: Path) -> None:
    """The lane logs warnings (abandonment), reprs and exceptions; none may carry the key (stderr, JSON file, DB)."""
    import io
    import sqlite3

    from loguru import logger

    from bots.logging import configure_logging

    stream = io.StringIO()
    json_path = tmp_path / "logs" / "keeper.jsonl"
    configure_logging("DEBUG", json_path, stream=stream)
    try:
        lane = await manual.lane(LanePolicy(bump_after_s=0.1, max_bumps=0, poll_interval_s=0.05))
        await lane.submit(_transfer("logged", 1))
        assert (await lane.wait_final("logged", timeout=10)).state == IntentState.ABANDONED
        logger.info("lane signer is {s!r}", s=lane.signer)
        try:
            raise RuntimeError(f"boom with {DEV_KEYS[0]}")
        except RuntimeError:
            logger.exception("failure while signing")
        await logger.complete()
    finally:
        configure_logging("INFO")
    key_hex = DEV_KEYS[0].removeprefix("0x").lower()
    text = stream.getvalue() + json_path.read_text()
    assert "abandoned logged" in text  # the sinks did receive the lane's records
    assert key_hex not in text.lower()
    db = sqlite3.connect(tmp_path / "journal.db")
    dump = "\n".join(db.iterdump()).lower()
    db.close()
    assert key_hex not in dump


async def test_transaction_lost_from_the_pool_is_noticed_and_the_queue_recovers(manual: Env) -> None:
    """A tx vanishes from the node's pool (what anvil's 'queued forever' and real mempool evictions look like):
    later nonces sit behind the gap until the lane notices the stall and re-sends that nonce."""
    lane = await manual.lane(LanePolicy(bump_after_s=0.5, max_bumps=10, poll_interval_s=0.05))
    for i in range(5):
        await lane.submit(_transfer(f"q:{i}", 1))
    sent = [await lane.wait_final(f"q:{i}", states=frozenset({IntentState.SENT}), timeout=10) for i in range(5)]
    assert [s.nonce for s in sent] == [0, 1, 2, 3, 4]
    lost = sent[2]
    assert lost.id is not None
    lost_hash = (await manual.journal.attempts(lost.id))[-1].tx_hash
    await manual.rpc("anvil_dropTransaction", lost_hash)
    assert await manual.rpc("eth_getTransactionByHash", lost_hash) is None
    await manual.rpc("evm_mine")
    assert await _nonce(manual, lane.signer.address) == 2  # nonces 3 and 4 wait behind the gap
    while len(await manual.journal.attempts(lost.id)) < 4:  # the lane keeps re-sending nonce 2 (bumped)
        await asyncio.sleep(0.05)

    async def miner() -> None:  # blocks resume (one every 0.2 s)
        while True:
            await manual.rpc("evm_mine")
            await asyncio.sleep(0.2)

    mining = asyncio.create_task(miner())
    try:
        finals = [await lane.wait_final(f"q:{i}", timeout=15) for i in range(5)]
    finally:
        mining.cancel()
    assert all(f.state == IntentState.CONFIRMED for f in finals)
    assert await _nonce(manual, lane.signer.address) == 5
    assert int(str(await manual.rpc("eth_getBalance", RECIPIENT, "latest")), 16) == 5
    for blocked in sent[3:]:
        # while queued behind the gap (≥ 3 bump intervals) they were not bumped — it cannot help and burns the
        # budget; at most one bump once at the head of the queue (anvil may keep a promoted tx 'queued')
        assert blocked.id is not None and len(await manual.journal.attempts(blocked.id)) <= 2
