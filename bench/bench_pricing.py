"""Pricing benchmark: risk.pricing kernels vs naive numpy + scipy.special.ndtr vs py_vollib_vectorized.

Prints one table of throughputs with same-run ratios, measured twice: on an otherwise idle machine
and with a busy-loop process occupying one core (a thread pool that spin-waits shows up there).
py_vollib_vectorized 0.1.1 (Feb 2021) runs in its own throwaway venv ``.venv-bench`` (Python 3.11, numba 0.58),
created by the benchmark when missing (a one-off install outside the timed run; ``--no-venv`` skips it) and called
as a subprocess, so its figure is measured in the same run. Why the pins: with today's ``py_vollib`` (1.0.12, a
deprecated transition shim to ``vollib``) its jitted ``_model_calls.black`` fails numba type inference ("cannot
type infer runaway recursion") under every numba tried (0.53-0.68); with the ``py_vollib`` 1.0.1 /
``py_lets_be_rational`` 1.0.1 it was written against, it works. When the venv cannot be made (no registry), the
ratio is printed against its published 0.7 M/s figure, labelled "not measured".

Usage: python bench/bench_pricing.py [--quick] [--no-venv]
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp_proc
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import ndtr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numba  # noqa: E402

from bench._result import emit  # noqa: E402
from risk import _kernels  # noqa: E402
from risk.pricing import GreeksBuffer, black76, bsm, bsm_into, implied_vol  # noqa: E402

BENCH_VENV = ROOT / ".venv-bench"
PUBLISHED_VOLLIB = 0.7e6  # options/s, price + Greeks, measured before the project existed
VOLLIB_REQS = [
    "numpy>=1.24,<1.27",
    "numba>=0.57,<0.59",
    "pandas<2.3",
    "scipy<1.14",
    "py-vollib-vectorized>=0.1.1,<0.2",
    "py_vollib==1.0.1",  # 1.0.12 is a shim to `vollib` that py_vollib_vectorized's numba code cannot type
    "py_lets_be_rational==1.0.1",
]


# ------------------------------------------------------------------------------------------------
# workloads


def book(n: int, seed: int = 7) -> dict[str, Any]:
    """Crypto-like book: spot 1k..100k, vol 20 %..200 %, 1 day..1 year, strikes +-3 sd."""
    rng = np.random.default_rng(seed)
    spot = np.exp(rng.uniform(math.log(1e3), math.log(1e5), n))
    vol = rng.uniform(0.2, 2.0, n)
    t = np.exp(rng.uniform(math.log(1.0 / 365.0), 0.0, n))
    strike = spot * np.exp(rng.uniform(-3.0, 3.0, n) * vol * np.sqrt(t))
    return dict(call=rng.random(n) < 0.5, spot=spot, strike=strike, t=t, vol=vol, rate=0.03, carry=0.01)


def naive_bsm(
    call: np.ndarray, s: np.ndarray, k: np.ndarray, t: np.ndarray, r: float, q: float, v: np.ndarray
):  # type: ignore[no-untyped-def]
    """The obvious numpy version: price, delta, gamma, vega, theta with scipy's ndtr."""
    sqt = np.sqrt(t)
    sig = v * sqt
    d1 = (np.log(s / k) + (r - q + 0.5 * v * v) * t) / sig
    d2 = d1 - sig
    dq = np.exp(-q * t)
    dr = np.exp(-r * t)
    pdf = np.exp(-0.5 * d1 * d1) / math.sqrt(2.0 * math.pi)
    sg = np.where(call, 1.0, -1.0)
    n1 = ndtr(sg * d1)
    n2 = ndtr(sg * d2)
    price = sg * (s * dq * n1 - k * dr * n2)
    delta = sg * dq * n1
    gamma = dq * pdf / (s * sig)
    vega = s * dq * pdf * sqt
    theta = -s * dq * pdf * v / (2.0 * sqt) + sg * (q * s * dq * n1 - r * k * dr * n2)
    return price, delta, gamma, vega, theta


