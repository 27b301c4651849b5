"""Shared pieces of the fault scenarios: a seeded devnet whose keeper RPC goes through fault proxies, the
two-chain liquidator config, journal/chain counting helpers, and a monotonic stopwatch for recovery times."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account import Account
from web3 import AsyncWeb3

from bots.config import Config, parse_config
from bots.journal import Intent
from bots.runner import Runtime
from chains.devnet.driver import LiquidationTarget, fragile_targets
from chains.devnet.multicall import install_multicall3
from chains.devnet.protocols import CHAIN_IDS
from chains.devnet.seed import seed_devnet
from chains.faults.proxy import FaultProxy
from chains.protocols.abi import topic
from tests.chains.devnet.test_protocols_deploy import OUT, ROOT, Devnet, build_devnet

# anvil's 10th well-known dev account: a public test key, never a real secret
KEEPER_KEY = "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6"
KEEPER_ENV = "RTRM_TEST_KEEPER_KEY"
KEEPER = Account.from_key(KEEPER_KEY).address
ENV: Mapping[str, str] = {KEEPER_ENV: KEEPER_KEY}

VAULT_LIQUIDATED = topic("VaultLiquidated(uint256,address,uint256,uint256,uint80)")
AUCTION_STARTED = topic("AuctionStarted(uint256,int256,int256,bool,uint256)")
AUCTION_BID = topic("AuctionBid(uint256,uint256,uint256,int256,uint256,int256,int256)")

CHAIN_SECTION = """
[chains.{chain}]
rpc_urls = ["{rpc}"]
chain_id = {chain_id}
confirmations = 1
"""

LIQUIDATOR = """
[signers.keeper]
env = "{env}"
[protocols.vault_options]
kind = "vault_options"
chain = "ethereum"
addresses = {{ VaultOptions = "{vo}" }}
[protocols.portfolio_margin]
kind = "portfolio_margin"
chain = "arbitrum"
addresses = {{ PortfolioMargin = "{pm}", SequencerUptimeFeed = "{seq}" }}
[guards]
max_oracle_age_s = {{ chainlink = 3600 }}
sequencer_grace_s = 600
[storage]
url = "{db}"
[bots.liquidator]
signer = "keeper"
interval_s = 0.2
[bots.liquidator.protocols.vault_options]
min_profit_usd = "1"
cooldown_s = 5
[bots.liquidator.protocols.portfolio_margin]
min_profit_usd = "1"
cooldown_s = 0
"""


VAULTS_ONLY = """
[signers.keeper]
env = "{env}"
[protocols.vault_options]
kind = "vault_options"
chain = "ethereum"
addresses = {{ VaultOptions = "{vo}" }}
[guards]
max_oracle_age_s = {{ chainlink = 3600 }}
[storage]
url = "{db}"
[bots.liquidator]
signer = "keeper"
interval_s = 0.2
[bots.liquidator.protocols.vault_options]
min_profit_usd = "1"
cooldown_s = 5
"""


@dataclass
class FaultDevnet:
    """A seeded devnet plus one fault proxy per EVM chain (the keeper talks to `proxies[c].url`)."""

    dn: Devnet
    report: dict[str, Any]
    proxies: dict[str, FaultProxy]
    tmp: Path

    def targets(self, kind: str) -> list[LiquidationTarget]:
        return [t for t in fragile_targets(self.report) if t.kind == kind]

    def upstream(self, chain: str) -> str:
        return self.dn.manifest.chains[chain].rpc_url

    def liquidator_config(self, db: str = "keeper.db") -> Config:
        eth, arb = self.dn.c("ethereum"), self.dn.c("arbitrum")
        text = "".join(CHAIN_SECTION.format(chain=c, rpc=self.proxies[c].url, chain_id=CHAIN_IDS[c])
                       for c in ("ethereum", "arbitrum"))
        text += LIQUIDATOR.format(env=KEEPER_ENV, vo=eth["VaultOptions"].address, pm=arb["PortfolioMargin"].address,
                                  seq=arb["SequencerUptimeFeed"].address, db=self.tmp / db)
        return parse_config(text)

    def vault_config(self, db: str = "keeper.db") -> Config:
        """The liquidator on ethereum's VaultOptions only."""
        text = CHAIN_SECTION.format(chain="ethereum", rpc=self.proxies["ethereum"].url, chain_id=CHAIN_IDS["ethereum"])
        text += VAULTS_ONLY.format(env=KEEPER_ENV, vo=self.dn.c("ethereum")["VaultOptions"].address, db=self.tmp / db)
        return parse_config(text)


