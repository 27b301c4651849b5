"""The risk core's margin mirrors equal the contracts' own views on every seeded devnet account (issue #6).

Real anvils with every protocol deployed, ``seed_devnet`` (12 wallets, seed 6), read through the real adapters at
one pinned block, converted by ``chains.risk_inputs`` and compared with the contracts' views at that same block:
seeded; "just liquidatable" (driver.make_liquidatable on the fragile PM accounts) with a solvent auction 10 and
35 min in; after a 30 % crash (vault auctions from the first unsafe round, the now stale solvent auction); after a
2× vol spike (an insolvent auction); past the seeded expiry (expired positions at spot, then at a fixed
settlement price). The OptionAMM pool's NAV / delta / gamma / vega are checked against risk's Black-76 too, and
the distance-to-liquidation solvers are bracketed by the contracts (spot just short of / just beyond the move).

Tolerance: |mirror − contract| <= 1e-9·|contract| + floor, floor = 1e-6 USD. Why a floor: VaultOptions rounds
requirements UP to whole USDC units (1e-6 USD), so a 500 USD requirement can differ from the exact value by
2e-9 relative through rounding alone; PortfolioMargin rounds every product to 1 wei and ends auctions within
AUCTION_DUST = 1e-6 USD. Per-option margins (``marginPerOption``, 1e18, no USDC rounding) are held to 1e-9
relative with a 1e-12 USD floor. The worst relative error of every quantity is printed (``pytest -s``).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from eth_utils import keccak
from web3 import AsyncWeb3
from web3.exceptions import ContractCustomError

from chains.devnet.driver import MarketDriver, fragile_targets
from chains.devnet.multicall import install_multicall3
from chains.devnet.seed import seed_devnet
from chains.evm.rpc import RawRpc
from chains.model import OptionType, Underlying, from_base_units
from chains.protocols.option_amm import POOL_ACCOUNT, OptionAmmAdapter
from chains.protocols.portfolio_margin import PortfolioMarginAdapter
from chains.protocols.vault_options import VaultOptionsAdapter
from chains.risk_inputs import PMInputs, VaultInputs, chainlink_spots, pm_inputs, vault_inputs
from risk.margin import (
    VaultReason,
    bid_price,
    buffer_margin,
    discount,
    first_unsafe_round,
    insolvent_payout,
    max_bid_fraction,
    pm_distance,
    pm_margin,
    vault_auction_price,
    vault_distance,
    vault_margin,
)
from risk.pricing import black76
from risk.svi import implied_vol as svi_vol
from risk.svi import tau_years
from tests.chains.devnet.test_protocols_deploy import OUT, ROOT, build_devnet, needs_artifacts

REL = 1e-9
FLOOR_USD = 1e-6  # one USDC unit (VaultOptions rounding) = AUCTION_DUST (PortfolioMargin)
FLOOR_PER_OPTION = 1e-12
WAD = 10**18
WALLETS, SEED = 12, 6
ROUND_DID_NOT_MAKE_UNSAFE = "0x" + keccak(text="RoundDidNotMakeVaultUnsafe(uint80,uint256,uint256)")[:4].hex()
NOT_FIRST_UNSAFE = "0x" + keccak(text="NotFirstUnsafeRound(uint80,uint80)")[:4].hex()
SERIES_EXPIRED = "0x" + keccak(text="SeriesExpired(uint256,uint64)")[:4].hex()


class Worst:
    """Worst relative error per quantity, |m − c| / max(|c|, floor), plus the pass/fail check."""

    def __init__(self) -> None:
        self.err: dict[str, float] = defaultdict(float)
        self.count: dict[str, int] = defaultdict(int)
        self.abs: dict[str, float] = defaultdict(float)

    def check(
        self, name: str, mirror: float, contract: float, floor: float = FLOOR_USD, where: str = ""
    ) -> None:
        diff = abs(mirror - contract)
        self.err[name] = max(self.err[name], diff / max(abs(contract), floor))
        self.count[name] += 1
        self.abs[name] = max(self.abs[name], diff)
        assert math.isfinite(mirror), f"{name} {where}: mirror gave {mirror}"
        assert diff <= REL * abs(contract) + floor, (
            f"{name} {where}: mirror {mirror!r} vs contract {contract!r}"
        )

    def table(self) -> str:
        return "\n".join(
            f"  {k:<28} n={self.count[k]:<4} worst rel err {v:.3e}  max abs diff {self.abs[k]:.3e}"
            for k, v in sorted(self.err.items())
        )


class Probe:
    """Reads both protocols at one block through the adapters and compares mirrors with the contract views."""

    def __init__(self, dn: Any, report: dict[str, Any], worst: Worst) -> None:
        self.eth, self.arb = dn.c("ethereum"), dn.c("arbitrum")
        self.vo_ad = VaultOptionsAdapter(
            "ethereum", RawRpc(dn.w3["ethereum"]), self.eth["VaultOptions"].address
        )
        self.pm_ad = PortfolioMarginAdapter(
            "arbitrum", RawRpc(dn.w3["arbitrum"]), self.arb["PortfolioMargin"].address
        )
        self.vaults = [str(v["vault_id"]) for v in report["vault_options"]["vaults"]]
        self.accounts = [str(a["account_id"]) for a in report["portfolio_margin"]["accounts"]]
        self.accounts.append(str(report["portfolio_margin"]["house_account"]))
        self.worst = worst
        self.exact_usdc = 0
        self.refused_rounds = 0  # neighbours of the mirror's first unsafe round that the contract refused

    async def vault_state(self) -> tuple[VaultInputs, int]:
        w3: AsyncWeb3 = self.eth.w3
        block = int(await w3.eth.block_number)
        now = int((await w3.eth.get_block(block))["timestamp"])
        states = await self.vo_ad.read(self.vaults, block)
        readings = await self.vo_ad.oracles(block)
        return vault_inputs(states, readings, now), block

    async def check_vaults(self, phase: str) -> int:
        """Every vault: requirement, headroom, liquidatable, per-option margin; returns # liquidatable."""
        vin, block = await self.vault_state()
        got = vault_margin(vin.book)
        vo = self.eth["VaultOptions"]
        b = vin.book
        liquidatable = expired = 0
        for i, vid in enumerate(vin.account_ids):
            where = f"{phase} vault {vid} @ {block}"
            liq = bool(await vo.functions.isLiquidatable(int(vid)).call(block_identifier=block))
            assert bool(got.liquidatable[i]) == liq, (
                f"{where}: mirror liquidatable {got.liquidatable[i]} vs {liq}"
            )
            liquidatable += liq
            if got.reasons[i] & VaultReason.EXPIRED:  # the contract refuses to margin an expired series
                assert math.isnan(got.requirement[i]) and not liq
                with pytest.raises(ContractCustomError, match=SERIES_EXPIRED):
                    await vo.functions.requirement(int(vid)).call(block_identifier=block)
                expired += 1
                continue
            req = int(await vo.functions.requirement(int(vid)).call(block_identifier=block))
            head = int(await vo.functions.headroom(int(vid)).call(block_identifier=block))
            self.worst.check("vault requirement", float(got.requirement[i]), req / 1e6, where=where)
            # rounded up to whole USDC units as the contract does, the mirror gives the contract's integer
            units = float(got.requirement[i]) * 1e6  # (± float noise of 1e-3 units around a whole unit)
            assert math.ceil(units - 1e-3) <= req <= math.ceil(units + 1e-3), f"{where}: {units} vs {req}"
            self.exact_usdc += 1
            self.worst.check("vault headroom", float(got.headroom[i]), head / 1e6, where=where)
            (row,) = np.flatnonzero(b.vault == i)
            spot_e18 = int(Decimal(repr(float(b.spot[row]))) * WAD)
            per = int(
                await vo.functions.marginPerOption(
                    not bool(b.is_call[row]),
                    int(Decimal(repr(float(b.strike[row]))) * WAD),
                    spot_e18,
                    int(b.tau_seconds[row]),
                ).call(block_identifier=block)
            )
            self.worst.check(
                "vault per-option margin",
                float(got.requirement[i] / b.amount[row]),
                per / 1e18,
                FLOOR_PER_OPTION,
                where,
            )
        self.expired_vaults = expired
        return liquidatable

    async def pm_state(self, block: int | None = None) -> tuple[PMInputs, int]:
        w3: AsyncWeb3 = self.arb.w3
        block = int(await w3.eth.block_number) if block is None else block
        now = int((await w3.eth.get_block(block))["timestamp"])
        states = await self.pm_ad.read(self.accounts, block)
        readings = await self.pm_ad.oracles(block)
        pm = self.arb["PortfolioMargin"]
        settlements: dict[tuple[Underlying, int], Decimal] = {}
        for st in (
            states
        ):  # fixed settlement prices of every held (underlying, expiry), as the contract stores them
            for pos in st.positions:
                series = self.pm_ad.series[int(pos.instrument.venue_id.split(":")[1])]
                key = (pos.instrument.underlying, int(series.expiry))
                if key not in settlements:
                    px = await pm.functions.settlementPrice(series.underlying, series.expiry).call(
                        block_identifier=block
                    )
                    settlements[key] = from_base_units(int(px), 18)
        inputs = pm_inputs(states, readings, now, {k: v for k, v in settlements.items() if v > 0})
        self.settlements = settlements
        for s in states:  # the adapter read MM/MtM in the same multicall as the positions
            assert "mm" in s.params, f"account {s.account_id}: contract could not compute MM at {block}"
        self._params = {s.account_id: s.params for s in states}
        self._states = states
        return inputs, block

    async def check_pm(self, phase: str) -> list[str]:
        """Every subaccount: MM, MtM, buffer margin; returns the accounts with MM < 0."""
        pin, block = await self.pm_state()
        got = pm_margin(pin.book)
        pm = self.arb["PortfolioMargin"]
        under: list[str] = []
        for i, aid in enumerate(pin.account_ids):
            where = f"{phase} account {aid} @ {block}"
            mm, mtm = (float(self._params[aid][k]) for k in ("mm", "mtm"))
            self.worst.check("pm MM", float(got.mm[i]), mm, where=where)
            self.worst.check("pm MtM", float(got.mtm[i]), mtm, where=where)
            bm = int(await pm.functions.getBufferMargin(int(aid)).call(block_identifier=block)) / 1e18
            self.worst.check("pm buffer margin", float(buffer_margin(got.mm[i], got.mtm[i])), bm, where=where)
            assert (got.mm[i] < 0) == (mm < 0), (
                f"{where}: liquidatable differs (mirror {got.mm[i]}, contract {mm})"
            )
            if mm < 0:
                under.append(aid)
        # marks: every held series' mirror mark vs markOf at the same block (rows follow the states' order)
        venue = [p.instrument.venue_id for s in self._states for p in s.positions]
        assert len(venue) == got.marks.shape[0]
        for sid_key in sorted(set(venue)):
            row = venue.index(sid_key)
            sid = int(sid_key.split(":")[1])
            onchain = int(await pm.functions.markOf(sid).call(block_identifier=block)) / 1e18
            self.worst.check(
                "pm mark (markOf)", float(got.marks[row]), onchain, FLOOR_PER_OPTION, f"{phase} series {sid}"
            )
        return under

    async def check_vault_auction(self, driver_rounds: Sequence[int]) -> None:
        """Liquidatable vaults: the mirror's first unsafe round is the one the contract accepts, same price."""
        vin, block = await self.vault_state()
        w3: AsyncWeb3 = self.eth.w3
        now = int((await w3.eth.get_block(block))["timestamp"])
        feed = self.eth["ETH_USD"]
        states = await self.vo_ad.read(list(vin.account_ids), block)
        last_action = max(int(st.params["last_update"]) for st in states)
        rounds = [await feed.functions.getRoundData(r).call(block_identifier=block) for r in driver_rounds]
        keep = [
            k for k, r in enumerate(rounds) if int(r[3]) > last_action
        ]  # the contract ignores older rounds
        assert len(keep) >= 2
        driver_rounds = [driver_rounds[k] for k in keep]
        rounds = [rounds[k] for k in keep]
        spots = [int(r[1]) / 1e8 for r in rounds]
        ages = [now - int(r[3]) for r in rounds]
        first = first_unsafe_round(vin.book, spots, ages)
        got = vault_margin(vin.book)
        vo = self.eth["VaultOptions"]
        checked = 0
        for i, vid in enumerate(vin.account_ids):
            if not got.liquidatable[i]:
                assert first[i] < 0
                continue
            assert first[i] >= 0, (
                f"vault {vid} is liquidatable but no crash round made it unsafe in the mirror"
            )
            r = int(first[i])
            price = int(
                await vo.functions.auctionPrice(int(vid), driver_rounds[r]).call(block_identifier=block)
            )
            (row,) = np.flatnonzero(vin.book.vault == i)
            mirror = vault_auction_price(
                ages[r],
                spots[r],
                vin.book.strike[row],
                vin.book.is_call[row],
                vin.book.collateral[i],
                vin.book.amount[row],
            )
            self.worst.check(
                "vault auction price", float(mirror), price / 1e18, FLOOR_PER_OPTION, f"vault {vid}"
            )
            if r > 0:  # the round before was safe: the contract must refuse it
                with pytest.raises(ContractCustomError, match=ROUND_DID_NOT_MAKE_UNSAFE):
                    await vo.functions.auctionPrice(int(vid), driver_rounds[r - 1]).call(
                        block_identifier=block
                    )
                self.refused_rounds += 1
            if r + 1 < len(driver_rounds):  # the next round is not the first unsafe one
                with pytest.raises(ContractCustomError, match=NOT_FIRST_UNSAFE):
                    await vo.functions.auctionPrice(int(vid), driver_rounds[r + 1]).call(
                        block_identifier=block
                    )
                self.refused_rounds += 1
            checked += 1
        assert checked > 0, "no liquidatable vault to auction"


