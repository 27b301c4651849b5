"""What a lane may sign: the contracts it may call and how much native token it may put at risk.

Why in the lane: strategies and call builders change often and read untrusted chain data; the lane is the last
step before the key signs, so a bug or a poisoned input upstream (a call to an arbitrary address, a fee spiral)
stops here whatever the engine's soft guards decided. Decisions are pure functions returning a refusal reason
(or None); the lane journals the reason and signs nothing.

Setup approvals: the keeper approves collateral tokens the config may not list (a VaultOptions' `collateral()` is
read from chain). Rather than allowing those tokens outright (which would also allow `transfer` to anyone), the
runner registers them as *approve-only*: the one call allowed is `approve(spender, amount)` with no value and a
spender that is itself an allowed contract.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from eth_abi import decode as abi_decode

APPROVE_SELECTOR = "0x095ea7b3"  # approve(address,uint256)
AGGREGATE3_SELECTOR = "0x82ad56cb"  # aggregate3((address,bool,bytes)[])
MULTICALL3_ADDRESS = "0xca11bde05977b3631167028862be2a173976ca11"  # same address on every EVM chain
HOUR_S = 3600.0
WEI_PER_NATIVE = 10**18
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


def normalise(address: str) -> str:
    """Lower-case 0x address (checksum and case differences compare equal); ValueError when not an address."""
    if not isinstance(address, str) or not _ADDRESS.match(address.strip()):
        raise ValueError(f"not a 20-byte 0x address: {str(address)[:60]!r}")
    return address.strip().lower()


@dataclass
class Allowlist:
    """Contracts one chain's lane may call; `approve_only` tokens accept only approve(allowed spender, …)."""

    chain: str
    contracts: frozenset[str] = frozenset()
    approve_only: set[str] = field(default_factory=set)

    @classmethod
    def build(cls, chain: str, addresses: Iterable[str]) -> Allowlist:
        """From config addresses; entries that are not addresses (e.g. numbers) are ignored, not trusted."""
        ok: set[str] = set()
        for a in addresses:
            try:
                ok.add(normalise(a))
            except ValueError:
                continue
        return cls(chain, frozenset(ok))

    def permit_approve(self, token: str) -> None:
        """Allow `approve(spender ∈ contracts, amount)` on `token` (the keeper's own setup approvals)."""
        self.approve_only.add(normalise(token))

    def refusal(self, to: str, data: str, value: int, signer: str) -> str | None:
        """None when the call is allowed, else the refusal reason (starting with "refused:")."""
        try:
            target = normalise(to)
        except ValueError:
            return f"refused: {str(to)[:60]!r} is not an address (on {self.chain})"
        if target == signer.lower() and value == 0 and data in ("", "0x"):
            return None  # a NOOP self-transfer frees a nonce; it calls nothing
        if target in self.contracts:
            return None
        if target == MULTICALL3_ADDRESS and value == 0:
            return self._batch_refusal(data)
        if target in self.approve_only and value == 0:
            spender = _approve_spender(data)
            if spender is not None and spender in self.contracts:
                return None
            return f"refused: {to} only accepts approve() to an allowed contract on {self.chain}"
        return f"refused: {to} is not an allowed contract on {self.chain}"


    def _batch_refusal(self, data: str) -> str | None:
        """A Multicall3 `aggregate3` batch is allowed when every call in it is (keepers batch permissionless
        settlements this way); anything else sent to Multicall3 is refused."""
        body = data.lower().removeprefix("0x")
        if "0x" + body[:8] != AGGREGATE3_SELECTOR:
            return f"refused: only aggregate3 batches may go to Multicall3 on {self.chain}"
        try:
            (items,) = abi_decode(["(address,bool,bytes)[]"], bytes.fromhex(body[8:]))
        except Exception:  # noqa: BLE001 - any malformed batch is refused, never half-checked
            return f"refused: malformed Multicall3 batch on {self.chain}"
        for inner_to, _allow_failure, _inner_data in items:
            if normalise(inner_to) not in self.contracts:
                return f"refused: batch calls {inner_to}, not an allowed contract on {self.chain}"
        return None


def _approve_spender(data: str) -> str | None:
    """The spender of a well-formed `approve(address,uint256)` call, lower-case; None for anything else."""
    body = data.lower().removeprefix("0x")
    if len(body) != 8 + 128 or "0x" + body[:8] != APPROVE_SELECTOR or body[8:32] != "0" * 24:
        return None
    return "0x" + body[32:72]


@dataclass(frozen=True, slots=True)
class SpendCaps:
    """Hard caps in wei: worst-case cost of one transaction, and of everything sent in a rolling hour."""

    per_action_wei: int | None = None
    per_hour_wei: int | None = None

    @staticmethod
    def native_to_wei(amount: object) -> int | None:
        """Decimal/str/int native amount (ETH) → wei; None stays None."""
        if amount is None:
            return None
        return int(Decimal(str(amount)) * WEI_PER_NATIVE)


def worst_case_wei(gas_limit: int, max_fee_per_gas: int, value: int) -> int:
    """The most a transaction can cost its sender: every unit of gas at the max fee, plus the value sent."""
    return gas_limit * max_fee_per_gas + value


class SpendWindow:
    """Worst-case spend of sent attempts over a rolling window (seconds on a monotonic clock)."""

    def __init__(self, window_s: float = HOUR_S) -> None:
        self.window_s = window_s
        self._entries: deque[tuple[float, int]] = deque()

    def spent(self, now: float) -> int:
        while self._entries and self._entries[0][0] <= now - self.window_s:
            self._entries.popleft()
        return sum(w for _, w in self._entries)

    def record(self, now: float, wei: int) -> None:
        if wei > 0:
            self._entries.append((now, wei))


def spend_refusal(caps: SpendCaps, cost_wei: int, added_wei: int, spent_wei: int, chain: str) -> str | None:
    """`cost_wei`: this attempt's worst case (per-action cap); `added_wei`: what it adds to the window (a bump adds
    only its increase over the attempt it replaces, since at most one of them is mined)."""
    if caps.per_action_wei is not None and cost_wei > caps.per_action_wei:
        return (f"refused: spend cap: worst-case cost {_eth(cost_wei)} > per-action cap "
                f"{_eth(caps.per_action_wei)} on {chain}")
    if caps.per_hour_wei is not None and spent_wei + added_wei > caps.per_hour_wei:
        return (f"refused: spend cap: {_eth(spent_wei)} sent in the last hour + {_eth(added_wei)} > per-hour cap "
                f"{_eth(caps.per_hour_wei)} on {chain}")
    return None


def _eth(wei: int) -> str:
    return f"{wei / WEI_PER_NATIVE:.6g} native ({wei} wei)"
