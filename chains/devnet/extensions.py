"""Deploy extensions: protocol modules the runner picks up when they import cleanly.

Why: protocols need more than constructor wiring (first oracle rounds, series at the chain's clock, pools at the
oracle price, cross-chain cover rates). An extension module listed in ``EXTENSION_MODULES`` may define:

- ``PROTOCOL_STEPS: Mapping[str, tuple[Step, ...]]`` — appended to ``plan.plan_for(chain)``;
- ``async post_deploy(w3, chain, contracts, *, root, out_dir) -> dict[str, ContractEntry]`` — per chain, after
  its plan ran; returns extra manifest entries; must be safe to run twice (``--state`` restarts);
- ``async wire_cross_chain(w3_by_chain, contracts_by_chain, *, root, out_dir) -> int`` — once, after every chain.

A module that is absent is ignored; one that fails to import, or a hook that raises, is logged and skipped
(``--no-protocols`` turns extensions off), so a half-finished protocol never stops the devnet from starting.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from loguru import logger

from chains.devnet.plan import Step

EXTENSION_MODULES: tuple[str, ...] = ("chains.devnet.protocols",)

PostDeploy = Callable[..., Awaitable[dict[str, Any]]]
WireCrossChain = Callable[..., Awaitable[int]]


@dataclass(frozen=True)
class Extension:
    module: str
    steps: Mapping[str, tuple[Step, ...]]
    post_deploy: PostDeploy | None
    wire_cross_chain: WireCrossChain | None


def load_extensions(modules: tuple[str, ...] = EXTENSION_MODULES) -> list[Extension]:
    """Import each extension module that exists; log and skip the ones that fail."""
    found: list[Extension] = []
    for name in modules:
        try:
            if importlib.util.find_spec(name) is None:
                continue
            mod = importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - a broken extension must not stop the devnet
            logger.warning("devnet extension {} not loaded: {}: {}", name, type(exc).__name__, exc)
            continue
        steps = getattr(mod, "PROTOCOL_STEPS", {})
        found.append(
            Extension(
                module=name,
                steps=steps if isinstance(steps, Mapping) else {},
                post_deploy=getattr(mod, "post_deploy", None),
                wire_cross_chain=getattr(mod, "wire_cross_chain", None),
            )
        )
    return found


def extra_steps(extensions: list[Extension], chain: str) -> tuple[Step, ...]:
    return tuple(step for ext in extensions for step in ext.steps.get(chain, ()))
