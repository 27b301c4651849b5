"""A realistic synthetic `ReportData`, generated deterministically from a seed: four chains, a crash, every
kind of action (outcompeted, reverted, abandoned), hostile strings where run data ends up in the page."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from bots.demo.data import Action, BotRow, EntityRow, Greeks, Phase, ReportData

HOSTILE_TARGET = '<script>alert("pwned")</script>'
HOSTILE_ENTITY = "wallet:[bold]<img src=x onerror=alert(1)>"
CHAINS = ["ethereum", "arbitrum", "base", "solana"]
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_PHASES = (("calm", 0.0, 20.0), ("crash", 20.0, 35.0), ("rebound", 35.0, 50.0), ("expiry", 50.0, 60.0))
_KINDS = (("liquidator", "liquidate", "ethereum", "vault_options"),
          ("auction_bidder", "bid", "arbitrum", "portfolio_margin"),
          ("hedger", "hedge", "base", "option_amm"),
          ("claimer", "claim", "base", "cover_market"),
          ("settler", "settle", "ethereum", "vault_options"),
          ("claimer", "dispute", "base", "cover_market"),
          ("liquidator", "liquidate", "solana", "tokenized_options"))


def _phases() -> list[Phase]:
    t0 = 1_760_000_000
    return [Phase(n, s, e, t0 + int(s * 60), t0 + int(e * 60)) for n, s, e in _PHASES]


def _spot(t: np.ndarray, s0: float, rng: np.random.Generator) -> np.ndarray:
    """Calm drift, a 30 % crash between 20 s and 35 s, a partial rebound."""
    shape = np.where(t < 20, 1.0, np.where(t < 35, 1 - 0.3 * (t - 20) / 15, 0.7 + 0.1 * (t - 35) / 25))
    return s0 * shape * np.exp(np.cumsum(rng.normal(0, 0.002, t.size)))


def _prices(rng: np.random.Generator) -> dict[str, list[tuple[float, float]]]:
    out = {}
    for asset, s0 in (("ETH", 3000.0), ("SOL", 150.0)):
        t = np.linspace(0, 60, 121)
        base = _spot(t, s0, rng)
        feeds = [(c, "chainlink") for c in CHAINS[:3]] + [("base", "pyth"), ("solana", "pyth")]
        for lag, (chain, source) in enumerate(feeds):
            shifted = np.concatenate([[base[0]] * lag, base[: base.size - lag]])
            out[f"{chain}:{source}:{asset}"] = [(float(a), float(b)) for a, b in zip(t, shifted, strict=True)]
    return out


def _deltas(rng: np.random.Generator) -> tuple[dict, dict]:
    t = np.linspace(0, 60, 61)
    deltas, bands = {}, {}
    for entity, width in (("keeper", 40_000.0), ("pool:option_amm", 120_000.0)):
        walk = np.cumsum(rng.normal(0, width / 4, t.size))
        walk = np.clip(walk, -1.5 * width, 1.5 * width)
        widen = np.where((t >= 20) & (t < 35), 1.5, 1.0)
        deltas[entity] = [(float(a), float(b)) for a, b in zip(t, walk, strict=True)]
        bands[entity] = [(float(a), -width * w, width * w) for a, w in zip(t, widen, strict=True)]
    return deltas, bands


def _greeks(rng: np.random.Generator) -> list[tuple[float, Greeks]]:
    t = np.linspace(0, 60, 121)
    return [(float(s), Greeks(delta=float(rng.normal(10, 2)), gamma=float(abs(rng.normal(0.5, 0.1))),
                              vega=float(rng.normal(2_000, 300)), theta=float(rng.normal(-500, 50)),
                              dollar_delta=float(rng.normal(30_000, 5_000)), value_usd=float(rng.normal(1e6, 1e4))))
            for s in t]


def _tx(rng: np.random.Generator, chain: str) -> str:
    if chain == "solana":
        return "".join(rng.choice(list(_B58), 88))
    return "0x" + rng.bytes(32).hex()


def _actions(rng: np.random.Generator) -> list[Action]:
    out = []
    for i in range(24):
        bot, kind, chain, protocol = _KINDS[i % len(_KINDS)]
        outcompeted = i % 6 == 1
        state = "reverted" if outcompeted or i % 11 == 5 else "abandoned" if i == 23 else "confirmed"
        gas = 0 if chain == "solana" or state == "abandoned" else int(rng.integers(80_000, 400_000))
        out.append(Action(
            t_s=float(18 + i * 1.5 + rng.uniform(0, 1)), bot=bot, kind=kind, chain=chain, protocol=protocol,
            target=HOSTILE_TARGET if i == 7 else f"vault-{i}", state=state,
            tx_hash="" if state == "abandoned" else _tx(rng, chain), outcompeted=outcompeted, gas_used=gas,
            fee_native=gas * 2e-9 if chain != "solana" else 5e-6, key=f"{bot}:{kind}:{i}",
        ))
    return out


def _bots(actions: list[Action]) -> list[BotRow]:
    rows = []
    for bot in sorted({a.bot for a in actions}):
        mine = [a for a in actions if a.bot == bot]
        gas: dict[str, float] = {}
        for a in mine:
            gas[a.chain] = gas.get(a.chain, 0.0) + a.fee_native
        rows.append(BotRow(bot, len(mine), sum(a.state == "confirmed" for a in mine),
                           sum(a.outcompeted for a in mine), gas, 125.5 * len(mine) - 40.25))
    return rows


def _entities(rng: np.random.Generator) -> list[EntityRow]:
    names = ["keeper", "pool:option_amm", "pool:cover_market", HOSTILE_ENTITY] + [
        f"wallet:0x{rng.bytes(20).hex()}" for _ in range(36)]
    rows = []
    for i, name in enumerate(names):
        before = Greeks(delta=float(rng.normal()), gamma=0.01 * i, vega=float(rng.normal(100, 10)),
                        theta=-float(i), dollar_delta=float(rng.normal(0, 1e4)), value_usd=10_000.0 + i)
        after = Greeks(delta=before.delta / 2, gamma=before.gamma, vega=before.vega, theta=before.theta,
                       dollar_delta=before.dollar_delta / 3, value_usd=before.value_usd - 250.0 * i)
        rows.append(EntityRow(name, before, after, f"spot -{4.5 * (1 + i % 4):.1f}% vol up",
                              -100.0 * i, i % 3))
    return rows


def synthetic_report_data(seed: int = 7) -> ReportData:
    rng = np.random.default_rng(seed)
    actions = _actions(rng)
    deltas, bands = _deltas(rng)
    return ReportData(
        run_id=f"demo-{seed:04d}", scenario="crash", seed=seed, wallets=200,
        started_at=datetime(2025, 11, 22, 8, 0, 0, tzinfo=UTC), duration_s=60.0,
        store_path="/tmp/rtrm demo/run.db", config_path="configs/demo.toml", chains=list(CHAINS),
        phases=_phases(), prices=_prices(rng), net_delta=deltas, bands=bands, greeks=_greeks(rng),
        actions=actions,
        riskiest=[(f"wallet:{i:02d}", float(d)) for i, d in enumerate(np.linspace(-0.02, 0.3, 20))],
        latencies_ms=[float(x) for x in rng.lognormal(np.log(180), 0.4, 150)],
        bots=_bots(actions), entities=_entities(rng),
        heads={"ethereum": 412, "arbitrum": 388, "base": 405, "solana": 1_020},
        notes=["Solana endpoint: LiteSVM (no validator) & no priority fees"],
    )


def empty_report_data() -> ReportData:
    """A run where nothing was observed: every chart must still draw."""
    return ReportData(run_id="empty", scenario="crash", seed=0, wallets=0,
                      started_at=datetime(2025, 1, 1, tzinfo=UTC), duration_s=0.0, store_path="run.db",
                      config_path="demo.toml", chains=[])
