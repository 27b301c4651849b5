"""Several processes opening a fresh store at once (e.g. `rtrm run` starting while `rtrm status` runs) must all
succeed: schema creation is check-then-create, so the losers see "already exists" and must retry, not crash."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from bots.store import SCHEMA_VERSION

OPEN = (
    "import asyncio, sys\n"
    "from bots.store import Store\n"
    "async def main():\n"
    "    s = await Store(sys.argv[1]).open()\n"
    "    await s.close()\n"
    "asyncio.run(main())\n"
)


def test_many_processes_open_a_fresh_store_at_once(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    for round_ in range(3):  # the race is timing-dependent: a few rounds on fresh files
        db = tmp_path / f"store-{round_}.db"
        procs = [subprocess.Popen([sys.executable, "-c", OPEN, str(db)], cwd=root, stderr=subprocess.PIPE,
                                  text=True) for _ in range(6)]
        results = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in procs]
        assert all(code == 0 for code, _ in results), [err[-400:] for code, err in results if code]
        conn = sqlite3.connect(db)
        try:
            version = conn.execute("select version from store_schema where id = 1").fetchone()[0]
            tables = {r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")}
        finally:
            conn.close()
        assert version == SCHEMA_VERSION
        assert {"intents", "intent_attempts", "wallets", "alerts"} <= tables
