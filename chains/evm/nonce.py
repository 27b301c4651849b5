"""Nonce allocation for one (chain, signer) lane.

Rules (Euler's dispatcher, OpenZeppelin Relayer): the next nonce is max(local next, the node's pending count);
a nonce that was signed but never broadcast is given back so no gap is created; "nonce too low" or any
unknown send error triggers a resync from the chain; a chain nonce beyond what we ever broadcast means
someone else used the key, which is reported.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class NonceState:
    """Pure nonce bookkeeping; the lane feeds it chain observations and asks it for the next slot."""

    next_local: int = 0
    highest_broadcast: int = -1
    external_use_detected: int = 0

    def start(self, latest_count: int, pending_count: int) -> None:
        """Initialise from the chain at lane start-up (earlier runs' transactions are not external use)."""
        self.highest_broadcast = max(latest_count, pending_count) - 1
        self.next_local = max(latest_count, pending_count)

    def allocate(self, pending_count: int) -> int:
        """Next nonce to sign with: max(local next, pending count from the node)."""
        nonce = max(self.next_local, pending_count)
        self.next_local = nonce + 1
        return nonce

    def broadcast(self, nonce: int) -> None:
        """A signed tx with `nonce` reached the node: the slot is used."""
        self.highest_broadcast = max(self.highest_broadcast, nonce)

    def release(self, nonce: int) -> bool:
        """Give back a slot that was signed but never broadcast; only the newest slot can be returned
        without leaving a gap, so an older one is kept (the lane fills it with the next action or a NOOP)."""
        if nonce == self.next_local - 1 and nonce > self.highest_broadcast:
            self.next_local = nonce
            return True
        return False

    def resync(self, latest_count: int, pending_count: int) -> bool:
        """Align with the chain after "nonce too low" or an unknown error; True when external use is seen.

        External use: the mined count (`latest_count`) is beyond every nonce we ever broadcast, i.e. a
        transaction we did not send consumed one of our slots.
        """
        external = latest_count > self.highest_broadcast + 1
        if external:
            self.external_use_detected += 1
            self.highest_broadcast = latest_count - 1
        self.next_local = max(latest_count, pending_count, self.highest_broadcast + 1)
        return external

    def rewind(self, latest_count: int, pending_count: int) -> None:
        """After a reorg dropped our transactions the chain's count is authoritative, even if lower."""
        self.next_local = max(latest_count, pending_count)
        self.highest_broadcast = self.next_local - 1
