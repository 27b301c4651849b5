"""Acceptance on a real devnet started by `rtrm devnet up --seed N --detach` (3 anvils + the LiteSVM Solana
endpoint, free ports, tmp dir): `chains.collect` and `rtrm inspect positions --json` see every seeded position on
all four chains with the totals the seeding reports; oracle quotes equal what the market driver pushed, read at
the block the push was mined in; `--entity` returns one entity's EVM and Solana positions together."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bots.commands import inspect as inspect_cmd
from chains.collect import FEEDS, Collector, Snapshot, collect
from chains.devnet.manifest import Manifest, load_manifest
from chains.devnet.process import free_port
from chains.devnet.runner import down
from chains.devnet.seed import load_seed_report
from chains.model import OracleSource, Underlying
from chains.protocols.oracles import ANSWER_UPDATED
from tests.chains.devnet.test_protocols_deploy import OUT, ROOT, needs_artifacts

pytestmark = needs_artifacts
CHAINS = ("ethereum", "arbitrum", "base", "solana")


@dataclass(frozen=True)
class SeededDevnet:
    directory: Path
    manifest: Manifest
    report: dict[str, Any]
    up_seconds: float


def start_seeded(directory: Path, wallets: int, seed: int) -> SeededDevnet:
    """`rtrm devnet up --detach --seed N` on free ports; the caller must `down(directory)` (see fixtures)."""
    ports = [a for c in CHAINS for a in ("--port", f"{c}={free_port()}")]
    argv = [
        sys.executable,
        "-m",
        "bots.cli",
        "devnet",
        "up",
        "--dir",
        str(directory),
        "--out",
        str(OUT),
        "--detach",
        "--seed",
        str(wallets),
        "--seed-value",
        str(seed),
        *ports,
    ]
    t0 = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120 + wallets)
    elapsed = time.perf_counter() - t0
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"seeded {wallets} wallets (seed {seed})" in done.stdout
    return SeededDevnet(
        directory, load_manifest(directory, require_running=True), load_seed_report(directory), elapsed
    )


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeededDevnet]:
    directory = tmp_path_factory.mktemp("devnet")
    try:
        yield start_seeded(directory, 12, 7)
    finally:
        down(directory)


# ---------------------------------------------------------------------------------------------- checks
def check_totals(snap: Snapshot, report: Mapping[str, Any]) -> None:
    """Every seeded position is seen, and the per-protocol totals equal the seeding report's."""
    by = defaultdict(list)
    for s in snap.accounts:
        by[s.protocol].append(s)
    assert {s.chain for s in snap.accounts} == set(CHAINS)

    # VaultOptions (ethereum): one short per vault; 8-decimal option tokens, 6-decimal USDC
    vo = report["vault_options"]
    seen = {int(s.account_id): s for s in by["vault_options"]}
    assert set(seen) == {v["vault_id"] for v in vo["vaults"]}
    for v in vo["vaults"]:
        s = seen[v["vault_id"]]
        (p,) = s.positions
        assert s.owner == v["owner"] and -p.size * 10**8 == v["short"]
        assert s.collateral["USDC"] * 10**6 == v["collateral"]
    assert sum(-s.positions[0].size for s in seen.values()) * 10**8 == vo["total_short"]
    assert sum(s.collateral["USDC"] for s in seen.values()) * 10**6 == vo["total_collateral"]

    # PortfolioMargin (arbitrum): cash and every held series per seeded subaccount (plus the house account)
    pm = report["portfolio_margin"]
    seen = {int(s.account_id): s for s in by["portfolio_margin"]}
    assert set(seen) == {a["account_id"] for a in pm["accounts"]} | {pm["house_account"]}
    for a in pm["accounts"]:
        s = seen[a["account_id"]]
        assert s.owner == a["owner"] and s.collateral["USD"] * 10**18 == a["cash"]
        held = {p.instrument.venue_id.removeprefix("series:"): p.size * 10**18 for p in s.positions}
        assert held == {k: Decimal(v) for k, v in a["positions"].items() if v}
    assert sum(seen[a["account_id"]].collateral["USD"] for a in pm["accounts"]) * 10**18 == pm["total_cash"]
    # matched trades: the house holds exactly the other side of every seeded position
    net: dict[str, Decimal] = defaultdict(Decimal)
    for s in seen.values():
        for p in s.positions:
            net[p.instrument.venue_id] += p.size
    assert all(v == 0 for v in net.values())

    # OptionAMM (base): traders' longs sum to the pool's open interest, which the pool holds short
    amm = report["option_amm"]
    longs: dict[str, Decimal] = defaultdict(Decimal)
    expected: dict[tuple[str, str], int] = defaultdict(int)
    for t in amm["trades"]:
        expected[(t["trader"], f"series:{t['series_id']}")] += t["amount"]
    got: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    pool = [s for s in by["option_amm"] if s.account_id == "pool"]
    assert len(pool) == 1
    for s in by["option_amm"]:
        if s.account_id != "pool":
            for p in s.positions:
                got[(p.owner, p.instrument.venue_id)] += p.size * 10**18
                longs[p.instrument.venue_id.removeprefix("series:")] += p.size * 10**18
    assert got == {k: Decimal(v) for k, v in expected.items()}
    assert dict(longs) == {k: Decimal(v) for k, v in amm["open_interest"].items()}
    assert {
        p.instrument.venue_id.removeprefix("series:"): -p.size * 10**18 for p in pool[0].positions
    } == longs

    # CoverMarket (base): every cover with its amount
    cm = report["cover_market"]
    seen = {int(s.account_id): s for s in by["cover_market"]}
    assert set(seen) == {c["cover_id"] for c in cm["covers"]}
    assert sum(s.params["amount"] for s in seen.values()) * 10**6 == cm["total_amount"]

    # Solana tokenized options: option tokens long, writer tokens short, per holder and market
    sol = report["solana"]
    names = {m["address"]: m["name"] for m in sol["markets"]}
    seen_sol: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for s in by["tokenized_options"]:
        for p in s.positions:
            seen_sol[p.owner][names[p.instrument.venue_id] + ("+" if p.size > 0 else "-")] += p.size
    for h in sol["holders"]:
        want = {f"{k}+": Decimal(v) for k, v in h["options"].items()}
        want |= {f"{k}-": -Decimal(v) for k, v in h["writers"].items()}
        assert dict(seen_sol[h["pubkey"]]) == want


