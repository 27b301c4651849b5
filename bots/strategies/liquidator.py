"""Liquidator: VaultOptions mint-and-liquidate and PortfolioMargin auctions, as a pure decision.

Inputs are what the engine already knows at one block: per candidate the risk-core margin mirror's verdict and
the auction/round figures, the gas market, per-target cooldowns and the keys that were outcompeted. Values come
from the risk core (`risk.margin.vault.vault_auction_price`, `risk.margin.auction.*`); the strategy only compares
value received against cost + gas and the configured threshold, and says why for every target.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType

from bots.config import LiquidatorParams
from bots.strategies.intents import ActionIntent, Decision, Skip, make_key
from chains.evm.fees import Urgency
from risk.margin.auction import bidder_profit, discount, max_fraction
from risk.margin.vault import vault_auction_price

BOT = "liquidator"
CENT = Decimal("0.01")


def usd(x: float) -> Decimal:
    """Risk-core float → cents Decimal for comparisons and reporting (the chain call carries exact ints)."""
    return Decimal(repr(float(x))).quantize(CENT)


@dataclass(frozen=True, slots=True)
class GasView:
    """Fee market of one chain as the engine saw it: gas price and the native token's USD price."""

    price_gwei: Decimal
    native_usd: Decimal

    def cost(self, gas_units: int) -> tuple[Decimal, Decimal]:
        """(native, usd) cost of `gas_units` at this price."""
        native = self.price_gwei * gas_units / Decimal(10**9)
        return native, (native * self.native_usd).quantize(CENT)


@dataclass(frozen=True, slots=True)
class VaultCandidate:
    """One VaultOptions vault the margin mirror flagged (or not) at `block`."""

    chain: str
    protocol: str
    owner: str
    vault_id: int
    liquidatable: bool
    round_id: int  # first round at which it was unsafe (pays the most: the auction is timed from it)
    round_elapsed_s: float
    round_spot: float
    strike: float
    is_call: bool
    collateral: float  # USDC
    short_amount: float  # options
    option_mark: float  # risk-core mark per option: what the liquidator's freshly minted short costs
    gas_units: int = 600_000
    # exact chain figures the call is built from (0 = unknown; the builder then refuses the intent)
    series_id: int = 0
    short_units: int = 0  # option base units to mint and burn against the target
    mint_collateral_units: int = 0  # collateral base units the keeper's fresh vault needs to stay safe


@dataclass(frozen=True, slots=True)
class PMCandidate:
    """One PortfolioMargin subaccount: mirror MM/MtM and, when running, its auction."""

    chain: str
    protocol: str
    account_id: str
    mm: float
    mtm: float
    cash: float
    own_position_value: float  # the keeper's valuation (risk-core marks) of all the account's positions
    auction_id: str | None = None
    auction_elapsed_s: float = 0.0
    episode: str = ""  # stable id of this unhealthy spell (e.g. the block it turned unhealthy)
    start_gas_units: int = 400_000
    bid_gas_units: int = 900_000


@dataclass(frozen=True, slots=True)
class LiquidatorState:
    now: datetime
    vaults: tuple[VaultCandidate, ...] = ()
    pm_accounts: tuple[PMCandidate, ...] = ()
    gas: Mapping[str, GasView] = field(default_factory=lambda: MappingProxyType({}))
    last_action: Mapping[str, datetime] = field(default_factory=lambda: MappingProxyType({}))  # target → time
    outcompeted: frozenset[str] = frozenset()  # intent keys whose tx reverted as outcompeted


def target_id(chain: str, protocol: str, account: str) -> str:
    return f"{chain}:{protocol}:{account}"


def candidate_target(c: VaultCandidate | PMCandidate) -> str:
    account = f"{c.owner}/{c.vault_id}" if isinstance(c, VaultCandidate) else c.account_id
    return target_id(c.chain, c.protocol, account)


def _gate(state: LiquidatorState, target: str, chain: str, params: LiquidatorParams) -> str | None:
    """Reasons to not even evaluate a target now: cooldown, gas price above the cap, no gas view."""
    last = state.last_action.get(target)
    if last is not None and (state.now - last).total_seconds() < params.cooldown_s:
        return f"cooldown: last action {(state.now - last).total_seconds():.0f}s ago < {params.cooldown_s:.0f}s"
    gas = state.gas.get(chain)
    if gas is None:
        return f"no gas price known for {chain}"
    if params.max_gas_gwei is not None and gas.price_gwei > params.max_gas_gwei:
        return f"gas {gas.price_gwei} gwei > max {params.max_gas_gwei}"
    return None


