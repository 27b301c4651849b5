"""Batched devnet transactions and contract handles shared by the deployer hooks, the seeder and the driver.

Sending from anvil's unlocked accounts with local nonces and one receipt wait per batch is what keeps the devnet's
start-up to a few seconds: each chain needs a handful of round trips instead of one per transaction.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_utils import to_checksum_address
from hexbytes import HexBytes
from web3 import AsyncWeb3
from web3.exceptions import TransactionNotFound
from web3.types import RPCEndpoint

from chains.devnet.artifacts import load_artifact
from chains.devnet.errors import DevnetError
from chains.devnet.manifest import ContractEntry


class TxError(DevnetError):
    """A devnet setup transaction reverted or never got a receipt."""


@dataclass
class TxBatch:
    """Send many transactions from unlocked/impersonated accounts with local nonces; wait for them together.

    Why: waiting for each receipt costs a round trip (and a block on interval-mined chains); nonces are
    assigned locally so a sender's transactions stay ordered. Cross-sender dependencies need a ``flush``.
    """

    w3: AsyncWeb3
    gas: int = 3_000_000
    _nonces: dict[str, int] = field(default_factory=dict)
    _pending: list[tuple[str, HexBytes]] = field(default_factory=list)
    sent: int = 0

    async def send(
        self,
        sender: str,
        to: str,
        data: str | bytes,
        *,
        value: int = 0,
        gas: int | None = None,
        label: str = "",
    ) -> HexBytes:
        sender = to_checksum_address(sender)
        if sender not in self._nonces:
            self._nonces[sender] = int(await self.w3.eth.get_transaction_count(sender, "pending"))
        tx: dict[str, Any] = {
            "from": sender,
            "to": to_checksum_address(to),
            "data": HexBytes(data).to_0x_hex() if isinstance(data, bytes) else data,
            "value": value,
            "gas": gas or self.gas,
            "nonce": self._nonces[sender],
        }
        tx_hash = HexBytes(await self.w3.eth.send_transaction(tx))  # type: ignore[arg-type]
        self._nonces[sender] += 1
        self._pending.append((label or f"call to {to}", tx_hash))
        self.sent += 1
        return tx_hash

    async def flush(self, *, timeout: float = 60.0) -> list[Any]:
        """Wait for every pending transaction (mining blocks if automine is off); raise on any revert."""
        pending, self._pending = self._pending, []
        if not pending:
            return []
        automine = bool(
            (await self.w3.provider.make_request(RPCEndpoint("anvil_getAutomine"), [])).get("result")
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        receipts: dict[int, Any] = {}
        while True:
            missing = [i for i in range(len(pending)) if i not in receipts]
            if not automine:  # interval-mined or manual chain: mine now instead of waiting for the next block
                await self.w3.provider.make_request(RPCEndpoint("evm_mine"), [])
            found = await asyncio.gather(*(self._try_receipt(pending[i][1]) for i in missing))
            receipts.update({i: r for i, r in zip(missing, found, strict=True) if r is not None})
            if len(receipts) == len(pending):
                break
            if loop.time() > deadline:
                labels = ", ".join(pending[i][0] for i in missing[:5])
                raise TxError(f"no receipt after {timeout} s for {len(missing)} transaction(s): {labels}")
            await asyncio.sleep(0.02)
        ordered = [receipts[i] for i in range(len(pending))]
        failed = [label for (label, _), r in zip(pending, ordered, strict=True) if r["status"] != 1]
        if failed:
            raise TxError(f"{len(failed)} devnet setup transaction(s) reverted: {', '.join(failed[:5])}")
        return ordered

    async def _try_receipt(self, tx_hash: HexBytes) -> Any | None:
        try:
            return await self.w3.eth.get_transaction_receipt(tx_hash)
        except TransactionNotFound:
            return None


# ---------------------------------------------------------------- contract handles


@dataclass
class ChainContracts:
    """web3 contract objects for one chain's manifest entries (ABIs from the artifacts they came from)."""

    w3: AsyncWeb3
    entries: Mapping[str, ContractEntry]
    root: Path
    out_dir: Path
    _cache: dict[str, Any] = field(default_factory=dict)

    def has(self, name: str) -> bool:
        return name in self.entries

    def abi(self, artifact: str) -> list[dict[str, Any]]:
        return load_artifact(artifact, root=self.root, out_dir=self.out_dir).abi

    def __getitem__(self, name: str) -> Any:
        if name not in self._cache:
            entry = self.entries.get(name)
            if entry is None:
                raise DevnetError(
                    f"contract {name!r} was not deployed (have: {', '.join(sorted(self.entries))})"
                )
            self._cache[name] = self.w3.eth.contract(
                address=to_checksum_address(entry.address), abi=self.abi(entry.artifact)
            )
        return self._cache[name]

    def at(self, address: str, artifact: str) -> Any:
        return self.w3.eth.contract(address=to_checksum_address(address), abi=self.abi(artifact))


async def chain_now(w3: AsyncWeb3) -> int:
    return int((await w3.eth.get_block("latest"))["timestamp"])


# ---------------------------------------------------------------- post-deploy