@needs_artifacts
async def test_mirrors_equal_contract_views_on_every_seeded_account(
    anvil_factory: Any, tmp_path: Path
) -> None:
    worst = Worst()
    async with build_devnet(anvil_factory, tmp_path) as dn:
        for name, w3 in dn.w3.items():
            await install_multicall3(w3, root=ROOT, chain=name)
        report = await seed_devnet(dn.manifest, wallets=WALLETS, seed=SEED, root=ROOT, out_dir=OUT)
        probe = Probe(dn, report, worst)
        assert len(probe.vaults) == WALLETS and len(probe.accounts) == WALLETS + 1

        assert await probe.check_vaults("seeded") == 0
        assert await probe.check_pm("seeded") == []
        await _check_amm(dn, worst, "seeded")
        print(
            f"distance to liquidation bracketed by the contracts for {await _check_distances(dn, probe)} accounts"
        )

        feed = dn.c("ethereum")["ETH_USD"]
        first_round = int(await feed.functions.latestRound().call()) + 1  # rounds after the seeding
        async with MarketDriver(dn.manifest, root=ROOT, out_dir=OUT) as drv:
            # just liquidatable (MM < 0 < MtM): a solvent auction
            targets = [t for t in fragile_targets(report) if t.kind == "portfolio"]
            await drv.make_liquidatable(targets)
            under = await probe.check_pm("just liquidatable")
            await probe.check_vaults("just liquidatable")
            assert sorted(under) == sorted(str(t.id) for t in targets)
            await _check_solvent_auction(dn, probe, drv, under)

            await drv.crash(Decimal("0.30"), steps=3)
            rounds = list(range(first_round, int(await feed.functions.latestRound().call()) + 1))
            assert await probe.check_vaults("crash") > 0
            assert await probe.check_pm("crash")
            await probe.check_vault_auction(rounds)
            assert probe.refused_rounds > 0
            await _check_amm(dn, worst, "crash")
            # the solvent auction started above, after the crash (MtM may now be <= 0: a stale solvent auction)
            await _check_running_auction(dn, probe, probe.solvent_auction, "crash")

            await drv.vol_spike(Decimal(2))
            await probe.check_vaults("vol spike")
            under = await probe.check_pm("vol spike")
            await _check_insolvent_auction(dn, probe, drv, under)
            await _check_amm(dn, worst, "vol spike")
            await _check_expiry(dn, probe, drv, report)
    print("\nmirror vs contract, worst relative error per quantity:\n" + worst.table())
    print(f"vault requirements equal to the contract's USDC integer after ceil: {probe.exact_usdc}")


