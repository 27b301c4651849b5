"""Pyth price feeds read as guard oracles: every bot tick first reads the configured Pyth contract on its chain.

Why: no bot decides on a Pyth price on EVM (the pools and the liquidator price on Chainlink), yet a Pyth quote
whose confidence interval blows out is the market's own signal that prices on that chain cannot be trusted right
now. Reading it before each decision and handing it to the engine's guards (`pyth_max_conf_ratio`, staleness)
blocks every action on that chain while it lasts — one alert per blocked action — and lets them through once
the confidence is back. Configured as a protocol of kind "pyth":

    [protocols.pyth_base]
    kind = "pyth"
    chain = "base"
    addresses = { Pyth = "0x…", ETH = "0x<32-byte price id>" }
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from loguru import logger

from bots.config import Config
from chains.model import OracleQuote, Underlying
from chains.protocols.base import Rpc
from chains.protocols.oracles import OracleReader, OracleSet, PythFeed

CONTRACT_KEYS = ("Pyth", "MockPyth")
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_PRICE_ID = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")


class PythConfigError(ValueError):
    """A `kind = "pyth"` protocol section that cannot be read as a contract plus price ids."""


def pyth_feeds(pname: str, addresses: Mapping[str, str]) -> tuple[PythFeed, ...]:
    """The section's contract (`Pyth` or `MockPyth`) and one feed per asset key (its value the price id)."""
    where = f"protocols.{pname}.addresses"
    contract = [k for k in CONTRACT_KEYS if k in addresses]
    if len(contract) != 1:
        raise PythConfigError(f"{where}: needs exactly one of {' / '.join(CONTRACT_KEYS)} (the Pyth contract)")
    address = addresses[contract[0]]
    if not _ADDRESS.match(address):
        raise PythConfigError(f"{where}.{contract[0]}: {address!r} is not a 0x-prefixed 20-byte address")
    feeds = []
    for key, value in addresses.items():
        if key in CONTRACT_KEYS:
            continue
        try:
            asset = Underlying(key.upper())
        except ValueError:
            raise PythConfigError(f"{where}.{key}: not an asset; expected one of "
                                  f"{', '.join(u.value for u in Underlying)}") from None
        if not _PRICE_ID.match(value):
            raise PythConfigError(f"{where}.{key}: {value!r} is not a 32-byte hex Pyth price id")
        feeds.append(PythFeed(address, bytes.fromhex(value.removeprefix("0x")), asset))
    if not feeds:
        raise PythConfigError(f"{where}: names no price id (e.g. ETH = \"0x…\")")
    return tuple(feeds)


Observe = Callable[[OracleQuote], Awaitable[None]]
Source = Callable[[datetime], Awaitable[Any]]


@dataclass
class PythGuard:
    """One reader per chain; `read()` hands every fresh quote to `observe` (the engine's guards)."""

    readers: dict[str, OracleReader]
    observe: Observe
    _failing: set[str] = field(default_factory=set)  # chains whose last read failed (logged once)

    async def read(self) -> None:
        failing = self._failing
        for chain, reader in self.readers.items():
            try:
                got = await reader.read("latest")
            except Exception as exc:  # a failed guard read never fails the bot's tick; it is logged once
                if chain not in failing:
                    failing.add(chain)
                    logger.warning("pyth guard oracle on {} unreadable: {}: {}", chain, type(exc).__name__, exc)
                continue
            failing.discard(chain)
            for fault in got.faults:
                logger.warning("pyth guard oracle {}@{}: {}", fault.feed, chain, fault.reason)
            for q in got.quotes:
                await self.observe(q)

    def before(self, source: Source) -> Source:
        """`source` that reads the guard oracles first (so the tick's guards judge the current confidence)."""
        async def guarded(now: datetime) -> Any:
            await self.read()
            return await source(now)
        return guarded


def pyth_guard(config: Config, rpcs: Mapping[str, Rpc], observe: Observe) -> PythGuard | None:
    """The guard for every enabled `kind = "pyth"` protocol on an EVM chain; None when there is none."""
    feeds: dict[str, list[PythFeed]] = {}
    for pname, proto in config.protocols.items():
        if proto.kind != "pyth":
            continue
        if proto.chain not in rpcs:
            raise PythConfigError(f"protocols.{pname}.chain: {proto.chain!r} is not a configured EVM chain")
        feeds.setdefault(proto.chain, []).extend(pyth_feeds(pname, proto.addresses))
    if not feeds:
        return None
    return PythGuard({c: OracleReader(c, rpcs[c], OracleSet(pyth=tuple(f))) for c, f in feeds.items()}, observe)
