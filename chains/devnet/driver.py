"""Market driver: one consistent market pushed to every oracle of the devnet, and time moved on every chain.

Why one driver: the bots compare prices across chains (Chainlink-style feeds on each EVM chain, MockPyth on base,
Pyth PriceUpdateV2 accounts on Solana, SVI slices in every VolFeed). If they drifted apart, cross-chain logic would
be tested against an impossible market. Paths are pure, seeded functions (:func:`gbm_path`, :func:`crash_path`);
the driver only writes them. :meth:`MarketDriver.make_liquidatable` searches, on anvil snapshots, for the smallest
common move that makes chosen seeded accounts liquidatable per the contracts' own views, then applies it for real.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import numpy as np
from web3 import AsyncWeb3
from web3.types import RPCEndpoint

from chains.devnet.errors import DevnetError
from chains.devnet.manifest import Manifest
from chains.devnet.protocols import (
    FEED_DECIMALS,
    INITIAL_ATM_VOL,
    INITIAL_PRICES,
    PRICE_FEEDS,
    PYTH_UPDATE_FEE_WEI,
    UNDERLYING_TOKEN,
    default_out_dir,
    push_pyth,
    pyth_update_data,
    svi_slice,
    to_units,
)
from chains.devnet.txbatch import ChainContracts, TxBatch, chain_now

RISKY = ("ETH", "BTC", "SOL")
YEAR = 365 * 86_400
Prices = dict[str, Decimal]


# ------------------------------------------------------------------ pure paths


def _q(x: float) -> Decimal:
    """Prices carry 8 decimals like the feeds (exact once written)."""
    return Decimal(repr(x)).quantize(Decimal("1e-8"))


def gbm_path(
    start: Mapping[str, Decimal],
    steps: int,
    dt_seconds: float,
    *,
    vols: Mapping[str, Decimal] | None = None,
    seed: int = 0,
    correlation: float = 0.7,
    jump_prob: float = 0.01,
    jump_mean: float = -0.04,
    jump_std: float = 0.03,
) -> list[Prices]:
    """Correlated GBM with Merton jumps for the risky assets (USDC stays at 1): ``steps`` price dicts.

    Each asset's log return = −½σ²dt + σ√dt·(√ρ·Z_common + √(1−ρ)·Z_own) + J, J ~ N(μ_J, σ_J) with probability
    ``jump_prob`` per step, shared by all assets (a market-wide jump). Deterministic for a seed.
    """
    if steps < 0 or dt_seconds <= 0 or not 0 <= correlation <= 1:
        raise ValueError(f"bad path parameters: steps={steps}, dt={dt_seconds}, correlation={correlation}")
    vols = vols or INITIAL_ATM_VOL
    rng = np.random.default_rng(seed)
    dt = dt_seconds / YEAR
    assets = [a for a in start if a in RISKY]
    cur = {a: float(p) for a, p in start.items()}
    out: list[Prices] = []
    for _ in range(steps):
        common = rng.standard_normal()
        jump = rng.normal(jump_mean, jump_std) if rng.random() < jump_prob else 0.0
        for a in assets:
            s = float(vols.get(a, Decimal("0.6")))
            z = math.sqrt(correlation) * common + math.sqrt(1 - correlation) * rng.standard_normal()
            cur[a] *= math.exp(-0.5 * s * s * dt + s * math.sqrt(dt) * z + jump)
        out.append({a: (_q(cur[a]) if a in assets else Decimal(start[a])) for a in start})
    return out


def crash_path(start: Mapping[str, Decimal], drop: Decimal = Decimal("0.30"), steps: int = 5) -> list[Prices]:
    """Geometric steps from ``start`` to ``(1 − drop)·start`` for the risky assets, ending exactly there."""
    if not 0 < drop < 1 or steps <= 0:
        raise ValueError(f"crash needs 0 < drop < 1 and steps > 0 (got {drop}, {steps})")
    out: list[Prices] = []
    for i in range(1, steps + 1):
        f = (1 - drop) ** (Decimal(i) / Decimal(steps)) if i < steps else 1 - drop
        out.append({a: (_q(float(p * f)) if a in RISKY else p) for a, p in start.items()})
    return out


def scaled(prices: Mapping[str, Decimal], factor: Decimal) -> Prices:
    """Every risky price times ``factor`` (USDC unchanged)."""
    return {a: (_q(float(p * factor)) if a in RISKY else p) for a, p in prices.items()}


# ------------------------------------------------------------------ targets


@dataclass(frozen=True)
class LiquidationTarget:
    """A seeded position to make liquidatable: a VaultOptions vault or a PortfolioMargin account."""

    kind: Literal["vault", "portfolio"]
    id: int


def fragile_targets(report: Mapping[str, Any]) -> list[LiquidationTarget]:
    """The seed report's thin-margin vaults and accounts (designed to fail in a crash)."""
    out = [
        LiquidationTarget("vault", v["vault_id"])
        for v in report.get("vault_options", {}).get("vaults", [])
        if v["fragile"]
    ]
    out += [
        LiquidationTarget("portfolio", a["account_id"])
        for a in report.get("portfolio_margin", {}).get("accounts", [])
        if a["fragile"]
    ]
    return out


