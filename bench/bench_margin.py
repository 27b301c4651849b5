"""Benchmark the margin layer: house scenario margin (target: 100k positions × 33 scenarios <= 0.03 s),
the protocol mirrors and distance to liquidation. Prints medians and same-run ratios; asserts nothing.

    python bench/bench_margin.py [--quick]

The house margin is measured twice: on an idle machine share and with a spinning process on the other
core ("busy"), since keepers share their box with chain clients.
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing as mp
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root: bench._result
from bench._result import emit  # noqa: E402
from risk.margin import (  # noqa: E402
    HouseBook,
    PMBook,
    VaultBook,
    house_distance,
    house_margin,
    pm_distance,
    pm_margin,
    vault_distance,
    vault_margin,
)
from risk.margin.house import HouseParams, scenario_table, scenario_values  # noqa: E402

DAY = 86400.0


def timeit(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm-up (numba compile, caches)
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def listed_book(n_pos: int, n_wallets: int, rng: np.random.Generator) -> HouseBook:
    """A realistic book: 2 underlyings × 8 expiries × 40 strikes × call/put = 1280 listed instruments."""
    und, exp, k, call = np.meshgrid(np.arange(2), np.arange(8), np.arange(40), [True, False], indexing="ij")
    und, exp, k, call = (a.ravel() for a in (und, exp, k, call))
    fwd = np.where(und == 0, 3000.0, 60000.0)
    strike = fwd * (0.6 + 0.02 * k)
    tau = np.array([1, 2, 7, 14, 30, 60, 90, 180])[exp] / 365.0
    ni = und.shape[0]
    return HouseBook.build(
        underlying=und,
        is_call=call,
        strike=strike,
        tau=tau,
        forward=fwd,
        vol=rng.uniform(0.4, 1.0, ni),
        rate=0.04,
        wallet=rng.integers(0, n_wallets, n_pos),
        instrument=rng.integers(0, ni, n_pos),
        amount=rng.normal(0.0, 3.0, n_pos),
        cash=rng.uniform(0.0, 1e5, n_wallets),
    )


def unique_book(n_pos: int, n_wallets: int, rng: np.random.Generator) -> HouseBook:
    """Worst case: every position its own instrument (no sharing of the per-scenario prices)."""
    return HouseBook.build(
        underlying=np.zeros(n_pos, dtype=np.int64),
        is_call=rng.random(n_pos) < 0.5,
        strike=rng.uniform(1500, 4500, n_pos),
        tau=rng.uniform(1, 180, n_pos) / 365.0,
        forward=np.full(n_pos, 3000.0),
        vol=rng.uniform(0.4, 1.0, n_pos),
        wallet=rng.integers(0, n_wallets, n_pos),
        instrument=np.arange(n_pos),
        amount=rng.normal(0.0, 3.0, n_pos),
        cash=rng.uniform(0.0, 1e5, n_wallets),
    )


def naive_house(book: HouseBook) -> np.ndarray:
    """Same maths without the instrument table: reprice every position, gather, reduceat per wallet."""
    p = HouseParams()
    t = scenario_table(p)
    i = book.instrument
    _, dv = scenario_values(
        book.is_call[i], book.strike[i], book.tau[i], book.forward[i], book.rate[i], book.vol[i], t, p
    )
    dv *= book.amount[:, None]
    starts = np.flatnonzero(np.r_[True, book.wallet[1:] != book.wallet[:-1]])
    return np.add.reduceat(dv, starts, axis=0)


def pm_book(n_acc: int, per_acc: int, rng: np.random.Generator) -> PMBook:
    n = n_acc * per_acc
    ns = 8
    tau = np.array([2, 7, 14, 30, 60, 90, 120, 180]) / 365.0
    return PMBook.build(
        cash=rng.uniform(1e3, 5e4, n_acc),
        spot=[3000.0],
        slice_underlying=np.zeros(ns, dtype=np.int64),
        slice_expiry=tau * 365 * DAY,
        slice_forward=np.full(ns, 3010.0),
        svi=(0.36 * tau, np.full(ns, 0.05), np.full(ns, -0.3), np.zeros(ns), np.full(ns, 0.2)),
        account=np.repeat(np.arange(n_acc), per_acc),
        slice=rng.integers(0, ns, n),
        is_call=rng.random(n) < 0.5,
        strike=3000.0 * rng.uniform(0.6, 1.4, n),
        amount=rng.normal(0.0, 2.0, n),
        now=0.0,
    )


def vault_book(n: int, rng: np.random.Generator) -> VaultBook:
    return VaultBook.build(
        collateral=rng.uniform(500, 5000, n),
        vault=np.arange(n),
        is_call=rng.random(n) < 0.5,
        strike=3000.0 * rng.uniform(0.7, 1.3, n),
        amount=rng.uniform(0.5, 3.0, n),
        tau_seconds=rng.uniform(1, 56, n) * DAY,
        spot=3000.0,
    )


def _spin(stop: mp.synchronize.Event) -> None:  # type: ignore[name-defined]
    x = 0
    while not stop.is_set():
        for _ in range(100_000):
            x += 1


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer repeats and smaller distance runs")
    args = ap.parse_args()
    rep = 5 if args.quick else 15
    rng = np.random.default_rng(42)

    n_pos, n_w = 100_000, 10_000
    t0 = time.perf_counter()
    listed = listed_book(n_pos, n_w, rng)
    t_build = time.perf_counter() - t0
    t_listed = timeit(lambda: house_margin(listed), rep)
    t_naive = timeit(lambda: naive_house(listed), max(3, rep // 5))
    uniq = unique_book(n_pos, n_w, rng)
    t_unique = timeit(lambda: house_margin(uniq), max(3, rep // 5))
    t_sparse = timeit(lambda: sp.csr_matrix((listed.amount, (listed.wallet, listed.instrument))), rep)

    stop = mp.Event()
    spinner = mp.Process(target=_spin, args=(stop,), daemon=True)
    spinner.start()
    try:
        t_busy = timeit(lambda: house_margin(listed), rep)
    finally:
        stop.set()
        spinner.join(timeout=5)
        if spinner.is_alive():
            spinner.terminate()

    print(f"house margin, {n_pos:,} positions × 33 scenarios, {n_w:,} wallets")
    print(f"  listed book (1280 instruments)   {t_listed * 1e3:8.2f} ms   (target <= 30 ms)")
    print(
        f"  same, other core busy            {t_busy * 1e3:8.2f} ms   ratio busy/idle {t_busy / t_listed:5.2f}"
    )
    print(
        f"  naive per-position repricing     {t_naive * 1e3:8.2f} ms   ratio naive/listed {t_naive / t_listed:6.1f}"
    )
    print(
        f"  all-unique instruments (100k)    {t_unique * 1e3:8.2f} ms   ratio unique/listed {t_unique / t_listed:6.1f}"
    )
    print(
        f"  HouseBook.build once per book    {t_build * 1e3:8.2f} ms   (of which holdings matrix {t_sparse * 1e3:.2f} ms)"
    )

    pm = pm_book(10_000, 10, rng)
    vb = vault_book(10_000, rng)
    t_pm = timeit(lambda: pm_margin(pm), rep)
    t_vault = timeit(lambda: vault_margin(vb), rep)
    print("protocol mirrors")
    print(f"  PortfolioMargin 10,000 accounts × 10 positions  {t_pm * 1e3:8.2f} ms")
    print(f"  VaultOptions    10,000 vaults                   {t_vault * 1e3:8.2f} ms")
    emit(f"house scenario margin, {n_pos:,} positions × 33 scenarios, {n_w:,} wallets",
         f"{t_listed * 1e3:.1f} ms ({t_busy * 1e3:.1f} ms other core busy)",
         f"per-position repricing {t_naive * 1e3:.0f} ms; target ≤ 30 ms", f"{t_naive / t_listed:.0f}× faster than naive",
         ms=t_listed * 1e3, busy_ms=t_busy * 1e3, naive_ms=t_naive * 1e3)
    emit("PortfolioMargin mirror 10k accounts × 10 positions / VaultOptions mirror 10k vaults",
         f"{t_pm * 1e3:.1f} ms / {t_vault * 1e3:.2f} ms", "", "", pm_ms=t_pm * 1e3, vault_ms=t_vault * 1e3)

    n_d = 500 if args.quick else 2000
    pm_d = pm_book(n_d, 10, rng)
    vb_d = vault_book(n_d, rng)
    hb_raw = listed_book(n_d * 10, n_d, rng)
    m0 = house_margin(hb_raw)
    # fund each wallet to between 1.1× and 2× its house MM so the distances are interesting
    cash = m0.mm * rng.uniform(1.1, 2.0, n_d) - (m0.equity - hb_raw.cash)
    hb_d = dataclasses.replace(hb_raw, cash=cash)
    t_vd = timeit(lambda: vault_distance(vb_d), 1)
    t_pd = timeit(lambda: pm_distance(pm_d), 1)
    t_hd = timeit(lambda: house_distance(hb_d), 1)
    d = house_distance(hb_d)
    print(f"distance to liquidation (down and up), {n_d:,} accounts")
    print(f"  VaultOptions    {t_vd * 1e3:8.1f} ms")
    print(f"  PortfolioMargin {t_pd * 1e3:8.1f} ms   ({n_d * 10:,} positions)")
    fin_d, fin_u = np.isfinite(d.down), np.isfinite(d.up)
    med_d = float(np.median(d.down[fin_d])) if fin_d.any() else float("nan")
    med_u = float(np.median(d.up[fin_u])) if fin_u.any() else float("nan")
    print(f"  house margin    {t_hd * 1e3:8.1f} ms   ({n_d * 10:,} positions, underlying 0)")
    print(f"    liquidated by a fall: {fin_d.mean():.0%} of wallets (median move {med_d:.3f})")
    print(f"    liquidated by a rally: {fin_u.mean():.0%} of wallets (median move {med_u:.3f})")


if __name__ == "__main__":
    main()