@asynccontextmanager
async def fault_devnet(anvil_factory: Any, tmp_path: Path, *, seed: int = 9, wallets: int = 4,
                       keeper_usdc: int = 10_000_000) -> AsyncIterator[FaultDevnet]:
    """Three anvils with every protocol deployed and seeded, Multicall3 on each, the keeper's USDC minted on
    each chain, and a fault proxy (no fault set) in front of each anvil."""
    async with build_devnet(anvil_factory, tmp_path) as dn, AsyncExitStack() as stack:
        for chain in dn.w3:
            await install_multicall3(dn.w3[chain], root=ROOT, chain=chain)
        report = await seed_devnet(dn.manifest, wallets=wallets, seed=seed, root=ROOT, out_dir=OUT)
        for chain, w3 in dn.w3.items():
            usdc = dn.c(chain)["USDC"]
            await usdc.functions.mint(KEEPER, keeper_usdc * 10**6).transact({"from": (await w3.eth.accounts)[0]})
        proxies = {}
        for i, chain in enumerate(dn.w3):
            proxies[chain] = await stack.enter_async_context(
                FaultProxy(dn.manifest.chains[chain].rpc_url, seed=i, name=chain))
        yield FaultDevnet(dn, report, proxies, tmp_path)


async def intents(rt: Runtime, bot: str | None = None) -> list[Intent]:
    assert rt.store is not None
    return list(await rt.store.actions(limit=10_000, bot=bot))


async def logs_by_account(w3: AsyncWeb3, address: str, topic0: str) -> Counter[int]:
    """How many times each account / vault id (the first indexed topic) appears in `topic0` events."""
    logs = await w3.eth.get_logs({"address": address, "topics": [topic0], "fromBlock": 0, "toBlock": "latest"})
    return Counter(int(lg["topics"][1].hex(), 16) for lg in logs)


def assert_unique_keys(rows: Sequence[Intent]) -> None:
    keys = Counter(r.key for r in rows)
    dupes = [k for k, n in keys.items() if n > 1]
    assert not dupes, f"journal keys repeated: {dupes}"


@dataclass
class Stopwatch:
    """Monotonic marks by name (recovery and detection times are printed, never asserted against a bound)."""

    marks: dict[str, float] = field(default_factory=dict)

    def mark(self, name: str) -> float:
        self.marks.setdefault(name, time.monotonic())
        return self.marks[name]

    def between(self, a: str, b: str) -> float:
        return self.marks[b] - self.marks[a]


async def wait_for(cond: Callable[[], Awaitable[bool]], timeout: float, what: str,
                   explain: Callable[[], Awaitable[str]] | None = None, poll_s: float = 0.1) -> None:
    """Poll `cond` until true; on the generous safety timeout fail with `what` and an explanation."""
    deadline = time.monotonic() + timeout
    while not await cond():
        if time.monotonic() > deadline:
            why = await explain() if explain is not None else ""
            raise AssertionError(f"{what} not reached within {timeout}s\n{why}")
        await asyncio.sleep(poll_s)


async def explain(rt: Runtime) -> str:
    """The keeper's own account of why it is stuck: decisions, journal rows, alerts."""
    lines = []
    if rt.engine is not None:
        lines.append(str(rt.engine.health_report()))
        try:
            lines += await rt.explain()
        except Exception as exc:
            lines.append(f"explain failed: {type(exc).__name__}: {exc}")
    if rt.store is not None:
        lines += [f"journal {r.key} {r.state} {r.reason}" for r in await rt.store.actions(40)]
        lines += [f"alert {a.source} {a.message}" for a in await rt.store.alerts(20)]
    return "\n".join(lines)