async def _start_auction(dn: Any, aid: int) -> None:
    pm = dn.c("arbitrum")["PortfolioMargin"]
    w3: AsyncWeb3 = dn.w3["arbitrum"]
    sender = (await w3.eth.accounts)[0]
    tx = await w3.eth.send_transaction(
        {
            "from": sender,
            "to": pm.address,  # type: ignore[typeddict-item]
            "data": pm.encode_abi("startAuction", args=[aid]),
        }
    )
    assert (await w3.eth.wait_for_transaction_receipt(tx))["status"] == 1


async def _auction_block(dn: Any, probe: Probe, aid: int) -> tuple[PMInputs, int, int, int, bool]:
    """Mirror inputs at the head block, the account's row, block, seconds since the auction start, insolvent."""
    pm = dn.c("arbitrum")["PortfolioMargin"]
    pin, block = await probe.pm_state()
    now = pin.now
    active, insolvent, start = await pm.functions.getAuction(aid).call(block_identifier=block)
    assert active
    return pin, pin.account_ids.index(str(aid)), block, now - int(start), bool(insolvent)


async def _check_solvent_auction(dn: Any, probe: Probe, drv: MarketDriver, under: list[str]) -> None:
    """Discount, max fraction and bid price vs the contract at one block, in the fast and in the slow leg."""
    pin, _ = await probe.pm_state()
    got = pm_margin(pin.book)
    solvent = [a for a in under if got.mtm[pin.account_ids.index(a)] > 0]
    assert solvent, "expected a liquidatable account with positive MtM"
    aid = int(solvent[0])
    await _start_auction(dn, aid)
    for wait_s in (600, 1500):  # 10 min: fast leg (0.95 → 0.70); 35 min: slow leg (0.70 → 0)
        await drv.advance_time(wait_s)
        f_chain = await _check_running_auction(dn, probe, aid, f"solvent, +{wait_s}s")
        assert 0 < f_chain < 1
    probe.solvent_auction = aid