# ------------------------------------------------------------------ the driver


class MarketDriver:
    """Writes the market to every chain of a running devnet manifest (EVM chains + Solana when present)."""

    def __init__(self, manifest: Manifest, *, root: Path | None = None, out_dir: Path | None = None) -> None:
        root = root or Path(__file__).resolve().parents[2]
        out = out_dir or default_out_dir(root)
        self.manifest = manifest
        self.prices: Prices = dict(INITIAL_PRICES)
        self.vols: dict[str, Decimal] = dict(INITIAL_ATM_VOL)
        self._chains: dict[str, ChainContracts] = {}
        for c in manifest.evm_chains():
            w3 = AsyncWeb3(AsyncWeb3.AsyncHTTPProvider(c.rpc_url))
            self._chains[c.name] = ChainContracts(w3, c.contracts, root, out)
        sol = manifest.chains.get("solana")
        self.solana_url = sol.rpc_url if sol is not None else None
        self._pyth_time: dict[str, int] = {}

    async def __aenter__(self) -> MarketDriver:
        await self.sync()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        for c in self._chains.values():
            await c.w3.provider.disconnect()

    def chain(self, name: str) -> ChainContracts:
        try:
            return self._chains[name]
        except KeyError:
            raise DevnetError(f"chain {name!r} not in the devnet (have: {', '.join(self._chains)})") from None

    async def sync(self) -> None:
        """Start from what the oracles say now, so separate driver runs continue one market (entering the
        driver as a context manager does this)."""
        for c in self._chains.values():
            for name, (asset, _) in PRICE_FEEDS.items():
                if not c.has(name) or int(await c[name].functions.latestRound().call()) == 0:
                    continue
                answer = int((await c[name].functions.latestRoundData().call())[1])
                if answer > 0:
                    self.prices[asset] = Decimal(answer).scaleb(-FEED_DECIMALS)
            if c.has("VolFeed"):
                now = await chain_now(c.w3)
                vf = c["VolFeed"]
                for asset, token in UNDERLYING_TOKEN.items():
                    live = [
                        int(e) for e in await vf.functions.expiries(c[token].address).call() if e > now + 60
                    ]
                    if live:
                        fwd = (await vf.functions.getSlice(c[token].address, live[0]).call())[5]
                        iv = int(await vf.functions.impliedVol(c[token].address, live[0], fwd).call())
                        self.vols[asset] = Decimal(iv).scaleb(-18).quantize(Decimal("1e-6"))
            break  # every chain carries the same market; the first one is enough
        if self.solana_url is not None:
            from chains.devnet.solana_seed import read_solana_price

            sol = await read_solana_price(self.solana_url, "SOL")
            if sol is not None:
                self.prices["SOL"] = sol

    async def fund(self, address: str, usdc: Decimal, eth: Decimal) -> list[str]:
        """Give `address` gas and USDC on every EVM chain (the devnet's tokens are minted by the deployer, anvil's
        first unlocked account): how a keeper wallet gets started on the devnet."""
        who = AsyncWeb3.to_checksum_address(address)
        funded: list[str] = []
        for name, c in self._chains.items():
            await c.w3.provider.make_request(RPCEndpoint("anvil_setBalance"), [who, hex(int(eth.scaleb(18)))])
            if c.has("USDC"):
                deployer = (await c.w3.eth.accounts)[0]
                tx = await c["USDC"].functions.mint(who, int(usdc.scaleb(6))).transact({"from": deployer})
                receipt = await c.w3.eth.wait_for_transaction_receipt(tx, poll_latency=0.05)
                if receipt["status"] != 1:
                    raise DevnetError(f"{name}: USDC mint to {who} reverted")
            funded.append(name)
        return funded

    # -------------------------------------------------------------- pushing

    async def push(
        self,
        prices: Mapping[str, Decimal] | None = None,
        vols: Mapping[str, Decimal] | None = None,
        *,
        chains: Sequence[str] | None = None,
    ) -> None:
        """Write ``prices``/``vols`` (merged into the current state) to every oracle, all chains concurrently."""
        if prices:
            bad = {a: p for a, p in prices.items() if p <= 0}
            if bad:
                raise ValueError(f"prices must be positive, got {bad}")
            self.prices.update(prices)
        if vols:
            self.vols.update(vols)
        names = list(chains) if chains is not None else list(self._chains)
        jobs = [self._push_evm(self.chain(n)) for n in names]
        if self.solana_url is not None and chains is None:
            from chains.devnet.solana_seed import push_solana_prices

            jobs.append(_discard(push_solana_prices(self.solana_url, self.prices)))
        await asyncio.gather(*jobs)

    async def _push_evm(self, c: ChainContracts) -> None:
        sender = (await c.w3.eth.accounts)[0]
        batch = TxBatch(c.w3, gas=500_000)
        now = await chain_now(c.w3)
        for name, (asset, _) in PRICE_FEEDS.items():
            if c.has(name):
                answer = to_units(self.prices[asset], FEED_DECIMALS)
                await batch.send(
                    sender,
                    c[name].address,
                    c[name].encode_abi("updateAnswer", args=[answer]),
                    label=f"{name}.updateAnswer",
                )
        if c.has("VolFeed"):
            vf = c["VolFeed"]
            for asset, token in UNDERLYING_TOKEN.items():
                if not c.has(token):
                    continue
                underlying = c[token].address
                for expiry in await vf.functions.expiries(underlying).call():
                    if int(expiry) <= now + 60:  # expired (or about to): setSlice would revert
                        continue
                    tau = Decimal(int(expiry) - now) / Decimal(YEAR)
                    a, b, rho, m, sigma = svi_slice(self.vols[asset], tau)
                    fwd = to_units(self.prices[asset], 18)
                    args = [underlying, int(expiry), a, b, rho, m, sigma, fwd]
                    await batch.send(
                        sender, vf.address, vf.encode_abi("setSlice", args=args), label="setSlice"
                    )
        if c.has("MockPyth"):
            key = str(c.entries["MockPyth"].address)
            pt = max(now + 1, self._pyth_time.get(key, 0) + 1)  # MockPyth ignores non-increasing times
            self._pyth_time[key] = pt
            await push_pyth(
                c["MockPyth"], batch, sender, {a: self.prices[a] for a in ("ETH", "BTC", "USDC")}, pt
            )
        await batch.flush()

    async def push_raw_answer(self, asset: str, answer: int, *, chains: Sequence[str] | None = None) -> None:
        """Fault injection: write `answer` (feed units, may be zero or negative — the feeds accept it, like a
        misbehaving Chainlink aggregator) as a new round of `asset`'s price feed. The driver's market is not
        changed: the next `push()` writes the real price again."""
        feed = next((n for n, (a, _) in PRICE_FEEDS.items() if a == asset), None)
        if feed is None:
            raise ValueError(f"no price feed for {asset!r} (have: {', '.join(a for a, _ in PRICE_FEEDS.values())})")
        for name in list(chains) if chains is not None else list(self._chains):
            c = self.chain(name)
            if not c.has(feed):
                continue
            batch = TxBatch(c.w3, gas=300_000)
            await batch.send((await c.w3.eth.accounts)[0], c[feed].address,
                             c[feed].encode_abi("updateAnswer", args=[answer]), label=f"{feed}.updateAnswer")
            await batch.flush()

    async def push_pyth_confidence(self, conf_bps: int, *, chains: Sequence[str] | None = None) -> None:
        """Fault injection: a new MockPyth round at the driver's current prices whose confidence interval is
        `conf_bps` of the price (a normal push uses 5 bps; a blow-out is hundreds). The next `push()` writes the
        normal confidence again."""
        if conf_bps < 0:
            raise ValueError(f"conf_bps must be >= 0, got {conf_bps}")
        for name in list(chains) if chains is not None else list(self._chains):
            c = self.chain(name)
            if not c.has("MockPyth"):
                continue
            key = str(c.entries["MockPyth"].address)
            pt = max(await chain_now(c.w3) + 1, self._pyth_time.get(key, 0) + 1)
            self._pyth_time[key] = pt
            pyth = c["MockPyth"]
            data = [pyth_update_data(c.w3, a, self.prices[a], pt, conf_bps) for a in ("ETH", "BTC", "USDC")]
            batch = TxBatch(c.w3, gas=500_000)
            await batch.send((await c.w3.eth.accounts)[0], pyth.address, pyth.encode_abi("updatePriceFeeds", args=[data]),
                             value=PYTH_UPDATE_FEE_WEI * len(data), label="MockPyth.updatePriceFeeds")
            await batch.flush()

    async def run_path(self, path: Sequence[Mapping[str, Decimal]], *, dt_seconds: int = 0) -> None:
        """Push each step (advancing time by ``dt_seconds`` before each one when > 0)."""
        for step in path:
            if dt_seconds > 0:
                await self.advance_time(dt_seconds, push=False)
            await self.push(step)

    async def crash(self, drop: Decimal = Decimal("0.30"), steps: int = 5) -> None:
        await self.run_path(crash_path(self.prices, drop, steps))

    async def vol_spike(self, multiplier: Decimal = Decimal(2)) -> None:
        """Multiply every ATM vol (SVI slices rewritten on every chain)."""
        if multiplier <= 0:
            raise ValueError(f"vol multiplier must be positive, got {multiplier}")
        await self.push(vols={a: v * multiplier for a, v in self.vols.items()})

    async def set_sequencer(self, chain: str, *, down: bool) -> None:
        """Report the L2 sequencer down/up on ``chain`` (status change stamped with the chain's clock)."""
        c = self.chain(chain)
        if not c.has("SequencerUptimeFeed"):
            raise DevnetError(f"{chain} has no SequencerUptimeFeed (only L2s do)")
        feed = c["SequencerUptimeFeed"]
        batch = TxBatch(c.w3, gas=300_000)
        now = await chain_now(c.w3)
        sender = (await c.w3.eth.accounts)[0]
        await batch.send(
            sender, feed.address, feed.encode_abi("updateStatus", args=[down, now]), label="updateStatus"
        )
        await batch.flush()

    # -------------------------------------------------------------- time

    async def advance_time(self, seconds: int, *, push: bool = True) -> None:
        """Move every chain's clock forward (EVM: the next block `seconds` after the latest one, then mined;
        Solana: admin API), then re-push the current market so feeds are fresh at the new time.

        `evm_setNextBlockTimestamp` rather than `evm_increaseTime`: it also works under
        :meth:`block_time_steps` (anvil ignores increaseTime there) and moves exactly `seconds` of chain time."""
        if seconds <= 0:
            raise ValueError(f"seconds must be positive, got {seconds}")

        async def evm(c: ChainContracts) -> None:
            await _rpc(c.w3, "evm_setNextBlockTimestamp", [await chain_now(c.w3) + seconds])
            await _rpc(c.w3, "evm_mine", [])

        jobs: list[Any] = [evm(c) for c in self._chains.values()]
        if self.solana_url is not None:
            from chains.devnet.solana.admin_client import SolanaAdmin

            async def sol() -> None:
                async with SolanaAdmin(self.solana_url) as admin:  # type: ignore[arg-type]
                    await admin.advance_time(seconds)

            jobs.append(sol())
        await asyncio.gather(*jobs)
        if push:
            await self.push()

    async def block_time_steps(self, seconds: int = 1) -> None:
        """Every new block on every EVM chain is `seconds` after the previous one, whatever the wall clock does:
        chain time becomes a function of the blocks mined and of explicit advances, so a seeded scenario sees
        the same auction clocks however fast the machine is."""
        for c in self._chains.values():
            await _rpc(c.w3, "anvil_setBlockTimestampInterval", [seconds])

    async def advance_to(self, timestamp: int, *, push: bool = True) -> None:
        """Bring every EVM chain to at least ``timestamp`` (e.g. an expiry); Solana follows the furthest move."""
        moves = {n: timestamp - await chain_now(c.w3) for n, c in self._chains.items()}
        for n, delta in moves.items():
            if delta > 0:
                c = self._chains[n]
                await _rpc(c.w3, "evm_setNextBlockTimestamp", [timestamp])
                await _rpc(c.w3, "evm_mine", [])
        if self.solana_url is not None and moves and max(moves.values()) > 0:
            from chains.devnet.solana.admin_client import SolanaAdmin

            async with SolanaAdmin(self.solana_url) as admin:
                clock = await admin.get_clock()
                if clock.unix_timestamp < timestamp:
                    await admin.advance_time(timestamp - clock.unix_timestamp)
        if push:
            await self.push()

    # -------------------------------------------------------------- liquidations

    async def is_liquidatable(self, target: LiquidationTarget) -> bool:
        """The contracts' own verdict: VaultOptions.isLiquidatable / PortfolioMargin MM < 0."""
        if target.kind == "vault":
            return bool(
                await self.chain("ethereum")["VaultOptions"].functions.isLiquidatable(target.id).call()
            )
        mm, _ = (
            await self.chain("arbitrum")["PortfolioMargin"]
            .functions.getMarginAndMarkToMarket(target.id)
            .call()
        )
        return int(mm) < 0

    async def make_liquidatable(
        self,
        targets: Sequence[LiquidationTarget],
        *,
        direction: Literal["down", "up"] = "down",
        max_move: Decimal = Decimal("0.9"),
        iterations: int = 8,
    ) -> Decimal:
        """Apply the smallest common move of the risky prices (found to within 2^-iterations of the bracket)
        that makes every target liquidatable; returns the factor applied. Trials run on anvil snapshots, so
        only the final move leaves oracle rounds behind."""
        if not targets:
            raise ValueError("make_liquidatable needs at least one target")
        chains = sorted({"ethereum" if t.kind == "vault" else "arbitrum" for t in targets})
        base = dict(self.prices)

        def factor(x: Decimal) -> Decimal:
            return 1 - x if direction == "down" else 1 + x

        async def trial(x: Decimal) -> bool:
            snaps = {n: await _rpc(self.chain(n).w3, "evm_snapshot", []) for n in chains}
            try:
                await self.push(scaled(base, factor(x)), chains=chains)
                return all([await self.is_liquidatable(t) for t in targets])
            finally:
                for n, s in snaps.items():
                    await _rpc(self.chain(n).w3, "evm_revert", [s])
                self.prices = dict(base)

        lo, hi = Decimal(0), None
        for x in (
            Decimal("0.02"),
            Decimal("0.05"),
            Decimal("0.1"),
            Decimal("0.2"),
            Decimal("0.3"),
            Decimal("0.5"),
            max_move,
        ):
            if x > max_move:
                break
            if await trial(x):
                hi = x
                break
            lo = x
        if hi is None:
            raise DevnetError(
                f"no {direction} move up to {max_move:.0%} makes all of {list(targets)} liquidatable"
            )
        for _ in range(iterations):
            mid = (lo + hi) / 2
            if await trial(mid):
                hi = mid
            else:
                lo = mid
        await self.push(scaled(base, factor(hi)))
        still = [t for t in targets if not await self.is_liquidatable(t)]
        if still:
            raise DevnetError(f"after a {hi:.4f} move {still} are still not liquidatable")
        return factor(hi)


