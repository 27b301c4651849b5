"""CLI fuzzing: random argv built from the parser's own vocabulary (every subcommand and option) plus garbage →
`bots.cli.main` returns 0, 1 or 2, a failure is one `rtrm: error:` line, never a traceback. Argument lists that
would start processes (devnet up, run, demo, chaos) are filtered out before they run; the rest run in-process
in an empty directory (no store, no config), a few as real subprocesses."""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bots.cli import build_parser, main

SIDE_EFFECTS = {"run", "demo", "chaos", "devnet"}  # would start anvil / a keeper: not fuzzed by running them


def _vocabulary(parser: argparse.ArgumentParser, out: set[str]) -> set[str]:
    for action in parser._actions:
        out.update(action.option_strings)
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out.add(name)
                _vocabulary(sub, out)
    return out


PARSER = build_parser()
WORDS = sorted(_vocabulary(PARSER, set()))
TOKEN = st.sampled_from(WORDS) | st.sampled_from(["-1", "0", "1e999", "nan", "x" * 300, "", "--", "-",
                                                  "rtrm.toml", "/nonexistent/x.db", "postgresql://u:p@h/db"]) \
    | st.text(max_size=12)
FUZZ = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def _side_effecting(argv: list[str]) -> bool:
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        try:
            args = build_parser().parse_args(argv)
        except SystemExit:
            return False
    return getattr(args, "command", None) in SIDE_EFFECTS


@FUZZ
@given(argv=st.lists(TOKEN, max_size=6))
def test_random_argv_exits_cleanly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str]) -> None:
    assume(not _side_effecting(argv))
    monkeypatch.chdir(tmp_path)
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        code = main(argv)
    text = err.getvalue()
    assert code in (0, 1, 2), (argv, code, text)
    assert "Traceback" not in text, (argv, text)
    if code != 0 and text.strip() and "usage:" not in text:
        errors = [line for line in text.splitlines() if line.startswith("rtrm") and "error:" in line]
        assert len(errors) == 1, (argv, text)


@pytest.mark.parametrize("argv", [["config", "check", "--config", "/nonexistent.toml"],
                                  ["--log-level", "LOUD", "config", "check"]])
def test_cli_subprocess_bad_input_is_one_line(tmp_path: Path, argv: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RTRM_")}
    proc = subprocess.run([sys.executable, "-m", "bots.cli", *argv], capture_output=True, text=True, cwd=tmp_path,
                          timeout=60, env=env)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and proc.stderr.startswith("rtrm"), proc.stderr