def inspect_json(directory: Path, *args: str) -> tuple[int, list[dict[str, Any]]]:
    out = io.StringIO()
    ns = _parse(["--dir", str(directory), "--json", *args])
    code = inspect_cmd.cmd_inspect(ns, out)
    return code, [json.loads(line) for line in out.getvalue().splitlines()]


def _parse(argv: list[str]) -> Any:
    import argparse

    p = argparse.ArgumentParser()
    inspect_cmd.add_arguments(p)
    return p.parse_args(argv)


# ---------------------------------------------------------------------------------------------- tests
async def test_collect_sees_every_seeded_position_with_the_seeded_totals(devnet: SeededDevnet) -> None:
    async with Collector(devnet.manifest, devnet.report) as col:
        snap = await col.snapshot()
        again = await col.snapshot()  # discovery resumes from the adapters' cursors; known accounts are kept
    check_totals(snap, devnet.report)
    check_totals(again, devnet.report)
    assert not any(c.errors for c in snap.chains)
    for c in snap.chains:  # one pinned block per EVM chain; Solana serves the latest slot only
        if c.kind == "evm":
            assert {s.block for s in c.accounts} == {c.block}
            assert {s.block_hash for s in c.accounts} == {c.block_hash}
        else:
            assert all(s.block >= c.block for s in c.accounts)


def test_manifest_records_the_seeding(devnet: SeededDevnet) -> None:
    seed = devnet.manifest.seed
    assert seed is not None and (seed.wallets, seed.seed) == (12, 7)
    assert Path(seed.report) == (devnet.directory / "seed.json").resolve()
    for protocol in ("vault_options", "portfolio_margin", "option_amm", "cover_market", "solana"):
        assert seed.counts[protocol] == devnet.report[protocol]["count"] > 0


