"""Local Solana JSON-RPC + PubSub endpoint over LiteSVM (no validator and no SBF compiler exist here).

* ``python -m chains.devnet.solana --host 127.0.0.1 --port 8899`` runs it as a process;
* ``async with serve_solana(host, port) as ep:`` runs it in-process (``ep.svm``, ``ep.url``, ``ep.ws_url``);
* ``SolanaAdmin(url)`` drives the ``rtrm_*`` admin methods (write accounts, slots, time).

WebSocket subscriptions are served on the HTTP port itself (``ws://host:port``).
"""

from .admin_client import AccountSpec, ClockInfo, SolanaAdmin, SolanaAdminError
from .chain import DevnetChain
from .server import SolanaEndpoint, serve_solana

__all__ = [
    "AccountSpec",
    "ClockInfo",
    "DevnetChain",
    "SolanaAdmin",
    "SolanaAdminError",
    "SolanaEndpoint",
    "serve_solana",
]
