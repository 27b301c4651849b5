"""Devnet-only keys of the demo: derived from the seed, held in memory, never written anywhere.

Why derived and not anvil's well-known dev keys: anvil prints its dev keys in its own log, and the demo's
artifacts are scanned for key material (issue 9). A seed-derived key appears nowhere unless someone asks for
it: `python -m bots.demo.keys keeper --seed 7` prints it, for re-running the generated config by hand.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from eth_account import Account
from eth_utils import keccak

from chains.devnet.seed import wallet_key

KEEPER_ENV = "RTRM_DEMO_KEEPER_KEY"  # the keeper's signer (liquidator, hedger, settlement)
FUND_ENV = "RTRM_DEMO_FUND_KEY"  # the covered fund's own claims agent (claimer, disputer)


def keeper_key(seed: int) -> str:
    """0x-hex private key of the demo keeper for `seed` (devnet only)."""
    return "0x" + keccak(b"rtrm-demo-keeper:" + seed.to_bytes(8, "big")).hex()


def fund_key(seed: int, wallet_index: int) -> str:
    """The covered fund is a seeded wallet: its key is the seeding's own deterministic devnet key."""
    return "0x" + wallet_key(seed, wallet_index).hex()


def address_of(key: str) -> str:
    return str(Account.from_key(key).address)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) not in (3, 4) or args[0] not in ("keeper", "fund") or args[1] != "--seed" or not args[2].isdigit() \
            or (args[0] == "fund") != (len(args) == 4):
        print("usage: python -m bots.demo.keys keeper --seed N | fund --seed N WALLET_INDEX", file=sys.stderr)
        return 2
    seed = int(args[2])
    print(keeper_key(seed) if args[0] == "keeper" else fund_key(seed, int(args[3])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
