"""Node kinds: how to start, address and probe each kind of chain node. A registry, so a new chain family is
one new entry (``NODE_KINDS``), not another branch in the runner.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

import aiohttp

from chains.devnet.errors import NodeStartError
from chains.devnet.rpc import RpcError, rpc_call
from chains.devnet.spec import NodeSpec
from chains.toolchain import find_tool, project_root


class NodeKind(Protocol):
    """One kind of chain node (anvil for EVM chains, the LiteSVM endpoint for Solana)."""

    kind: str

    def unavailable_reason(self) -> str | None:
        """Why this kind cannot run here (missing module or binary), or None when it can."""
        ...

    def argv(self, spec: NodeSpec) -> list[str]:
        """The command line that starts the node."""
        ...

    def urls(self, spec: NodeSpec) -> tuple[str, str | None]:
        """(http rpc url, websocket url or None)."""
        ...

    async def probe(self, session: aiohttp.ClientSession, spec: NodeSpec) -> None:
        """Return when the node answers correctly; raise on a wrong answer (RpcError/aiohttp error otherwise)."""
        ...


class AnvilKind:
    """EVM chains: one anvil per chain with the chain's real id; HTTP and WS share the port."""

    kind = "evm"

    def unavailable_reason(self) -> str | None:
        return None  # a missing anvil raises ToolNotFoundError from argv(), with the fix in its message

    def argv(self, spec: NodeSpec) -> list[str]:
        assert spec.chain.chain_id is not None
        args = [str(find_tool("anvil")), "--host", spec.host, "--port", str(spec.port)]
        args += ["--chain-id", str(spec.chain.chain_id)]
        if spec.block_time is not None:
            args += ["--block-time", f"{spec.block_time:g}"]
        if spec.fork is not None:
            args += ["--fork-url", spec.fork.url]
            if spec.fork.block is not None:
                args += ["--fork-block-number", str(spec.fork.block)]
        if spec.state_file is not None:
            args += ["--state", str(spec.state_file)]
        return args

    def urls(self, spec: NodeSpec) -> tuple[str, str | None]:
        return f"http://{spec.host}:{spec.port}", f"ws://{spec.host}:{spec.port}"

    async def probe(self, session: aiohttp.ClientSession, spec: NodeSpec) -> None:
        got = int(await rpc_call(session, self.urls(spec)[0], "eth_chainId"), 16)
        if got != spec.chain.chain_id:
            raise NodeStartError(f"{spec.name}: eth_chainId answered {got}, expected {spec.chain.chain_id}")


SOLANA_MODULE = "chains.devnet.solana"


class SolanaKind:
    """Solana: the project's LiteSVM JSON-RPC endpoint (HTTP and WS on one port), ``python -m chains.devnet.solana``."""

    kind = "solana"

    def unavailable_reason(self) -> str | None:
        main = project_root() / "chains" / "devnet" / "solana" / "__main__.py"
        if not main.is_file():
            return f"{SOLANA_MODULE} is not available yet ({main} missing); pass --no-solana"
        return None

    def argv(self, spec: NodeSpec) -> list[str]:
        args = [sys.executable, "-m", SOLANA_MODULE, "--host", spec.host, "--port", str(spec.port)]
        if spec.state_file is not None:
            args += ["--state", str(spec.state_file)]
        return args

    def urls(self, spec: NodeSpec) -> tuple[str, str | None]:
        return f"http://{spec.host}:{spec.port}", f"ws://{spec.host}:{spec.port}"

    async def probe(self, session: aiohttp.ClientSession, spec: NodeSpec) -> None:
        got = await rpc_call(session, self.urls(spec)[0], "getHealth")
        if got != "ok":
            raise NodeStartError(f"{spec.name}: getHealth answered {got!r}, expected 'ok'")


NODE_KINDS: Mapping[str, NodeKind] = {k.kind: k for k in (AnvilKind(), SolanaKind())}


def node_kind(spec: NodeSpec) -> NodeKind:
    return NODE_KINDS[spec.chain.kind]


async def wait_ready(
    spec: NodeSpec, proc: subprocess.Popen[bytes], *, timeout: float = 20.0, log_path: Path | None = None
) -> float:
    """Poll the node until its probe passes; return seconds waited. Fails fast if the process exits."""
    kind = node_kind(spec)
    start = time.monotonic()
    last: BaseException | None = None
    async with aiohttp.ClientSession() as session:
        while time.monotonic() - start < timeout:
            if proc.poll() is not None:
                raise NodeStartError(
                    f"{spec.name} node exited with code {proc.returncode} during start-up{_log_hint(log_path)}"
                )
            try:
                await kind.probe(session, spec)
                return time.monotonic() - start
            except NodeStartError:
                raise
            except (TimeoutError, RpcError, aiohttp.ClientError, ValueError) as exc:
                last = exc
            await asyncio.sleep(0.05)
    raise NodeStartError(
        f"{spec.name} node did not become ready within {timeout:g}s (last error: {last}){_log_hint(log_path)}"
    )


def _log_hint(log_path: Path | None) -> str:
    if log_path is None or not log_path.is_file():
        return ""
    tail = log_path.read_text(errors="replace").strip().splitlines()[-3:]
    return f"; see {log_path}" + (f" (last: {tail[-1][:200]})" if tail else "")
