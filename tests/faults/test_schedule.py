"""Fault schedules are pure data: parsed with errors naming the entry and key, queried by time."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from chains.faults.schedule import FaultKind, ScheduleError, load_schedule, parse_schedule


def test_parse_and_query_windows() -> None:
    s = parse_schedule({"fault": [
        {"chain": "arbitrum", "kind": "outage", "at_s": 10, "duration_s": 30},
        {"chain": "base", "kind": "http_status", "status": 502, "probability": 0.2, "methods": ["eth_call"]},
        {"chain": "arbitrum", "kind": "delay", "delay_ms": 250, "at_s": 5, "duration_s": 10}]},
        chains=["arbitrum", "base", "ethereum"])
    assert [f.kind for f in s.active("arbitrum", 12)] == [FaultKind.OUTAGE, FaultKind.DELAY]
    assert s.active("arbitrum", 40) == []  # end is exclusive
    (base,) = s.active("base", 1e6)  # open-ended
    assert base.status == 502 and base.probability == 0.2 and base.matches("eth_call") and not base.matches("x")
    assert [(t.t, t.starts) for t in s.transitions()] == [(0, True), (5, True), (10, True), (15, False),
                                                         (40, False)]
    assert s.horizon_s() == 40 and s.faults[1].end_s == math.inf


@pytest.mark.parametrize(("entry", "where"), [
    ({"chain": "arbitrum", "kind": "flood"}, "fault[0].kind"),
    ({"kind": "drop"}, "fault[0].chain"),
    ({"chain": "solana", "kind": "drop"}, "fault[0].chain"),
    ({"chain": "arbitrum", "kind": "drop", "probability": 1.5}, "fault[0].probability"),
    ({"chain": "arbitrum", "kind": "drop", "at_s": -1}, "fault[0].at_s"),
    ({"chain": "arbitrum", "kind": "outage"}, "fault[0].duration_s"),
    ({"chain": "arbitrum", "kind": "delay"}, "fault[0].delay_ms"),
    ({"chain": "arbitrum", "kind": "http_status", "status": 200}, "fault[0].status"),
    ({"chain": "arbitrum", "kind": "http_status", "status": 429}, "fault[0].status"),
    ({"chain": "arbitrum", "kind": "drop", "durration_s": 3}, "fault[0].durration_s"),
    ({"chain": "arbitrum", "kind": "drop", "methods": "eth_call"}, "fault[0].methods"),
])
def test_bad_entries_name_the_key(entry: dict[str, object], where: str) -> None:
    with pytest.raises(ScheduleError, match="^" + re.escape(where)):
        parse_schedule({"fault": [entry]}, chains=["arbitrum", "ethereum"])


def test_load_schedule_names_the_file(tmp_path: Path) -> None:
    p = tmp_path / "faults.toml"
    p.write_text('[[fault]]\nchain = "arbitrum"\nkind = "outage"\nat_s = 1\nduration_s = 2\n')
    assert load_schedule(p).faults[0].duration_s == 2
    p.write_text("[[fault]\n")
    with pytest.raises(ScheduleError, match="not valid TOML"):
        load_schedule(p)
    p.write_text('[[fault]]\nchain = "arbitrum"\nkind = "nope"\n')
    with pytest.raises(ScheduleError, match=r"faults.toml: fault\[0\].kind"):
        load_schedule(p)
    with pytest.raises(ScheduleError, match="no such schedule file"):
        load_schedule(tmp_path / "missing.toml")
