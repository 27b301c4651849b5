"""Chainlink L2 sequencer uptime feeds → the engine's sequencer guard (down, or up within the grace period → no
action). Read at the same head as the decision, so the guard judges the block the keeper acts on."""

from __future__ import annotations

from datetime import UTC, datetime

from bots.guards import SequencerStatus
from bots.sources.evm import Head, call
from chains.protocols.abi import decode_exact, selector
from chains.protocols.base import Rpc

ROUND_T = ("uint80", "int256", "uint256", "uint256", "uint80")


async def read_sequencer(rpc: Rpc, chain: str, feed: str, head: Head) -> SequencerStatus:
    """answer 0 = up, 1 = down; `since` = startedAt of the current status. Anything else is an error."""
    where = f"{chain} sequencer feed {feed}"
    _, answer, started, _, _ = decode_exact(ROUND_T, await call(rpc, feed, selector("latestRoundData()"),
                                                                 head.number, where), where)
    if answer not in (0, 1):
        raise ValueError(f"{where}: status answer {answer} is neither 0 (up) nor 1 (down)")
    return SequencerStatus(chain, answer == 0, datetime.fromtimestamp(int(started), UTC))
