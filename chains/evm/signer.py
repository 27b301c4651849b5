"""Load a signer from the environment or an encrypted keystore; the key never leaves this object.

Config files name *where* the key is (an env var name or a keystore path plus the env var holding its
password), never the key itself. The returned object's repr shows only the address.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

_HEX_KEY = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")


class SignerError(ValueError):
    """The signer cannot be loaded; the message names the variable or file, never the secret."""


@dataclass(frozen=True)
class Signer:
    """A local signing account. `account` signs; printing the Signer shows the address only."""

    address: str
    account: LocalAccount = field(repr=False, compare=False)

    def __str__(self) -> str:
        return f"Signer({self.address})"


def signer_from_env(var: str, environ: dict[str, str] | None = None) -> Signer:
    """Signer from a hex private key held in environment variable `var` (loaded from .env by settings)."""
    env = os.environ if environ is None else environ
    raw = env.get(var, "").strip()
    if not raw:
        raise SignerError(f"environment variable {var} is not set; put the keeper's private key there (or in .env)")
    if not _HEX_KEY.match(raw):
        raise SignerError(f"environment variable {var} does not hold a 32-byte hex private key")
    account: LocalAccount = Account.from_key(raw)
    return Signer(address=account.address, account=account)


def signer_from_keystore(path: str | Path, password_var: str, environ: dict[str, str] | None = None) -> Signer:
    """Signer from an encrypted JSON keystore (geth/eth-account format) whose password is in `password_var`."""
    env = os.environ if environ is None else environ
    keystore = Path(path).expanduser()
    if not keystore.is_file():
        raise SignerError(f"keystore file {keystore} does not exist")
    password = env.get(password_var)
    if password is None:
        raise SignerError(f"environment variable {password_var} (keystore password) is not set")
    try:
        encrypted = json.loads(keystore.read_text())
        key = Account.decrypt(encrypted, password)
    except (ValueError, KeyError, json.JSONDecodeError) as exc:
        # eth-account's message says "MAC mismatch" for a wrong password; never echo the password itself
        raise SignerError(f"cannot decrypt keystore {keystore}: {type(exc).__name__}") from None
    account: LocalAccount = Account.from_key(key)
    return Signer(address=account.address, account=account)
