"""Shared pieces of the keeper fault scenarios: a seeded devnet with fragile VaultOptions vaults, a keeper running
in the background, waiting on journal / store / chain conditions, and measuring how long a recovery took.

Why a module: every scenario asks the same three questions — was nothing done while the fault held, was the
fault reported (once), and was every liquidatable account acted on exactly once after it healed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from eth_account import Account
from web3 import AsyncWeb3
from web3.types import RPCEndpoint

from bots.journal import Intent
from bots.runner import Runtime
from bots.store import Alert
from chains.devnet.driver import LiquidationTarget, MarketDriver, fragile_targets
from chains.devnet.multicall import install_multicall3
from chains.devnet.seed import seed_devnet
from tests.bots.test_run_devnet import KEEPER_KEY, liquidation_logs
from tests.chains.devnet.test_protocols_deploy import OUT, ROOT, Devnet, build_devnet

KEEPER = Account.from_key(KEEPER_KEY).address
SENT_OR_LATER = frozenset({"sent", "mined", "confirmed", "reverted"})


@dataclass
class VaultWorld:
    """A seeded devnet whose fragile vaults become liquidatable at `liquidating` prices (found, then undone)."""

    dn: Devnet
    drv: MarketDriver
    w3: AsyncWeb3
    vo: Any  # the VaultOptions contract
    targets: list[LiquidationTarget]
    healthy: dict[str, Decimal]
    liquidating: dict[str, Decimal]
    report: Mapping[str, Any]


async def _rpc(w3: AsyncWeb3, method: str, params: list[Any]) -> Any:
    reply = await w3.provider.make_request(RPCEndpoint(method), params)
    assert "error" not in reply, reply
    return reply["result"]


@asynccontextmanager
async def vault_world(anvil_factory: Any, tmp_path: Path) -> AsyncIterator[VaultWorld]:
    """Devnet + seed (4 wallets, seed 9) + keeper funded; the prices that make every fragile vault liquidatable
    are searched on snapshots and then rolled back, so each scenario decides when the crash happens."""
    async with build_devnet(anvil_factory, tmp_path) as dn:
        w3 = dn.w3["ethereum"]
        await install_multicall3(w3, root=ROOT, chain="ethereum")
        report = await seed_devnet(dn.manifest, wallets=4, seed=9, root=ROOT, out_dir=OUT)
        targets = [t for t in fragile_targets(report) if t.kind == "vault"]
        assert len(targets) >= 2
        eth = dn.c("ethereum")
        deployer = (await w3.eth.accounts)[0]
        await eth["USDC"].functions.mint(KEEPER, 10_000_000 * 10**6).transact({"from": deployer})
        async with MarketDriver(dn.manifest, root=ROOT, out_dir=OUT) as drv:
            await drv.advance_time(60)  # rounds after the vaults' last update (an auction needs one)
            healthy = dict(drv.prices)
            snaps = {n: await _rpc(dn.w3[n], "evm_snapshot", []) for n in dn.w3}
            await drv.make_liquidatable(targets)
            liquidating = dict(drv.prices)
            for n, s in snaps.items():
                await _rpc(dn.w3[n], "evm_revert", [s])
            drv.prices = dict(healthy)
            for t in targets:
                assert not await drv.is_liquidatable(t)
            yield VaultWorld(dn, drv, w3, eth["VaultOptions"], targets, healthy, liquidating, report)


@asynccontextmanager
async def running(rt: Runtime) -> AsyncIterator[Runtime]:
    """The keeper in the background of the test's loop (it ticks while the test drives the market)."""
    await rt.start(risk_interval_s=3600, resync_interval_s=3600)
    try:
        yield rt
    finally:
        await rt.stop()


async def wait_until(cond: Callable[[], Awaitable[bool]], timeout: float, what: str, poll: float = 0.05,
                     rt: Runtime | None = None) -> float:
    """Poll `cond` until it holds; returns the seconds waited (loop time). Fails naming `what` on timeout (with
    the keeper's own account of its decision when `rt` is given)."""
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    while not await cond():
        if loop.time() - t0 > timeout:
            why = "\n".join(await rt.explain()) if rt is not None else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{why}")
        await asyncio.sleep(poll)
    return loop.time() - t0


async def rows(rt: Runtime, bot: str = "liquidator") -> list[Intent]:
    assert rt.store is not None
    return list(await rt.store.actions(limit=1000, bot=bot))


async def alerts(rt: Runtime, source_prefix: str = "") -> list[Alert]:
    assert rt.store is not None
    return [a for a in await rt.store.alerts(1000) if a.source.startswith(source_prefix)]


async def ticks(rt: Runtime, n: int, bot: str = "liquidator", timeout: float = 30.0) -> None:
    """Let the bot run `n` more full ticks (the fault must hold across ticks, not just one)."""
    assert rt.engine is not None
    h = rt.engine.health[bot]
    start = h.ticks

    async def done() -> bool:
        return h.ticks >= start + n

    await wait_until(done, timeout, f"{n} ticks of {bot}")


async def vault_liquidations(world: VaultWorld) -> dict[int, int]:
    """Vault id → VaultLiquidated events on chain."""
    per: dict[int, int] = {}
    for log in await liquidation_logs(world.w3, world.vo.address):
        vid = int(log["topics"][1].hex(), 16)
        per[vid] = per.get(vid, 0) + 1
    return per


async def all_confirmed(rt: Runtime, n: int) -> bool:
    return sum(r.state == "confirmed" for r in await rows(rt)) >= n


def report_time(scenario: str, what: str, seconds: float) -> None:
    """Recovery times are measured, printed (`-s`) and collected by the closing note — never asserted."""
    print(f"[faults] {scenario}: {what} {seconds:.2f}s")
