"""State for the hedger: its targets' deltas (the keeper entity across chains, each OptionAMM pool) and the
hedge venues' QuoterV2 quotes — plus the pure call builders that turn hedge intents into transactions.

Why the keeper's delta is computed here rather than taken from the engine's book: the hedge inventory is the
keeper's WETH on the venue chains, which no protocol adapter reads, and the hedger must see its own swap at the
next block. Options are valued Black-76 on the Chainlink price with zero rates (the OptionAMM's convention) at a
flat vol, the same vol the runner gives the risk book. The idempotency version of a target is a fingerprint of
its holdings and oracle price (never of the block or of time), so a pending hedge keeps the same key until the
state it answered has changed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from eth_utils import to_checksum_address
from loguru import logger

from bots.sources.evm import call, head
from bots.strategies.hedger import HedgerState, HedgeTarget, VenueQuote
from bots.strategies.intents import ActionIntent
from chains.model import AccountState, OptionType, Position, Underlying
from chains.protocols.abi import decode_exact, encode_call, selector
from chains.protocols.base import CallData, Rpc
from chains.protocols.option_amm import POOL_ACCOUNT, OptionAmmAdapter
from chains.protocols.uniswap_v3 import PoolSpec, UniswapV3Adapter
from risk.pricing import black76

WAD = 10**18
USDC = 10**6
YEAR_S = 365 * 24 * 3600
MIN_TAU = 1 / 365  # the band formulas need τ > 0; a day floors near-expiry books
ASSET = "ETH"


class HedgeSourceError(RuntimeError):
    """A venue or target cannot be read as configured; the message names which."""


@dataclass(frozen=True, slots=True)
class Venue:
    """One Uniswap V3 WETH/USDC pool the keeper may hedge on (a `uniswap_v3` protocol in the config)."""

    name: str
    adapter: UniswapV3Adapter
    weth: str
    usdc: str
    fee: int  # the pool's fee tier, hundredths of a basis point (500 = 0.05 %)

    @property
    def chain(self) -> str:
        return self.adapter.chain


async def venue_from_addresses(name: str, chain: str, rpc: Rpc, addresses: Mapping[str, str]) -> Venue:
    """A venue from a protocol's addresses (`SwapRouter`, `QuoterV2`, `WETH`, `USDC` and the pool, named
    `pool` or `UniswapV3Pool_WETH_USDC_500` as in the devnet manifest); the fee tier is read from the pool."""
    pool = addresses.get("pool") or addresses.get("UniswapV3Pool_WETH_USDC_500")
    need = {"SwapRouter": addresses.get("SwapRouter"), "QuoterV2": addresses.get("QuoterV2"),
            "WETH": addresses.get("WETH"), "USDC": addresses.get("USDC"), "pool": pool}
    missing = [k for k, v in need.items() if not v]
    if missing:
        raise HedgeSourceError(f"protocols.{name}.addresses: the hedge venue needs {', '.join(missing)}")
    weth, usdc = to_checksum_address(str(need["WETH"])), to_checksum_address(str(need["USDC"]))
    blk = await head(rpc)
    (fee,) = decode_exact(("uint24",), await call(rpc, str(pool), selector("fee()"), blk.number, f"{name}.fee()"),
                          f"{name}.fee()")
    spec = PoolSpec(str(pool), weth, usdc, 18, 6, Underlying.ETH)
    adapter = UniswapV3Adapter(chain, rpc, str(need["SwapRouter"]), str(need["QuoterV2"]), (spec,))
    return Venue(name, adapter, weth, usdc, int(fee))


def fingerprint(*parts: object) -> str:
    """A short stable digest of what a hedge answers (holdings and oracle price), for idempotency keys."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def option_greeks(positions: Sequence[Position], spot: float, now_s: int, vol: float) -> tuple[float, float]:
    """Net (delta, gamma) in ETH of option positions, Black-76 on spot at `vol`; past expiry the delta is
    intrinsic (1/0 for calls, −1/0 for puts) and gamma 0. Non-option holdings are not delta here."""
    delta = gamma = 0.0
    for p in positions:
        inst = p.instrument
        if inst.option_type is None or inst.strike is None or inst.expiry is None:
            continue
        size = float(p.size * inst.multiplier)
        is_call = inst.option_type is OptionType.CALL
        strike = float(inst.strike)
        tau = (inst.expiry.timestamp() - now_s) / YEAR_S
        if tau <= 0:
            itm = spot > strike if is_call else spot < strike
            delta += size * ((1.0 if is_call else -1.0) if itm else 0.0)
            continue
        g = black76(is_call, spot, strike, tau, 0.0, vol)
        delta += size * float(g.delta)
        gamma += size * float(g.gamma)
    return delta, gamma


def nearest_tau(positions: Sequence[Position], now_s: int) -> float:
    taus = [(p.instrument.expiry.timestamp() - now_s) / YEAR_S for p in positions if p.instrument.expiry is not None]
    live = [t for t in taus if t > 0]
    return max(min(live), MIN_TAU) if live else MIN_TAU


