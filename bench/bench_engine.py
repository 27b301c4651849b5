"""Engine throughput and memory at 10k wallets / 100k positions, through the keeper's own event path.

(a) Book load: 10,000 accounts × 10 option positions (4 chains, 2 underlyings, 48 series) as `PositionChanged`
    events into `Engine.on_event` → `BookFeed` — what the watchers and the liquidator's reads deliver.
(b) Memory: tracemalloc (Python + numpy allocations) and RSS growth for the engine's book after (a), and for the
    same 10k `AccountState`s held as the liquidator's sources hold them between reads.
(c) Oracle ticks/s sustained before the lag guard trips: one `EventStream` → the engine's collector subscription
    (queue 1,000, the engine default) with the real SQLite store; `OracleUpdate`s are published at a fixed rate
    for a few seconds per step. A rate is sustained when the subscription never overflowed (no `Lagged` marker)
    and its backlog at the end is under 10 % of the queue. The rate ladder doubles, then bisects; one step past
    the sustained rate is run to show the guard trip (`Lagged` → resync counter). Every tick re-prices one
    underlying of the 100k-position book and records the quote (SQLite).
Run: python bench/bench_engine.py [--accounts 10000] [--per-account 10] [--step-s 2]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._result import emit  # noqa: E402
from bots.config import parse_config  # noqa: E402
from bots.engine import BookFeed, Engine  # noqa: E402
from bots.journal import Journal  # noqa: E402
from bots.store import Store  # noqa: E402
from chains.events import OracleUpdate, PositionChanged  # noqa: E402
from chains.model import (  # noqa: E402
    AccountState,
    ExerciseStyle,
    Instrument,
    InstrumentKind,
    OptionType,
    OracleQuote,
    OracleSource,
    Position,
    Underlying,
)
from chains.stream import EventStream  # noqa: E402

CONFIG = """
[chains.arbitrum]
rpc_urls = ["http://127.0.0.1:1"]
chain_id = 42161
[storage]
url = "{db}"
"""
NOW = datetime(2026, 11, 1, tzinfo=UTC)
CHAINS = ("ethereum", "arbitrum", "base", "optimism")
SPOT = {Underlying.ETH: 3000, Underlying.BTC: 60000}


def rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def series() -> list[Instrument]:
    """48 option series per chain family: 2 underlyings × 3 expiries × 4 strikes × call/put, shared objects (as
    the adapters share one Instrument per series)."""
    out = []
    for u, s in SPOT.items():
        for days in (7, 30, 90):
            for m in (0.8, 0.9, 1.1, 1.2):
                for ot in (OptionType.CALL, OptionType.PUT):
                    out.append(Instrument(u, InstrumentKind.OPTION, "arbitrum", "portfolio_margin",
                                          f"series:{len(out) + 1}", "USDC", ot, Decimal(int(s * m)),
                                          NOW + timedelta(days=days), Decimal(1), ExerciseStyle.EUROPEAN))
    return out


def accounts(n: int, per: int) -> list[AccountState]:
    """n accounts with `per` positions each, spread over 4 chains (the instrument's chain is the account's)."""
    base = series()
    by_chain = {c: [Instrument(i.underlying, i.kind, c, i.protocol, i.venue_id, i.settlement_asset, i.option_type,
                               i.strike, i.expiry, i.multiplier, i.exercise) for i in base] for c in CHAINS}
    out = []
    for a in range(n):
        chain = CHAINS[a % len(CHAINS)]
        owner = f"0x{a:040x}"
        insts = by_chain[chain]
        pos = tuple(Position(owner, owner, insts[(a * 7 + k * 5) % len(insts)],
                             Decimal((k % 5) - 2 or 1) / 10, str(a + 1)) for k in range(per))
        out.append(AccountState(chain, "portfolio_margin", str(a + 1), owner, 1,
                                MappingProxyType({"USD": Decimal(10_000)}), pos, MappingProxyType({}), "0x1", NOW))
    return out


def quote(i: int) -> OracleQuote:
    u = Underlying.ETH if i % 2 == 0 else Underlying.BTC
    price = Decimal(SPOT[u]) * (1 + Decimal((i % 200) - 100) / 10_000)
    return OracleQuote(OracleSource.CHAINLINK, u, price, NOW + timedelta(seconds=i), "arbitrum", 100 + i, None,
                       f"0xfeed{u.value}")


async def run_rate(engine: Engine, stream: EventStream, rate: float, seconds: float, start: int) -> dict[str, float]:
    """Publish `rate` OracleUpdates/s for `seconds`; (lagged?, backlog at the end, consumed/s) for the step."""
    sub = engine._subs[0]
    lag0, resync0 = sub.lag_count, engine.lag_resyncs.get("arbitrum", 0)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    sent = 0
    while (now := loop.time()) - t0 < seconds:
        due = int((now - t0) * rate) + 1
        while sent < due:
            stream.publish(OracleUpdate("arbitrum", quote(start + sent)))
            sent += 1
        await asyncio.sleep(0.002)
    backlog = len(sub)
    elapsed = loop.time() - t0
    while len(sub):  # drain before the next step
        await asyncio.sleep(0.01)
    return {"rate": rate, "lagged": float(sub.lag_count > lag0), "backlog": float(backlog), "sent": float(sent),
            "consumed_per_s": (sent - backlog) / elapsed, "resyncs": float(engine.lag_resyncs.get("arbitrum", 0)
                                                                          - resync0)}


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--accounts", type=int, default=10_000)
    ap.add_argument("--per-account", type=int, default=10)
    ap.add_argument("--step-s", type=float, default=2.0)
    args = ap.parse_args()
    n, per = args.accounts, args.per_account
    print(f"load average before start: {os.getloadavg()}")
    states = accounts(n, per)
    with tempfile.TemporaryDirectory() as tmp:
        journal = await Journal(f"{tmp}/engine.db").open()
        store = await Store(engine=journal.engine).open()
        stream = EventStream("arbitrum")
        gc.collect()
        rss0 = rss_mib()
        book = BookFeed(NOW.timestamp(), vol=0.6)
        engine = Engine(parse_config(CONFIG.format(db=f"{tmp}/engine.db")), store, journal, [], streams=[stream],
                        book=book, queue_size=1000)
        t0 = time.perf_counter()
        for s in states:
            await engine.on_event(PositionChanged(s.chain, s.protocol, s, s.positions, s.block))
        t_load = time.perf_counter() - t0
        for i in range(2):
            await engine.on_event(OracleUpdate("arbitrum", quote(i)))
        gc.collect()
        rss_book = rss_mib() - rss0
        rows = len(book.book)
        tracemalloc.start()  # the same book again, traced (slower: not timed)
        copy = BookFeed(NOW.timestamp(), vol=0.6)
        for s in states:
            copy.apply(PositionChanged(s.chain, s.protocol, s, s.positions, s.block))
        copy.tick(quote(0))
        copy.tick(quote(1))
        book_traced, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        del copy
        gc.collect()
        print(f"(a) {n:,} accounts / {rows:,} positions loaded through Engine.on_event in {t_load:.2f} s "
              f"({n / t_load:,.0f} accounts/s)")
        # the same states held by the sources between reads: measured as a fresh copy (own objects)
        gc.collect()
        tracemalloc.start()
        held = accounts(n, per)
        held_traced, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"(b) engine book: tracemalloc {book_traced / 2**20:.1f} MiB, RSS +{rss_book:.1f} MiB; "
              f"{len(held):,} AccountStates as the liquidator holds them: tracemalloc {held_traced / 2**20:.1f} MiB")
        del held

        await engine.start(risk_interval_s=3600, resync_interval_s=3600, reload_interval_s=3600)
        try:
            t0 = time.perf_counter()
            for i in range(200):
                await engine.on_event(OracleUpdate("arbitrum", quote(i)))
            one = (time.perf_counter() - t0) / 200
            print(f"(c) one OracleUpdate through on_event (re-price one underlying of {rows:,} rows + SQLite "
                  f"quote): {one * 1e3:.2f} ms → ~{1 / one:.0f}/s ceiling")
            steps: list[dict[str, float]] = []
            start = 1000

            async def step(rate: float, seconds: float) -> dict[str, float]:
                nonlocal start
                r = await run_rate(engine, stream, rate, seconds, start)
                start += int(r["sent"])
                steps.append(r)
                print(f"    {rate:8.0f}/s for {seconds:.1f} s: Lagged {bool(r['lagged'])!s:5s} backlog "
                      f"{r['backlog']:5.0f} consumed {r['consumed_per_s']:7.0f}/s")
                return r

            cap = (await step(2.0 / one, args.step_s))["consumed_per_s"]  # offered 2x: what the collector drains
            ok_rate = 0.0
            for frac in (0.5, 0.7, 0.85, 0.95, 1.0, 1.1):
                r = await step(round(cap * frac), args.step_s)
                if r["lagged"] or r["backlog"] > 100:
                    break
                ok_rate = round(cap * frac)
            trip = await step(round(3 * cap), 1500 / (2 * cap))  # backlog ~1,500 > the 1,000-event queue
            print(f"    guard check at {trip['rate']:.0f}/s: Lagged markers {int(trip['lagged'])}, engine lag "
                  f"resyncs {int(trip['resyncs'])}")
        finally:
            await engine.stop()
            await journal.close()
    emit(f"engine: oracle ticks/s sustained, {n:,} wallets / {rows:,} positions (queue 1,000, SQLite store)",
         f"{ok_rate:,.0f} ticks/s sustained (collector drains {cap:,.0f}/s)",
         f"{trip['rate']:,.0f}/s trips the lag guard: {int(trip['lagged'])} Lagged → {int(trip['resyncs'])} resync",
         f"{one * 1e3:.2f} ms per tick", sustained=ok_rate, capacity=cap, per_tick_ms=one * 1e3, steps=steps)
    emit(f"memory at {n:,} wallets / {rows:,} positions",
         f"engine book {book_traced / 2**20:.0f} MiB traced (RSS +{rss_book:.0f} MiB)",
         f"held AccountStates {held_traced / 2**20:.0f} MiB traced", "",
         book_traced_mib=book_traced / 2**20, book_rss_mib=rss_book, held_traced_mib=held_traced / 2**20,
         load_s=t_load)


if __name__ == "__main__":
    asyncio.run(main())