async def _discard(aw: Awaitable[Any]) -> None:
    await aw


async def _rpc(w3: AsyncWeb3, method: str, params: list[Any]) -> Any:
    reply = await w3.provider.make_request(RPCEndpoint(method), params)
    if "error" in reply:
        raise DevnetError(f"{method} failed: {reply['error']}")
    return reply.get("result")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m chains.devnet.driver [--dir devnet] push|crash|vol-spike|advance|liquidate ...``"""
    import argparse

    from chains.devnet.manifest import ManifestError, load_manifest
    from chains.devnet.seed import load_seed_report

    p = argparse.ArgumentParser(prog="python -m chains.devnet.driver", description=main.__doc__)
    p.add_argument("--dir", default="devnet", help="devnet directory (holds manifest.json)")
    sub = p.add_subparsers(dest="cmd", required=True)
    push = sub.add_parser("push", help="set prices, e.g. push ETH=2900 BTC=58000")
    push.add_argument("prices", nargs="+", metavar="ASSET=PRICE")
    crash = sub.add_parser("crash", help="scripted crash of every risky asset")
    crash.add_argument("--drop", type=Decimal, default=Decimal("0.30"))
    crash.add_argument("--steps", type=int, default=5)
    spike = sub.add_parser("vol-spike", help="multiply every ATM vol")
    spike.add_argument("--multiplier", type=Decimal, default=Decimal(2))
    adv = sub.add_parser("advance", help="advance every chain's clock")
    adv.add_argument("seconds", type=int)
    sub.add_parser("liquidate", help="make the seed report's fragile accounts liquidatable")
    fund = sub.add_parser("fund", help="give an address ETH and USDC on every EVM chain (e.g. the keeper)")
    fund.add_argument("address")
    fund.add_argument("--usdc", type=Decimal, default=Decimal(2_000_000))
    fund.add_argument("--eth", type=Decimal, default=Decimal(100))
    args = p.parse_args(argv)

    async def run(drv: MarketDriver) -> str:
        if args.cmd == "push":
            prices = {}
            for item in args.prices:
                asset, _, value = item.partition("=")
                prices[asset.upper()] = Decimal(value)
            await drv.push(prices)
        elif args.cmd == "crash":
            await drv.crash(args.drop, args.steps)
        elif args.cmd == "vol-spike":
            await drv.vol_spike(args.multiplier)
        elif args.cmd == "advance":
            await drv.advance_time(args.seconds)
        elif args.cmd == "fund":
            chains = await drv.fund(args.address, args.usdc, args.eth)
            return f"funded {args.address} with {args.usdc} USDC and {args.eth} ETH on {', '.join(chains)}"
        else:
            factor = await drv.make_liquidatable(fragile_targets(load_seed_report(args.dir)))
            return f"applied a ×{factor:.4f} move"
        return f"prices {dict(drv.prices)}"

    async def go() -> str:
        async with MarketDriver(load_manifest(args.dir, require_running=True)) as drv:
            return await run(drv)

    try:
        print(asyncio.run(go()))
    except (ManifestError, DevnetError, ValueError, ArithmeticError, FileNotFoundError) as exc:
        print(f"driver: error: {exc}")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
