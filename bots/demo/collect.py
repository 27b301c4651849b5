"""A demo run's SQLite store → :class:`ReportData`: the one place the page's and the summary's numbers come from.

Plain `sqlite3` reads (the run is over; nothing else writes): intents, attempts and receipts' costs for the
actions, risk snapshots for the Greeks, the demo's own series for prices and hedge bands, claims for entities.
Pure apart from reading the file, so a test can compare every figure with its own SQL.
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bots.demo.data import Action, BotRow, EntityRow, Greeks, Phase, ReportData
from bots.journal import FINAL

WEI = 10**18
GREEK_COLS = ("delta", "gamma", "vega", "theta", "dollar_delta", "value_usd")


def _ts(value: str | None) -> float:
    """SQLite's stored datetime (naive UTC text) → unix seconds."""
    if not value:
        return 0.0
    dt = datetime.fromisoformat(value)
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()


def _rows(db: sqlite3.Connection, sql: str, *args: Any) -> list[sqlite3.Row]:
    return list(db.execute(sql, args).fetchall())


def collect(store_path: Path, config_path: Path | None = None) -> ReportData:
    db = sqlite3.connect(f"file:{store_path}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    try:
        return _collect(db, store_path, config_path)
    finally:
        db.close()


def _collect(db: sqlite3.Connection, store_path: Path, config_path: Path | None) -> ReportData:
    run = _rows(db, "SELECT * FROM demo_runs ORDER BY id DESC LIMIT 1")[0]
    t0 = _ts(run["started_at"])
    end = _ts(run["finished_at"]) if run["finished_at"] else t0
    data = ReportData(
        run_id=run["run_id"], scenario=run["scenario"], seed=int(run["seed"]), wallets=int(run["wallets"]),
        started_at=datetime.fromtimestamp(t0, UTC), duration_s=max(end - t0, 0.0), store_path=str(store_path),
        config_path=str(config_path or ""), chains=[c for c in run["chains"].split(",") if c],
        notes=[*json.loads(run["notes"] or "[]"), f"run status: {run['status']}"])
    data.phases = [Phase(a["name"], float(a["start_s"]), float(a["end_s"]), int(a["chain_start"]),
                         int(a["chain_end"])) for a in json.loads(run["acts"] or "[]")]
    series: dict[str, dict[str, list[tuple[float, float]]]] = defaultdict(lambda: defaultdict(list))
    for p in _rows(db, "SELECT series, label, t_s, value FROM demo_points ORDER BY t_s, id"):
        series[p["series"]][p["label"]].append((float(p["t_s"]), float(p["value"])))
    data.prices = dict(series["price"])
    data.net_delta = dict(series["delta_usd"])
    data.bands = {k: [(t, -h, h) for t, h in v] for k, v in series["band_usd"].items()}
    data.heads = {k: int(v[-1][1]) for k, v in series["head"].items() if v}
    batches = _snapshot_batches(db, series["snapshot"], t0)
    data.greeks = [(t, _sum_greeks(rows)) for t, _, rows in batches]
    data.actions = _actions(db, t0)
    data.latencies_ms = latencies_ms(db)
    profit = {k: v[-1][1] for k, v in series["expected_profit"].items() if v}
    data.bots = _bot_rows(db, data.actions, profit)
    data.entities, data.riskiest = _entities(db, batches)
    return data


def _snapshot_batches(db: sqlite3.Connection, marks: dict[str, list[tuple[float, float]]],
                      t0: float) -> list[tuple[float, str, list[sqlite3.Row]]]:
    """Each orchestrated risk snapshot (tag, last row id) → its rows; in order of time."""
    tagged = sorted(((t, tag, int(last)) for tag, pts in marks.items() for t, last in pts), key=lambda x: x[2])
    out: list[tuple[float, str, list[sqlite3.Row]]] = []
    prev = 0
    for t, tag, last in tagged:
        rows = _rows(db, "SELECT * FROM risk_snapshots WHERE id > ? AND id <= ? ORDER BY id", prev, last)
        prev = last
        if rows:
            out.append((t, tag, rows))
    return sorted(out, key=lambda x: x[0])


def _sum_greeks(rows: list[sqlite3.Row]) -> Greeks:
    return Greeks(*(float(sum(r[c] or 0.0 for r in rows)) for c in GREEK_COLS))


def _actions(db: sqlite3.Connection, t0: float) -> list[Action]:
    costs = {r["intent_key"]: r for r in _rows(db, "SELECT * FROM demo_tx_costs")}
    out: list[Action] = []
    for r in _rows(db, "SELECT * FROM intents WHERE bot != 'setup' ORDER BY created_at, id"):
        c = costs.get(r["key"])
        out.append(Action(
            t_s=_ts(r["created_at"]) - t0, bot=r["bot"], kind=r["kind"], chain=r["chain"], protocol=r["protocol"],
            target=r["target"], state=r["state"], tx_hash=r["tx_hash"] or "",
            outcompeted=r["state"] == "reverted" and (r["reason"] or "").startswith("outcompeted"),
            gas_used=int(c["gas_used"]) if c else 0, fee_native=int(c["fee_wei"]) / WEI if c else 0.0,
            key=r["key"]))
    return out


def _bot_rows(db: sqlite3.Connection, actions: list[Action], profit: dict[str, float]) -> list[BotRow]:
    """Per bot: actions decided and sent (dry runs excluded), confirmed, outcompeted, gas per chain, and the
    expected profit at decision of its confirmed actions (as published on the bus)."""
    by_bot: dict[str, list[Action]] = defaultdict(list)
    for a in actions:
        by_bot[a.bot].append(a)
    rows: list[BotRow] = []
    for bot, acts in sorted(by_bot.items()):
        gas: dict[str, float] = defaultdict(float)
        for a in acts:
            if a.fee_native:
                gas[a.chain] += a.fee_native
        rows.append(BotRow(bot, len(acts), sum(a.state == "confirmed" for a in acts), sum(a.outcompeted for a in acts),
                           dict(gas), float(sum(profit.get(a.key, 0.0) for a in acts if a.state == "confirmed"))))
    return rows


def latencies_ms(db: sqlite3.Connection) -> list[float]:
    """Oracle tick seen → action sent, per liquidator action: its first signed attempt minus the engine's
    latest recording of an oracle quote on that chain before the intent was created."""
    quotes: dict[str, list[float]] = defaultdict(list)
    for q in _rows(db, "SELECT chain, at FROM oracle_quotes ORDER BY at"):
        quotes[q["chain"]].append(_ts(q["at"]))
    out: list[float] = []
    for r in _rows(db, """SELECT i.chain, i.created_at, MIN(a.created_at) AS sent FROM intents i
                          JOIN intent_attempts a ON a.intent_id = i.id
                          WHERE i.bot = 'liquidator' GROUP BY i.id"""):
        created, sent = _ts(r["created_at"]), _ts(r["sent"])
        seen = [t for t in quotes.get(r["chain"], []) if t <= created]
        if seen:
            out.append((sent - seen[-1]) * 1000.0)
    return out


def _entities(db: sqlite3.Connection, batches: list[tuple[float, str, list[sqlite3.Row]]]
              ) -> tuple[list[EntityRow], list[tuple[str, float]]]:
    """Per entity: Greeks just before the shock and once the market settled (before expiry), the worst house
    scenario and the 20 nearest to liquidation as of the snapshot taken just before the shock."""
    if not batches:
        return [], []
    first = batches[0][2]
    shock = next((rows for _, tag, rows in batches if tag.startswith("before_")), first)
    # "after" = once the market settled down, before the expiry closes every position
    ends = [rows for _, tag, rows in batches if tag.startswith("end_") and tag != "end_expiry"]
    last = ends[-1] if ends else batches[-1][2]
    claims: dict[str, int] = defaultdict(int)
    for c in _rows(db, "SELECT entity FROM claims WHERE claim_id LIKE '%:cover_market:%'"):
        if c["entity"]:
            claims[c["entity"]] += 1

    before = {r["entity"]: r for r in shock}  # worst scenario and distance are judged here too
    after = {r["entity"]: r for r in last}
    out: list[EntityRow] = []
    for name in sorted(set(before) | set(after)):
        ref = before.get(name) or after[name]
        out.append(EntityRow(name, _greeks(before.get(name)), _greeks(after.get(name)), ref["worst_scenario"] or "",
                             float(ref["worst_loss_usd"] or 0.0), claims.get(name, 0)))
    dist = sorted(((n, float(r["distance_to_liquidation"])) for n, r in before.items()
                   if r["distance_to_liquidation"] is not None), key=lambda x: x[1])
    return out, dist[:20]


def _greeks(r: sqlite3.Row | None) -> Greeks:
    return Greeks() if r is None else Greeks(*(float(r[c] or 0.0) for c in GREEK_COLS))


def pending_intents(db_path: Path) -> int:
    """Intents not in a final state (a consistent store after a clean stop has none in flight)."""
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        states = ",".join(f"'{s.value}'" for s in FINAL)
        return int(db.execute(f"SELECT COUNT(*) FROM intents WHERE state NOT IN ({states})").fetchone()[0])
    finally:
        db.close()
