"""Independent (mpmath) MM / MtM values pasted into PortfolioMargin.t.sol.

Run: /work/main/.venv/bin/python contracts/test/portfolio/gen_margin_refs.py
Fixture (PortfolioBase): S = 2000, expiry 1 = 30 d (F = 2010), expiry 2 = 60 d (F = 2020), flat vol 60 %,
tau = days·86400·1e18 // (365·86400) as the contract floors it. Formulas: Lyra v2 StandardManager as in
contracts/src/portfolio/README.md, evaluated in exact-ish 50-digit arithmetic (no wei rounding).
"""

import mpmath as mp

mp.mp.dps = 50
W = mp.mpf(10) ** 18
SPOT, VOL = mp.mpf(2000), mp.mpf("0.6")
EXPIRIES = {1: (30, mp.mpf(2010)), 2: (60, mp.mpf(2020))}

Position = tuple[int, int, bool, int]  # (expiry key, strike, is call, signed amount)


def black76(call: bool, f: mp.mpf, k: mp.mpf, tau: mp.mpf, vol: mp.mpf) -> mp.mpf:
    s = vol * mp.sqrt(tau)
    d1 = mp.log(f / k) / s + s / 2
    d2 = d1 - s
    return f * mp.ncdf(d1) - k * mp.ncdf(d2) if call else k * mp.ncdf(-d2) - f * mp.ncdf(-d1)


def tau_of(days: int) -> mp.mpf:
    return mp.mpf(days * 86400 * 10**18 // (365 * 86400)) / W


def payoff(call: bool, k: int, p: int) -> int:
    return max(p - k, 0) if call else max(k - p, 0)


def margin(cash: int, positions: list[Position]) -> tuple[int, int]:
    mm = mtm = mp.mpf(cash)
    for e in sorted({p[0] for p in positions}):
        days, fwd = EXPIRIES[e]
        group = [p for p in positions if p[0] == e]
        isolated = mp.mpf(0)
        for _, k, call, a in group:
            mark = black76(call, fwd, mp.mpf(k), tau_of(days), VOL)
            mtm += a * mark
            if a < 0:
                spot_term = a * mp.mpf("0.09") * SPOT
                isolated += a * mark + (spot_term if call else min(spot_term, mp.mpf("0.09") * a * mark))
        worst = min(
            [0] + [sum(a * payoff(c, k, p) for _, k, c, a in group) for p in [0] + [g[1] for g in group]]
        )
        net_calls = sum(a for _, _, c, a in group if c)
        max_loss = worst + (mp.mpf("1.1") * fwd * net_calls if net_calls < 0 else 0)
        mm += max(isolated, max_loss)
    return int(mp.nint(mm * W)), int(mp.nint(mtm * W))


if __name__ == "__main__":
    print(
        "isolated",
        margin(
            10000 + 2 * 50 + 3 * 40 + 30, [(1, 2200, True, -2), (1, 1800, False, -3), (2, 2500, True, -1)]
        ),
    )
    print("spread", margin(1000 + 150 - 60, [(1, 2000, True, -1), (1, 2200, True, 1)]))
    print("naked", margin(5000 + 1000 - 720, [(1, 2000, True, -10), (1, 2100, True, 9)]))