def decide_vault(c: VaultCandidate, state: LiquidatorState, params: LiquidatorParams) -> ActionIntent | Skip:
    target = candidate_target(c)
    if not c.liquidatable:
        return Skip(target, "margin mirror: vault is safe")
    key = make_key(BOT, c.chain, c.protocol, c.owner, c.vault_id, "round", c.round_id)
    if key in state.outcompeted:
        return Skip(target, "outcompeted on this round; recorded, not retried")
    if (why := _gate(state, target, c.chain, params)) is not None:
        return Skip(target, why)
    price = float(vault_auction_price(c.round_elapsed_s, c.round_spot, c.strike, c.is_call, c.collateral,
                                      c.short_amount))
    if price != price:  # NaN: the contract would revert (round after the vault's last action, no shorts)
        return Skip(target, "auction price undefined for this round (contract would revert)")
    received = usd(price * c.short_amount)
    cost = usd(c.option_mark * c.short_amount)
    gas_native, gas_usd = state.gas[c.chain].cost(c.gas_units)
    profit = received - cost - gas_usd
    reasons = (f"mirror: collateral {c.collateral:.2f} below requirement", f"round {c.round_id}, auction price "
               f"{price:.4f}/option after {c.round_elapsed_s:.0f}s",
               f"receive ${received} − mint cost ${cost} − gas ${gas_usd} = ${profit}")
    if profit < params.min_profit_usd:
        return Skip(target, f"profit ${profit} < min ${params.min_profit_usd}")
    return ActionIntent(BOT, "mint_and_liquidate", c.chain, c.protocol, target, key, profit, received, gas_native,
                        Urgency.URGENT, reasons, MappingProxyType(
                            {"owner": c.owner, "vault_id": c.vault_id, "round_id": c.round_id,
                             "amount": c.short_amount, "series_id": c.series_id, "short_units": c.short_units,
                             "mint_collateral_units": c.mint_collateral_units}))


def decide_pm(c: PMCandidate, state: LiquidatorState, params: LiquidatorParams) -> ActionIntent | Skip:
    target = candidate_target(c)
    if c.auction_id is None:
        if c.mm >= 0:
            return Skip(target, f"margin mirror: MM {c.mm:.2f} >= 0")
        key = make_key(BOT, c.chain, c.protocol, c.account_id, "start", c.episode)
        if key in state.outcompeted:
            return Skip(target, "auction already started by someone else")
        if (why := _gate(state, target, c.chain, params)) is not None:
            return Skip(target, why)
        gas_native, gas_usd = state.gas[c.chain].cost(c.start_gas_units)
        return ActionIntent(BOT, "start_auction", c.chain, c.protocol, target, key, -gas_usd, Decimal(0),
                            gas_native, Urgency.URGENT, (f"mirror: MM {c.mm:.2f} < 0, MtM {c.mtm:.2f}",),
                            MappingProxyType({"account_id": c.account_id}))
    key = make_key(BOT, c.chain, c.protocol, c.account_id, "auction", c.auction_id, "bid")
    if key in state.outcompeted:
        return Skip(target, "outcompeted in this auction; recorded, not retried")
    if (why := _gate(state, target, c.chain, params)) is not None:
        return Skip(target, why)
    insolvent = c.mtm <= 0
    d = float(discount(c.auction_elapsed_s))
    fraction = 1.0 if insolvent else float(max_fraction(c.mm, c.mtm, d))
    fraction = min(fraction, params.max_fraction)
    if fraction <= 0:
        return Skip(target, "auction: no fraction restores margin (buffer margin >= 0)")
    profit_f = float(bidder_profit(fraction, c.cash, c.own_position_value, c.mm, c.mtm, c.auction_elapsed_s))
    gas_native, gas_usd = state.gas[c.chain].cost(c.bid_gas_units)
    profit = usd(profit_f) - gas_usd
    kind = "insolvent" if insolvent else f"solvent, discount {d:.4f}"
    reasons = [f"auction {c.auction_id} ({kind}) after {c.auction_elapsed_s:.0f}s", f"fraction {fraction:.4f}",
               f"expected profit ${usd(profit_f)} − gas ${gas_usd} = ${profit}"]
    if insolvent:
        if profit < 0:  # insolvent auctions are taken at once — but never at a loss
            return Skip(target, f"insolvent auction not yet worth it: ${profit}")
        reasons.append("insolvent: bid immediately")
    elif profit < params.min_profit_usd:
        return Skip(target, f"wait for a deeper discount: profit ${profit} < min ${params.min_profit_usd}")
    notional = usd(abs(fraction * c.mtm * d)) if not insolvent else usd(abs(fraction * c.mm))
    return ActionIntent(BOT, "bid", c.chain, c.protocol, target, key, profit, notional, gas_native,
                        Urgency.URGENT, tuple(reasons), MappingProxyType(
                            {"account_id": c.account_id, "auction_id": c.auction_id, "fraction": fraction}))


def decide(state: LiquidatorState, params: Mapping[str, LiquidatorParams]) -> Decision:
    """Every candidate of every configured protocol; unconfigured or disabled protocols are skipped."""
    intents: list[ActionIntent] = []
    skipped: list[Skip] = []
    cands: list[VaultCandidate | PMCandidate] = [*state.vaults, *state.pm_accounts]
    for cand in cands:
        p = params.get(cand.protocol)
        if p is None or not p.enabled:
            skipped.append(Skip(candidate_target(cand), "protocol not enabled for liquidator"))
            continue
        try:
            out = decide_vault(cand, state, p) if isinstance(cand, VaultCandidate) else decide_pm(cand, state, p)
        except (ValueError, ArithmeticError) as exc:  # one account's bad figures never stop the others
            out = Skip(candidate_target(cand), f"invalid input: {type(exc).__name__}: {exc}")
        if isinstance(out, ActionIntent):
            intents.append(out)
        else:
            skipped.append(out)
    return Decision(tuple(intents), tuple(skipped))
