"""What a devnet consists of: the known chains, and parsing of the per-chain CLI options into a frozen spec.

Pure code (no processes, no I/O), so every user-input rule is a table test.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

from chains.devnet.errors import DevnetUsageError

NodeKindName = Literal["evm", "solana"]


@dataclass(frozen=True)
class ChainDef:
    """A chain the devnet knows: its kind (which node runs it), real chain id and default loopback port."""

    name: str
    kind: NodeKindName
    chain_id: int | None
    default_port: int


KNOWN_CHAINS: Mapping[str, ChainDef] = {
    c.name: c
    for c in (
        ChainDef("ethereum", "evm", 1, 8545),
        ChainDef("arbitrum", "evm", 42161, 8546),
        ChainDef("base", "evm", 8453, 8547),
        ChainDef("solana", "solana", None, 8899),
    )
}


@dataclass(frozen=True)
class ForkSpec:
    """Start a chain as a fork of ``url`` (at ``block`` when given, else the remote head)."""

    url: str
    block: int | None = None


@dataclass(frozen=True)
class NodeSpec:
    """Everything needed to start one node of the devnet."""

    chain: ChainDef
    host: str
    port: int
    block_time: float | None = None
    fork: ForkSpec | None = None
    state_file: Path | None = None

    @property
    def name(self) -> str:
        return self.chain.name


@dataclass(frozen=True)
class DevnetSpec:
    """The whole devnet to start: nodes in start order, where to keep files, and where artifacts live."""

    nodes: tuple[NodeSpec, ...]
    directory: Path
    artifacts_root: Path
    state_dir: Path | None = None
    deploy: bool = True
    protocols: bool = True  # run deploy extensions (chains.devnet.extensions) after the core plan

    def node(self, name: str) -> NodeSpec:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)


def valid_names() -> str:
    return ", ".join(KNOWN_CHAINS)


def chain_def(name: str, *, option: str) -> ChainDef:
    """Look a chain up by name, or raise a usage error listing the valid names."""
    try:
        return KNOWN_CHAINS[name]
    except KeyError:
        raise DevnetUsageError(f"{option}: unknown chain {name!r}; valid chains: {valid_names()}") from None


def _split_assignment(value: str, option: str, example: str) -> tuple[str, str]:
    name, sep, rhs = value.partition("=")
    name, rhs = name.strip(), rhs.strip()
    if not sep or not name or not rhs:
        raise DevnetUsageError(f"{option} {value!r} is malformed; expected {example}")
    return name, rhs


def parse_ports(values: Iterable[str]) -> dict[str, int]:
    """``--port chain=N`` values → {chain: port}."""
    out: dict[str, int] = {}
    for value in values:
        name, rhs = _split_assignment(value, "--port", "CHAIN=PORT, e.g. --port ethereum=9545")
        chain_def(name, option="--port")
        if not rhs.isdigit() or not 1 <= int(rhs) <= 65535:
            raise DevnetUsageError(f"--port {value!r}: port must be an integer in 1..65535")
        out[name] = int(rhs)
    return out


def parse_block_times(values: Iterable[str]) -> dict[str, float]:
    """``--block-time chain=SECONDS`` values → {chain: seconds}; only EVM chains have a block time."""
    out: dict[str, float] = {}
    for value in values:
        name, rhs = _split_assignment(value, "--block-time", "CHAIN=SECONDS, e.g. --block-time ethereum=12")
        if chain_def(name, option="--block-time").kind != "evm":
            raise DevnetUsageError(f"--block-time {value!r}: only EVM chains have a block time")
        try:
            seconds = float(rhs)
        except ValueError:
            raise DevnetUsageError(f"--block-time {value!r}: {rhs!r} is not a number of seconds") from None
        if not 0 < seconds <= 3600:
            raise DevnetUsageError(f"--block-time {value!r}: seconds must be > 0 and <= 3600")
        out[name] = seconds
    return out


_BLOCK_SUFFIX = re.compile(r"^(?P<url>.+)@(?P<block>\d+)$")


def parse_forks(values: Iterable[str]) -> dict[str, ForkSpec]:
    """``--fork chain=URL[@block]`` values → {chain: ForkSpec}. Only a trailing ``@digits`` is a block."""
    out: dict[str, ForkSpec] = {}
    for value in values:
        name, rhs = _split_assignment(
            value, "--fork", "CHAIN=URL[@BLOCK], e.g. --fork ethereum=http://host:8545@123"
        )
        if chain_def(name, option="--fork").kind != "evm":
            raise DevnetUsageError(f"--fork {value!r}: only EVM chains can be forked")
        m = _BLOCK_SUFFIX.match(rhs)
        url, block = (m["url"], int(m["block"])) if m else (rhs, None)
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https", "ws", "wss") or not parsed.netloc:
            raise DevnetUsageError(f"--fork {value!r}: {url!r} is not an http(s)/ws(s) URL")
        out[name] = ForkSpec(url=url, block=block)
    return out


def public_url(url: str) -> str:
    """``scheme://host[:port]`` plus ``/…`` when the URL had credentials, a path or a query: fork URLs often
    carry API keys (``/v2/<key>``) that must not land in the manifest, the process list we record or stdout."""
    parsed = urlparse(url)
    if not parsed.scheme or not parsed.hostname:
        return url
    host = parsed.hostname if parsed.port is None else f"{parsed.hostname}:{parsed.port}"
    hidden = (
        parsed.username or parsed.password or parsed.path not in ("", "/") or parsed.query or parsed.fragment
    )
    return f"{parsed.scheme}://{host}" + ("/…" if hidden else "")


def public_argv(argv: Iterable[str]) -> list[str]:
    """``argv`` with every URL reduced by :func:`public_url`, also in ``name=URL`` form (``--fork`` values)."""
    out = []
    for arg in argv:
        prefix, sep, rest = arg.partition("=")
        if sep and "://" in rest and "://" not in prefix:
            out.append(f"{prefix}={public_url(rest)}")
        else:
            out.append(public_url(arg) if "://" in arg else arg)
    return out


def select_chains(chains: str | None, *, no_solana: bool) -> list[ChainDef]:
    """``--chains a,b`` (default: all known) minus Solana when ``--no-solana``; keeps registry order."""
    if chains is None:
        wanted = list(KNOWN_CHAINS)
    else:
        wanted = [c.strip() for c in chains.split(",") if c.strip()]
        if not wanted:
            raise DevnetUsageError(f"--chains is empty; valid chains: {valid_names()}")
        for name in wanted:
            chain_def(name, option="--chains")
    if no_solana:
        wanted = [n for n in wanted if KNOWN_CHAINS[n].kind != "solana"]
    if not wanted:
        raise DevnetUsageError("no chains left to start (check --chains and --no-solana)")
    return [KNOWN_CHAINS[n] for n in KNOWN_CHAINS if n in wanted]


def build_spec(
    *,
    chains: Sequence[ChainDef],
    directory: Path,
    artifacts_root: Path,
    host: str = "127.0.0.1",
    ports: Mapping[str, int] | None = None,
    block_times: Mapping[str, float] | None = None,
    forks: Mapping[str, ForkSpec] | None = None,
    state_dir: Path | None = None,
    deploy: bool = True,
    protocols: bool = True,
) -> DevnetSpec:
    """Combine the selected chains and per-chain options; options for unselected chains are an error."""
    ports, block_times, forks = dict(ports or {}), dict(block_times or {}), dict(forks or {})
    selected = {c.name for c in chains}
    for option, mapping in (("--port", ports), ("--block-time", block_times), ("--fork", forks)):
        for name in mapping:
            if name not in selected:
                raise DevnetUsageError(f"{option} {name}=...: chain {name!r} is not being started")
    nodes: list[NodeSpec] = []
    used: dict[int, str] = {}
    for c in chains:
        port = ports.get(c.name, c.default_port)
        if port in used:
            raise DevnetUsageError(
                f"port {port} is assigned to both {used[port]} and {c.name}; pick another with --port {c.name}=N"
            )
        used[port] = c.name
        state_file = state_dir / f"{c.name}.json" if state_dir is not None else None
        nodes.append(
            NodeSpec(
                c,
                host,
                port,
                block_time=block_times.get(c.name),
                fork=forks.get(c.name),
                state_file=state_file,
            )
        )
    return DevnetSpec(
        nodes=tuple(nodes),
        directory=directory,
        artifacts_root=artifacts_root,
        state_dir=state_dir,
        deploy=deploy,
        protocols=protocols,
    )
