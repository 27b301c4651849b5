"""Regenerate Black76.sol's Chebyshev coefficients and the reference values pasted in Black76.t.sol.

Run: /work/main/.venv/bin/python contracts/test/lib/gen_black76.py [coefs|prices|cdf]
Why: the on-chain normal CDF writes Q(z) = t·exp(−z²/2 + g(t)), t = 3/(3+z), z ∈ [0, 13]; g is fitted here
as a degree-24 Chebyshev series in y = (32t − 19)/13 at 60 digits, scaled to 1e36 integers.
"""

import sys

import mpmath as mp

mp.mp.dps = 60
W = 10**18
C, ZMAX, DEG = 3, 13, 24


def upper_tail(z: mp.mpf) -> mp.mpf:
    return mp.erfc(z / mp.sqrt(2)) / 2


def g_of_y(y: mp.mpf) -> mp.mpf:
    tlo = mp.mpf(C) / (C + ZMAX)
    t = tlo + (1 - tlo) * (y + 1) / 2
    z = C / t - C
    return mp.log(upper_tail(z)) + z * z / 2 - mp.log(t)


def coefficients() -> list[int]:
    n = DEG + 1
    nodes = [mp.cos(mp.pi * (k + mp.mpf(1) / 2) / n) for k in range(n)]
    vals = [g_of_y(y) for y in nodes]
    out = []
    for j in range(n):
        s = sum(vals[k] * mp.cos(mp.pi * j * (k + mp.mpf(1) / 2) / n) for k in range(n))
        out.append(2 * s / n / (2 if j == 0 else 1))
    return [int(mp.nint(c * mp.mpf(10) ** 36)) for c in out]


def black76(f: int, k: int, tau: int, vol: int) -> tuple[int, int, int]:
    fw, kw, tw, vw = (mp.mpf(x) / W for x in (f, k, tau, vol))
    s = vw * mp.sqrt(tw)
    d1 = mp.log(fw / kw) / s + s / 2
    d2 = d1 - s
    call = fw * mp.ncdf(d1) - kw * mp.ncdf(d2)
    put = kw * mp.ncdf(-d2) - fw * mp.ncdf(-d1)
    return int(mp.nint(call * W)), int(mp.nint(put * W)), int(mp.nint(mp.ncdf(d1) * W))


def price_rows() -> list[str]:
    rows = []
    for f in (100, 3000, 100000):
        for kr in ("0.5", "0.8", "1", "1.25", "2"):
            for days in (1, 30, 365):
                for vol in ("0.2", "0.8", "2"):
                    fw, kw = f * W, int(mp.mpf(kr) * f * W)
                    tw, vw = days * W // 365, int(mp.mpf(vol) * W)
                    args = (fw, kw, tw, vw, *black76(fw, kw, tw, vw))
                    rows.append(f"_check({', '.join(str(a) for a in args)});")
    return rows


def cdf_rows() -> list[str]:
    xs = (
        "-12",
        "-9",
        "-8",
        "-5",
        "-3",
        "-1.5",
        "-0.5",
        "-0.000000001",
        "0",
        "0.3",
        "1",
        "2.5",
        "6",
        "10",
        "12.9",
    )
    out = []
    for x in xs:
        xw = int(mp.nint(mp.mpf(x) * W))
        ref = int(mp.nint(mp.ncdf(mp.mpf(xw) / W) * mp.mpf(10) ** 36))
        out.append(f"_checkCdf({xw}, {ref});")
    return out


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "coefs"
    lines = {"coefs": lambda: [str(c) for c in coefficients()], "prices": price_rows, "cdf": cdf_rows}[what]()
    print("\n".join(lines))
