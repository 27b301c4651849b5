"""Deploy extensions: extra plan steps, post-deploy results in the manifest, failing hooks are not fatal."""

from __future__ import annotations

from pathlib import Path

import pytest

from chains.devnet.deployment import deploy_devnet
from chains.devnet.extensions import extra_steps, load_extensions
from chains.devnet.spec import KNOWN_CHAINS, NodeSpec
from chains.toolchain import project_root
from tests.conftest import AnvilNode, rpc

FAKE_EXT = """
from chains.devnet.plan import Deploy, Ref, Call, DEPLOYER

PROTOCOL_STEPS = {"ethereum": (Deploy("EXTRA", "TestToken", ("Extra", "EXT", 18)), Call("EXTRA", "mint", (DEPLOYER, 9)))}
CALLS = []

async def post_deploy(w3, chain, contracts, *, root, out_dir):
    CALLS.append(("post", chain, sorted(contracts)))
    return {"ExtraAlias": contracts["EXTRA"]}

async def wire_cross_chain(w3_by_chain, contracts_by_chain, *, root, out_dir):
    CALLS.append(("wire", sorted(w3_by_chain)))
    raise RuntimeError("cross-chain wiring exploded")
"""


@pytest.fixture
def fake_modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    (tmp_path / "rtrm_fake_ext.py").write_text(FAKE_EXT)
    (tmp_path / "rtrm_broken_ext.py").write_text("raise ImportError('half-written protocol')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return "rtrm_fake_ext", "rtrm_broken_ext"


def test_absent_and_broken_modules_are_skipped(fake_modules: tuple[str, str]) -> None:
    good, broken = fake_modules
    exts = load_extensions(("rtrm_no_such_module", broken, good))
    assert [e.module for e in exts] == [good]
    assert [s.name for s in extra_steps(exts, "ethereum") if hasattr(s, "name")] == ["EXTRA"]
    assert extra_steps(exts, "base") == ()


async def test_extension_runs_after_core_plan(fake_modules: tuple[str, str], anvil: AnvilNode) -> None:
    import rtrm_fake_ext

    node = NodeSpec(KNOWN_CHAINS["ethereum"], "127.0.0.1", anvil.port)
    exts = load_extensions((fake_modules[0],))
    results = await deploy_devnet(
        [node], root=project_root(), out_dir=project_root() / "out", state_dir=None, extensions=exts
    )
    contracts = results["ethereum"].contracts
    assert {"Multicall3", "USDC", "WETH", "WBTC", "EXTRA", "ExtraAlias"} <= set(contracts)
    assert contracts["ExtraAlias"] == contracts["EXTRA"]
    post, wire = rtrm_fake_ext.CALLS
    assert post[0:2] == ("post", "ethereum") and "EXTRA" in post[2]
    assert wire == ("wire", ["ethereum"])  # raised, was logged, did not abort the deployment
    sender = rpc(anvil.url, "eth_accounts")[0]
    data = "0x70a08231" + sender[2:].lower().rjust(64, "0")  # balanceOf(sender)
    assert (
        int(rpc(anvil.url, "eth_call", [{"to": contracts["EXTRA"].address, "data": data}, "latest"]), 16) == 9
    )
