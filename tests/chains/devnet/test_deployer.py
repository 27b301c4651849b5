"""Generic deployer and Multicall3 against real anvil processes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from web3 import AsyncHTTPProvider, AsyncWeb3

from chains.devnet.deployer import PlanDeployer, create_address
from chains.devnet.multicall import MULTICALL3_ADDRESS, install_multicall3, verify_multicall3
from chains.devnet.plan import DEPLOYER, Call, Deploy, Ref, Step, plan_for, validate_plan
from chains.toolchain import project_root
from tests.conftest import AnvilFactory, AnvilNode

ROOT = project_root()
OUT = ROOT / "out"
UNISWAP_FACTORY = (
    "node_modules/@uniswap/v3-core/artifacts/contracts/UniswapV3Factory.sol/UniswapV3Factory.json"
)
ERC20_ABI = [
    {
        "type": "function",
        "name": n,
        "stateMutability": "view",
        "inputs": i,
        "outputs": [{"name": "", "type": t}],
    }
    for n, i, t in (
        ("decimals", [], "uint8"),
        ("symbol", [], "string"),
        ("balanceOf", [{"name": "a", "type": "address"}], "uint256"),
    )
]


@pytest.fixture
async def w3(anvil: AnvilNode) -> AsyncIterator[AsyncWeb3]:
    w3 = AsyncWeb3(AsyncHTTPProvider(anvil.url))
    yield w3
    await w3.provider.disconnect()


def test_create_address_matches_known_anvil_first_deploy() -> None:
    assert (
        create_address("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", 0)
        == "0x5FbDB2315678afecb367f032d93F642f64180aa3"
    )


def test_plan_validation() -> None:
    validate_plan(plan_for("ethereum"))
    with pytest.raises(ValueError, match="references 'B' before it is deployed"):
        validate_plan([Deploy("A", "X", (Ref("B"),)), Deploy("B", "X")])
    with pytest.raises(ValueError, match="duplicate contract name 'A'"):
        validate_plan([Deploy("A", "X"), Deploy("A", "X")])
    with pytest.raises(ValueError, match="references 'Z'"):
        validate_plan([Call("Z", "f")])


async def test_multicall3_installed_and_idempotent(w3: AsyncWeb3) -> None:
    entry = await install_multicall3(w3, root=ROOT, chain="t")
    assert entry.address == MULTICALL3_ADDRESS
    assert len(await w3.eth.get_code(MULTICALL3_ADDRESS)) > 0
    sender = (await w3.eth.accounts)[0]
    nonce = await w3.eth.get_transaction_count(sender)
    await install_multicall3(w3, root=ROOT, chain="t")  # already there: nothing sent
    assert await w3.eth.get_transaction_count(sender) == nonce
    assert await verify_multicall3(w3) == await w3.eth.block_number


async def test_plan_with_refs_calls_missing_and_hardhat_artifacts(w3: AsyncWeb3) -> None:
    steps: list[Step] = [
        Deploy("USDC", "TestToken", ("USD Coin", "USDC", 6)),
        Deploy("Ghost", "NoSuchContract"),
        Deploy("NeedsGhost", "TestToken", ("x", "x", Ref("Ghost"))),
        Deploy("BadArgs", "TestToken", ("only-one-arg",)),
        Call("USDC", "mint", (DEPLOYER, 1_000_000)),
        Call("Ghost", "mint", (DEPLOYER, 1)),
        Deploy("UniswapV3Factory", UNISWAP_FACTORY),
    ]
    result = await PlanDeployer(w3, chain="t", root=ROOT, out_dir=OUT).run(steps)
    assert set(result.contracts) == {"USDC", "UniswapV3Factory"}
    skipped = "\n".join(result.skipped)
    assert "Ghost: artifact 'NoSuchContract' not found" in skipped
    assert "NeedsGhost: argument Ref('Ghost') was not deployed" in skipped
    assert "BadArgs:" in skipped and "constructor takes 3 argument(s), plan gives 1" in skipped
    assert "Ghost.mint: target 'Ghost' was not deployed" in skipped
    sender = (await w3.eth.accounts)[0]
    usdc = w3.eth.contract(address=result.contracts["USDC"].address, abi=ERC20_ABI)
    assert await usdc.functions.decimals().call() == 6
    assert await usdc.functions.balanceOf(sender).call() == 1_000_000
    factory = result.contracts["UniswapV3Factory"]
    assert len(await w3.eth.get_code(factory.address)) > 0
    fac = w3.eth.contract(
        address=factory.address,
        abi=[
            {
                "type": "function",
                "name": "owner",
                "stateMutability": "view",
                "inputs": [],
                "outputs": [{"name": "", "type": "address"}],
            }
        ],
    )
    assert await fac.functions.owner().call() == sender


async def test_interval_mined_chain_deploys_in_one_block(anvil_factory: AnvilFactory) -> None:
    """With a long block time the whole plan is mined together (not one block time per contract)."""
    node = anvil_factory(chain_id=1, args=("--block-time", "600"))
    w3 = AsyncWeb3(AsyncHTTPProvider(node.url))
    try:
        steps = [*plan_for("ethereum"), Call("USDC", "mint", (DEPLOYER, 5))]
        result = await PlanDeployer(w3, chain="ethereum", root=ROOT, out_dir=OUT).run(steps)
        blocks = {c.block for c in result.contracts.values()}
        assert set(result.contracts) == {"USDC", "WETH", "WBTC"} and len(blocks) == 1
        usdc = w3.eth.contract(address=result.contracts["USDC"].address, abi=ERC20_ABI)
        assert await usdc.functions.balanceOf((await w3.eth.accounts)[0]).call() == 5
        assert await w3.eth.block_number == 2  # deploy block + the block forced by the dependent call
    finally:
        await w3.provider.disconnect()


async def test_reuse_skips_contracts_that_still_have_code(w3: AsyncWeb3) -> None:
    deployer = PlanDeployer(w3, chain="t", root=ROOT, out_dir=OUT)
    first = await deployer.run(plan_for("base"))
    sender = (await w3.eth.accounts)[0]
    nonce = await w3.eth.get_transaction_count(sender)
    again = await deployer.run(plan_for("base"), reuse=first.contracts)
    assert again.contracts == first.contracts and again.reused == {"USDC", "WETH", "WBTC"}
    assert await w3.eth.get_transaction_count(sender) == nonce
    tokens = {}
    for name, entry in first.contracts.items():
        c = w3.eth.contract(address=entry.address, abi=ERC20_ABI)
        tokens[name] = (await c.functions.symbol().call(), await c.functions.decimals().call())
    assert tokens == {"USDC": ("USDC", 6), "WETH": ("WETH", 18), "WBTC": ("WBTC", 8)}


async def test_reverting_constructor_skips_it_and_its_dependents(w3: AsyncWeb3) -> None:
    """UniswapV3Pool's constructor asks msg.sender (normally the factory) for its parameters: from an EOA it
    reverts, so the step is skipped, and so is everything that needs its code."""
    pool = "node_modules/@uniswap/v3-core/artifacts/contracts/UniswapV3Pool.sol/UniswapV3Pool.json"
    steps: list[Step] = [
        Deploy("USDC", "TestToken", ("USD Coin", "USDC", 6)),
        Deploy("Pool", pool),
        Call("Pool", "initialize", (2**96,)),
        Deploy("Wrapper", "TestToken", ("w", "w", 18)),
    ]
    result = await PlanDeployer(w3, chain="t", root=ROOT, out_dir=OUT).run(steps)
    assert set(result.contracts) == {"USDC", "Wrapper"}
    assert result.skipped[0].startswith("Pool: reverts in simulation")
    assert result.skipped[1] == "Pool.initialize: target 'Pool' was not deployed"
    sender = (await w3.eth.accounts)[0]
    assert await w3.eth.get_transaction_count(sender) == 2  # nothing was sent for the skipped steps
