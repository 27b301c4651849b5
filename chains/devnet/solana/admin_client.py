"""Typed async client for the endpoint's ``rtrm_*`` admin methods (market driver, demo, tests).

Example::

    async with SolanaAdmin("http://127.0.0.1:8899") as admin:
        await admin.set_account(price_account, lamports=10**9, data=blob, owner=PYTH_RECEIVER)
        await admin.advance_time(3600)
"""

from __future__ import annotations

import base64
import itertools
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aiohttp
from solders.pubkey import Pubkey

_SYSTEM = Pubkey.default()


@dataclass(frozen=True)
class AccountSpec:
    """An account to write: exact lamports, raw data bytes, owner program."""

    pubkey: Pubkey
    lamports: int
    data: bytes = b""
    owner: Pubkey = _SYSTEM
    executable: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "pubkey": str(self.pubkey),
            "lamports": self.lamports,
            "data": base64.b64encode(self.data).decode(),
            "owner": str(self.owner),
            "executable": self.executable,
        }


@dataclass(frozen=True)
class ClockInfo:
    slot: int
    block_height: int
    unix_timestamp: int
    epoch: int

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> ClockInfo:
        return cls(int(obj["slot"]), int(obj["blockHeight"]), int(obj["unixTimestamp"]), int(obj["epoch"]))


class SolanaAdminError(RuntimeError):
    """The endpoint refused an admin call; ``code`` is the JSON-RPC error code."""

    def __init__(self, method: str, code: int, message: str) -> None:
        super().__init__(f"{method} failed ({code}): {message}")
        self.code = code


class SolanaAdmin:
    """Async client for the admin namespace of one local endpoint (HTTP URL, e.g. ``ep.url``)."""

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self.url = url
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._ids = itertools.count(1)

    async def __aenter__(self) -> SolanaAdmin:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def call(self, method: str, params: dict[str, Any] | list[Any] | None = None) -> Any:
        """Raw admin (or any) JSON-RPC call; raises SolanaAdminError on a JSON-RPC error."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        body = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params or {}}
        async with self._session.post(self.url, json=body) as resp:
            resp.raise_for_status()
            reply = await resp.json()
        if "error" in reply:
            raise SolanaAdminError(method, int(reply["error"]["code"]), str(reply["error"]["message"]))
        return reply["result"]

    async def set_account(
        self,
        pubkey: Pubkey,
        *,
        lamports: int,
        data: bytes = b"",
        owner: Pubkey = _SYSTEM,
        executable: bool = False,
    ) -> int:
        """Write one account; returns the current slot."""
        spec = AccountSpec(pubkey, lamports, data, owner, executable)
        return int((await self.call("rtrm_setAccount", spec.to_json()))["slot"])

    async def set_accounts(self, accounts: list[AccountSpec]) -> int:
        """Write many accounts atomically (all validated before any is written); returns the slot."""
        return int(
            (await self.call("rtrm_setAccounts", {"accounts": [a.to_json() for a in accounts]}))["slot"]
        )

    async def warp_slot(self, slot: int) -> ClockInfo:
        return ClockInfo.from_json(await self.call("rtrm_warpSlot", {"slot": slot}))

    async def advance_slots(self, n: int) -> ClockInfo:
        return ClockInfo.from_json(await self.call("rtrm_advanceSlots", {"n": n}))

    async def set_clock(self, unix_timestamp: int) -> ClockInfo:
        return ClockInfo.from_json(await self.call("rtrm_setClock", {"unixTimestamp": unix_timestamp}))

    async def advance_time(self, seconds: float) -> ClockInfo:
        return ClockInfo.from_json(await self.call("rtrm_advanceTime", {"seconds": seconds}))

    async def get_clock(self) -> ClockInfo:
        return ClockInfo.from_json(await self.call("rtrm_getClock"))
