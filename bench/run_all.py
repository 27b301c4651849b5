"""Run every bench/bench_*.py in name order, print each one's table, then a summary.

Each benchmark runs in its own interpreter (fresh JIT state, no cross-talk between thread pools);
their own output is passed through unchanged. Exit status is non-zero if any benchmark failed.

Usage: python bench/run_all.py [--only SUBSTRING] [--timeout SECONDS]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent


def discover(only: str | None) -> list[Path]:
    scripts = sorted(BENCH_DIR.glob("bench_*.py"))
    return [p for p in scripts if only is None or only in p.name]


def run(script: Path, timeout: float) -> tuple[int, float]:
    """Run one benchmark with output streaming to ours; (exit status, seconds). 124 = timed out."""
    print(f"===== {script.name} =====", flush=True)
    t0 = time.perf_counter()
    try:
        status = subprocess.run(
            [sys.executable, str(script)], cwd=BENCH_DIR.parent, timeout=timeout
        ).returncode
    except subprocess.TimeoutExpired:
        print(f"{script.name}: timed out after {timeout:.0f} s", flush=True)
        status = 124
    return status, time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description="Run all benchmarks in bench/.")
    ap.add_argument("--only", help="run only scripts whose file name contains this")
    ap.add_argument("--timeout", type=float, default=300.0, help="per-benchmark limit in seconds")
    opts = ap.parse_args()
    scripts = discover(opts.only)
    if not scripts:
        print(f"no bench_*.py in {BENCH_DIR}" + (f" matching {opts.only!r}" if opts.only else ""))
        return 1
    results = [(s.name, *run(s, opts.timeout)) for s in scripts]
    print("===== summary =====")
    for name, status, seconds in results:
        verdict = "ok" if status == 0 else f"FAILED (exit {status})"
        print(f"{name:32s} {seconds:7.1f} s  {verdict}")
    return 0 if all(status == 0 for _, status, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
