"""Settlement keeper units: the pure decision on top of the base strategy, exact redeem amounts, call building
through `AdapterCallBuilder`, and the chain-time expiry jobs on a real APScheduler."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from eth_abi import decode

from bots.config import SettlementParams
from bots.engine import TickReport
from bots.runner import AdapterCallBuilder
from bots.sources.settlement import (
    ExpiryJobs,
    ExpiryPriceNeeded,
    KeeperSettlementState,
    PmExpired,
    SettlementSource,
    decide,
    option_units,
    with_now,
)
from bots.strategies import settlement as base
from chains.protocols.portfolio_margin import PortfolioMarginAdapter, build_settle_expired
from chains.protocols.vault_options import VaultOptionsAdapter, build_set_expiry_price, build_settle_vault

EXPIRY = datetime(2026, 11, 27, 8, tzinfo=UTC)
AFTER = EXPIRY + timedelta(seconds=30)
OWNER = "0x" + "11" * 20
KEEPER = "0x" + "22" * 20
WETH = "0x" + "33" * 20
VO = "0x" + "44" * 20
PM = "0x" + "55" * 20
PARAMS = {"vault_options": SettlementParams(), "portfolio_margin": SettlementParams()}


def state(now: datetime = AFTER, round_id: int | None = 7, priced: bool = False) -> KeeperSettlementState:
    known = frozenset({f"ethereum:vault_options:{EXPIRY.isoformat()}"}) if priced else frozenset()
    b = base.SettlementState(
        now,
        vaults=(base.ExpiredVault("ethereum", "vault_options", OWNER, 3, EXPIRY, ours=True),),
        longs=(base.LongPosition("ethereum", "vault_options", "2", KEEPER, Decimal("5"), EXPIRY,
                                 Decimal("1500") if priced else Decimal(0)),),
        settlement_price_known=known)
    return KeeperSettlementState(
        b, prices_needed=() if priced else (ExpiryPriceNeeded("ethereum", "vault_options", WETH, EXPIRY, round_id),),
        pm_expired=(PmExpired("arbitrum", "portfolio_margin", 4, 9, EXPIRY),))


def test_before_the_price_only_the_price_and_pm_settlements_are_decided() -> None:
    d = decide(state(), PARAMS)
    assert sorted(i.kind for i in d.intents) == ["set_expiry_price", "settle_expired"]
    price = next(i for i in d.intents if i.kind == "set_expiry_price")
    assert price.params["round_id"] == 7 and price.params["expiry"] == int(EXPIRY.timestamp())
    assert {s.reason for s in d.skipped} == {"expired but no settlement price yet"}


def test_once_priced_vaults_settle_and_the_long_is_redeemed() -> None:
    d = decide(state(priced=True), PARAMS)
    assert sorted(i.kind for i in d.intents) == ["redeem", "settle_expired", "settle_vault"]
    redeem = next(i for i in d.intents if i.kind == "redeem")
    assert redeem.params["series"] == "2" and Decimal(redeem.params["amount"]) == 5


def test_keys_are_stable_and_name_the_decision() -> None:
    a, b = decide(state(), PARAMS), decide(with_now(state(), AFTER + timedelta(days=3)), PARAMS)
    assert [i.key for i in a.intents] == [i.key for i in b.intents]
    assert "settlement:settle_expired:arbitrum:portfolio_margin:4:9" in {i.key for i in a.intents}


def test_nothing_before_expiry_or_without_a_round_or_when_disabled() -> None:
    assert decide(with_now(state(), EXPIRY - timedelta(seconds=1)), PARAMS).intents == ()
    d = decide(state(round_id=None), PARAMS)
    assert [i.kind for i in d.intents] == ["settle_expired"]
    assert any("no valid round" in s.reason for s in d.skipped)
    off = {"vault_options": SettlementParams(enabled=False), "portfolio_margin": SettlementParams(enabled=False)}
    assert decide(state(priced=True), off).intents == ()
    assert decide(state(priced=True), {}).intents == ()


@pytest.mark.parametrize(("amount", "units"), [("5", 5 * 10**8), ("0.00000001", 1), (Decimal("1.5"), 150_000_000)])
def test_option_units_are_exact(amount: Any, units: int) -> None:
    assert option_units(amount) == units


@pytest.mark.parametrize("amount", ["0", "-1", "0.000000001", "abc"])
def test_option_units_reject_bad_amounts(amount: str) -> None:
    with pytest.raises((ValueError, ArithmeticError)):
        option_units(amount)


def builder() -> tuple[AdapterCallBuilder, VaultOptionsAdapter, PortfolioMarginAdapter]:
    vo = VaultOptionsAdapter("ethereum", None, VO)  # type: ignore[arg-type]  # builders never read the chain
    pm = PortfolioMarginAdapter("arbitrum", None, PM)  # type: ignore[arg-type]
    return AdapterCallBuilder({}, settlement={"vault_options": vo, "portfolio_margin": pm}), vo, pm


def test_call_builder_turns_every_settlement_intent_into_the_adapter_call() -> None:
    b, vo, pm = builder()
    intents = {i.kind: i for i in (*decide(state(), PARAMS).intents, *decide(state(priced=True), PARAMS).intents)}
    spec = b.build(intents["settle_vault"])
    assert (spec.to, spec.data) == (vo.address, "0x" + build_settle_vault(VO, 3).data.hex())
    spec = b.build(intents["set_expiry_price"])
    assert spec.data == "0x" + build_set_expiry_price(VO, WETH, int(EXPIRY.timestamp()), 7).data.hex()
    spec = b.build(intents["settle_expired"])
    assert (spec.to, spec.data) == (pm.address, "0x" + build_settle_expired(PM, 4, 9).data.hex())
    spec = b.build(intents["redeem"])
    assert decode(["uint256", "uint256"], bytes.fromhex(spec.data[10:])) == (2, 5 * 10**8)


def test_call_builder_refuses_a_settlement_intent_for_a_protocol_it_does_not_know() -> None:
    b = AdapterCallBuilder({})
    with pytest.raises(LookupError, match="no adapter"):
        b.build(decide(state(), PARAMS).intents[0])


class FakeEngine:
    """Just what ExpiryJobs uses: a real scheduler and `tick`, whose reports the test scripts."""

    def __init__(self, reports: list[TickReport]) -> None:
        self.scheduler: AsyncIOScheduler | None = AsyncIOScheduler(timezone="UTC")
        self.reports = reports
        self.ticks = 0
        self.ticked = asyncio.Event()

    async def tick(self, bot: str) -> TickReport:
        self.ticks += 1
        self.ticked.set()
        return self.reports.pop(0) if self.reports else TickReport(bot)


async def test_expiry_jobs_follow_chain_time_and_retick_until_nothing_is_left() -> None:
    chain_now = [EXPIRY - timedelta(hours=1)]
    engine = FakeEngine([TickReport("settlement", sent=("k",))])
    source = SettlementSource(KEEPER)
    source._expiries.add(int(EXPIRY.timestamp()))
    jobs = ExpiryJobs(engine, source, lambda: chain_now[0], delay_s=5.0)
    assert engine.scheduler is not None
    engine.scheduler.start(paused=True)
    try:
        await jobs.watch()
        job = engine.scheduler.get_job(jobs.job_id(EXPIRY))
        assert job is not None  # placed an hour (plus delay) of chain time ahead, in wall time
        wait = (job.trigger.run_date - datetime.now(UTC)).total_seconds()
        assert 3600 < wait <= 3605
        await jobs.fire([EXPIRY])  # fired early (chain not there yet): nothing happens
        assert engine.ticks == 0
        chain_now[0] = EXPIRY + timedelta(seconds=10)  # the devnet warps past the expiry
        await jobs.watch()
        assert engine.scheduler.get_job(jobs.job_id(EXPIRY)) is None
        due = engine.scheduler.get_job(jobs.job_id(None))
        assert due is not None and due.args == ([EXPIRY],)
        await jobs.fire(*due.args)  # sent something: the expiry stays pending
        assert engine.ticks == 1 and EXPIRY not in jobs.fired
        await jobs.watch()
        await jobs.fire(*engine.scheduler.get_job(jobs.job_id(None)).args)  # nothing left: done
        assert engine.ticks == 2 and EXPIRY in jobs.fired
        engine.scheduler.remove_all_jobs()
        await jobs.watch()
        assert engine.scheduler.get_jobs() == []
    finally:
        engine.scheduler.shutdown(wait=False)


async def test_expiry_jobs_give_up_after_max_rounds() -> None:
    engine = FakeEngine([TickReport("settlement", failed=("k",)), TickReport("settlement", blocked=("k",)),
                         TickReport("settlement", sent=("k",))])
    source = SettlementSource(KEEPER)
    jobs = ExpiryJobs(engine, source, lambda: AFTER, delay_s=0.0, max_rounds=3)
    for n in range(1, 4):
        assert EXPIRY not in jobs.fired
        await jobs.fire([EXPIRY])
        assert engine.ticks == n
    assert EXPIRY in jobs.fired  # still work after max_rounds: left to the bot's own interval


async def test_expiry_jobs_need_a_started_engine() -> None:
    engine = FakeEngine([])
    engine.scheduler = None
    with pytest.raises(RuntimeError, match="not started"):
        ExpiryJobs(engine, SettlementSource(KEEPER), lambda: AFTER).start()


class ScriptedFeed:
    """An eth_call endpoint answering a Chainlink feed's round reads from a table (phase 1 ids), counting reads;
    unknown rounds revert like the devnet feed."""

    def __init__(self, rounds: list[tuple[int, int]]) -> None:  # (answer, updatedAt) for aggregator rounds 1..n
        self.rounds = rounds
        self.reads = 0

    async def request(self, method: str, params: list[Any]) -> Any:
        from eth_abi import encode

        from chains.evm.rpc import RpcFailure
        assert method == "eth_call"
        self.reads += 1
        data = bytes.fromhex(params[0]["data"][2:])
        phase = 1 << 64
        if data[:4] == bytes.fromhex("feaf968c"):  # latestRoundData()
            rid = phase + len(self.rounds)
        else:
            (rid,) = decode(["uint80"], data[4:])
        agg = rid - phase
        if not 1 <= agg <= len(self.rounds):
            return RpcFailure(3, "execution reverted: NoDataPresent", "0x")
        answer, updated = self.rounds[agg - 1]
        return "0x" + encode(["uint80", "int256", "uint256", "uint256", "uint80"],
                             [rid, answer, updated, updated, rid]).hex()


async def first(rounds: list[tuple[int, int]], expiry: int) -> tuple[int | None, int]:
    from bots.sources.settlement import first_round_at_or_after
    feed = ScriptedFeed(rounds)
    rid = await first_round_at_or_after(feed, VO, expiry, 1)  # type: ignore[arg-type]
    return (None if rid is None else rid - (1 << 64)), feed.reads


async def test_first_round_after_expiry_skips_invalid_answers_and_reads_logarithmically() -> None:
    rounds = [(3000, 1000 + 60 * i) for i in range(2000)]  # a round a minute
    expiry = 1000 + 60 * 1500 - 30  # between rounds 1500 and 1501
    rid, reads = await first(rounds, expiry)
    assert rid == 1501 and reads < 30
    rounds[1500] = (0, rounds[1500][1])  # round 1501 answered 0: the next valid one settles
    assert (await first(rounds, expiry))[0] == 1502
    assert (await first(rounds, 1000))[0] == 1  # exactly at expiry counts
    assert (await first(rounds, 1000 + 60 * 2000))[0] is None  # no round after expiry yet
    assert (await first([], 5))[0] is None  # a feed with no rounds at all


def test_many_pm_settlements_go_out_in_multicall_batches_with_stable_keys() -> None:
    from dataclasses import replace as dc_replace

    from chains.evm.multicall import MULTICALL3

    many = dc_replace(state(priced=True), pm_expired=tuple(
        PmExpired("arbitrum", "portfolio_margin", a, 9, EXPIRY) for a in range(1, 8)))
    params = {**PARAMS, "portfolio_margin": SettlementParams(batch_size=3)}
    d = decide(many, params)
    batches = [i for i in d.intents if i.kind == "settle_batch"]
    assert sorted(len(b.params["members"]) for b in batches) == [3, 3]
    singles = [i for i in d.intents if i.kind == "settle_expired"]
    # 7 = 3 + 3 + a group of one, which passes through as a plain settlement
    assert sum(len(b.params["members"]) for b in batches) + len(singles) == 7 and len(singles) == 1
    assert [i.key for i in decide(many, params).intents] == [i.key for i in d.intents]  # same set, same keys
    fewer = dc_replace(many, pm_expired=many.pm_expired[1:])
    assert {i.key for i in decide(fewer, params).intents if i.kind == "settle_batch"} != {b.key for b in batches}
    b, _vo, pm = builder()
    spec = b.build(batches[0])
    assert spec.to == MULTICALL3 and spec.data.startswith("0x82ad56cb")
    body = bytes.fromhex(spec.data[10:])
    from eth_abi import decode as abi_decode

    (calls,) = abi_decode(["(address,bool,bytes)[]"], body)
    accounts = [m["account_id"] for m in batches[0].params["members"]]
    assert [(c[0].lower(), c[1], bytes(c[2])) for c in calls] == [
        (pm.address.lower(), True, build_settle_expired(PM, a, 9).data) for a in accounts]
    off = decide(many, {**PARAMS, "portfolio_margin": SettlementParams(batch_size=1)})
    assert [i.kind for i in off.intents].count("settle_expired") == 7