def best_time(fn: Callable[[], object], min_total: float = 0.25, max_reps: int = 200) -> float:
    """Best of several runs (the least-disturbed one), after one warm-up."""
    fn()
    best = math.inf
    start = time.perf_counter()
    reps = 0
    while reps < 3 or (time.perf_counter() - start < min_total and reps < max_reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
        reps += 1
    return best


def median_time(fn: Callable[[], object], reps: int) -> float:
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


# ------------------------------------------------------------------------------------------------
# py_vollib_vectorized in its own venv

_VOLLIB_SNIPPET = r"""
import json, sys, time
import numpy as np
from py_vollib_vectorized import get_all_greeks, vectorized_black_scholes_merton
d = np.load(sys.argv[1])
flag = np.where(d["call"], "c", "p")
args = (flag, d["spot"], d["strike"], d["t"], float(d["rate"]), d["vol"], float(d["carry"]))
def run():
    p = vectorized_black_scholes_merton(*args, return_as="numpy")
    g = get_all_greeks(*args, model="black_scholes_merton", return_as="dict")
    return p, g
run()
best = 1e9
for _ in range(3):
    t0 = time.perf_counter(); p, g = run(); best = min(best, time.perf_counter() - t0)
out = {"seconds": best, "n": int(d["spot"].size), "price": np.asarray(p).ravel().tolist(),
       "delta": np.asarray(g["delta"]).ravel().tolist(), "gamma": np.asarray(g["gamma"]).ravel().tolist(),
       "vega": np.asarray(g["vega"]).ravel().tolist(), "theta": np.asarray(g["theta"]).ravel().tolist()}
print(json.dumps(out))
"""


def make_venv() -> str:
    """Create the baseline venv (idempotent: a stamp names the pins it was built with); '' or why it failed."""
    stamp = BENCH_VENV / "rtrm-reqs.txt"
    if stamp.exists() and stamp.read_text() == "\n".join(VOLLIB_REQS):
        return ""
    base = Path(sys.base_prefix) / "bin" / "python3"
    t0 = time.perf_counter()
    try:
        subprocess.run([str(base), "-m", "venv", "--clear", str(BENCH_VENV)], check=True, timeout=120)
        subprocess.run([str(BENCH_VENV / "bin" / "pip"), "install", "-q", *VOLLIB_REQS], check=True, timeout=600,
                       capture_output=True, text=True)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        return f"could not create {BENCH_VENV.name}: {str(detail).strip().splitlines()[-1][:160] if detail else exc}"
    stamp.write_text("\n".join(VOLLIB_REQS))
    print(f"created {BENCH_VENV.name} for py_vollib_vectorized in {time.perf_counter() - t0:.0f} s (not timed)")
    return ""


def measure_vollib(
    b: dict[str, Any], n: int, timeout: float
) -> tuple[float | None, str, dict[str, Any] | None]:
    """(options/s or None, note, raw output)."""
    py = BENCH_VENV / "bin" / "python"
    if not py.exists():
        return (
            None,
            (
                f"not measured: no {BENCH_VENV.name}; py_vollib_vectorized 0.1.1 fails numba type inference "
                "('runaway recursion' in _model_calls.black) under numba 0.53-0.68, see the module docstring"
            ),
            None,
        )
    path = Path("/tmp") / f"bench_pricing_{os.getpid()}.npz"
    sub = {k: (v[:n] if isinstance(v, np.ndarray) else v) for k, v in b.items()}
    np.savez(path, **sub)
    try:
        res = subprocess.run(
            [str(py), "-c", _VOLLIB_SNIPPET, str(path)], capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return None, f"not measured: timed out after {timeout:.0f} s", None
    finally:
        path.unlink(missing_ok=True)
    if res.returncode != 0:
        last = (res.stderr.strip().splitlines() or ["?"])[-1]
        return None, f"not measured: {last[:80]}", None
    out = json.loads(res.stdout.strip().splitlines()[-1])
    return out["n"] / out["seconds"], f"measured on {n:,} options in {BENCH_VENV.name}", out


# ------------------------------------------------------------------------------------------------
# busy core


def _spin() -> None:
    x = 0
    while True:
        x += 1


class BusyCore:
    """A process spinning on one core for the duration of the block."""

    def __enter__(self) -> BusyCore:
        self.proc = mp_proc.get_context("fork").Process(target=_spin, daemon=True)
        self.proc.start()
        time.sleep(0.2)
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.join(5)


# ------------------------------------------------------------------------------------------------


def run_pass(b: dict[str, Any], iv_in: dict[str, Any], tick: dict[str, Any], quick: bool) -> dict[str, float]:
    n = b["spot"].size
    buf = GreeksBuffer.empty(n)
    args = (b["call"], b["spot"], b["strike"], b["t"], b["rate"], b["carry"], b["vol"])
    res: dict[str, float] = {}
    budget = 0.15 if quick else 0.4
    res["ours_fast"] = n / best_time(lambda: bsm_into(buf, *args, validate=False), budget)
    res["ours_fast_checked"] = n / best_time(lambda: bsm_into(buf, *args), budget)
    res["ours_full"] = n / best_time(lambda: bsm(*args), budget)
    res["naive"] = n / best_time(lambda: naive_bsm(*args), budget, max_reps=10)
    tbuf = GreeksBuffer.empty(tick["spot"].size)
    targs = (tick["call"], tick["spot"], tick["strike"], tick["t"], tick["rate"], tick["carry"], tick["vol"])
    res["tick_us"] = 1e6 * median_time(lambda: bsm_into(tbuf, *targs), 300 if quick else 2000)
    iv_args = (iv_in["price"], iv_in["call"], iv_in["fwd"], iv_in["strike"], iv_in["t"], iv_in["rate"])
    res["iv"] = iv_in["price"].size / best_time(lambda: implied_vol(*iv_args), budget)
    return res


def iv_workload(n: int) -> dict[str, Any]:
    """100k quotes across the crypto ranges: vol 5 %..1000 %, 1 hour..3 years, strikes +-4 sd."""
    rng = np.random.default_rng(3)
    vol = np.exp(rng.uniform(math.log(0.05), math.log(10.0), n))
    t = np.exp(rng.uniform(math.log(1.0 / 8760.0), math.log(3.0), n))
    fwd = np.exp(rng.uniform(math.log(1.0), math.log(1e5), n))
    strike = fwd * np.exp(-rng.uniform(-4.0, 4.0, n) * vol * np.sqrt(t))
    call = rng.random(n) < 0.5
    price = black76(call, fwd, strike, t, 0.03, vol).price
    return dict(price=price, call=call, fwd=fwd, strike=strike, t=t, rate=0.03, vol=vol)


def iv_accuracy(iv_in: dict[str, Any]) -> tuple[int, int, float]:
    """(well-posed count, misses among them, NaN count) against the accuracy contract."""
    g = black76(iv_in["call"], iv_in["fwd"], iv_in["strike"], iv_in["t"], iv_in["rate"], iv_in["vol"])
    disc = math.exp(-0.03) ** iv_in["t"]
    intrinsic = disc * np.where(
        iv_in["call"],
        np.maximum(iv_in["fwd"] - iv_in["strike"], 0),
        np.maximum(iv_in["strike"] - iv_in["fwd"], 0),
    )
    bound = disc * np.where(iv_in["call"], iv_in["fwd"], iv_in["strike"])
    p = iv_in["price"]
    well = (p - intrinsic > 1e-12 * p) & (bound - p > 1e-12 * bound) & (p > 1e-280)
    iv = implied_vol(p, iv_in["call"], iv_in["fwd"], iv_in["strike"], iv_in["t"], iv_in["rate"])
    tol = np.maximum(1e-10, 1e-13 * p / np.where(g.vega > 0, g.vega, 1e-300))
    # our own float prices carry rounding of up to a few ulp: that is inside the tolerance's 1e-13.
    miss = int(np.sum(well & ~(np.abs(iv - iv_in["vol"]) <= tol)))
    return int(well.sum()), miss, int(np.isnan(iv).sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller repetition budget")
    ap.add_argument(
        "--no-venv", action="store_true", help=f"do not create {BENCH_VENV.name} for py_vollib_vectorized"
    )
    opts = ap.parse_args()
    venv_problem = "" if opts.no_venv else make_venv()
    wall0 = time.perf_counter()
    n = 1_000_000
    b = book(n)
    tick = {k: (v[:1000] if isinstance(v, np.ndarray) else v) for k, v in book(1000, seed=11).items()}
    iv_in = iv_workload(100_000)

    # accuracy of the fast path against the naive formula (well-scaled rows), same run
    buf = GreeksBuffer.empty(n)
    bsm_into(buf, b["call"], b["spot"], b["strike"], b["t"], b["rate"], b["carry"], b["vol"])
    ref = naive_bsm(b["call"], b["spot"], b["strike"], b["t"], b["rate"], b["carry"], b["vol"])
    sel = ref[0] > 1e-6 * b["spot"]
    dev = {
        f: float(np.max(np.abs(getattr(buf, f)[sel] - r[sel]) / np.abs(r[sel]).clip(1e-300)))
        for f, r in zip(("price", "delta", "gamma", "vega", "theta"), ref, strict=True)
    }

    idle = run_pass(b, iv_in, tick, opts.quick)
    with BusyCore():
        busy = run_pass(b, iv_in, tick, opts.quick)
    vollib, note, raw = measure_vollib(b, 100_000, timeout=180.0)
    if venv_problem:
        note = f"{note} ({venv_problem})"
    vollib_rate = vollib if vollib is not None else PUBLISHED_VOLLIB
    vollib_label = "measured" if vollib is not None else "NOT MEASURED, published figure"
    well, miss, nans = iv_accuracy(iv_in)

    print(
        f"bench_pricing: numba {numba.__version__}, threading layer {numba.threading_layer()}, "
        f"{numba.get_num_threads()} threads, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}, "
        f"single-thread below {_kernels.PARALLEL_MIN} options"
    )
    print(f"{'workload':52s} {'idle':>12s} {'1 core busy':>12s}")
    rows = [
        ("ours: bsm_into price+D+G+V+T, 1M (validate=False) M/s", "ours_fast", 1e-6),
        ("ours: bsm_into price+D+G+V+T, 1M (validated) M/s", "ours_fast_checked", 1e-6),
        ("ours: bsm all 9 outputs, 1M M/s", "ours_full", 1e-6),
        ("naive numpy + scipy ndtr, price+D+G+V+T, 1M M/s", "naive", 1e-6),
        ("ours: one tick, 1k options, median us", "tick_us", 1.0),
        ("ours: implied_vol, 100k quotes M/s", "iv", 1e-6),
    ]
    for label, key, scale in rows:
        print(f"{label:52s} {idle[key] * scale:12.2f} {busy[key] * scale:12.2f}")
    print(f"{'py_vollib_vectorized price+Greeks M/s (' + vollib_label + ')':52s} {vollib_rate * 1e-6:12.2f}")
    print(f"  py_vollib_vectorized: {note}")
    print("ratios (same run, idle):")
    print(f"  ours fast / naive numpy        {idle['ours_fast'] / idle['naive']:8.1f}x")
    print(
        f"  ours fast / py_vollib ({'measured' if vollib else 'published'})  {idle['ours_fast'] / vollib_rate:8.1f}x"
    )
    print(f"  ours fast busy / idle          {busy['ours_fast'] / idle['ours_fast']:8.2f}")
    print(f"  implied_vol busy / idle        {busy['iv'] / idle['iv']:8.2f}")
    print("accuracy:")
    print(
        "  fast path vs naive (rows with price > 1e-6 S), max rel dev: "
        + ", ".join(f"{k} {v:.1e}" for k, v in dev.items())
    )
    if raw is not None:
        m = int(raw["n"])
        vol_dev = {
            f: float(np.max(np.abs(np.asarray(raw[f]) - r[:m]) / np.abs(r[:m]).clip(1e-12)))
            for f, r in zip(("price", "delta", "gamma", "vega", "theta"), ref, strict=True)
        }
        print(
            "  py_vollib_vectorized vs naive, max rel dev: "
            + ", ".join(f"{k} {v:.1e}" for k, v in vol_dev.items())
            + "  (its Greeks: finite differences, vega per 1 %, theta per day)"
        )
    print(
        f"  implied_vol: {well:,} well-posed quotes, {miss} outside max(1e-10, 1e-13 price/vega), {nans} NaN flags in total"
    )
    fast, naive = idle["ours_fast"], idle["naive"]
    emit("price + Δ Γ vega Θ, 1M options (`bsm_into`)",
         f"{fast * 1e-6:.0f} M options/s ({busy['ours_fast'] * 1e-6:.0f} M/s with the other core busy)",
         f"naive numpy + scipy `ndtr`: {naive * 1e-6:.1f} M/s", f"{fast / naive:.1f}×",
         ours=fast, naive=naive, busy=busy["ours_fast"])
    emit("same vs py_vollib_vectorized 0.1.1 (own venv, 100k options)",
         f"{fast * 1e-6:.0f} M options/s",
         f"py_vollib_vectorized {vollib_rate * 1e-6:.2f} M/s ({vollib_label})",
         f"{fast / vollib_rate:.0f}×", vollib=vollib, measured=vollib is not None, note=note)
    emit("all 9 Greeks, 1M options (`bsm`)", f"{idle['ours_full'] * 1e-6:.0f} M/s",
         f"naive (5 outputs) {naive * 1e-6:.1f} M/s", f"{idle['ours_full'] / naive:.1f}×", ours=idle["ours_full"])
    emit("one oracle tick, 1k options", f"{idle['tick_us']:.1f} µs median", "target ≤ 25 µs",
         f"{idle['tick_us'] / 25:.2f} of target", us=idle["tick_us"], busy_us=busy["tick_us"])
    emit("implied vol, 100k quotes", f"{idle['iv'] * 1e-6:.1f} M/s ({busy['iv'] * 1e-6:.1f} M/s other core busy); "
         f"{miss} of {well:,} well-posed quotes outside max(1e-10, 1e-13·price/vega)", "target ≥ 6 M/s",
         f"{idle['iv'] / 6e6:.1f}× target", rate=idle["iv"], busy=busy["iv"], misses=miss, well_posed=well)
    print(f"bench_pricing: finished in {time.perf_counter() - wall0:.1f} s")


if __name__ == "__main__":
    main()
