"""The devnet runner against real anvil processes: start/stop, fork mode, node death, failed start."""

from __future__ import annotations

import asyncio
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from chains.devnet.errors import NodeStartError
from chains.devnet.manifest import Manifest, ProcessEntry, load_manifest, utcnow, write_manifest
from chains.devnet.multicall import MULTICALL3_ADDRESS
from chains.devnet.process import free_port, is_our_process
from chains.devnet.runner import Devnet, down, run_foreground
from chains.devnet.spec import DevnetSpec, ForkSpec, build_spec, select_chains
from chains.toolchain import project_root
from tests.conftest import AnvilFactory, eth_balance, rpc, send_eth

OUT = project_root() / "out"


def evm_spec(tmp_path: Path, chains: str = "ethereum,arbitrum,base", **kw: Any) -> DevnetSpec:
    selected = select_chains(chains, no_solana=True)
    ports = {c.name: free_port() for c in selected}
    kw.setdefault(
        "protocols", False
    )  # protocol extensions have their own tests; keep these fast and isolated
    return build_spec(chains=selected, directory=tmp_path / "devnet", artifacts_root=OUT, ports=ports, **kw)


async def test_three_chains_up_deploy_manifest_and_stop(tmp_path: Path) -> None:
    devnet = Devnet(evm_spec(tmp_path))
    try:
        manifest = await devnet.start()
        assert manifest.status == "running"
        ids = {c.name: int(rpc(c.rpc_url, "eth_chainId"), 16) for c in manifest.evm_chains()}
        assert ids == {"ethereum": 1, "arbitrum": 42161, "base": 8453}
        for chain in manifest.evm_chains():
            assert set(chain.contracts) >= {"Multicall3", "USDC", "WETH", "WBTC"}
            assert chain.contracts["Multicall3"].address == MULTICALL3_ADDRESS
            assert rpc(chain.rpc_url, "eth_getCode", [chain.address("USDC"), "latest"]) not in ("0x", None)
            assert chain.ws_url == chain.rpc_url.replace("http://", "ws://")
        assert load_manifest(tmp_path / "devnet") == manifest
        procs = manifest.processes
        assert all(is_our_process(procs[n].pid, procs[n].cmdline) for n in ("ethereum", "arbitrum", "base"))
        assert (tmp_path / "devnet/run/devnet.pid").is_file()
    finally:
        devnet.stop()
    assert not any(is_our_process(p.pid, p.cmdline) for n, p in procs.items() if n != "supervisor")
    after = load_manifest(tmp_path / "devnet")
    assert after.status == "stopped" and after.stopped_at is not None
    assert sorted(p.name for p in (tmp_path / "devnet/run").glob("*.pid")) == []


async def test_fork_reads_origin_at_fork_block_and_never_writes_back(
    tmp_path: Path, anvil_factory: AnvilFactory
) -> None:
    origin = anvil_factory(chain_id=31337)
    alice = "0x00000000000000000000000000000000000A11CE"
    assert send_eth(origin.url, alice, 1_000) == 1
    assert send_eth(origin.url, alice, 2_000) == 2  # after the fork point
    assert eth_balance(origin.url, alice) == 3_000
    devnet = Devnet(evm_spec(tmp_path, "ethereum", forks={"ethereum": ForkSpec(origin.url, 1)}))
    try:
        manifest = await devnet.start()
        fork = manifest.chain("ethereum")
        assert fork.fork is not None and fork.fork.block == 1
        assert int(rpc(fork.rpc_url, "eth_chainId"), 16) == 1  # chain id kept
        assert eth_balance(fork.rpc_url, alice, "0x1") == 1_000  # origin state at the fork block
        assert eth_balance(fork.rpc_url, alice) == 1_000  # block 2 of the origin is not part of the fork
        send_eth(fork.rpc_url, alice, 5)
        assert eth_balance(fork.rpc_url, alice) == 1_005
        assert "USDC" in fork.contracts
    finally:
        devnet.stop()
    assert eth_balance(origin.url, alice) == 3_000  # origin untouched
    assert int(rpc(origin.url, "eth_blockNumber"), 16) == 2


async def test_node_death_stops_the_devnet(tmp_path: Path) -> None:
    devnet = Devnet(evm_spec(tmp_path, "ethereum,base", deploy=False))
    await devnet.start()
    try:
        devnet.started["base"].proc.kill()
        code = await asyncio.wait_for(run_foreground(devnet, asyncio.Event(), poll=0.05), timeout=30)
    finally:
        devnet.stop()
    assert code == 1
    assert devnet.started["ethereum"].proc.poll() is not None
    assert load_manifest(tmp_path / "devnet").status == "stopped"


async def test_stop_event_stops_cleanly(tmp_path: Path) -> None:
    devnet = Devnet(evm_spec(tmp_path, "arbitrum", deploy=False, block_times={"arbitrum": 0.25}))
    manifest = await devnet.start()
    assert manifest.chain("arbitrum").block_time == 0.25
    stop = asyncio.Event()
    stop.set()
    assert await run_foreground(devnet, stop) == 0
    assert devnet.started["arbitrum"].proc.returncode == 0  # SIGTERM → anvil exits 0 (state dumped)


async def test_failed_start_stops_everything(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    devnet = Devnet(evm_spec(tmp_path, "ethereum,base", forks={"base": ForkSpec(dead)}))
    with pytest.raises(
        NodeStartError, match=r"base node exited with code \d+ during start-up; see .*base.log"
    ):
        await devnet.start(ready_timeout=20)
    assert all(s.proc.poll() is not None for s in devnet.started.values())


def test_down_never_signals_a_recycled_pid(tmp_path: Path) -> None:
    """A recorded pid now running something else (here: this test process) is left alone."""
    fake = ProcessEntry(pid=os.getpid(), cmdline=["/x/anvil", "--port", "1"])
    write_manifest(
        Manifest(
            status="running",
            started_at=utcnow(),
            supervisor_pid=os.getpid(),
            directory=str(tmp_path),
            processes={"ethereum": fake, "supervisor": fake},
        ),
        tmp_path,
    )
    result = down(tmp_path)
    assert result.stopped == [] and "no devnet running" in result.message
    assert load_manifest(tmp_path).status == "stopped"


async def test_missing_artifacts_are_skipped_not_fatal(tmp_path: Path) -> None:
    spec = evm_spec(tmp_path, "ethereum")
    devnet = Devnet(replace(spec, artifacts_root=tmp_path / "no-out"))
    try:
        manifest = await devnet.start()
    finally:
        devnet.stop()
    assert manifest.status == "running"
    assert set(manifest.chain("ethereum").contracts) == {"Multicall3"}
