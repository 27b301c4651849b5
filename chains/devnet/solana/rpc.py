"""Standard Solana JSON-RPC methods over :class:`DevnetChain`, collected in :data:`METHODS`.

Each handler takes the chain and the raw ``params`` and returns the JSON ``result``; errors are raised
as :class:`RpcError`. All commitments read the same (latest) state; ``context.slot`` is the current slot.
"""

from __future__ import annotations

from . import rpc_accounts, rpc_tx  # noqa: F401  (importing registers the methods)
from .rpc_common import METHODS, Handler

__all__ = ["METHODS", "Handler"]
