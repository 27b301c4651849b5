"""Multicall3 at its canonical address on every devnet EVM chain (anvil does not predeploy it).

The creation code is read from the installed npm package viem (``multicall3Bytecode``), deployed with a normal
transaction, and its runtime code copied to the canonical address with ``anvil_setCode``. On a fork of a chain
that already has Multicall3 nothing is deployed; either way ``aggregate3`` is verified with a real call.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from eth_utils import to_checksum_address
from web3 import AsyncWeb3
from web3.types import RPCEndpoint

from chains.devnet.artifacts import ArtifactMissingError
from chains.devnet.errors import DevnetError
from chains.devnet.manifest import ContractEntry

MULTICALL3_ADDRESS = to_checksum_address("0xcA11bde05977b3631167028862bE2a173976CA11")
VIEM_CONSTANTS = Path("node_modules/viem/_cjs/constants/contracts.js")
ARTIFACT_REF = "viem:multicall3Bytecode"

# ABI of the two functions we verify with (an interface description, not code).
MULTICALL3_ABI: list[dict[str, Any]] = [
    {
        "type": "function",
        "name": "aggregate3",
        "stateMutability": "payable",
        "inputs": [
            {
                "name": "calls",
                "type": "tuple[]",
                "components": [
                    {"name": "target", "type": "address"},
                    {"name": "allowFailure", "type": "bool"},
                    {"name": "callData", "type": "bytes"},
                ],
            }
        ],
        "outputs": [
            {
                "name": "returnData",
                "type": "tuple[]",
                "components": [{"name": "success", "type": "bool"}, {"name": "returnData", "type": "bytes"}],
            }
        ],
    },
    {
        "type": "function",
        "name": "getBlockNumber",
        "stateMutability": "view",
        "inputs": [],
        "outputs": [{"name": "blockNumber", "type": "uint256"}],
    },
]

_BYTECODE_RE = re.compile(r"multicall3Bytecode\s*=\s*['\"](0x[0-9a-fA-F]+)['\"]")


def multicall3_creation_code(root: Path) -> str:
    """Read viem's Multicall3 creation bytecode from node_modules."""
    path = root / VIEM_CONSTANTS
    if not path.is_file():
        raise ArtifactMissingError(f"Multicall3 bytecode source {path} missing; run `npm install` in {root}")
    m = _BYTECODE_RE.search(path.read_text())
    if m is None:
        raise DevnetError(f"{path}: no multicall3Bytecode constant found (viem layout changed?)")
    return m.group(1)


async def verify_multicall3(w3: AsyncWeb3) -> int:
    """Call ``aggregate3([getBlockNumber()])`` through Multicall3; return the block number it reported."""
    mc = w3.eth.contract(address=MULTICALL3_ADDRESS, abi=MULTICALL3_ABI)
    inner = mc.encode_abi("getBlockNumber", args=[])
    results = await mc.functions.aggregate3([(MULTICALL3_ADDRESS, False, inner)]).call()
    ok, data = results[0]
    if not ok:
        raise DevnetError("Multicall3 aggregate3 self-call failed")
    return int(w3.codec.decode(["uint256"], data)[0])


async def install_multicall3(
    w3: AsyncWeb3, *, root: Path, chain: str, previous: ContractEntry | None = None
) -> ContractEntry:
    """Ensure Multicall3 runs at the canonical address; return its manifest entry.

    ``previous`` is the entry from a persisted state: kept (with its original block) when the code is there.
    """
    present = len(await w3.eth.get_code(MULTICALL3_ADDRESS)) > 0
    if present and previous is not None and previous.address == MULTICALL3_ADDRESS:
        await verify_multicall3(w3)
        return previous
    if not present:
        creation = multicall3_creation_code(root)
        sender = (await w3.eth.accounts)[0]
        tx_hash = await w3.eth.send_transaction({"from": sender, "data": creation})  # type: ignore[typeddict-item]
        if not (await w3.provider.make_request(RPCEndpoint("anvil_getAutomine"), [])).get("result"):
            await w3.provider.make_request(RPCEndpoint("evm_mine"), [])
        receipt = await w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60, poll_latency=0.05)
        if receipt["status"] != 1:
            raise DevnetError(f"{chain}: Multicall3 creation transaction reverted")
        runtime = await w3.eth.get_code(to_checksum_address(str(receipt["contractAddress"])))
        reply = await w3.provider.make_request(
            RPCEndpoint("anvil_setCode"), [MULTICALL3_ADDRESS, runtime.to_0x_hex()]
        )
        if "error" in reply:
            raise DevnetError(f"{chain}: anvil_setCode for Multicall3 failed: {reply['error']}")
    block = await verify_multicall3(w3)
    return ContractEntry(address=MULTICALL3_ADDRESS, block=block, artifact=ARTIFACT_REF)
