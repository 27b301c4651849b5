"""Fixtures: a fresh anvil with the VaultOptions stack deployed; skipped with a reason when artifacts are absent."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.chains.protocols.devnet import VaultDevnet, artifacts_available, deploy_vault_devnet
from tests.conftest import AnvilFactory

VAULT_ARTIFACTS = ("TestToken", "PriceFeed", "VaultOptions")


@pytest.fixture
async def vault_net(anvil_factory: AnvilFactory) -> AsyncIterator[VaultDevnet]:
    reason = artifacts_available(*VAULT_ARTIFACTS)
    if reason:
        pytest.skip(reason)
    node = anvil_factory(chain_id=1)
    net = await deploy_vault_devnet(node.url)
    try:
        yield net
    finally:
        await net.close()