async def _check_running_auction(dn: Any, probe: Probe, aid: int, phase: str) -> float:
    """Discount, max bid fraction and bid price of a running solvent auction vs the views at the head block."""
    pm = dn.c("arbitrum")["PortfolioMargin"]
    pin, i, block, t, insolvent = await _auction_block(dn, probe, aid)
    assert not insolvent
    got = pm_margin(pin.book)
    where = f"{phase} account {aid} t={t}"
    d = float(discount(t))
    d_chain = int(await pm.functions.currentDiscount(aid).call(block_identifier=block)) / 1e18
    probe.worst.check("auction discount", d, d_chain, 1e-18, where)
    f = float(max_bid_fraction(got.mm[i], got.mtm[i], d, insolvent))
    f_chain = int(await pm.functions.maxBidFraction(aid).call(block_identifier=block)) / 1e18
    probe.worst.check("auction max fraction", f, f_chain, 1e-12, where)
    print(f"{where}: MM {got.mm[i]:.2f} MtM {got.mtm[i]:.2f} d {d:.4f} max fraction {f_chain:.6f}")
    for frac in {f_chain, 0.25} - {0.0}:
        p_chain = int(await pm.functions.bidPrice(aid, int(frac * 1e18)).call(block_identifier=block)) / 1e18
        mirror = float(bid_price(frac, got.mtm[i], d))
        probe.worst.check("auction bid price (solvent)", mirror, p_chain, where=f"{where} f={frac}")
    return f_chain


