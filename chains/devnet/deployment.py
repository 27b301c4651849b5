"""Deploy everything onto the started EVM chains: Multicall3, the plan (+ extension steps), per-chain
post-deploy hooks, then cross-chain wiring. Chains deploy concurrently.

With ``--state`` the contracts of each chain are remembered beside its state file and reused on restart.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from loguru import logger
from pydantic import TypeAdapter, ValidationError
from web3 import AsyncHTTPProvider, AsyncWeb3

from chains.devnet.deployer import DeployResult, PlanDeployer
from chains.devnet.extensions import Extension, extra_steps
from chains.devnet.layout import contracts_sidecar
from chains.devnet.manifest import ContractEntry
from chains.devnet.multicall import install_multicall3
from chains.devnet.nodes import node_kind
from chains.devnet.plan import plan_for
from chains.devnet.spec import NodeSpec

_CONTRACTS = TypeAdapter(dict[str, ContractEntry])


def previous_contracts(state_dir: Path | None, chain: str) -> dict[str, ContractEntry]:
    """Contracts recorded for ``chain`` in a persisted state (empty without ``--state`` or on a first start)."""
    if state_dir is None:
        return {}
    sidecar = contracts_sidecar(state_dir, chain)
    try:
        return _CONTRACTS.validate_json(sidecar.read_bytes())
    except FileNotFoundError:
        return {}
    except ValidationError:
        logger.warning("{}: ignoring unreadable {}; contracts will be redeployed", chain, sidecar)
        return {}


async def _deploy_chain(
    w3: AsyncWeb3,
    node: NodeSpec,
    *,
    root: Path,
    out_dir: Path,
    state_dir: Path | None,
    extensions: list[Extension],
) -> DeployResult:
    previous = previous_contracts(state_dir, node.name)
    multicall = await install_multicall3(w3, root=root, chain=node.name, previous=previous.get("Multicall3"))
    steps = plan_for(node.name) + extra_steps(extensions, node.name)
    result = await PlanDeployer(w3, chain=node.name, root=root, out_dir=out_dir).run(steps, reuse=previous)
    result.contracts = {"Multicall3": multicall, **result.contracts}
    for ext in extensions:
        if ext.post_deploy is None:
            continue
        try:
            extra = await ext.post_deploy(w3, node.name, dict(result.contracts), root=root, out_dir=out_dir)
            result.contracts.update({k: ContractEntry.model_validate(v) for k, v in (extra or {}).items()})
        except Exception as exc:  # noqa: BLE001 - a failing protocol hook must not stop the devnet
            logger.error("{}: {}.post_deploy failed: {}: {}", node.name, ext.module, type(exc).__name__, exc)
            result.skipped.append(f"{ext.module}.post_deploy: {type(exc).__name__}: {exc}")
    return result


async def deploy_devnet(
    nodes: Sequence[NodeSpec],
    *,
    root: Path,
    out_dir: Path,
    state_dir: Path | None,
    extensions: list[Extension],
) -> dict[str, DeployResult]:
    """Deploy on every EVM node; returns results by chain name (sidecars written when ``state_dir`` is set)."""
    evm = [n for n in nodes if n.chain.kind == "evm"]
    w3s = {n.name: AsyncWeb3(AsyncHTTPProvider(node_kind(n).urls(n)[0])) for n in evm}
    try:
        results = await asyncio.gather(
            *(
                _deploy_chain(
                    w3s[n.name], n, root=root, out_dir=out_dir, state_dir=state_dir, extensions=extensions
                )
                for n in evm
            )
        )
        by_chain = {n.name: r for n, r in zip(evm, results, strict=True)}
        for ext in extensions:
            if ext.wire_cross_chain is None:
                continue
            try:
                contracts = {name: dict(r.contracts) for name, r in by_chain.items()}
                await ext.wire_cross_chain(w3s, contracts, root=root, out_dir=out_dir)
            except Exception as exc:  # noqa: BLE001 - see above
                logger.error("{}.wire_cross_chain failed: {}: {}", ext.module, type(exc).__name__, exc)
        if state_dir is not None:
            for name, r in by_chain.items():
                contracts_sidecar(state_dir, name).write_bytes(_CONTRACTS.dump_json(r.contracts, indent=2))
        return by_chain
    finally:
        for w3 in w3s.values():
            await w3.provider.disconnect()
