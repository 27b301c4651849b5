"""Deploy the real VaultOptions stack (TestTokens, PriceFeed, VaultOptions, optional VolFeed / sequencer feed /
MockPyth) from forge artifacts onto an anvil with web3.py, using anvil's unlocked dev accounts.

Artifacts come from the project's `out/` (built by `make test`); `RTRM_OUT_DIR` overrides it while developing.
Also used by bench/bench_adapters.py.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from web3 import AsyncHTTPProvider, AsyncWeb3
from web3.contract import AsyncContract
from web3.types import RPCEndpoint

from chains.devnet.artifacts import ArtifactMissingError, load_artifact
from chains.devnet.multicall import install_multicall3

ROOT = Path(__file__).resolve().parents[3]
USDC = 10**6
OPT = 10**8
E8 = 10**8
E18 = 10**18


def out_dir() -> Path:
    return Path(os.environ.get("RTRM_OUT_DIR", str(ROOT / "out")))


def artifacts_available(*refs: str) -> str | None:
    """None when every artifact exists, else a skip reason naming the first missing one."""
    for ref in refs:
        try:
            load_artifact(ref, root=ROOT, out_dir=out_dir())
        except ArtifactMissingError as exc:
            return f"{exc} (set RTRM_OUT_DIR to a forge out/ that has it)"
    return None


async def rpc(w3: AsyncWeb3, method: str, params: list[Any] | None = None) -> Any:
    reply = await w3.provider.make_request(RPCEndpoint(method), params or [])
    if reply.get("error"):
        raise RuntimeError(f"{method}: {reply['error']}")
    return reply.get("result")


async def wait(w3: AsyncWeb3, tx_hash: Any) -> Any:
    receipt = await w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30, poll_latency=0.02)
    if receipt["status"] != 1:
        raise RuntimeError(f"transaction {tx_hash.to_0x_hex()} reverted")
    return receipt


async def send(w3: AsyncWeb3, fn: Any, sender: str, value: int = 0) -> Any:
    return await wait(w3, await fn.transact({"from": sender, "value": value}))


async def deploy(w3: AsyncWeb3, ref: str, *args: Any, sender: str) -> AsyncContract:
    art = load_artifact(ref, root=ROOT, out_dir=out_dir())
    factory = w3.eth.contract(abi=art.abi, bytecode=art.bytecode)
    receipt = await wait(w3, await factory.constructor(*args).transact({"from": sender}))
    return w3.eth.contract(address=receipt["contractAddress"], abi=art.abi)


@dataclass
class VaultDevnet:
    w3: AsyncWeb3
    url: str
    admin: str
    writer: str
    liquidator: str
    usdc: AsyncContract
    weth: AsyncContract
    feed: AsyncContract
    vo: AsyncContract
    deploy_block: int
    expiry: int
    put_series: int
    call_series: int

    async def now(self) -> int:
        return int((await self.w3.eth.get_block("latest"))["timestamp"])

    async def push_price(self, answer_e8: int, advance_s: int = 5) -> int:
        """New feed round `advance_s` seconds later; returns its round id."""
        if advance_s:
            await rpc(self.w3, "evm_increaseTime", [advance_s])
        await send(self.w3, self.feed.functions.updateAnswer(answer_e8), self.admin)
        return int(await self.feed.functions.latestRound().call())

    async def open_vault(self, owner: str, collateral: int, series: int = 0, amount: int = 0) -> int:
        await send(self.w3, self.vo.functions.openVault(), owner)
        vid = int(await self.vo.functions.vaultCount().call())
        if collateral:
            await send(self.w3, self.vo.functions.deposit(vid, collateral), owner)
        if amount:
            await send(self.w3, self.vo.functions.mint(vid, series, amount), owner)
        return vid

    async def fund(self, who: str, amount: int) -> None:
        await send(self.w3, self.usdc.functions.mint(who, amount), self.admin)
        await send(self.w3, self.usdc.functions.approve(self.vo.address, 2**256 - 1), who)

    async def close(self) -> None:
        await self.w3.provider.disconnect()


async def deploy_vault_devnet(url: str, expiry_in_s: int = 10 * 86400) -> VaultDevnet:
    """USDC(6)/WETH(18), ETH/USD feed (8 dec) at 3000, VaultOptions (1 h max oracle age), a 2500 put and a
    3500 call series on WETH; writer and liquidator funded with 1M USDC and approved."""
    w3 = AsyncWeb3(AsyncHTTPProvider(url))
    accounts = await w3.eth.accounts
    admin, writer, liquidator = accounts[0], accounts[1], accounts[2]
    await install_multicall3(w3, root=ROOT, chain="test")
    deploy_block = await w3.eth.block_number
    usdc = await deploy(w3, "TestToken", "USD Coin", "USDC", 6, sender=admin)
    weth = await deploy(w3, "TestToken", "Wrapped Ether", "WETH", 18, sender=admin)
    feed = await deploy(w3, "PriceFeed", "ETH / USD", 8, admin, sender=admin)
    await send(w3, feed.functions.updateAnswer(3000 * E8), admin)
    vo = await deploy(w3, "VaultOptions", usdc.address, admin, 3600, sender=admin)
    await send(w3, vo.functions.setOracle(weth.address, feed.address), admin)
    now = int((await w3.eth.get_block("latest"))["timestamp"])
    expiry = now + expiry_in_s
    await send(w3, vo.functions.createSeries(weth.address, 2500 * E18, expiry, True), admin)
    await send(w3, vo.functions.createSeries(weth.address, 3500 * E18, expiry, False), admin)
    net = VaultDevnet(w3, url, admin, writer, liquidator, usdc, weth, feed, vo, deploy_block, expiry, 1, 2)
    await asyncio.gather(net.fund(writer, 1_000_000 * USDC))
    await net.fund(liquidator, 1_000_000 * USDC)
    return net


UNI_CORE = "node_modules/@uniswap/v3-core/artifacts/contracts/"
UNI_PERI = "node_modules/@uniswap/v3-periphery/artifacts/contracts/"


@dataclass
class UniswapDevnet:
    factory: AsyncContract
    router: AsyncContract
    quoter: AsyncContract
    pool: str
    fee: int = 500


async def deploy_uniswap(net: VaultDevnet, price_usd: int = 3000, weth_amount: int = 10_000 * E18) -> UniswapDevnet:
    """The real Uniswap V3 (npm bytecode) + a WETH/USDC 0.05 % pool seeded at `price_usd` by UniswapSeeder."""
    w3, admin = net.w3, net.admin
    factory = await deploy(w3, UNI_CORE + "UniswapV3Factory.sol/UniswapV3Factory.json", sender=admin)
    router = await deploy(w3, UNI_PERI + "SwapRouter.sol/SwapRouter.json", factory.address, net.weth.address,
                          sender=admin)
    quoter = await deploy(w3, UNI_PERI + "lens/QuoterV2.sol/QuoterV2.json", factory.address, net.weth.address,
                          sender=admin)
    npm = await deploy(w3, UNI_PERI + "NonfungiblePositionManager.sol/NonfungiblePositionManager.json",
                       factory.address, net.weth.address, "0x000000000000000000000000000000000000dEaD", sender=admin)
    seeder = await deploy(w3, "UniswapSeeder", sender=admin)
    usdc_amount = weth_amount * price_usd * USDC // E18
    await send(w3, net.weth.functions.mint(admin, weth_amount), admin)
    await send(w3, net.usdc.functions.mint(admin, usdc_amount), admin)
    await send(w3, net.weth.functions.approve(seeder.address, weth_amount), admin)
    await send(w3, net.usdc.functions.approve(seeder.address, usdc_amount), admin)
    await send(w3, seeder.functions.seed((npm.address, net.weth.address, net.usdc.address, 500, price_usd * E18,
                                          weth_amount, usdc_amount, 4055, admin)), admin)
    pool = await factory.functions.getPool(net.weth.address, net.usdc.address, 500).call()
    return UniswapDevnet(factory, router, quoter, pool)
