"""The deploy plan: which contracts go on which devnet chain, declared as data.

To add a protocol, append entries to ``EVERY_EVM_CHAIN`` or to ``PER_CHAIN[<chain>]``. A ``Deploy`` step names
the contract as it will appear in the manifest, the artifact reference (see :mod:`chains.devnet.artifacts`) and
constructor arguments; a ``Call`` runs a function on a contract deployed earlier in the same run. Arguments may
be plain values, ``Ref("<earlier name>")`` (that contract's address) or ``DEPLOYER`` (the deploying account).
Steps whose artifact is missing are skipped with a warning, and so is anything that references them.
Protocol modules can also contribute steps and post-deploy hooks: see :mod:`chains.devnet.extensions`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Ref:
    """A constructor/call argument that resolves to the address of an earlier step on the same chain."""

    name: str


@dataclass(frozen=True)
class _Deployer:
    """The account that sends the plan's transactions (resolved at deploy time)."""


DEPLOYER = _Deployer()


@dataclass(frozen=True)
class Deploy:
    name: str
    artifact: str
    args: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Call:
    """Call ``function`` on the contract deployed as ``target`` (skipped when ``target`` was reused from state)."""

    target: str
    function: str
    args: tuple[Any, ...] = ()


Step = Deploy | Call

EVERY_EVM_CHAIN: tuple[Step, ...] = (
    Deploy("USDC", "TestToken", ("USD Coin", "USDC", 6)),
    Deploy("WETH", "TestToken", ("Wrapped Ether", "WETH", 18)),
    Deploy("WBTC", "TestToken", ("Wrapped BTC", "WBTC", 8)),
)

PER_CHAIN: Mapping[str, tuple[Step, ...]] = {
    "ethereum": (),
    "arbitrum": (),
    "base": (),
}


def plan_for(chain: str) -> tuple[Step, ...]:
    """The full ordered plan for an EVM chain."""
    return EVERY_EVM_CHAIN + tuple(PER_CHAIN.get(chain, ()))


def validate_plan(steps: Sequence[Step]) -> None:
    """Reject plans that could never work (duplicate names, references to later/unknown steps)."""
    seen: set[str] = set()
    for i, step in enumerate(steps):
        refs = [a.name for a in step.args if isinstance(a, Ref)]
        if isinstance(step, Call):
            refs.append(step.target)
        for r in refs:
            if r not in seen:
                raise ValueError(f"plan step {i} ({step}) references {r!r} before it is deployed")
        if isinstance(step, Deploy):
            if step.name in seen:
                raise ValueError(f"plan step {i}: duplicate contract name {step.name!r}")
            seen.add(step.name)
