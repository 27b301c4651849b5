"""Hedger source and call-builder units: option greeks of the keeper's holdings, stable fingerprints, and the
exact integer call data of hedge intents (decoded back from the ABI, not compared to hard-coded bytes)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import pytest
from eth_abi import decode
from hypothesis import given
from hypothesis import strategies as st

from bots.runner import AdapterCallBuilder
from bots.sources.hedger import (
    HedgeCalls,
    HedgerSource,
    HedgeSourceError,
    Venue,
    fingerprint,
    nearest_tau,
    option_greeks,
    rebalance_call,
    swap_call,
    to_wei,
    venue_from_addresses,
)
from bots.strategies.intents import ActionIntent
from chains.model import ExerciseStyle, Instrument, InstrumentKind, OptionType, Position, Underlying
from chains.protocols.abi import selector
from chains.protocols.option_amm import OptionAmmAdapter
from chains.protocols.uniswap_v3 import PoolSpec, UniswapV3Adapter
from risk.pricing import black76

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
NOW_S = int(NOW.timestamp())
WETH = "0x" + "11" * 20
USDC = "0x" + "22" * 20
ROUTER = "0x" + "33" * 20
ME = "0x" + "44" * 20
SWAP_T = "(address,address,uint24,address,uint256,uint256,uint256,uint160)"


class NoRpc:
    """An Rpc that must never be called: the builders are pure."""

    async def request(self, method: str, params: list[Any]) -> Any:
        raise AssertionError(f"unexpected rpc {method}")

    async def expect(self, method: str, params: list[Any]) -> Any:
        raise AssertionError(f"unexpected rpc {method}")


def option(kind: OptionType, strike: str, days: float, size: str, venue_id: str = "series:1") -> Position:
    inst = Instrument(Underlying.ETH, InstrumentKind.OPTION, "base", "option_amm", venue_id, "USDC", kind,
                      Decimal(strike), NOW + timedelta(days=days), Decimal(1), ExerciseStyle.EUROPEAN)
    return Position(ME, "keeper", inst, Decimal(size), ME)


def venue() -> Venue:
    adapter = UniswapV3Adapter("arbitrum", NoRpc(), ROUTER, "0x" + "55" * 20,
                               (PoolSpec("0x" + "66" * 20, WETH, USDC, 18, 6, Underlying.ETH),))
    return Venue("uniswap_arbitrum", adapter, WETH, USDC, 500)


def hedge_intent(size: float, limit: float, kind: str = "hedge", protocol: str = "uniswap_arbitrum",
                 target_delta: float = 0.0) -> ActionIntent:
    return ActionIntent("hedger", kind, "arbitrum", protocol, "keeper", f"hedger:{kind}:keeper:x:v1",
                        params=MappingProxyType({"size": size, "limit_price": limit, "target_delta": target_delta}))


def test_option_greeks_match_black76_and_sum_over_positions() -> None:
    long_call = option(OptionType.CALL, "3000", 7, "2")
    short_put = option(OptionType.PUT, "2800", 30, "-3", "series:2")
    delta, gamma = option_greeks([long_call, short_put], 3100.0, NOW_S, 0.6)
    c = black76(True, 3100.0, 3000.0, 7 / 365, 0.0, 0.6)
    p = black76(False, 3100.0, 2800.0, 30 / 365, 0.0, 0.6)
    assert delta == pytest.approx(2 * float(c.delta) - 3 * float(p.delta))
    assert gamma == pytest.approx(2 * float(c.gamma) - 3 * float(p.gamma))
    assert delta > 0  # long calls, short puts: long delta


def test_expired_options_have_intrinsic_delta_and_no_gamma() -> None:
    itm_call = option(OptionType.CALL, "2500", -1, "4")
    otm_put = option(OptionType.PUT, "2500", -1, "5", "series:2")
    itm_put = option(OptionType.PUT, "3500", -1, "1", "series:3")
    assert option_greeks([itm_call, otm_put, itm_put], 3000.0, NOW_S, 0.6) == (4.0 - 1.0, 0.0)


def test_nearest_tau_is_floored_at_a_day() -> None:
    assert nearest_tau([option(OptionType.CALL, "3000", 10, "1"), option(OptionType.CALL, "3000", 3, "1")],
                       NOW_S) == pytest.approx(3 / 365)
    assert nearest_tau([option(OptionType.CALL, "3000", 0.01, "1")], NOW_S) == pytest.approx(1 / 365)
    assert nearest_tau([], NOW_S) == pytest.approx(1 / 365)


def test_fingerprint_is_stable_and_sensitive_to_holdings() -> None:
    a = fingerprint((("series:1", "2"),), 0, 3000.0)
    assert a == fingerprint((("series:1", "2"),), 0, 3000.0)
    assert a != fingerprint((("series:1", "2"),), 10**18, 3000.0)  # a confirmed hedge is a new state
    assert a != fingerprint((("series:1", "3"),), 0, 3000.0)
    assert a != fingerprint((("series:1", "2"),), 0, 3001.0)


@given(st.floats(min_value=1e-9, max_value=1e6, allow_nan=False))
def test_to_wei_never_rounds_up(x: float) -> None:
    w = to_wei(x)
    assert Decimal(w) <= Decimal(repr(x)) * 10**18 < Decimal(w + 1)
    assert to_wei(-x) == w


def test_buy_hedge_is_exact_output_capped_by_the_limit() -> None:
    cd = swap_call(venue(), hedge_intent(4.5, 3015.5), ME, NOW_S + 600)
    assert cd.to.lower() == ROUTER and cd.data[:4] == selector(f"exactOutputSingle({SWAP_T})")
    ((tin, tout, fee, rcpt, deadline, out, in_max, limit),) = decode([SWAP_T], cd.data[4:])
    assert (tin.lower(), tout.lower(), fee, rcpt.lower(), deadline, limit) == (USDC, WETH, 500, ME, NOW_S + 600, 0)
    assert out == 45 * 10**17
    assert in_max == int(Decimal("4.5") * Decimal("3015.5") * 10**6)  # 13569.75 USDC, floored


def test_sell_hedge_is_exact_input_with_minimum_proceeds_rounded_up() -> None:
    cd = swap_call(venue(), hedge_intent(-1 / 3, 2990.0), ME, NOW_S + 600)
    assert cd.data[:4] == selector(f"exactInputSingle({SWAP_T})")
    ((tin, tout, _, _, _, amount_in, out_min, _),) = decode([SWAP_T], cd.data[4:])
    assert (tin.lower(), tout.lower()) == (WETH, USDC)
    assert amount_in == to_wei(1 / 3)
    exact = Decimal(amount_in) * Decimal("2990.0") / 10**12
    assert out_min - 1 < exact <= out_min


@pytest.mark.parametrize(("size", "limit"), [(0.0, 3000.0), (1e-30, 3000.0), (1.0, 0.0)])
def test_degenerate_hedge_is_refused(size: float, limit: float) -> None:
    with pytest.raises(ValueError, match="size and limit_price"):
        swap_call(venue(), hedge_intent(size, limit), ME, NOW_S)


def test_rebalance_band_is_the_target_distance_from_zero() -> None:
    amm = OptionAmmAdapter("base", NoRpc(), "0x" + "77" * 20)
    cd = rebalance_call(amm, hedge_intent(3.0, 3000.0, "rebalance", "option_amm", target_delta=-0.75), 80)
    assert cd.data[:4] == selector("rebalance(uint256,uint256)")
    assert decode(["uint256", "uint256"], cd.data[4:]) == (75 * 10**16, 80)


def test_adapter_call_builder_routes_hedge_intents() -> None:
    v = venue()
    amm = OptionAmmAdapter("base", NoRpc(), "0x" + "77" * 20)
    calls = HedgeCalls({v.name: v}, ME, lambda: NOW_S, {"option_amm": 40})
    builder = AdapterCallBuilder({v.name: v.adapter, "option_amm": amm}, hedge=calls)
    swap = builder.build(hedge_intent(1.0, 3000.0))
    assert swap.to.lower() == ROUTER and swap.value == 0
    assert decode([SWAP_T], bytes.fromhex(swap.data[10:]))[0][4] == NOW_S + 600  # deadline from the chain clock
    reb = builder.build(hedge_intent(1.0, 3000.0, "rebalance", "option_amm", target_delta=0.5))
    assert reb.to == amm.address and decode(["uint256", "uint256"], bytes.fromhex(reb.data[10:]))[1] == 40
    with pytest.raises(LookupError, match="no builder for 'hedge'"):
        AdapterCallBuilder({v.name: v.adapter}).build(hedge_intent(1.0, 3000.0))  # no hedger wired
    with pytest.raises(LookupError, match="no builder for 'bid'"):
        builder.build(replace(hedge_intent(1.0, 3000.0), kind="bid"))


async def test_venue_config_errors_name_what_is_missing() -> None:
    with pytest.raises(HedgeSourceError, match=r"protocols\.uni\.addresses: .*QuoterV2, WETH, pool"):
        await venue_from_addresses("uni", "base", NoRpc(), {"SwapRouter": ROUTER, "USDC": USDC})


def test_source_without_venue_is_refused() -> None:
    with pytest.raises(HedgeSourceError, match="at least one uniswap_v3 venue"):
        HedgerSource(pools=(), venues=(), keeper=None)


class ChainStub:
    """A tiny in-memory chain: a head block and WETH balances answered to balanceOf eth_calls."""

    def __init__(self, weth_wei: int, ts: int = NOW_S) -> None:
        self.weth_wei = weth_wei
        self.ts = ts

    async def expect(self, method: str, params: list[Any]) -> Any:
        assert method == "eth_getBlockByNumber"
        return {"number": "0x10", "hash": "0x" + "ab" * 32, "timestamp": hex(self.ts)}

    async def request(self, method: str, params: list[Any]) -> Any:
        assert method == "eth_call" and params[0]["data"].startswith("0x" + selector("balanceOf(address)").hex())
        return "0x" + self.weth_wei.to_bytes(32, "big").hex()


class OwnedBook:
    """An adapter whose discovery knows owners: only the keeper's own accounts may be read."""

    protocol = "vault_options"

    def __init__(self) -> None:
        self.rpc = ChainStub(0)
        self.owners = {"7": ME, "8": "0x" + "99" * 20}
        self.read_calls: list[list[str]] = []

    async def read(self, accounts: list[str], block: Any = "latest") -> list[Any]:
        from chains.model import AccountState

        self.read_calls.append(list(accounts))
        return [AccountState("ethereum", "vault_options", a, ME, 16,
                             positions=(option(OptionType.PUT, "3000", 14, "-2", f"series:{a}"),)) for a in accounts]