def test_inspect_positions_json_matches_collect(devnet: SeededDevnet) -> None:
    code, rows = inspect_json(devnet.directory, "positions")
    assert code == 0
    by_protocol: dict[str, Decimal] = defaultdict(Decimal)
    for r in rows:
        by_protocol[r["protocol"]] += Decimal(r["size"])  # Decimals travel as exact strings
        assert {"block", "block_hash", "read_at", "entity", "owner", "account_id", "collateral"} <= r.keys()
        inst = r["instrument"]
        assert inst["kind"] == "option" and inst["expiry"].endswith("+00:00") and Decimal(inst["strike"]) > 0
    assert {r["chain"] for r in rows} == set(CHAINS)
    vo = devnet.report["vault_options"]
    assert -by_protocol["vault_options"] * 10**8 == vo["total_short"]
    assert by_protocol["portfolio_margin"] == 0  # every trade has the house on the other side
    assert by_protocol["option_amm"] == 0  # traders' longs = pool's shorts
    # filters
    code, eth = inspect_json(
        devnet.directory, "--chain", "ethereum", "--protocol", "vault_options", "positions"
    )
    assert code == 0 and len(eth) == vo["count"] and {r["chain"] for r in eth} == {"ethereum"}


def test_entity_filter_returns_the_cross_chain_entity_together(devnet: SeededDevnet) -> None:
    entity, addrs = next((e, a) for e, a in devnet.report["entities"].items() if a["solana"])
    code, rows = inspect_json(devnet.directory, "--entity", entity, "positions")
    assert code == 0 and {r["entity"] for r in rows} == {entity}
    assert {r["chain"] for r in rows} == set(CHAINS)  # vault + PM + AMM on EVM, options on Solana
    assert {r["owner"] for r in rows} == {addrs["evm"], addrs["solana"]}
    with pytest.raises(inspect_cmd.CommandError, match="unknown entity 'nobody'"):
        inspect_json(devnet.directory, "--entity", "nobody", "positions")
    code, accts = inspect_json(devnet.directory, "--entity", entity, "accounts")
    assert code == 0 and {"cover_market", "tokenized_options", "vault_options"} <= {
        a["protocol"] for a in accts
    }


