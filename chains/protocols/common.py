"""Pieces several adapters share: revert checks, token-symbol → canonical asset lookup, and the live filter that
re-reads accounts named in topic1 of a protocol's events."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from chains.events import ChainEvent, PositionChanged
from chains.evm.multicall import Call, CallResult, MulticallReader
from chains.evm.watcher import LogFilter
from chains.model import AccountState, Underlying, canonical_underlying
from chains.protocols.abi import decode_exact, selector, word_int
from chains.protocols.base import AdapterError

_SYMBOL = selector("symbol()")


def require_ok(result: CallResult, where: str) -> bytes:
    """Return data of a call that must succeed; a revert means misconfiguration, said plainly."""
    if not result.ok:
        raise AdapterError(f"{where} reverted (0x{result.data[:4].hex()}); wrong address or not deployed yet?")
    return result.data


class AssetResolver:
    """Underlying token address → canonical Underlying: configured overrides first, else the token's symbol()."""

    def __init__(self, multicall: MulticallReader, overrides: Mapping[str, Underlying | str] | None = None,
                 aliases: Mapping[str, str] | None = None) -> None:
        self.multicall = multicall
        self.aliases = aliases
        self.known: dict[str, Underlying] = {k.lower(): Underlying(v) for k, v in (overrides or {}).items()}

    def __getitem__(self, token: str) -> Underlying:
        try:
            return self.known[token.lower()]
        except KeyError:
            raise AdapterError(f"asset of token {token} not resolved yet") from None

    async def resolve(self, tokens: Sequence[str], block: int) -> None:
        unknown = sorted({t for t in tokens if t.lower() not in self.known})
        if not unknown:
            return
        res = await self.multicall.read([Call(t, _SYMBOL) for t in unknown], block)
        for t, r in zip(unknown, res, strict=True):
            (sym,) = decode_exact(("string",), require_ok(r, f"{t}.symbol()"), f"{t}.symbol()")
            self.known[t.lower()] = canonical_underlying(str(sym), self.aliases)


ReadFn = Callable[[Sequence[str], int], Awaitable[list[AccountState]]]


REORG_MEMORY_BLOCKS = 256  # how far back a reorg can still be answered with a targeted re-read


def account_log_filter(name: str, address: str, topics: Sequence[str], protocol: str, chain: str, read: ReadFn,
                       from_block: int, on_log: Callable[[dict[str, Any]], None] | None = None) -> LogFilter:
    """Any of `topics` from `address` names an account in topic1; the accounts a range touched are re-read at
    the range's last block and published as PositionChanged (state, not deltas: replays are harmless)."""

    touched: dict[int, set[str]] = {}  # block → accounts its logs named (to re-read if that block is reorged)

    async def handler(logs: list[dict[str, Any]], end: int) -> list[ChainEvent]:
        ids: list[str] = []
        for log in logs:
            t = log.get("topics") or []
            if len(t) < 2:
                continue
            if on_log is not None:
                on_log(log)
            aid = str(word_int(t[1], f"{name} log"))
            block = log.get("blockNumber")
            if block is not None:
                touched.setdefault(int(str(block), 16) if isinstance(block, str) else int(block), set()).add(aid)
            if aid not in ids:
                ids.append(aid)
        for old in [b for b in touched if b < end - REORG_MEMORY_BLOCKS]:
            del touched[old]
        if not ids:
            return []
        return [PositionChanged(chain, protocol, s, s.positions, s.block) for s in await read(ids, end)]

    async def on_reorg(ancestor: int, head: int) -> list[ChainEvent]:
        ids = sorted({aid for b, accounts in touched.items() if b > ancestor for aid in accounts})
        for b in [b for b in touched if b > ancestor]:
            del touched[b]
        if not ids:
            return []
        return [PositionChanged(chain, protocol, s, s.positions, s.block) for s in await read(ids, head)]

    return LogFilter(name, [address], [list(topics)], handler, from_block, on_reorg=on_reorg)
