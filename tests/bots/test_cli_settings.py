"""Settings: .env loading never overrides the real environment; bad values name the variable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bots.settings import ENV_VARS, SIGNER_EXAMPLE_VARS, Settings, SettingsError, load_settings
from chains.toolchain import project_root


def test_defaults() -> None:
    assert load_settings(env_file=None, env={}) == Settings()


def test_env_values_parsed() -> None:
    s = load_settings(
        env_file=None, env={"RTRM_LOG_LEVEL": "debug", "RTRM_LOG_JSON": "logs/x.jsonl", "RTRM_ANVIL": " "}
    )
    assert (s.log_level, s.log_json, s.anvil) == ("DEBUG", Path("logs/x.jsonl"), None)


def test_bad_value_names_variable() -> None:
    with pytest.raises(SettingsError, match=r"RTRM_LOG_LEVEL='loud' is invalid"):
        load_settings(env_file=None, env={"RTRM_LOG_LEVEL": "loud"})


def test_dotenv_does_not_override_real_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("RTRM_LOG_LEVEL=ERROR\nRTRM_DEVNET_DIR=from-dotenv\n")
    monkeypatch.setenv("RTRM_LOG_LEVEL", "WARNING")
    monkeypatch.delenv("RTRM_DEVNET_DIR", raising=False)
    s = load_settings(env_file=env_file)
    assert (s.log_level, s.devnet_dir) == ("WARNING", Path("from-dotenv"))


def test_env_example_lists_every_variable_with_a_comment() -> None:
    text = (project_root() / ".env.example").read_text()
    lines = text.splitlines()
    names = [m.group(1) for m in (re.match(r"^([A-Z_]+)=", ln) for ln in lines) if m]
    assert sorted(names) == sorted([*ENV_VARS, *SIGNER_EXAMPLE_VARS])
    for i, ln in enumerate(lines):
        if re.match(r"^[A-Z_]+=", ln):
            j = i - 1
            while j >= 0 and lines[j].startswith("RTRM_"):
                j -= 1
            assert lines[j].startswith("#"), f"{ln} has no comment above it"
    assert not re.search(r"=\S*(0x)?[0-9a-fA-F]{64}", text)