async def _check_insolvent_auction(dn: Any, probe: Probe, drv: MarketDriver, under: list[str]) -> None:
    """An insolvent auction (MtM <= 0): max fraction 1, security-module payout vs the mirror, 20 min in."""
    pm = dn.c("arbitrum")["PortfolioMargin"]
    pin, block = await probe.pm_state()
    got = pm_margin(pin.book)
    free = []
    for a in under:
        active, _, _ = await pm.functions.getAuction(int(a)).call(block_identifier=block)
        if not active and got.mtm[pin.account_ids.index(a)] <= 0:
            free.append(a)
    assert free, "expected an under-water account (MtM <= 0) not yet in auction"
    aid = int(free[0])
    await _start_auction(dn, aid)
    await drv.advance_time(1200)
    pin, i, block, t, insolvent = await _auction_block(dn, probe, aid)
    assert insolvent
    got = pm_margin(pin.book)
    assert int(await pm.functions.maxBidFraction(aid).call(block_identifier=block)) == WAD
    for frac in (1.0, 0.5):
        p_chain = int(await pm.functions.bidPrice(aid, int(frac * WAD)).call(block_identifier=block)) / 1e18
        mirror = -float(insolvent_payout(frac, got.mm[i], got.mtm[i], t))
        print(f"insolvent auction t={t} f={frac}: payout contract {-p_chain!r} mirror {-mirror!r}")
        assert p_chain < 0  # the security module pays the bidder
        probe.worst.check("auction payout (insolvent)", mirror, p_chain, where=f"t={t} f={frac}")


