"""``--state FILE``: keep the devnet's user state across restarts.

Persisted: every account written by a transaction, an airdrop or the admin path (its latest contents;
builtin programs and sysvars are recreated by LiteSVM), the slot, the admin time offset and the
genesis hash. Not persisted: signature statuses and transaction history, issued blockhashes (clients
must fetch a new one after a restart), websocket subscriptions. Written atomically (tmp + rename).
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

from solders.hash import Hash

from .admin import parse_account_spec
from .chain import AccountWriteError, DevnetChain

FORMAT_VERSION = 1


class StateFileError(ValueError):
    """The state file exists but cannot be used; the message names the file and the problem."""


def save_state(chain: DevnetChain, path: Path) -> int:
    """Write the state; returns the number of accounts saved."""
    accounts: list[dict[str, Any]] = []
    for pubkey, acc in chain.persistable_accounts():
        if acc is None:
            continue
        accounts.append(
            {
                "pubkey": str(pubkey),
                "lamports": acc.lamports,
                "data": base64.b64encode(bytes(acc.data)).decode(),
                "owner": str(acc.owner),
                "executable": acc.executable,
                "rentEpoch": acc.rent_epoch,
            }
        )
    doc = {
        "version": FORMAT_VERSION,
        "slot": chain.slot,
        "timeOffset": chain.time_offset,
        "genesisHash": str(chain.genesis_hash),
        "accounts": accounts,
    }
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc))
    os.replace(tmp, path)
    return len(accounts)


def load_state(chain: DevnetChain, path: Path) -> int:
    """Restore a saved state into a fresh chain; returns the number of accounts loaded."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise StateFileError(f"cannot read Solana devnet state {path}: {exc}") from None
    if not isinstance(doc, dict) or doc.get("version") != FORMAT_VERSION:
        raise StateFileError(f"{path}: not a version-{FORMAT_VERSION} Solana devnet state file")
    try:
        specs = [parse_account_spec(a, f"{path}: accounts[{i}]") for i, a in enumerate(doc["accounts"])]
        slot = int(doc["slot"])
        offset = float(doc["timeOffset"])
        genesis = Hash.from_string(doc["genesisHash"])
    except Exception as exc:
        raise StateFileError(f"{path}: malformed state: {exc}") from None
    chain.genesis_hash = genesis
    chain.set_time_offset(offset)  # the Clock sysvar shows the restored time at once
    if specs:
        try:
            chain.set_accounts(specs)
        except AccountWriteError as exc:
            raise StateFileError(f"{path}: {exc}") from None
    if slot > chain.slot:
        chain.warp_to_slot(slot)
    return len(specs)