async def test_keeper_target_sums_owned_options_and_weth_on_every_venue() -> None:
    from bots.sources.hedger import KeeperBook

    book = OwnedBook()
    venues = [replace(venue(), adapter=UniswapV3Adapter("arbitrum", ChainStub(3 * 10**17), ROUTER, ROUTER)),
              replace(venue(), name="uniswap_base", adapter=UniswapV3Adapter("base", ChainStub(10**18), ROUTER,
                                                                             ROUTER))]
    src = HedgerSource(pools=(), venues=venues, keeper=KeeperBook("house", "uniswap_base", ME,
                                                                  (("vault_options", book, ()),)))
    t = await src.keeper_target(3000.0)
    assert book.read_calls == [["7"]]  # the other owner's vault is not the keeper's risk
    put = black76(False, 3000.0, 3000.0, 14 / 365, 0.0, 0.6)
    assert t.delta == pytest.approx(-2 * float(put.delta) + 1.3)  # short put delta + 1.3 WETH held
    assert t.gamma == pytest.approx(-2 * float(put.gamma))
    assert (t.name, t.kind, t.protocol, t.chain) == ("house", "entity", "uniswap_base", "")
    again = await src.keeper_target(3000.0)
    assert again.version == t.version  # same holdings, same key
    venues[0].adapter.rpc.weth_wei += 1  # type: ignore[attr-defined]
    assert (await src.keeper_target(3000.0)).version != t.version