def test_rtrm_inspect_prints_tables(devnet: SeededDevnet) -> None:
    """Through the real `rtrm` entry point (bots.cli registers bots.commands.inspect)."""
    for what, expect in (("health", "solana"), ("accounts", "cover_market")):
        done = subprocess.run(
            [sys.executable, "-m", "bots.cli", "inspect", what, "--dir", str(devnet.directory)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout.startswith(what) and expect in done.stdout


def test_health_reports_every_chain_head(devnet: SeededDevnet) -> None:
    code, rows = inspect_json(devnet.directory, "health")
    assert code == 0 and [r["chain"] for r in rows] == list(CHAINS)
    for r in rows:
        assert r["healthy"] and r["head"] > 0 and r["endpoints"][0]["up"]
        assert r["head_age_s"] is not None


async def test_oracles_equal_what_the_driver_pushed_at_the_push_block(devnet: SeededDevnet) -> None:
    from chains.devnet.driver import MarketDriver

    pushed = {"ETH": Decimal("3123.45"), "BTC": Decimal("61000.5"), "SOL": Decimal("151.25")}
    async with MarketDriver(devnet.manifest, root=ROOT, out_dir=OUT) as drv:
        await drv.push(pushed, vols={"ETH": Decimal("0.7")})
    async with Collector(devnet.manifest, devnet.report) as col:
        heads = {c: await col.pools[c].expect("eth_blockNumber", []) for c in col.pools}
        snap = await col.snapshot(accounts=False)
        # the AnswerUpdated log of each chain's ETH/USD push: its round, answer and the block it was mined in
        pushes: dict[str, tuple[str, dict[str, Any]]] = {}
        for name in col.pools:
            feed = devnet.manifest.chains[name].contracts["ETH_USD"].address
            logs = await col.pools[name].expect(
                "eth_getLogs", [{"address": feed, "topics": [ANSWER_UPDATED], "fromBlock": "0x0"}]
            )
            pushes[name] = (feed, logs[-1])
    for c in snap.chains:
        quotes = [q for r in c.oracles.values() for q in r.quotes]
        if c.kind == "evm":
            assert c.block == int(heads[c.chain], 16)  # nothing mined since the push: its block is the head
            cl = {q.asset: q for q in c.oracles[FEEDS].quotes if q.source is OracleSource.CHAINLINK}
            assert cl[Underlying.ETH].price == pushed["ETH"] and cl[Underlying.BTC].price == pushed["BTC"]
            assert cl[Underlying.USD].price == 1
            assert all(q.block == c.block for q in cl.values())  # read at the pinned head
            feed_addr, log = pushes[c.chain]
            # what the driver wrote is the round we read, updated in the block of its log
            assert int(log["topics"][1], 16) == 312_345_000_000
            assert c.oracles[FEEDS].rounds[feed_addr] == int(log["topics"][2], 16)
            assert cl[Underlying.ETH].publish_time.timestamp() == int(log["data"], 16)
            assert int(log["blockNumber"], 16) <= c.block
            eth_slices = [v for v in c.oracles[FEEDS].vol_slices if v.asset is Underlying.ETH]
            assert eth_slices and all(v.forward == pushed["ETH"] and v.block == c.block for v in eth_slices)
            if c.chain == "base":
                py = {q.asset: q.price for q in quotes if q.source is OracleSource.PYTH}
                assert py[Underlying.ETH] == pushed["ETH"] and py[Underlying.BTC] == pushed["BTC"]
        else:
            sol = {q.asset: q for q in quotes if q.source is OracleSource.PYTH}
            assert sol[Underlying.SOL].price == pushed["SOL"] and sol[Underlying.ETH].price == pushed["ETH"]
            posted = c.oracles["tokenized_options"].rounds
            assert all(slot <= sol[Underlying.SOL].block for slot in posted.values())


def test_inspect_oracles_shows_the_pushed_price(devnet: SeededDevnet) -> None:
    import asyncio

    from chains.devnet.driver import MarketDriver

    async def push() -> None:
        async with MarketDriver(devnet.manifest, root=ROOT, out_dir=OUT) as drv:
            await drv.push({"ETH": Decimal("3210.5")})

    asyncio.run(push())
    code, rows = inspect_json(devnet.directory, "--chain", "base", "oracles")
    assert code == 0 and {r["chain"] for r in rows} == {"base"}
    eth = [r for r in rows if r["type"] == "quote" and r["asset"] == "ETH"]
    assert {(r["source"], r["price"]) for r in eth} >= {
        ("chainlink", "3210.50000000"),
        ("pyth", "3210.50000000"),
    }
    assert {r["origin"] for r in rows} >= {"oracles", "uniswap_v3"}
    assert any(r["type"] == "sequencer" and r["up"] for r in rows)


@pytest.mark.slow
async def test_seed_200_wallets_all_seen(tmp_path: Path) -> None:
    """The issue's acceptance size; prints the wall times of `devnet up --seed 200` and `inspect positions`."""
    try:
        # seed value 11: with seed 0, 200 wallets' covers exceed CoverMarket's 5M USDC underwriting capital and
        # seeding fails (InsufficientCapacity) — a limit of chains/devnet/seed.py, reported to its owner
        dn = start_seeded(tmp_path / "dn200", 200, 11)
        t0 = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "bots.cli", "inspect", "positions", "--json", "--dir", str(dn.directory)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        inspect_s = time.perf_counter() - t0
        assert done.returncode == 0, done.stderr[-2000:]
        rows = [json.loads(x) for x in done.stdout.splitlines()]
        print(
            f"\ndevnet up --seed 200: {dn.up_seconds:.1f}s; inspect positions --json: {inspect_s:.1f}s "
            f"({len(rows)} positions)"
        )
        assert (
            -sum(Decimal(r["size"]) for r in rows if r["protocol"] == "vault_options") * 10**8
            == dn.report["vault_options"]["total_short"]
        )
        check_totals(await collect(dn.manifest, dn.report), dn.report)
    finally:
        down(tmp_path / "dn200")