async def _check_expiry(dn: Any, probe: Probe, drv: MarketDriver, report: dict[str, Any]) -> None:
    """Past the seeded expiry: expired PM positions at spot, then at a fixed settlement price; vaults unmarginable."""
    expiry = min(v["expiry"] for v in report["vault_options"]["vaults"])
    await drv.advance_to(expiry + 60)
    assert await probe.check_vaults("expired") == 0 and probe.expired_vaults == WALLETS
    await probe.check_pm("expired, no settlement price")
    assert await _check_amm(dn, probe.worst, "expired") > 0  # expired, unsettled series at intrinsic
    assert all(px == 0 for px in probe.settlements.values())
    # one settlement fixes the price for every holder of that expiry; then the spot moves away from it
    acc = report["portfolio_margin"]["accounts"][0]
    sid = int(next(iter(acc["positions"])))
    pm = dn.c("arbitrum")["PortfolioMargin"]
    w3: AsyncWeb3 = dn.w3["arbitrum"]
    sender = (await w3.eth.accounts)[0]
    tx = await w3.eth.send_transaction(
        {
            "from": sender,
            "to": pm.address,
            "data": pm.encode_abi("settleExpired", args=[acc["account_id"], sid]),
        }  # type: ignore[typeddict-item]
    )
    assert (await w3.eth.wait_for_transaction_receipt(tx))["status"] == 1
    await drv.push({"ETH": drv.prices["ETH"] * Decimal("1.1")})
    pin, _ = await probe.pm_state()
    assert any(px > 0 for px in probe.settlements.values())
    assert any(float(s) != pin.book.spot[0] for s in pin.book.slice_settlement if s > 0)
    await probe.check_pm("expired, settlement fixed")


async def _check_amm(dn: Any, worst: Worst, phase: str) -> int:
    """OptionAMM pool: NAV, liability, netDelta, gamma, vega vs risk's Black-76 at the SVI vol (AMM README).

    NAV = USDC + WETH·F − Σ OI·mark; delta = −Σ OI·Δ + WETH; F = the Chainlink spot; vol from the SVI slice
    (log-moneyness against the slice forward); an expired, unsettled series is worth its intrinsic value at F
    with delta 1, ½, 0 (calls) / −1, −½, 0 (puts) and no gamma or vega.
    """
    w3: AsyncWeb3 = dn.w3["base"]
    ad = OptionAmmAdapter("base", RawRpc(w3), dn.c("base")["OptionAMM"].address)
    block = int(await w3.eth.block_number)
    now = int((await w3.eth.get_block(block))["timestamp"])
    (pool,) = await ad.read([POOL_ACCOUNT], block)
    readings = await ad.oracles(block)
    f = float(chainlink_spots(readings)[Underlying.ETH])
    slices = {int(sl.expiry.timestamp()): sl for sl in readings.vol_slices if sl.asset is Underlying.ETH}
    assert pool.positions, "the seeded pool should be short some open interest"
    oi = np.array([float(-p.size) for p in pool.positions])
    strike = np.array([float(p.instrument.strike) for p in pool.positions])  # type: ignore[arg-type]
    is_call = np.array([p.instrument.option_type is OptionType.CALL for p in pool.positions])
    expiry = np.array([int(p.instrument.expiry.timestamp()) for p in pool.positions])  # type: ignore[union-attr]
    live = expiry > now
    tau = np.where(live, tau_years(expiry, now), 1.0)
    vol = np.full(oi.shape, 0.5)
    for k in np.flatnonzero(live):
        sl = slices[int(expiry[k])]
        vol[k] = svi_vol(
            strike[k], float(sl.forward), tau[k], *(float(x) for x in (sl.a, sl.b, sl.rho, sl.m, sl.sigma))
        )
    g = black76(is_call, f, strike, tau, 0.0, vol)
    intrinsic = np.where(is_call, np.maximum(f - strike, 0.0), np.maximum(strike - f, 0.0))
    itm = np.where(f > strike, 1.0, np.where(f == strike, 0.5, 0.0))
    mark = np.where(live, g.price, intrinsic)
    delta = np.where(live, g.delta, np.where(is_call, itm, itm - 1.0))
    usdc, weth = float(pool.collateral["USDC"]), float(pool.collateral["WETH"])
    liability = float(np.sum(oi * mark))
    c_nav = pool.params["nav"]
    c_liability = float(pool.collateral["USDC"] + pool.collateral["WETH"] * Decimal(repr(f)) - c_nav)
    worst.check("amm NAV", usdc + weth * f - liability, float(c_nav), where=phase)
    worst.check("amm liability (Σ OI·mark)", liability, c_liability, where=phase)
    worst.check("amm netDelta", float(weth - np.sum(oi * delta)), float(pool.params["delta"]), 1e-12, phase)
    worst.check(
        "amm gamma",
        float(-np.sum(np.where(live, oi * g.gamma, 0.0))),
        float(pool.params["gamma"]),
        1e-12,
        phase,
    )
    worst.check(
        "amm vega", float(-np.sum(np.where(live, oi * g.vega, 0.0))), float(pool.params["vega"]), 1e-12, phase
    )
    return int(np.count_nonzero(~live))


