"""Executors only call configured contracts: the runner's allowlist builder, and a strategy intent to an unlisted
contract refused through the engine's real path (real anvil lane, real SQLite; the bot's state source and call
builder are in-process stand-ins so the builder can be made to point at a random address).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from eth_account import Account
from web3 import AsyncHTTPProvider, AsyncWeb3

from bots.config import ConfigError, apply_manifest, parse_config
from bots.engine import BotSpec, CallSpec, Engine
from bots.journal import IntentState, Journal
from bots.runner import lane_limits
from bots.store import Alert, Store
from bots.strategies import liquidator
from bots.strategies.intents import ActionIntent
from chains.evm.lane import EvmLane, LanePolicy
from chains.evm.signer import Signer
from tests.bots.test_engine import liq_source
from tests.chains.evm.anvil_node import DEV_KEYS, anvil

PM = "0x00000000000000000000000000000000000000aa"
ROGUE = "0x1111111111111111111111111111111111111111"
CONFIG = f"""
dry_run = false
[chains.arbitrum]
rpc_urls = ["http://127.0.0.1:1"]
chain_id = 42161
[chains.base]
rpc_urls = ["http://127.0.0.1:2"]
chain_id = 8453
[signers.keeper]
env = "RTRM_KEEPER_KEY"
[protocols.portfolio_margin]
kind = "portfolio_margin"
chain = "arbitrum"
addresses = {{ PortfolioMargin = "{PM}" }}
[protocols.uniswap_arbitrum]
kind = "uniswap_v3"
chain = "arbitrum"
from_manifest = true
[protocols.option_amm]
kind = "option_amm"
chain = "base"
addresses = {{ OptionAMM = "0x00000000000000000000000000000000000000bb" }}
[guards]
max_fee_per_action_native = {{ arbitrum = "0.01" }}
max_spend_per_hour_native = {{ arbitrum = "0.5", base = "1" }}
[bots.liquidator]
signer = "keeper"
interval_s = 0.05
[bots.liquidator.protocols.portfolio_margin]
cooldown_s = 0
"""
MANIFEST = {"arbitrum": {"SwapRouter": "0x00000000000000000000000000000000000000Cc",
                         "USDC": "0x00000000000000000000000000000000000000dD"}}


def test_allowlist_and_caps_come_from_the_chains_protocols_and_guards() -> None:
    cfg = apply_manifest(parse_config(CONFIG), MANIFEST)
    allow, caps = lane_limits(cfg, "arbitrum")
    assert allow.contracts == {PM, "0x00000000000000000000000000000000000000cc",
                               "0x00000000000000000000000000000000000000dd"}  # manifest-filled, lower-cased
    assert caps.per_action_wei == 10**16 and caps.per_hour_wei == 5 * 10**17
    base_allow, base_caps = lane_limits(cfg, "base")
    assert base_allow.contracts == {"0x00000000000000000000000000000000000000bb"}  # other chains' stay out
    assert base_caps.per_action_wei is None and base_caps.per_hour_wei == 10**18


def test_caps_for_an_unknown_chain_or_not_positive_are_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"guards\.max_spend_per_hour_native\.ethereum: unknown chain"):
        parse_config(CONFIG.replace('base = "1"', 'ethereum = "1"'))
    with pytest.raises(ConfigError, match=r"guards\.max_fee_per_action_native\.arbitrum"):
        parse_config(CONFIG.replace('arbitrum = "0.01"', 'arbitrum = "-1"'))


class RogueBuilder:
    """A call builder gone wrong (bug or poisoned input): every call goes to an address nobody configured."""

    def build(self, intent: ActionIntent) -> CallSpec:
        return CallSpec(to=ROGUE, data="0x1234")


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[tuple[Engine, EvmLane, Journal, Store, AsyncWeb3]]:
    with anvil() as url:
        journal = await Journal(str(tmp_path / "rtrm.db")).open()
        store = await Store(engine=journal.engine).open()
        cfg = parse_config(CONFIG)
        allow, caps = lane_limits(cfg, "arbitrum")
        acct = Account.from_key(DEV_KEYS[0])
        w3 = AsyncWeb3(AsyncHTTPProvider(url))
        lane = EvmLane(w3, Signer(acct.address, acct), "arbitrum", 31337, journal,
                       policy=LanePolicy(poll_interval_s=0.05, allowlist=allow, caps=caps))
        await lane.start()
        engine = Engine(cfg, store, journal, [BotSpec("liquidator", liquidator.decide, liq_source())],
                        executors={"arbitrum": lane}, builder=RogueBuilder())
        try:
            yield engine, lane, journal, store, w3
        finally:
            await lane.stop()
            await journal.close()
            await w3.provider.disconnect()


async def test_strategy_intent_to_an_unlisted_contract_is_refused_and_alerted_once(
        rig: tuple[Engine, EvmLane, Journal, Store, AsyncWeb3]) -> None:
    engine, lane, journal, store, w3 = rig
    first = await engine.tick("liquidator")
    again = await engine.tick("liquidator")  # the strategy decides the same intents again
    assert len(first.failed) == 2 and first.failed == again.failed and first.sent == ()
    for key in first.failed:
        row = await journal.get(key)
        assert row is not None and row.id is not None
        assert row.state == IntentState.ABANDONED
        assert row.reason == f"refused: {ROGUE} is not an allowed contract on arbitrum"
        assert list(await journal.attempts(row.id)) == []
    alerts = [a for a in await store.alerts() if "refused" in a.message]
    assert len(alerts) == 2 and await store.count(Alert) == 2  # one per intent, not one per tick
    assert {a.key for a in alerts} == set(first.failed) and all("LaneRefused" in a.message for a in alerts)
    assert await w3.eth.get_transaction_count(lane.signer.address, "pending") == 0  # nothing was signed
