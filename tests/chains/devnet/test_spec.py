"""Parsing of per-chain devnet options: every user mistake is a DevnetUsageError naming what to fix."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chains.devnet.errors import DevnetUsageError
from chains.devnet.spec import (
    KNOWN_CHAINS,
    ForkSpec,
    build_spec,
    parse_block_times,
    parse_forks,
    parse_ports,
    public_argv,
    public_url,
    select_chains,
)


def test_known_chains_have_real_ids_and_default_ports() -> None:
    got = {c.name: (c.kind, c.chain_id, c.default_port) for c in KNOWN_CHAINS.values()}
    assert got == {
        "ethereum": ("evm", 1, 8545),
        "arbitrum": ("evm", 42161, 8546),
        "base": ("evm", 8453, 8547),
        "solana": ("solana", None, 8899),
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("ethereum=http://h:8545", ForkSpec("http://h:8545", None)),
        ("ethereum=http://h:8545@123", ForkSpec("http://h:8545", 123)),
        ("base=https://user:pw@rpc.example/v1@7", ForkSpec("https://user:pw@rpc.example/v1", 7)),
        ("base=https://user:pw@rpc.example/v1", ForkSpec("https://user:pw@rpc.example/v1", None)),
        ("arbitrum=ws://127.0.0.1:1@0", ForkSpec("ws://127.0.0.1:1", 0)),
    ],
)
def test_parse_fork(value: str, expected: ForkSpec) -> None:
    assert list(parse_forks([value]).values()) == [expected]


@pytest.mark.parametrize(
    ("option", "parser", "value", "needle"),
    [
        ("--fork", parse_forks, "ethereum", "malformed; expected CHAIN=URL[@BLOCK]"),
        ("--fork", parse_forks, "ethereum=", "malformed"),
        ("--fork", parse_forks, "ethereum=localhost:8545", "not an http(s)/ws(s) URL"),
        ("--fork", parse_forks, "ethereum=ftp://x@1", "not an http(s)/ws(s) URL"),
        ("--fork", parse_forks, "solana=http://x", "only EVM chains can be forked"),
        (
            "--fork",
            parse_forks,
            "polygon=http://x",
            "unknown chain 'polygon'; valid chains: ethereum, arbitrum, base, solana",
        ),
        ("--port", parse_ports, "ethereum=abc", "port must be an integer in 1..65535"),
        ("--port", parse_ports, "ethereum=70000", "port must be an integer in 1..65535"),
        ("--port", parse_ports, "ethereum=-1", "port must be an integer"),
        ("--port", parse_ports, "8545", "malformed; expected CHAIN=PORT"),
        ("--port", parse_ports, "eth=8545", "unknown chain 'eth'"),
        ("--block-time", parse_block_times, "ethereum=fast", "'fast' is not a number of seconds"),
        ("--block-time", parse_block_times, "ethereum=0", "seconds must be > 0"),
        ("--block-time", parse_block_times, "ethereum=nan", "seconds must be > 0"),
        ("--block-time", parse_block_times, "solana=1", "only EVM chains have a block time"),
    ],
)
def test_bad_values_are_usage_errors(
    option: str, parser: Callable[[list[str]], object], value: str, needle: str
) -> None:
    with pytest.raises(DevnetUsageError) as err:
        parser([value])
    assert needle in str(err.value)
    assert str(err.value).startswith(option)


def test_good_ports_and_block_times() -> None:
    assert parse_ports(["base=9000", "ethereum=9001"]) == {"base": 9000, "ethereum": 9001}
    assert parse_block_times(["ethereum=12", "arbitrum=0.25", "base=2"]) == {
        "ethereum": 12.0,
        "arbitrum": 0.25,
        "base": 2.0,
    }


def test_select_chains() -> None:
    assert [c.name for c in select_chains(None, no_solana=False)] == [
        "ethereum",
        "arbitrum",
        "base",
        "solana",
    ]
    assert [c.name for c in select_chains(None, no_solana=True)] == ["ethereum", "arbitrum", "base"]
    assert [c.name for c in select_chains("base, ethereum", no_solana=False)] == ["ethereum", "base"]
    with pytest.raises(DevnetUsageError, match="--chains: unknown chain 'optimism'"):
        select_chains("optimism", no_solana=False)
    with pytest.raises(DevnetUsageError, match="no chains left"):
        select_chains("solana", no_solana=True)


def test_build_spec_options_and_conflicts(tmp_path: Path) -> None:
    chains = select_chains("ethereum,base", no_solana=False)
    spec = build_spec(
        chains=chains,
        directory=tmp_path,
        artifacts_root=tmp_path,
        ports={"base": 9100},
        block_times={"ethereum": 12},
        forks={"base": ForkSpec("http://x:1", 5)},
        state_dir=tmp_path / "s",
    )
    eth, base = spec.nodes
    assert (eth.port, eth.block_time, eth.fork, eth.state_file) == (
        8545,
        12,
        None,
        tmp_path / "s" / "ethereum.json",
    )
    assert (base.port, base.block_time, base.fork) == (9100, None, ForkSpec("http://x:1", 5))
    with pytest.raises(DevnetUsageError, match="--port arbitrum=...: chain 'arbitrum' is not being started"):
        build_spec(chains=chains, directory=tmp_path, artifacts_root=tmp_path, ports={"arbitrum": 1})
    with pytest.raises(DevnetUsageError, match="port 8545 is assigned to both ethereum and base"):
        build_spec(chains=chains, directory=tmp_path, artifacts_root=tmp_path, ports={"base": 8545})


@pytest.mark.parametrize(
    ("url", "public"),
    [
        ("http://127.0.0.1:8545", "http://127.0.0.1:8545"),
        ("https://eth-mainnet.g.alchemy.com/v2/SECRETKEY123", "https://eth-mainnet.g.alchemy.com/…"),
        ("https://user:pw@rpc.example:443", "https://rpc.example:443/…"),
        ("wss://rpc.example/ws?apikey=abc", "wss://rpc.example/…"),
    ],
)
def test_public_url_hides_credentials(url: str, public: str) -> None:
    assert public_url(url) == public


def test_public_argv_covers_name_equals_url() -> None:
    argv = ["anvil", "--fork-url", "https://h/v2/KEY", "--fork", "ethereum=https://h/v2/KEY@5", "--port", "1"]
    got = public_argv(argv)
    assert "KEY" not in " ".join(got)
    assert got == ["anvil", "--fork-url", "https://h/…", "--fork", "ethereum=https://h/…", "--port", "1"]


@given(
    scheme=st.sampled_from(["http", "https", "ws", "wss"]),
    host=st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z]{2,6})?", fullmatch=True),
    port=st.integers(1, 65535),
    path=st.from_regex(r"(/[A-Za-z0-9_@-]{1,12}){0,3}", fullmatch=True),
    block=st.one_of(st.none(), st.integers(0, 10**9)),
)
def test_fork_round_trip(scheme: str, host: str, port: int, path: str, block: int | None) -> None:
    url = f"{scheme}://{host}:{port}{path}"
    value = f"base={url}" + ("" if block is None else f"@{block}")
    got = parse_forks([value])["base"]
    if block is None and re.search(r"@\d+$", url):
        assert got == ForkSpec(url.rsplit("@", 1)[0], int(url.rsplit("@", 1)[1]))  # documented ambiguity
    else:
        assert got == ForkSpec(url, block)


def test_build_spec_carries_every_flag(tmp_path: Path) -> None:
    chains = select_chains("base", no_solana=True)
    spec = build_spec(
        chains=chains, directory=tmp_path, artifacts_root=tmp_path, deploy=False, protocols=False
    )
    assert (spec.deploy, spec.protocols) == (False, False)
    assert build_spec(chains=chains, directory=tmp_path, artifacts_root=tmp_path).protocols is True
