"""Binary discovery: override, native binary before the JS shim, PATH fallback, actionable error."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from chains.toolchain import ToolNotFoundError, candidates, find_tool


def _exe(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_native_binary_preferred_over_js_shim(tmp_path: Path) -> None:
    native, shim = candidates("anvil", tmp_path)
    _exe(shim)
    assert find_tool("anvil", root=tmp_path, env={"PATH": ""}) == shim
    _exe(native)
    assert find_tool("anvil", root=tmp_path, env={"PATH": ""}) == native


def test_env_override_wins(tmp_path: Path) -> None:
    _exe(candidates("forge", tmp_path)[0])
    custom = _exe(tmp_path / "custom" / "forge")
    assert find_tool("forge", root=tmp_path, env={"RTRM_FORGE": str(custom)}) == custom


def test_bad_override_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ToolNotFoundError, match=r"RTRM_CAST=/nope/cast is not an executable"):
        find_tool("cast", root=tmp_path, env={"RTRM_CAST": "/nope/cast"})


def test_path_fallback(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    tool = _exe(bindir / "cast")
    assert find_tool("cast", root=tmp_path / "empty", env={"PATH": str(bindir)}) == tool


def test_missing_tool_message_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(ToolNotFoundError) as err:
        find_tool("anvil", root=tmp_path, env={"PATH": ""})
    msg = str(err.value)
    assert "\n" not in msg
    assert "make setup" in msg and "npm install" in msg and "RTRM_ANVIL=" in msg and str(tmp_path) in msg
    assert err.value.tool == "anvil"


def test_real_project_has_native_anvil() -> None:
    assert find_tool("anvil", env={"PATH": ""}).parts[-4:] == (
        "@foundry-rs",
        "anvil-linux-amd64",
        "bin",
        "anvil",
    )


def test_unknown_tool_rejected() -> None:
    with pytest.raises(ValueError, match="unknown tool 'solc'"):
        find_tool("solc")
