"""Benchmark the adapter → mirror path: ``chains.risk_inputs`` conversion (Python over Decimals) against the
vectorised mirror it feeds, for synthetic VaultOptions vaults and PortfolioMargin subaccounts. Prints medians and
the conversion / mirror ratio (how much of a refresh the conversion costs); asserts nothing.

    python bench/bench_mirrors.py [--quick]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root: bench._result
from bench._result import emit  # noqa: E402
from chains.model import (
    AccountState,
    ExerciseStyle,
    Instrument,
    InstrumentKind,
    OptionType,
    OracleQuote,
    OracleSource,
    Position,
    Underlying,
    VolSlice,
)
from chains.protocols.base import OracleReadings
from chains.risk_inputs import pm_inputs, vault_inputs
from risk.margin import pm_margin, vault_margin

NOW = 1_800_000_000
DAY = 86400
BLOCK = 1
T0 = datetime.fromtimestamp(NOW, UTC)
EXPIRIES = [NOW + d * DAY for d in (3, 10, 24, 38)]


def timeit(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm-up (numba compile, caches)
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def _inst(protocol: str, kind: OptionType, strike: int, expiry: int) -> Instrument:
    return Instrument(
        Underlying.ETH,
        InstrumentKind.OPTION,
        "c",
        protocol,
        f"{kind}:{strike}:{expiry}",
        "USDC",
        kind,
        Decimal(strike),
        datetime.fromtimestamp(expiry, UTC),
        Decimal(1),
        ExerciseStyle.EUROPEAN,
    )


def readings() -> OracleReadings:
    slices = tuple(
        VolSlice(
            Underlying.ETH,
            datetime.fromtimestamp(e, UTC),
            Decimal("0.01"),
            Decimal("0.05"),
            Decimal("-0.3"),
            Decimal(0),
            Decimal("0.2"),
            Decimal(3000),
            T0,
            "c",
            BLOCK,
        )
        for e in EXPIRIES
    )
    quote = OracleQuote(OracleSource.CHAINLINK, Underlying.ETH, Decimal(3000), T0, "c", BLOCK, None, "0xfeed")
    return OracleReadings(BLOCK, (quote,), slices)


def vault_states(n: int, rng: random.Random) -> list[AccountState]:
    out = []
    for v in range(n):
        kind = rng.choice((OptionType.PUT, OptionType.CALL))
        inst = _inst("vault_options", kind, rng.randrange(2000, 4000, 100), rng.choice(EXPIRIES))
        size = -Decimal(rng.randint(1, 10**9)).scaleb(-8)
        pos = (Position("0xo", "e", inst, size, str(v + 1)),)
        out.append(
            AccountState(
                "c",
                "vault_options",
                str(v + 1),
                "0xo",
                BLOCK,
                MappingProxyType({"USDC": Decimal(rng.randint(1, 10**12)).scaleb(-6)}),
                pos,
            )
        )
    return out


def pm_states(n: int, per: int, rng: random.Random) -> list[AccountState]:
    out = []
    for a in range(n):
        pos = tuple(
            Position(
                "0xo",
                "e",
                _inst(
                    "portfolio_margin",
                    rng.choice((OptionType.PUT, OptionType.CALL)),
                    rng.randrange(2000, 4000, 100),
                    rng.choice(EXPIRIES),
                ),
                Decimal(rng.randint(-5 * 10**18, 5 * 10**18) or 1).scaleb(-18),
                str(a + 1),
            )
            for _ in range(per)
        )
        out.append(
            AccountState(
                "c",
                "portfolio_margin",
                str(a + 1),
                "0xo",
                BLOCK,
                MappingProxyType({"USD": Decimal(rng.randint(0, 10**23)).scaleb(-18)}),
                pos,
            )
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    n, repeat = (1000, 3) if args.quick else (10_000, 5)
    rng = random.Random(1)
    rd = readings()
    vs = vault_states(n, rng)
    ps = pm_states(n, 4, rng)
    vin = vault_inputs(vs, rd, NOW)
    pin = pm_inputs(ps, rd, NOW)
    rows = [
        (
            f"vault_inputs ({n} vaults)",
            timeit(lambda: vault_inputs(vs, rd, NOW), repeat),
            timeit(lambda: vault_margin(vin.book), repeat),
        ),
        (
            f"pm_inputs ({n} accounts × 4)",
            timeit(lambda: pm_inputs(ps, rd, NOW), repeat),
            timeit(lambda: pm_margin(pin.book), repeat),
        ),
    ]
    for name, conv, mirror in rows:
        print(
            f"{name:<32} conversion {conv * 1e3:8.2f} ms   mirror {mirror * 1e3:8.2f} ms   "
            f"conversion/mirror {conv / mirror:6.1f}×"
        )
        emit(f"adapter states → mirror book, {name}", f"conversion {conv * 1e3:.1f} ms",
             f"the mirror itself {mirror * 1e3:.2f} ms", f"{conv / mirror:.0f}× the mirror",
             conversion_ms=conv * 1e3, mirror_ms=mirror * 1e3)


if __name__ == "__main__":
    main()