@dataclass(frozen=True, slots=True)
class KeeperBook:
    """Where the keeper entity's exposure lives: its address, and (adapter, account ids) pairs to read."""

    entity: str
    section: str  # the `[bots.hedger.protocols.<section>]` whose parameters govern the entity
    address: str
    holdings: tuple[tuple[str, Any, tuple[str, ...]], ...]  # (protocol name, adapter, the keeper's accounts)


class HedgerSource:
    """`await source(now)` → HedgerState: every pool, the keeper entity, and each venue's quote."""

    def __init__(self, *, pools: Sequence[tuple[str, OptionAmmAdapter]], venues: Sequence[Venue],
                 keeper: KeeperBook | None, vol: float = 0.6, ref_size_wei: int = WAD,
                 accounts: Callable[[], Mapping[str, tuple[str, ...]]] | None = None) -> None:
        if not venues:
            raise HedgeSourceError("the hedger needs at least one uniswap_v3 venue in [bots.hedger.protocols]")
        self.pools = tuple(pools)
        self.venues = tuple(venues)
        self.keeper = keeper
        self.vol = vol
        self.ref_size_wei = ref_size_wei
        self.accounts = accounts  # late-known keeper accounts (e.g. its PM subaccount), protocol → ids
        self.problems: list[str] = []
        self._logged: list[str] = []

    async def __call__(self, now: datetime) -> HedgerState:
        self.problems = []
        quotes = [q for v in self.venues if (q := await self._quote(v)) is not None]
        spot = await self._spot()
        targets: list[HedgeTarget] = []
        for name, amm in self.pools:
            t = await self._pool_target(name, amm)
            if t is not None:
                targets.append(t)
        if self.keeper is not None and spot is not None:
            targets.append(await self.keeper_target(spot))
        if self.problems and self.problems != self._logged:  # each new set of problems once, not every tick
            logger.warning("hedger source: {}", "; ".join(self.problems))
        self._logged = list(self.problems)
        return HedgerState(now, tuple(targets), tuple(quotes))

    async def _spot(self) -> float | None:
        """The Chainlink price the pools use (first pool's oracle), else the first venue's pool mid."""
        for _, amm in self.pools:
            readings = await amm.oracles()
            for q in readings.quotes:
                if q.asset is Underlying.ETH and q.price > 0:
                    return float(q.price)
        for v in self.venues:
            readings = await v.adapter.oracles()
            if readings.quotes:
                return float(readings.quotes[0].price)
        self.problems.append("no ETH price from any pool oracle or venue")
        return None

    async def _quote(self, v: Venue) -> VenueQuote | None:
        """Both sides for the reference size from QuoterV2; the fee is inside the quoted amounts (fee_rate 0)."""
        try:
            mid_r = await v.adapter.oracles()
            if not mid_r.quotes:
                raise HedgeSourceError(f"no mid price: {mid_r.faults}")
            mid = float(mid_r.quotes[0].price)
            sell = await v.adapter.quote_exact_input(v.weth, v.usdc, v.fee, self.ref_size_wei)
            buy = await v.adapter.quote_exact_output(v.usdc, v.weth, v.fee, self.ref_size_wei)
            gas_price = int(await v.adapter.rpc.expect("eth_gasPrice", []), 16)
        except Exception as exc:  # one venue down never hides the others
            self.problems.append(f"venue {v.name}: {type(exc).__name__}: {exc}")
            return None
        ref = self.ref_size_wei / WAD
        gas_native = Decimal(max(sell.gas_estimate, buy.gas_estimate) * gas_price) / WAD
        return VenueQuote(v.name, v.chain, ASSET, mid, buy.amount / USDC / ref, sell.amount / USDC / ref, 0.0,
                          gas_native * Decimal(repr(mid)), gas_native)

    async def _pool_target(self, name: str, amm: OptionAmmAdapter) -> HedgeTarget | None:
        states = await amm.read([POOL_ACCOUNT])
        st = states[0]
        if "delta" not in st.params:
            self.problems.append(f"{name}: netGreeks() reverted (stale oracle?) at block {st.block}")
            return None
        spot = await self._pool_spot(amm)
        if spot is None:
            return None
        blk = await head(amm.rpc)
        sizes = tuple(sorted((p.instrument.venue_id, str(p.size)) for p in st.positions))
        return HedgeTarget(name, "pool", name, amm.chain, ASSET, float(st.params["delta"]),
                           float(st.params["gamma"]), spot, self.vol, nearest_tau(st.positions, blk.timestamp),
                           fingerprint(sizes, str(st.collateral.get("WETH")), spot),
                           sellable=((amm.chain, float(st.collateral.get("WETH", 0))),))

    async def _pool_spot(self, amm: OptionAmmAdapter) -> float | None:
        for q in (await amm.oracles()).quotes:
            if q.asset is Underlying.ETH and q.price > 0:
                return float(q.price)
        self.problems.append(f"{amm.address}: no oracle price")
        return None

    async def keeper_target(self, spot: float) -> HedgeTarget:
        """The keeper entity: its option positions on every listed adapter plus its WETH on the venue chains."""
        assert self.keeper is not None
        k = self.keeper
        positions: list[Position] = []
        late = self.accounts() if self.accounts is not None else {}
        now_s = 0
        me = k.address.lower()
        for name, adapter, ids in k.holdings:
            # accounts the keeper owns per the adapter's discovery (vaults and subaccounts it inherited or
            # opened); discovery itself is left to the liquidator's source, which consumes its results
            owned = [a for a, o in getattr(adapter, "owners", {}).items() if str(o).lower() == me]
            accts = tuple(dict.fromkeys((*ids, *late.get(name, ()), *owned)))
            if not accts:
                continue
            states: list[AccountState] = await adapter.read(list(accts))
            for st in states:
                positions.extend(st.positions)
            now_s = max(now_s, (await head(adapter.rpc)).timestamp)
        weth = 0
        held: dict[str, float] = {}
        for v in self.venues:
            blk = await head(v.adapter.rpc)
            now_s = max(now_s, blk.timestamp)
            data = encode_call("balanceOf(address)", ["address"], [k.address])
            (bal,) = decode_exact(("uint256",), await call(v.adapter.rpc, v.weth, data, blk.number, "WETH.balanceOf"),
                                  "WETH.balanceOf")
            weth += int(bal)
            held[v.chain] = held.get(v.chain, 0.0) + int(bal) / WAD
        delta, gamma = option_greeks(positions, spot, now_s, self.vol)
        sizes = tuple(sorted((p.instrument.protocol, p.instrument.venue_id, str(p.size)) for p in positions))
        return HedgeTarget(k.entity, "entity", k.section, "", ASSET, delta + weth / WAD, gamma, spot, self.vol,
                           nearest_tau(positions, now_s), fingerprint(sizes, weth, spot),
                           sellable=tuple(sorted(held.items())))


