"""Generic deployer: runs a deploy plan (:mod:`chains.devnet.plan`) on one EVM chain with web3.py AsyncWeb3.

Why it batches: on chains with a block time (e.g. 12 s) waiting for each receipt would make start-up take a
block per contract. Contract addresses are known before mining (CREATE address = f(sender, nonce)), so every
step is sent at once with consecutive nonces and mined together; only a step whose gas estimate needs an
earlier step's code forces the pending batch to be mined first. The account is anvil's first unlocked dev
account, so no private key appears anywhere.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import rlp
from eth_utils import keccak, to_canonical_address, to_checksum_address
from eth_utils.abi import get_abi_input_types
from hexbytes import HexBytes
from loguru import logger
from web3 import AsyncWeb3
from web3.exceptions import Web3Exception
from web3.types import RPCEndpoint

from chains.devnet.artifacts import Artifact, ArtifactError, load_artifact
from chains.devnet.manifest import ContractEntry
from chains.devnet.plan import Call, Deploy, Ref, Step, _Deployer, validate_plan

RECEIPT_TIMEOUT = 60.0
GAS_HEADROOM_NUM, GAS_HEADROOM_DEN = 6, 5  # +20 % over the estimate


def create_address(sender: str, nonce: int) -> str:
    """Address of the contract created by ``sender`` with ``nonce`` (keccak(rlp([sender, nonce])))[12:]."""
    return to_checksum_address(keccak(rlp.encode([to_canonical_address(sender), nonce]))[12:])


def encode_constructor(w3: AsyncWeb3, artifact: Artifact, args: Sequence[Any]) -> str:
    """Creation code followed by the ABI-encoded constructor arguments."""
    ctor = next((e for e in artifact.abi if e.get("type") == "constructor"), None)
    types = get_abi_input_types(ctor) if ctor else []  # type: ignore[arg-type]
    if len(types) != len(args):
        raise ArtifactError(
            f"{artifact.ref}: constructor takes {len(types)} argument(s), plan gives {len(args)}"
        )
    return artifact.bytecode + (w3.codec.encode(types, list(args)).hex() if types else "")


@dataclass
class _Sent:
    step: Step
    tx_hash: bytes
    address: str | None  # planned address for Deploy
    artifact: Artifact | None


@dataclass
class DeployResult:
    """What the plan produced: contracts by name, and human-readable reasons for skipped steps."""

    contracts: dict[str, ContractEntry] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    reused: set[str] = field(default_factory=set)

    @property
    def last_block(self) -> int | None:
        return max((c.block for c in self.contracts.values()), default=None)


class PlanDeployer:
    """Runs plan steps on one chain; never raises for a bad step (it is skipped with a warning)."""

    def __init__(self, w3: AsyncWeb3, *, chain: str, root: Path, out_dir: Path) -> None:
        self.w3, self.chain, self.root, self.out_dir = w3, chain, root, out_dir
        self._abis: dict[str, list[dict[str, Any]]] = {}

    async def run(
        self, steps: Sequence[Step], *, reuse: Mapping[str, ContractEntry] | None = None
    ) -> DeployResult:
        validate_plan(steps)
        reuse = reuse or {}
        result = DeployResult()
        sender = (await self.w3.eth.accounts)[0]
        automine = bool(await self._rpc("anvil_getAutomine"))
        nonce = int(await self.w3.eth.get_transaction_count(sender, "pending"))
        pending: list[_Sent] = []
        for step in steps:
            if _depends_on(step) & {s.step.name for s in pending if isinstance(s.step, Deploy)}:
                # estimating against an address whose code is not mined yet would look like a plain transfer
                await self._flush(pending, automine, result)
            prepared = await self._prepare(step, sender, reuse, result)
            if prepared is None:
                continue
            tx, artifact = prepared
            tx.update({"from": sender, "nonce": nonce})
            try:
                gas = int(await self.w3.eth.estimate_gas(tx))  # type: ignore[arg-type]
            except (Web3Exception, ValueError) as exc:
                self._skip(step, f"reverts in simulation ({exc})", result)
                continue
            tx["gas"] = gas * GAS_HEADROOM_NUM // GAS_HEADROOM_DEN
            tx_hash = await self.w3.eth.send_transaction(tx)  # type: ignore[arg-type]
            planned = create_address(sender, nonce) if isinstance(step, Deploy) else None
            pending.append(_Sent(step, tx_hash, planned, artifact))
            nonce += 1
        await self._flush(pending, automine, result)
        return result

    async def _prepare(
        self,
        step: Step,
        sender: str,
        reuse: Mapping[str, ContractEntry],
        result: DeployResult,
    ) -> tuple[dict[str, Any], Artifact | None] | None:
        """Build the tx (and the artifact of a Deploy) for a step, or None when reused/skipped.

        Every dependency is mined by now (``run`` flushes first), so references resolve only to contracts that
        really exist; a dependency that was skipped or reverted makes this step skip too.
        """
        addresses = {name: entry.address for name, entry in result.contracts.items()}
        if isinstance(step, Deploy):
            prev = reuse.get(step.name)
            if prev is not None and await self._has_code(prev.address):
                result.contracts[step.name] = prev
                result.reused.add(step.name)
                return None
            try:
                artifact = load_artifact(step.artifact, root=self.root, out_dir=self.out_dir)
                args = self._resolve(step.args, sender, addresses)
                data = encode_constructor(self.w3, artifact, args)
            except (ArtifactError, _Unresolved, TypeError, ValueError, OverflowError) as exc:
                self._skip(step, str(exc), result)
                return None
            self._abis[step.name] = artifact.abi
            return {"data": data}, artifact
        if step.target in result.reused:
            return None  # initialisation already happened in the persisted state
        if step.target not in addresses or step.target not in self._abis:
            self._skip(step, f"target {step.target!r} was not deployed", result)
            return None
        try:
            args = self._resolve(step.args, sender, addresses)
            target = to_checksum_address(addresses[step.target])
            contract = self.w3.eth.contract(address=target, abi=self._abis[step.target])
            data = contract.encode_abi(step.function, args=list(args))
        except (_Unresolved, Web3Exception, TypeError, ValueError) as exc:
            self._skip(step, str(exc), result)
            return None
        return {"to": addresses[step.target], "data": data}, None

    def _skip(self, step: Step, reason: str, result: DeployResult) -> None:
        result.skipped.append(f"{_label(step)}: {reason}")
        logger.warning("{}: skipping plan step {}: {}", self.chain, _label(step), reason)

    @staticmethod
    def _resolve(args: Sequence[Any], sender: str, addresses: Mapping[str, str]) -> list[Any]:
        out: list[Any] = []
        for a in args:
            if isinstance(a, Ref):
                if a.name not in addresses:
                    raise _Unresolved(f"argument Ref({a.name!r}) was not deployed")
                out.append(addresses[a.name])
            elif isinstance(a, _Deployer):
                out.append(sender)
            else:
                out.append(a)
        return out

    async def _flush(self, pending: list[_Sent], automine: bool, result: DeployResult) -> None:
        """Mine what is pending (immediately, even on interval-mined chains) and record the receipts."""
        if not pending:
            return
        if not automine:
            await self._rpc("evm_mine")
        receipts = await asyncio.gather(
            *(
                self.w3.eth.wait_for_transaction_receipt(
                    HexBytes(s.tx_hash), timeout=RECEIPT_TIMEOUT, poll_latency=0.05
                )
                for s in pending
            )
        )
        for sent, receipt in zip(pending, receipts, strict=True):
            step = sent.step
            if receipt["status"] != 1:
                result.skipped.append(f"{_label(step)}: transaction reverted")
                logger.warning(
                    "{}: plan step {} reverted (tx {})", self.chain, _label(step), sent.tx_hash.hex()
                )
                continue
            if isinstance(step, Deploy):
                address = to_checksum_address(str(receipt["contractAddress"]))
                if address != sent.address:
                    raise RuntimeError(
                        f"{self.chain}: {step.name} landed at {address}, planned {sent.address}; "
                        "another sender used the deployer account during deployment"
                    )
                assert sent.artifact is not None
                result.contracts[step.name] = ContractEntry(
                    address=address, block=int(receipt["blockNumber"]), artifact=sent.artifact.ref
                )
        pending.clear()

    async def _has_code(self, address: str) -> bool:
        return len(await self.w3.eth.get_code(address)) > 0  # type: ignore[arg-type]

    async def _rpc(self, method: str, params: list[Any] | None = None) -> Any:
        reply = await self.w3.provider.make_request(RPCEndpoint(method), params or [])
        if "error" in reply:
            raise RuntimeError(f"{self.chain}: {method} failed: {reply['error']}")
        return reply.get("result")


class _Unresolved(ValueError):
    pass


def _depends_on(step: Step) -> set[str]:
    """Names of earlier steps whose code this step needs (its Ref arguments and a Call's target)."""
    names = {a.name for a in step.args if isinstance(a, Ref)}
    if isinstance(step, Call):
        names.add(step.target)
    return names


def _label(step: Step) -> str:
    return step.name if isinstance(step, Deploy) else f"{step.target}.{step.function}"
