"""Find the Foundry binaries (anvil, forge, cast) the devnet and tests run.

Order: ``RTRM_<TOOL>`` env override, the native binary shipped by the npm platform package (fast), the
``node_modules/.bin`` JS shim (slow: it starts node first), then ``PATH``. A missing tool raises
:class:`ToolNotFoundError` whose one-line message says exactly what to run.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

Tool = Literal["anvil", "forge", "cast"]
TOOLS: tuple[Tool, ...] = ("anvil", "forge", "cast")


class ToolNotFoundError(RuntimeError):
    """A Foundry binary could not be found; the message tells the user how to get it."""

    def __init__(self, tool: str, message: str) -> None:
        super().__init__(message)
        self.tool = tool


def project_root() -> Path:
    """The repository root (the directory holding ``pyproject.toml``), located from this file."""
    return Path(__file__).resolve().parent.parent


def env_var(tool: str) -> str:
    """Name of the environment variable that overrides the path of ``tool`` (e.g. ``RTRM_ANVIL``)."""
    return f"RTRM_{tool.upper()}"


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def candidates(tool: str, root: Path) -> list[Path]:
    """The node_modules locations searched for ``tool``, best first (native binary before the JS shim)."""
    return [
        root / "node_modules" / "@foundry-rs" / f"{tool}-linux-amd64" / "bin" / tool,
        root / "node_modules" / ".bin" / tool,
    ]


def find_tool(tool: str, *, root: Path | None = None, env: Mapping[str, str] | None = None) -> Path:
    """Return the path of ``tool`` ("anvil", "forge" or "cast"), or raise :class:`ToolNotFoundError`."""
    if tool not in TOOLS:
        raise ValueError(f"unknown tool {tool!r}; expected one of {', '.join(TOOLS)}")
    environ = os.environ if env is None else env
    base = project_root() if root is None else root
    var = env_var(tool)
    override = environ.get(var, "").strip()
    if override:
        path = Path(override).expanduser()
        if _is_executable(path):
            return path
        raise ToolNotFoundError(
            tool, f"{var}={override} is not an executable file; fix or unset {var} (or run `make setup`)"
        )
    for path in candidates(tool, base):
        if _is_executable(path):
            return path
    found = shutil.which(tool, path=environ.get("PATH"))
    if found:
        return Path(found)
    raise ToolNotFoundError(
        tool,
        f"{tool} not found: run `make setup` (or `npm install`) in {base}, or set {var}=/path/to/{tool}",
    )
