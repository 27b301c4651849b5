"""Seed devnet wallets with positions on every protocol kind, deterministically for a seed.

Why: adapters, the risk book and the bots need a realistic, reproducible book to read — thin-margin shorts that a
crash makes liquidatable, over-collateralised ones that survive it, covered accounts, LPs, and entities that own
both an EVM address and a Solana pubkey. ``seed_devnet`` returns (and writes to ``<devnet dir>/seed.json``) what
was seeded, read back from the contracts, so tests can compare adapters' reads with it.

Wallets are derived from the seed (:func:`wallet_key`); transactions are sent through anvil's impersonation, so
no key is needed at seeding time and none is written anywhere.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_utils import keccak, to_checksum_address
from web3 import AsyncWeb3
from web3.logs import DISCARD
from web3.types import RPCEndpoint

from chains.devnet.errors import DevnetError
from chains.devnet.manifest import Manifest
from chains.devnet.protocols import (
    CHAIN_IDS,
    INITIAL_PRICES,
    WAD,
    default_out_dir,
    to_units,
)
from chains.devnet.txbatch import ChainContracts, TxBatch

SEED_FILE = "seed.json"
WALLET_ETH = 100 * WAD
WALLET_USDC = 1_000_000 * 10**6
FRAGILE_EVERY = 3  # wallets 0, 3, 6, ... hold thin-margin shorts
COVERED_EVERY = 2  # wallets 0, 2, 4, ... buy liquidation cover
SOLANA_EVERY = 2  # wallets 0, 2, 4, ... are entities with a Solana pubkey too


@dataclass(frozen=True)
class Wallet:
    index: int
    address: str
    entity: str
    fragile: bool
    covered: bool
    has_solana: bool


def wallet_key(seed: int, index: int) -> bytes:
    """Deterministic devnet-only private key of wallet ``index`` for ``seed`` (never use outside a devnet)."""
    return keccak(b"rtrm-devnet-wallet:" + seed.to_bytes(8, "big") + index.to_bytes(4, "big"))


def make_wallets(n: int, seed: int) -> list[Wallet]:
    if n <= 0:
        raise ValueError(f"wallets must be positive, got {n}")
    out = []
    for i in range(n):
        addr = Account.from_key(wallet_key(seed, i)).address
        out.append(
            Wallet(
                i,
                addr,
                f"entity-{seed}-{i}",
                i % FRAGILE_EVERY == 0,
                i % COVERED_EVERY == 0,
                i % SOLANA_EVERY == 0,
            )
        )
    return out


async def _fund(w3: AsyncWeb3, c: ChainContracts, batch: TxBatch, wallets: Sequence[Wallet]) -> str:
    """ETH via anvil_setBalance, USDC minted by the deployer, impersonation on; returns the deployer."""
    deployer = (await w3.eth.accounts)[0]
    for w in wallets:
        await w3.provider.make_request(RPCEndpoint("anvil_setBalance"), [w.address, hex(WALLET_ETH)])
        await w3.provider.make_request(RPCEndpoint("anvil_impersonateAccount"), [w.address])
        usdc = c["USDC"]
        await batch.send(
            deployer, usdc.address, usdc.encode_abi("mint", args=[w.address, WALLET_USDC]), label="USDC.mint"
        )
    return deployer


def _events(contract: Any, event: str, receipts: Sequence[Any]) -> list[Any]:
    ev = getattr(contract.events, event)()
    out: list[Any] = []
    for r in receipts:
        out.extend(ev.process_receipt(r, errors=DISCARD))
    return out


# ------------------------------------------------------------------ ethereum: VaultOptions


async def _seed_vaults(
    w3: AsyncWeb3, c: ChainContracts, wallets: Sequence[Wallet], rng: random.Random
) -> dict[str, Any]:
    vo, usdc = c["VaultOptions"], c["USDC"]
    batch = TxBatch(w3)
    await _fund(w3, c, batch, wallets)
    await batch.flush()
    n_series = int(await vo.functions.seriesCount().call())
    series = {i: await vo.functions.getSeries(i).call() for i in range(1, n_series + 1)}
    weth = c["WETH"].address
    spot = to_units(INITIAL_PRICES["ETH"], 18)
    now = int((await w3.eth.get_block("latest"))["timestamp"])
    # near-expiry WETH puts (thin margin shorts) and calls (safe shorts)
    puts = sorted(
        i for i, s in series.items() if s[1] == weth and s[3] and s[2] == min(x[2] for x in series.values())
    )
    calls = sorted(
        i
        for i, s in series.items()
        if s[1] == weth and not s[3] and s[2] == min(x[2] for x in series.values())
    )
    plans = []
    for w in wallets:
        sid = puts[-1] if w.fragile else rng.choice(puts + calls)  # fragile: the 0.9 put, nearest the money
        amount = rng.randint(1, 10) * 10**8  # option tokens have 8 decimals
        tau = int(series[sid][2]) - now
        req_now = int(await vo.functions.requirementFor(sid, amount, spot, tau).call())
        if w.fragile:
            collateral = req_now * 102 // 100
        else:  # survives a 40 % move against it
            shocked = spot * 6 // 10 if series[sid][3] else spot * 14 // 10
            collateral = int(await vo.functions.requirementFor(sid, amount, shocked, tau).call()) * 11 // 10
        plans.append((w, sid, amount, collateral))
        await batch.send(
            w.address,
            usdc.address,
            usdc.encode_abi("approve", args=[vo.address, collateral]),
            label="approve VaultOptions",
        )
        actions = [(0, 0, 0, 0, 0), (1, 0, 0, collateral, 0), (3, 0, sid, amount, 0)]
        await batch.send(
            w.address, vo.address, vo.encode_abi("operate", args=[actions]), label="VaultOptions.operate"
        )
    receipts = await batch.flush()
    opened = {e["args"]["owner"]: int(e["args"]["vaultId"]) for e in _events(vo, "VaultOpened", receipts)}
    vaults = []
    for w, sid, _amount, _collateral in plans:
        vid = opened[w.address]
        v = await vo.functions.getVault(vid).call()
        vaults.append(
            {
                "vault_id": vid,
                "owner": w.address,
                "series_id": int(v[3]),
                "short": int(v[5]),
                "collateral": int(v[4]),
                "fragile": w.fragile,
                "is_put": bool(series[sid][3]),
                "strike": int(series[sid][4]),
                "expiry": int(series[sid][2]),
            }
        )
    return {
        "chain": "ethereum",
        "contract": vo.address,
        "count": len(vaults),
        "vaults": vaults,
        "total_collateral": sum(v["collateral"] for v in vaults),
        "total_short": sum(v["short"] for v in vaults),
    }


# ------------------------------------------------------------------ arbitrum: PortfolioMargin


async def _seed_portfolio(
    w3: AsyncWeb3, c: ChainContracts, wallets: Sequence[Wallet], rng: random.Random
) -> dict[str, Any]:
    pm, usdc = c["PortfolioMargin"], c["USDC"]
    batch = TxBatch(w3)
    deployer = await _fund(w3, c, batch, wallets)
    house_cash = 10_000_000 * 10**6
    await batch.send(
        deployer, usdc.address, usdc.encode_abi("mint", args=[deployer, house_cash]), label="mint"
    )
    await batch.send(
        deployer, usdc.address, usdc.encode_abi("approve", args=[pm.address, house_cash]), label="approve"
    )
    await batch.send(
        deployer, pm.address, pm.encode_abi("createAccount", args=[]), label="house createAccount"
    )
    for w in wallets:
        await batch.send(
            w.address, pm.address, pm.encode_abi("createAccount", args=[]), label="createAccount"
        )
        await batch.send(
            w.address, pm.address, pm.encode_abi("setOperator", args=[deployer, True]), label="setOperator"
        )
        await batch.send(
            w.address,
            usdc.address,
            usdc.encode_abi("approve", args=[pm.address, WALLET_USDC]),
            label="approve PortfolioMargin",
        )
    receipts = await batch.flush()
    ids = {e["args"]["owner"]: int(e["args"]["accountId"]) for e in _events(pm, "AccountCreated", receipts)}
    house = ids[deployer]
    n_series = int(await pm.functions.nextSeriesId().call())
    series = {i: await pm.functions.getSeries(i).call() for i in range(1, n_series)}
    weth = c["WETH"].address
    near = min(int(s[1]) for s in series.values())
    eth_near = {i: s for i, s in series.items() if s[0] == weth and int(s[1]) == near}
    atm = to_units(INITIAL_PRICES["ETH"], 18)
    atm_put = next(i for i, s in eth_near.items() if int(s[3]) == atm and not s[2])
    otm_calls = sorted(i for i, s in eth_near.items() if s[2] and int(s[3]) > atm)
    await batch.send(
        deployer, pm.address, pm.encode_abi("deposit", args=[house, house_cash]), label="house deposit"
    )
    trades = []
    for w in wallets:
        cash = rng.randint(50, 200) * 1000 * 10**6
        await batch.send(
            w.address, pm.address, pm.encode_abi("deposit", args=[ids[w.address], cash]), label="deposit"
        )
        amount = rng.randint(1, 5) * WAD
        if w.fragile:  # short ATM puts to the house
            trades.append((house, ids[w.address], atm_put, amount))
        elif w.index % 2:  # long OTM calls from the house
            trades.append((ids[w.address], house, rng.choice(otm_calls), amount))
        else:  # well-funded short calls
            trades.append((house, ids[w.address], rng.choice(otm_calls), amount))
    await batch.flush()
    for buyer, seller, sid, amount in trades:
        price = int(await pm.functions.markOf(sid).call())
        await batch.send(
            deployer,
            pm.address,
            pm.encode_abi("trade", args=[buyer, seller, sid, amount, price]),
            label="PortfolioMargin.trade",
        )
    await batch.flush()
    for w in wallets:  # thin margin: withdraw down to a buffer of 1 % of the short's spot notional
        if not w.fragile:
            continue
        aid = ids[w.address]
        mm, _ = await pm.functions.getMarginAndMarkToMarket(aid).call()
        short = -int(await pm.functions.positionOf(aid, atm_put).call())
        buffer = short * atm // WAD // 100
        excess = (int(mm) - buffer) // 10**12
        if excess > 0:
            await batch.send(
                w.address,
                pm.address,
                pm.encode_abi("withdraw", args=[aid, excess, w.address]),
                label="withdraw to buffer",
            )
    await batch.flush()
    accounts = []
    for w in wallets:
        aid = ids[w.address]
        held = [int(s) for s in await pm.functions.heldSeries(aid).call()]
        mm, mtm = await pm.functions.getMarginAndMarkToMarket(aid).call()
        accounts.append(
            {
                "account_id": aid,
                "owner": w.address,
                "fragile": w.fragile,
                "cash": int(await pm.functions.cashOf(aid).call()),
                "positions": {str(s): int(await pm.functions.positionOf(aid, s).call()) for s in held},
                "mm": int(mm),
                "mtm": int(mtm),
            }
        )
    return {
        "chain": "arbitrum",
        "contract": pm.address,
        "count": len(accounts),
        "house_account": house,
        "accounts": accounts,
        "trades": len(trades),
        "total_cash": sum(a["cash"] for a in accounts),
    }


# ------------------------------------------------------------------ base: OptionAMM + CoverMarket


async def _underwrite_cover_demand(
    cover: Any, usdc: Any, batch: TxBatch, deployer: str, wallets: Sequence[Wallet],
    covered: Mapping[str, Mapping[str, Any]],
) -> None:
    """Top up the cover pool so every seeded cover fits its free capital (the house LP deposit is fixed, the
    number of covered wallets is not): without this, large seeds revert with InsufficientCapacity."""
    demand = sum(
        int(target["accounts"][w.address])
        for w in wallets
        if w.covered
        for target in covered.values()
        if w.address in target["accounts"]
    )
    free = int(await cover.functions.freeCapital().call())
    if demand <= free:
        return
    top_up = (demand - free) * 2  # headroom: premiums and capacity ratios must not bind either
    await batch.send(deployer, usdc.address, usdc.encode_abi("mint", args=[deployer, top_up]), label="USDC.mint")
    await batch.send(deployer, usdc.address, usdc.encode_abi("approve", args=[cover.address, top_up]),
                     label="approve")
    await batch.send(deployer, cover.address, cover.encode_abi("deposit", args=[top_up, deployer]),
                     label="CoverMarket.deposit")
    await batch.flush()


async def _seed_base(
    w3: AsyncWeb3,
    c: ChainContracts,
    wallets: Sequence[Wallet],
    rng: random.Random,
    covered: Mapping[str, Mapping[str, Any]],
) -> tuple[dict[str, Any], dict[str, Any]]:
    amm, cover, usdc = c["OptionAMM"], c["CoverMarket"], c["USDC"]
    batch = TxBatch(w3)
    deployer = await _fund(w3, c, batch, wallets)
    await batch.flush()
    await _underwrite_cover_demand(cover, usdc, batch, deployer, wallets, covered)
    n_series = int(await amm.functions.seriesCount().call())
    series = {i: await amm.functions.series(i).call() for i in range(n_series)}
    for w in wallets:
        for spender in (amm.address, cover.address):
            await batch.send(
                w.address,
                usdc.address,
                usdc.encode_abi("approve", args=[spender, WALLET_USDC]),
                label="approve",
            )
    buys, lps, covers = [], [], []
    for w in wallets:
        sid = rng.choice(sorted(series))
        amount = rng.randint(1, 6) * WAD // 2
        buys.append((w.address, sid, amount))
        await batch.send(
            w.address,
            amm.address,
            amm.encode_abi("buy", args=[sid, amount, WALLET_USDC // 10]),
            label="OptionAMM.buy",
        )
        if w.index % 3 == 1:
            assets = rng.randint(5, 20) * 1000 * 10**6
            lps.append((w.address, assets))
            await batch.send(
                w.address,
                amm.address,
                amm.encode_abi("deposit", args=[assets, w.address]),
                label="OptionAMM.deposit",
            )
        if w.covered:
            for chain_name, target in covered.items():
                if w.address not in target["accounts"]:
                    continue
                amount_usdc = target["accounts"][w.address]
                period = 30 * 86_400
                args = [
                    w.address,
                    CHAIN_IDS[chain_name],
                    target["protocol"],
                    amount_usdc,
                    period,
                    WALLET_USDC // 10,
                ]
                covers.append((w.address, chain_name))
                await batch.send(
                    w.address,
                    cover.address,
                    cover.encode_abi("buyCover", args=args),
                    label="CoverMarket.buyCover",
                )
    receipts = await batch.flush()
    trades = [
        {
            "trader": e["args"]["trader"],
            "series_id": int(e["args"]["seriesId"]),
            "amount": int(e["args"]["amount"]),
            "premium": int(e["args"]["premium"]),
            "fee": int(e["args"]["fee"]),
        }
        for e in _events(amm, "Trade", receipts)
    ]
    oi = {str(i): int((await amm.functions.series(i).call())[4]) for i in series}
    lp_rows = [
        {"owner": o, "assets": a, "shares": int(await amm.functions.balanceOf(o).call())} for o, a in lps
    ]
    cover_rows = []
    for e in _events(cover, "CoverBought", receipts):
        a = e["args"]
        cover_rows.append(
            {
                "cover_id": int(a["coverId"]),
                "holder": a["holder"],
                "account": a["account"],
                "chain_id": int(a["chainId"]),
                "protocol": a["protocol"],
                "amount": int(a["amount"]),
                "premium": int(a["premium"]),
                "start": int(a["start"]),
                "end": int(a["end"]),
            }
        )
    amm_report = {
        "chain": "base",
        "contract": amm.address,
        "count": len(trades),
        "trades": trades,
        "lps": lp_rows,
        "open_interest": {k: v for k, v in oi.items() if v},
        "nav": int(await amm.functions.nav().call()),
    }
    cover_report = {
        "chain": "base",
        "contract": cover.address,
        "count": len(cover_rows),
        "covers": cover_rows,
        "total_amount": sum(r["amount"] for r in cover_rows),
    }
    return amm_report, cover_report


# ------------------------------------------------------------------ entry point


def _w3(url: str) -> AsyncWeb3:
    return AsyncWeb3(AsyncWeb3.AsyncHTTPProvider(url))


async def seed_devnet(
    manifest: Manifest,
    wallets: int = 8,
    seed: int = 0,
    *,
    root: Path | None = None,
    out_dir: Path | None = None,
    write: bool = True,
) -> dict[str, Any]:
    """Seed ``wallets`` wallets on every protocol present in the manifest (and Solana when it is there).

    Returns the report; with ``write`` it is also written to ``<manifest directory>/seed.json``. Seeding is
    not additive: when the seed's first wallet has already transacted on this devnet, the stored report is
    returned if it is for the same seed and wallet count, else a :class:`DevnetError` asks for another seed.
    """
    root = root or Path(__file__).resolve().parents[2]
    out = out_dir or default_out_dir(root)
    ws = make_wallets(wallets, seed)
    previous = await _previous_seeding(manifest, ws, seed)
    if previous is not None:
        return previous
    rng = random.Random(seed)
    rngs = {k: random.Random(rng.getrandbits(64)) for k in ("vault", "pm", "base", "solana")}
    report: dict[str, Any] = {"seed": seed, "wallets": [asdict(w) for w in ws]}
    w3s: dict[str, AsyncWeb3] = {}
    try:

        def contracts(chain: str) -> ChainContracts | None:
            if chain not in manifest.chains:
                return None
            entry = manifest.chains[chain]
            w3s[chain] = _w3(entry.rpc_url)
            return ChainContracts(w3s[chain], entry.contracts, root, out)

        eth, arb, base = contracts("ethereum"), contracts("arbitrum"), contracts("base")
        jobs: dict[str, Any] = {}
        if eth is not None and eth.has("VaultOptions"):
            jobs["vault_options"] = _seed_vaults(eth.w3, eth, ws, rngs["vault"])
        if arb is not None and arb.has("PortfolioMargin"):
            jobs["portfolio_margin"] = _seed_portfolio(arb.w3, arb, ws, rngs["pm"])
        results = dict(zip(jobs, await asyncio.gather(*jobs.values()), strict=True))
        report.update(results)
        if base is not None and base.has("OptionAMM") and base.has("CoverMarket"):
            covered: dict[str, Any] = {}
            if "vault_options" in results:
                covered["ethereum"] = {
                    "protocol": results["vault_options"]["contract"],
                    "accounts": {
                        v["owner"]: max(v["collateral"], 10**6) for v in results["vault_options"]["vaults"]
                    },
                }
            if "portfolio_margin" in results:
                covered["arbitrum"] = {
                    "protocol": results["portfolio_margin"]["contract"],
                    "accounts": {
                        a["owner"]: max(a["cash"] // 10**12, 10**6) // 2
                        for a in results["portfolio_margin"]["accounts"]
                    },
                }
            report["option_amm"], report["cover_market"] = await _seed_base(
                base.w3, base, ws, rngs["base"], covered
            )
        if "solana" in manifest.chains:
            from chains.devnet.solana_seed import seed_solana

            holders = [w for w in ws if w.has_solana]
            report["solana"] = await seed_solana(
                manifest.chains["solana"].rpc_url, holders, seed=seed, rng=rngs["solana"]
            )
        report["entities"] = _entities(ws, report)
    finally:
        for w3 in w3s.values():
            await w3.provider.disconnect()
    if write:
        path = Path(manifest.directory) / SEED_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2) + "\n")
    return report


async def _previous_seeding(manifest: Manifest, ws: Sequence[Wallet], seed: int) -> dict[str, Any] | None:
    evm = manifest.evm_chains()
    if not evm:
        return None
    w3 = _w3(evm[0].rpc_url)
    try:
        used = int(await w3.eth.get_transaction_count(to_checksum_address(ws[0].address))) > 0
    finally:
        await w3.provider.disconnect()
    if not used:
        return None
    path = Path(manifest.directory) / SEED_FILE
    if path.is_file():
        stored = dict(json.loads(path.read_text()))
        if stored.get("seed") == seed and len(stored.get("wallets", [])) == len(ws):
            return stored
    raise DevnetError(
        f"wallets of seed {seed} were already seeded on {evm[0].name} (differently from {path}); "
        "pick another seed or restart the devnet"
    )


def _entities(ws: Sequence[Wallet], report: Mapping[str, Any]) -> dict[str, Any]:
    """entity -> its addresses per chain (EVM address on every EVM chain, Solana pubkey when it has one)."""
    sol = {h["wallet_index"]: h["pubkey"] for h in report.get("solana", {}).get("holders", [])}
    out: dict[str, Any] = {}
    for w in ws:
        out[w.entity] = {"evm": to_checksum_address(w.address), "solana": sol.get(w.index)}
    return out


def load_seed_report(directory: str | Path) -> dict[str, Any]:
    path = Path(directory) / SEED_FILE
    try:
        return dict(json.loads(path.read_text()))
    except FileNotFoundError:
        raise FileNotFoundError(f"no {SEED_FILE} in {directory}; run seed_devnet first") from None


__all__ = ["SEED_FILE", "Wallet", "load_seed_report", "make_wallets", "seed_devnet", "wallet_key"]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m chains.devnet.seed [--dir devnet] [--wallets 8] [--seed 0]`` against a running devnet."""
    import argparse

    from chains.devnet.manifest import ManifestError, load_manifest

    p = argparse.ArgumentParser(prog="python -m chains.devnet.seed", description=main.__doc__)
    p.add_argument("--dir", default="devnet", help="devnet directory (holds manifest.json)")
    p.add_argument("--wallets", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    try:
        manifest = load_manifest(args.dir, require_running=True)
        report = asyncio.run(seed_devnet(manifest, wallets=args.wallets, seed=args.seed))
    except (ManifestError, DevnetError, ValueError) as exc:
        print(f"seed: error: {exc}")
        return 2
    counts = {k: v["count"] for k, v in report.items() if isinstance(v, dict) and "count" in v}
    print(
        f"seeded {args.wallets} wallets (seed {args.seed}): {counts}; report in {Path(args.dir) / SEED_FILE}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