async def _rpc(w3: AsyncWeb3, method: str, params: list[Any]) -> Any:
    reply = await w3.provider.make_request(method, params)  # type: ignore[arg-type]
    assert "error" not in reply, f"{method}: {reply['error']}"
    return reply["result"]


async def _send(w3: AsyncWeb3, fn: Any) -> None:
    sender = (await w3.eth.accounts)[0]
    tx = await fn.transact({"from": sender})
    assert (await w3.eth.wait_for_transaction_receipt(tx))["status"] == 1


async def _moved(dn: Any, chain: str, mult: float, read: Any) -> Any:
    """``read()`` after moving ETH spot (and, on arbitrum, every ETH slice's forward with the SVI smile shifted so
    each strike keeps its vol: m' = m − ln(mult)) by ``mult``, on a snapshot that is reverted afterwards."""
    c = dn.c(chain)
    w3: AsyncWeb3 = c.w3
    snap = await _rpc(w3, "evm_snapshot", [])
    try:
        feed = c["ETH_USD"]
        answer = int((await feed.functions.latestRoundData().call())[1])
        await _send(w3, feed.functions.updateAnswer(round(answer * mult)))
        if chain == "arbitrum":
            vf, weth = c["VolFeed"], c["WETH"].address
            now = int((await w3.eth.get_block("latest"))["timestamp"])
            for e in [int(x) for x in await vf.functions.expiries(weth).call() if int(x) > now + 60]:
                a, b, rho, m, sigma, fwd, _ = await vf.functions.getSlice(weth, e).call()
                shift = round(math.log(mult) * 1e18)
                await _send(
                    w3, vf.functions.setSlice(weth, e, a, b, rho, m - shift, sigma, round(fwd * mult))
                )
        return await read()
    finally:
        await _rpc(w3, "evm_revert", [snap])


async def _check_distances(dn: Any, probe: Probe) -> int:
    """Distance to liquidation vs the contracts: a spot move just short of the mirror's distance leaves the
    account safe, one just beyond makes it liquidatable (vault: ±1e-6 relative; PM: ±1e-5, as each trial
    transaction also moves the clock a few seconds). Returns how many accounts were bracketed."""
    vin, _ = await probe.vault_state()
    vd = vault_distance(vin.book)
    pin, _ = await probe.pm_state()
    pdist = pm_distance(pin.book)
    vo, pm = dn.c("ethereum")["VaultOptions"], dn.c("arbitrum")["PortfolioMargin"]
    bracketed = 0
    cases: list[tuple[str, str, float, float]] = []
    for i, vid in enumerate(vin.account_ids):
        for d, sign in ((vd.down[i], -1.0), (vd.up[i], 1.0)):
            if np.isfinite(d) and 0 < d < 0.9:
                cases.append(("ethereum", vid, 1.0 + sign * float(d), 1e-6))
    for i, aid in enumerate(pin.account_ids):
        for d, sign in ((pdist.down[i], -1.0), (pdist.up[i], 1.0)):
            if np.isfinite(d) and 0 < d < 0.9:
                cases.append(("arbitrum", aid, 1.0 + sign * float(d), 1e-5))
    assert {c[0] for c in cases} == {"ethereum", "arbitrum"}
    for chain, acc, m, eps in cases:
        inside, beyond = (m * (1 + eps), m * (1 - eps)) if m < 1 else (m * (1 - eps), m * (1 + eps))

        async def liquidatable(chain: str = chain, acc: str = acc) -> bool:
            if chain == "ethereum":
                return bool(await vo.functions.isLiquidatable(int(acc)).call())
            return int((await pm.functions.getMarginAndMarkToMarket(int(acc)).call())[0]) < 0

        assert not await _moved(dn, chain, inside, liquidatable), f"{chain} {acc}: liquidatable at {inside}"
        assert await _moved(dn, chain, beyond, liquidatable), f"{chain} {acc}: still safe at {beyond}"
        bracketed += 1
    return bracketed
