"""chains.collect without processes: which adapters a manifest yields on which chain, with which config."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from eth_typing import ChecksumAddress
from eth_utils import to_checksum_address

from chains.collect import (
    FEEDS,
    SOLANA_REGISTRY,
    CollectError,
    Collector,
    check_protocol,
    entity_map,
    oracle_set,
    plan_adapters,
    protocol_names,
    select_chains,
)
from chains.devnet.manifest import ChainEntry, ContractEntry, Manifest
from chains.devnet.protocols import PYTH_FEED_IDS
from chains.model import Underlying
from chains.protocols.registry import REGISTRY


def _addr(i: int) -> ChecksumAddress:
    return to_checksum_address(f"0x{i:040x}")


def _contracts(*names: str) -> dict[str, ContractEntry]:
    return {n: ContractEntry(address=_addr(i + 1), block=i + 3, artifact=n) for i, n in enumerate(names)}


FEED_NAMES = ("ETH_USD", "BTC_USD", "USDC_USD", "VolFeed", "WETH", "WBTC", "USDC")
UNI = ("SwapRouter", "QuoterV2", "UniswapV3Pool_WETH_USDC_500")


def manifest(with_solana: bool = True) -> Manifest:
    chains = {
        "ethereum": ChainEntry(
            name="ethereum",
            kind="evm",
            chain_id=1,
            rpc_url="http://127.0.0.1:1",
            contracts=_contracts(*FEED_NAMES, "VaultOptions"),
        ),
        "arbitrum": ChainEntry(
            name="arbitrum",
            kind="evm",
            chain_id=42161,
            rpc_url="http://127.0.0.1:2",
            contracts=_contracts(*FEED_NAMES, "SequencerUptimeFeed", "PortfolioMargin", *UNI),
        ),
        "base": ChainEntry(
            name="base",
            kind="evm",
            chain_id=8453,
            rpc_url="http://127.0.0.1:3",
            contracts=_contracts(*FEED_NAMES, "MockPyth", "OptionAMM", "CoverMarket", *UNI),
        ),
    }
    if with_solana:
        chains["solana"] = ChainEntry(name="solana", kind="solana", rpc_url="http://127.0.0.1:4")
    return Manifest(
        status="running", started_at=datetime.now(UTC), supervisor_pid=1, directory="/tmp/x", chains=chains
    )


def _pk(i: int) -> str:
    from solders.pubkey import Pubkey

    return str(Pubkey(bytes([i]) * 32))


SEED: dict[str, Any] = {
    "entities": {
        "alice": {"evm": _addr(0xA11CE), "solana": _pk(1)},
        "bob": {"evm": _addr(0xB0B), "solana": None},
    },
    "solana": {"usdc_mint": _pk(2), "sol_mint": _pk(3), "pyth": {"SOL": _pk(4)}},
}


def test_plan_puts_each_protocol_on_its_chain_with_manifest_addresses() -> None:
    m = manifest()
    plans = {(p.chain, p.protocol): p for p in plan_adapters(m, SEED)}
    assert set(plans) == {
        ("ethereum", "vault_options"),
        ("arbitrum", "portfolio_margin"),
        ("arbitrum", "uniswap_v3"),
        ("base", "option_amm"),
        ("base", "cover_market"),
        ("base", "uniswap_v3"),
        ("solana", "tokenized_options"),
    }
    vo = plans[("ethereum", "vault_options")].config
    entry = m.chains["ethereum"].contracts["VaultOptions"]
    assert vo["address"] == entry.address and vo["deploy_block"] == entry.block
    assert vo["entities"] == {_addr(0xA11CE): "alice", _pk(1): "alice", _addr(0xB0B): "bob"}
    (pool,) = plans[("base", "uniswap_v3")].config["pools"]
    base = m.chains["base"].contracts
    assert pool["address"] == base["UniswapV3Pool_WETH_USDC_500"].address
    assert (pool["base"], pool["quote"], pool["base_decimals"], pool["quote_decimals"]) == (
        base["WETH"].address,
        base["USDC"].address,
        18,
        6,
    )
    sol = plans[("solana", "tokenized_options")].config
    assert sol["assets"] == {_pk(2): "USDC", _pk(3): "SOL"}
    assert sol["pyth"] == {"SOL": _pk(4)}
    assert sol["pyth_feed_ids"]["ETH"] == PYTH_FEED_IDS["ETH"].hex()
    # every plan names a registered factory
    assert all(p.protocol in REGISTRY or p.protocol in SOLANA_REGISTRY for p in plans.values())


def test_plan_without_seed_report_still_reads_solana_oracles_by_feed_id() -> None:
    plans = plan_adapters(manifest(), None)
    sol = next(p for p in plans if p.chain == "solana")
    assert sol.config["assets"] == {} and sol.config["pyth"] == {}
    assert set(sol.config["pyth_feed_ids"]) == {"SOL", "ETH", "BTC"}
    assert all(p.config.get("entities", {}) == {} for p in plans)


def test_missing_contracts_mean_no_adapter() -> None:
    m = manifest(with_solana=False)
    bare = m.model_copy(
        update={
            "chains": {"ethereum": m.chains["ethereum"].model_copy(update={"contracts": _contracts("WETH")})}
        }
    )
    assert plan_adapters(bare) == []
    assert oracle_set(bare.chains["ethereum"]).chainlink == ()


def test_oracle_set_has_every_feed_of_the_chain() -> None:
    m = manifest()
    base = oracle_set(m.chains["base"])
    assert [f.asset for f in base.chainlink] == [Underlying.ETH, Underlying.BTC, Underlying.USD]
    assert all(f.decimals == 8 for f in base.chainlink)
    assert [p.price_id for p in base.pyth] == [PYTH_FEED_IDS[a] for a in ("ETH", "BTC", "USDC")]
    assert base.sequencers == ()  # the fake base manifest has no uptime feed; arbitrum has
    assert len(oracle_set(m.chains["arbitrum"]).sequencers) == 1
    (vol,) = base.vol
    c = m.chains["base"].contracts
    assert dict(vol.assets) == {c["WETH"].address: Underlying.ETH, c["WBTC"].address: Underlying.BTC}


def test_entity_map_rejects_a_malformed_report() -> None:
    assert entity_map(None) == {} and entity_map({}) == {}
    with pytest.raises(CollectError, match="entities\\['x'\\]"):
        entity_map({"entities": {"x": "0xabc"}})


def test_filters_name_what_exists() -> None:
    m = manifest()
    assert select_chains(m, None) == ["ethereum", "arbitrum", "base", "solana"]
    assert select_chains(m, "base") == ["base"]
    with pytest.raises(CollectError, match="unknown chain 'optimism'.*ethereum, arbitrum, base, solana"):
        select_chains(m, "optimism")
    check_protocol(None)
    check_protocol(FEEDS)
    with pytest.raises(CollectError, match="unknown protocol 'aave'.*vault_options"):
        check_protocol("aave")
    assert {"tokenized_options", "uniswap_v3", FEEDS} <= set(protocol_names())


async def test_collector_builds_only_the_selected_adapters() -> None:
    async with Collector(manifest(), SEED, chains=["base"], protocols=["cover_market"]) as col:
        assert [a.protocol for a in col.adapters["base"]] == ["cover_market"]
        assert col.readers == {} and set(col.pools) == {"base"} and col.solana == {}
    async with Collector(manifest(), SEED) as col:
        assert {c: sorted(a.protocol for a in ads) for c, ads in col.adapters.items()} == {
            "ethereum": ["vault_options"],
            "arbitrum": ["portfolio_margin", "uniswap_v3"],
            "base": ["cover_market", "option_amm", "uniswap_v3"],
            "solana": ["tokenized_options"],
        }
        assert set(col.readers) == {"ethereum", "arbitrum", "base"}
    with pytest.raises(CollectError):
        Collector(manifest(), SEED, protocols=["nope"])
    bad = {**SEED, "solana": {"usdc_mint": "not-base58!"}}
    with pytest.raises(CollectError, match="cannot build tokenized_options on solana: assets key"):
        async with Collector(manifest(), bad):
            pass


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--seed", "0"], "--seed must be a positive number of wallets, got 0"),
        (["--seed", "3", "--seed-value", "-1"], "--seed-value must be >= 0"),
        (["--seed", "3", "--no-deploy"], "--seed needs the protocols deployed"),
        (["--seed", "3", "--no-protocols"], "--seed needs the protocols deployed"),
        (["--seed-value", "4"], "--seed-value needs --seed N"),
    ],
)
def test_devnet_up_seed_arguments_are_checked(argv: list[str], message: str) -> None:
    """`rtrm devnet up --seed N` refuses what cannot be seeded before starting anything (exit 2 via the CLI)."""
    import argparse

    from chains.devnet.commands import check_seed_args, register
    from chains.devnet.errors import DevnetUsageError

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    with pytest.raises(DevnetUsageError, match=message.replace("-", "\\-")):
        check_seed_args(parser.parse_args(["devnet", "up", *argv]))
    ok = parser.parse_args(["devnet", "up", "--seed", "12", "--seed-value", "5"])
    check_seed_args(ok)
    assert (ok.seed, ok.seed_value) == (12, 5)


def test_seed_summary_line() -> None:
    from chains.devnet.runner import seed_summary

    report = {
        "seed": 5,
        "wallets": [{}, {}],
        "vault_options": {"count": 2},
        "solana": {"count": 1},
        "entities": {},
    }
    assert seed_summary(report) == "seeded 2 wallets (seed 5): vault_options=2, solana=1"
