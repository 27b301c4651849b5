"""Errors the devnet raises for problems the user can fix (the CLI prints them as one line, exit code 2)."""

from __future__ import annotations


class DevnetError(RuntimeError):
    """Something about the devnet went wrong; the message says what and what to do."""


class DevnetUsageError(DevnetError):
    """Bad user input (unknown chain, malformed option value, busy port): exit code 2, no traceback."""


class NodeStartError(DevnetError):
    """A node process exited or did not become ready in time."""