# ------------------------------------------------------------------------------------------ call builders
def to_wei(eth: float) -> int:
    """A float ETH amount → wei, rounded down (never trade more than decided)."""
    return int((Decimal(repr(abs(eth))) * WAD).to_integral_value(ROUND_FLOOR))


def rebalance_call(amm: OptionAmmAdapter, intent: ActionIntent, max_slippage_bps: int) -> CallData:
    """OptionAMM `rebalance(band, bps)`: the band is the decided target's distance from zero, so the contract
    acts only while the pool is still outside it (it then hedges to zero on its own Uniswap pool)."""
    band = to_wei(float(intent.params.get("target_delta", 0.0)))
    return amm.rebalance(band, max_slippage_bps)


def swap_call(v: Venue, intent: ActionIntent, recipient: str, deadline: int) -> CallData:
    """The keeper's own hedge on a venue: buy (size > 0) exactly `size` WETH paying at most size × limit, or
    sell exactly `size` WETH for at least size × limit (limit = the quote's mid shifted by the slippage cap)."""
    size = float(intent.params["size"])
    limit = Decimal(repr(float(intent.params["limit_price"])))
    amount = to_wei(size)
    if amount <= 0 or limit <= 0:
        raise ValueError(f"{intent.key}: hedge needs size and limit_price > 0, got {size!r}, {limit}")
    usdc = Decimal(amount) * limit / 10**12  # wei × USD/ETH → USDC base units
    if size > 0:
        return v.adapter.exact_output(v.usdc, v.weth, v.fee, recipient, deadline, amount,
                                      int(usdc.to_integral_value(ROUND_FLOOR)))
    return v.adapter.exact_input(v.weth, v.usdc, v.fee, recipient, deadline, amount,
                                 int(usdc.to_integral_value(ROUND_CEILING)))


@dataclass(frozen=True, slots=True)
class HedgeCalls:
    """What the call builder needs for hedge intents: the venues, the keeper's wallet, a deadline clock and
    each pool's rebalance slippage cap (bps, from `[bots.hedger.protocols.<pool>] max_slippage_bps`)."""

    venues: Mapping[str, Venue]
    recipient: str
    now_s: Callable[[], int]
    slippage_bps: Mapping[str, int]
    deadline_s: int = 600

    def build(self, adapter: object, intent: ActionIntent) -> CallData | None:
        """The call for a `rebalance`/`hedge` intent, or None when it is not one of ours."""
        if intent.kind == "rebalance" and isinstance(adapter, OptionAmmAdapter):
            return rebalance_call(adapter, intent, self.slippage_bps.get(intent.protocol, 50))
        if intent.kind == "hedge" and intent.protocol in self.venues:
            return swap_call(self.venues[intent.protocol], intent, self.recipient, self.now_s() + self.deadline_s)
        return None
