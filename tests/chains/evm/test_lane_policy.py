"""Lane policy on a real anvil: contract allowlist, approve-only setup tokens, per-action and per-hour spend caps.

Each refusal must leave the journal row ABANDONED with a "refused: …" reason and sign nothing (no attempt row,
the account nonce unchanged); allowed calls must still confirm.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bots.journal import IntentState
from chains.evm.allowlist import Allowlist, SpendCaps, SpendWindow, spend_refusal, worst_case_wei
from chains.evm.lane import ActionRequest, LanePolicy, LaneRefused
from chains.protocols.abi import encode_call
from tests.chains.evm.test_lane import RECIPIENT, Env, _env, _nonce

ETH = 10**18
OTHER = "0x000000000000000000000000000000000000dEaD"
TOKEN = "0x000000000000000000000000000000000000C0DE"  # an approve-only "token" (an EOA: calls to it succeed)


@pytest.fixture
async def automine(tmp_path: Path) -> AsyncIterator[Env]:
    async for env in _env(tmp_path):
        yield env


@pytest.fixture
async def manual(tmp_path: Path) -> AsyncIterator[Env]:
    async for env in _env(tmp_path, "--no-mining"):
        yield env


def _policy(*allowed: str, caps: SpendCaps | None = None, **kw: object) -> LanePolicy:
    return LanePolicy(bump_after_s=0.4, poll_interval_s=0.05, allowlist=Allowlist.build("testchain", allowed),
                      caps=caps or SpendCaps(), **kw)  # type: ignore[arg-type]


def _approve(spender: str) -> str:
    return "0x" + encode_call("approve(address,uint256)", ["address", "uint256"], [spender, 2**256 - 1]).hex()


# ------------------------------------------------------------------------------------------- pure decisions
def test_allowlist_compares_addresses_case_insensitively() -> None:
    allow = Allowlist.build("c", [RECIPIENT.lower(), "not-an-address", "12"])
    signer = "0x" + "11" * 20
    assert allow.refusal(RECIPIENT.upper().replace("0X", "0x"), "0x", 0, signer) is None
    assert allow.refusal(OTHER, "0x", 0, signer) == f"refused: {OTHER} is not an allowed contract on c"
    assert allow.refusal("0x1234", "0x", 0, signer) is not None  # malformed `to` is refused, not crashed on
    assert allow.refusal(signer, "0x", 0, signer) is None  # NOOP self-transfer
    assert allow.refusal(signer, "0xdeadbeef", 0, signer) is not None  # …but not a call to itself with data


def test_approve_only_token_accepts_only_approve_to_an_allowed_spender() -> None:
    allow = Allowlist.build("c", [RECIPIENT])
    allow.permit_approve(TOKEN.lower())
    signer = "0x" + "11" * 20
    assert allow.refusal(TOKEN, _approve(RECIPIENT), 0, signer) is None
    assert "only accepts approve()" in str(allow.refusal(TOKEN, _approve(OTHER), 0, signer))
    transfer = "0x" + encode_call("transfer(address,uint256)", ["address", "uint256"], [RECIPIENT, 1]).hex()
    assert allow.refusal(TOKEN, transfer, 0, signer) is not None
    assert allow.refusal(TOKEN, _approve(RECIPIENT), 1, signer) is not None  # no value with an approve
    assert allow.refusal(TOKEN, _approve(RECIPIENT) + "00", 0, signer) is not None  # exact length only


def test_spend_window_rolls_and_caps_decide() -> None:
    window = SpendWindow(window_s=10)
    window.record(0.0, 5)
    window.record(6.0, 7)
    assert window.spent(9.0) == 12 and window.spent(10.5) == 7 and window.spent(16.5) == 0
    caps = SpendCaps(per_action_wei=100, per_hour_wei=150)
    assert spend_refusal(caps, 100, 100, 50, "c") is None
    assert "per-action cap" in str(spend_refusal(caps, 101, 101, 0, "c"))
    assert "per-hour cap" in str(spend_refusal(caps, 60, 60, 100, "c"))
    assert spend_refusal(caps, 90, 10, 140, "c") is None  # a bump adds only its increase
    assert worst_case_wei(21_000, 2, 5) == 42_005
    assert SpendCaps.native_to_wei("0.5") == ETH // 2 and SpendCaps.native_to_wei(None) is None


# ------------------------------------------------------------------------------------------- on anvil
async def test_unlisted_contract_is_refused_and_nothing_is_signed(automine: Env) -> None:
    lane = await automine.lane(_policy(OTHER))
    with pytest.raises(LaneRefused, match="is not an allowed contract on testchain"):
        await lane.submit(ActionRequest(key="evil:1", to=RECIPIENT, value=1, bot="t", kind="transfer"))
    row = await automine.journal.get("evil:1")
    assert row is not None and row.id is not None
    assert row.state == IntentState.ABANDONED
    assert row.reason == f"refused: {RECIPIENT} is not an allowed contract on testchain"
    assert list(await automine.journal.attempts(row.id)) == []
    with pytest.raises(LaneRefused):  # the same request again (next tick): refused again, still one row
        await lane.submit(ActionRequest(key="evil:1", to=RECIPIENT, value=1, bot="t", kind="transfer"))
    await asyncio.sleep(0.3)
    assert await _nonce(automine, lane.signer.address, "pending") == 0
    assert int(str(await automine.rpc("eth_getBalance", RECIPIENT, "latest")), 16) == 0


async def test_allowed_contract_and_setup_approval_go_through(automine: Env) -> None:
    lane = await automine.lane(_policy(RECIPIENT.lower()))
    assert lane.policy.allowlist is not None
    lane.policy.allowlist.permit_approve(TOKEN)
    await lane.submit(ActionRequest(key="ok:1", to=RECIPIENT, value=3, bot="t", kind="transfer"))
    await lane.submit(ActionRequest(key="ok:approve", to=TOKEN, data=_approve(RECIPIENT), bot="setup", kind="approve"))
    with pytest.raises(LaneRefused, match="only accepts approve"):
        await lane.submit(ActionRequest(key="bad:approve", to=TOKEN, data=_approve(OTHER), bot="t", kind="approve"))
    assert (await lane.wait_final("ok:1", timeout=30)).state == IntentState.CONFIRMED
    assert (await lane.wait_final("ok:approve", timeout=30)).state == IntentState.CONFIRMED
    assert int(str(await automine.rpc("eth_getBalance", RECIPIENT, "latest")), 16) == 3


async def test_per_action_cap_refuses_before_signing(automine: Env) -> None:
    lane = await automine.lane(_policy(RECIPIENT, caps=SpendCaps(per_action_wei=ETH // 2)))
    seen: list[tuple[str, str]] = []

    async def hook(key: str, reason: str) -> None:
        seen.append((key, reason))

    lane.on_refusal = hook
    await lane.submit(ActionRequest(key="big:1", to=RECIPIENT, value=ETH, gas_limit=21_000, bot="t", kind="t"))
    done = await lane.wait_final("big:1", timeout=30)
    assert done.state == IntentState.ABANDONED and done.reason.startswith("refused: spend cap")
    assert "per-action cap" in done.reason
    assert done.id is not None and list(await automine.journal.attempts(done.id)) == []
    assert seen == [("big:1", done.reason)]
    await lane.submit(ActionRequest(key="small:1", to=RECIPIENT, value=ETH // 4, gas_limit=21_000, bot="t",
                                    kind="t"))
    small = await lane.wait_final("small:1", timeout=30)
    assert small.state == IntentState.CONFIRMED and small.nonce == 0  # the refusal left no nonce gap


async def test_hourly_cap_counts_sent_attempts(automine: Env) -> None:
    lane = await automine.lane(_policy(RECIPIENT, caps=SpendCaps(per_hour_wei=ETH)))
    for i in range(3):
        await lane.submit(ActionRequest(key=f"h:{i}", to=RECIPIENT, value=4 * ETH // 10, gas_limit=21_000,
                                        bot="t", kind="t"))
        await lane.wait_final(f"h:{i}", timeout=30)
    states = [(await automine.journal.get(f"h:{i}")) for i in range(3)]
    assert [s.state for s in states if s] == [IntentState.CONFIRMED, IntentState.CONFIRMED, IntentState.ABANDONED]
    assert states[2] is not None and "per-hour cap" in states[2].reason
    spent_now = lane.spend.spent(time.monotonic())  # the rolling window's total, read at the current time
    assert ETH * 8 // 10 < spent_now <= ETH


async def test_bump_beyond_hourly_cap_abandons_instead(manual: Env) -> None:
    lane = await manual.lane(_policy(RECIPIENT, max_bumps=3))
    await lane.submit(ActionRequest(key="stuck:1", to=RECIPIENT, value=1, gas_limit=21_000, bot="t", kind="t"))
    row = await lane.wait_final("stuck:1", timeout=10, states=frozenset({IntentState.SENT}))
    assert row.id is not None
    first = (await manual.journal.attempts(row.id))[0]
    first_cost = worst_case_wei(21_000, int(first.max_fee_wei), 1)
    # the window holds exactly the first attempt; a cap just above it leaves no room for the bump's increase
    lane.policy = dataclasses.replace(lane.policy, caps=SpendCaps(per_hour_wei=first_cost + 1))
    done = await lane.wait_final("stuck:1", timeout=30)
    assert done.state == IntentState.ABANDONED and "per-hour cap" in done.reason
    assert len(await manual.journal.attempts(row.id)) == 1  # the bump was never signed


def test_multicall_batches_are_allowed_only_when_every_inner_call_is() -> None:
    from chains.evm.allowlist import Allowlist
    from chains.evm.multicall import MULTICALL3, Call, encode_aggregate3_fast

    allowed, other, me = "0x" + "11" * 20, "0x" + "22" * 20, "0x" + "00" * 20
    allow = Allowlist.build("ethereum", [allowed])
    good = encode_aggregate3_fast([Call(allowed, bytes.fromhex("01020304"))] * 3)
    assert allow.refusal(MULTICALL3, good, 0, me) is None
    smuggled = encode_aggregate3_fast([Call(allowed, b""), Call(other, b"")])
    assert "batch calls 0x2222" in str(allow.refusal(MULTICALL3, smuggled, 0, me))
    assert "only aggregate3" in str(allow.refusal(MULTICALL3, "0xdeadbeef", 0, me))
    assert "malformed" in str(allow.refusal(MULTICALL3, good[:80], 0, me))
    assert "not an allowed contract" in str(allow.refusal(MULTICALL3, good, 1, me))  # value never rides along
