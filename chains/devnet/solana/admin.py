"""Admin JSON-RPC methods (``rtrm_*``): write accounts, drive slots and time.

They exist because no custom program can be deployed here: Pyth PriceUpdateV2 and options-market
accounts are written directly. They are served only to loopback clients. Params are one JSON object
(``{"pubkey": ...}``) or an array holding that object.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from solders.account import Account
from solders.pubkey import Pubkey

from .chain import AccountWriteError, DevnetChain
from .errors import invalid_params
from .params import as_uint, decode_bytes, parse_pubkey

ADMIN_PREFIX = "rtrm_"
ADMIN_METHODS: dict[str, Callable[[DevnetChain, Any], Any]] = {}
MAX_ACCOUNT_DATA = 10 * 1024 * 1024
RENT_EXEMPT_EPOCH = 2**64 - 1
MAX_SLOT = 2**62  # leaves the u64 slot room to keep ticking
_SYSTEM = Pubkey.default()


def admin(name: str) -> Callable[[Callable[[DevnetChain, Any], Any]], Callable[[DevnetChain, Any], Any]]:
    def register(fn: Callable[[DevnetChain, Any], Any]) -> Callable[[DevnetChain, Any], Any]:
        ADMIN_METHODS[ADMIN_PREFIX + name] = fn
        return fn

    return register


def _obj(method: str, raw: Any) -> dict[str, Any]:
    if isinstance(raw, list) and len(raw) == 1:
        raw = raw[0]
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise invalid_params(f'{method} takes one object param, e.g. {{"slot": 123}}')
    return raw


def _field(obj: dict[str, Any], key: str, where: str) -> Any:
    if key not in obj:
        raise invalid_params(f"{where}: missing field {key!r}")
    return obj[key]


def clock_json(chain: DevnetChain) -> dict[str, Any]:
    clock = chain.svm.get_clock()
    return {
        "slot": chain.slot,
        "blockHeight": chain.block_height,
        "unixTimestamp": chain.unix_timestamp,
        "epoch": clock.epoch,
    }


def parse_account_spec(obj: Any, where: str) -> tuple[Pubkey, Account]:
    if not isinstance(obj, dict):
        raise invalid_params(f"{where}: expected an account object")
    unknown = set(obj) - {"pubkey", "lamports", "data", "owner", "executable", "rentEpoch"}
    if unknown:
        raise invalid_params(f"{where}: unknown fields {sorted(unknown)}")
    pubkey = parse_pubkey(_field(obj, "pubkey", where), f"{where}.pubkey")
    lamports = as_uint(_field(obj, "lamports", where), f"{where}.lamports")
    data = decode_bytes(obj.get("data", ""), "base64", f"{where}.data (base64)")
    if len(data) > MAX_ACCOUNT_DATA:
        raise invalid_params(f"{where}.data: {len(data)} bytes exceeds the 10 MiB account limit")
    owner = parse_pubkey(obj["owner"], f"{where}.owner") if "owner" in obj else _SYSTEM
    executable = obj.get("executable", False)
    if not isinstance(executable, bool):
        raise invalid_params(f"{where}.executable: expected true/false")
    rent_epoch = as_uint(obj.get("rentEpoch", RENT_EXEMPT_EPOCH), f"{where}.rentEpoch")
    return pubkey, Account(lamports, data, owner, executable, rent_epoch)


def _write(chain: DevnetChain, specs: list[tuple[Pubkey, Account]], where: str) -> None:
    try:
        chain.set_accounts(specs)
    except AccountWriteError as exc:
        raise invalid_params(f"{where}: {exc}") from None


@admin("setAccount")
def set_account(chain: DevnetChain, raw: Any) -> Any:
    spec = parse_account_spec(_obj("rtrm_setAccount", raw), "rtrm_setAccount")
    _write(chain, [spec], "rtrm_setAccount")
    return {"slot": chain.slot}


@admin("setAccounts")
def set_accounts(chain: DevnetChain, raw: Any) -> Any:
    obj = _obj("rtrm_setAccounts", raw)
    items = _field(obj, "accounts", "rtrm_setAccounts")
    if not isinstance(items, list) or not items:
        raise invalid_params("rtrm_setAccounts.accounts: expected a non-empty array")
    specs = [parse_account_spec(item, f"rtrm_setAccounts.accounts[{i}]") for i, item in enumerate(items)]
    _write(chain, specs, "rtrm_setAccounts.accounts")  # all or nothing
    return {"slot": chain.slot, "count": len(specs)}


@admin("warpSlot")
def warp_slot(chain: DevnetChain, raw: Any) -> Any:
    slot = as_uint(
        _field(_obj("rtrm_warpSlot", raw), "slot", "rtrm_warpSlot"), "rtrm_warpSlot.slot", MAX_SLOT
    )
    if slot <= chain.slot:
        raise invalid_params(f"rtrm_warpSlot.slot: {slot} is not after the current slot {chain.slot}")
    chain.warp_to_slot(slot)
    return clock_json(chain)


@admin("advanceSlots")
def advance_slots(chain: DevnetChain, raw: Any) -> Any:
    n = as_uint(
        _field(_obj("rtrm_advanceSlots", raw), "n", "rtrm_advanceSlots"), "rtrm_advanceSlots.n", 10**9
    )
    if n == 0:
        raise invalid_params("rtrm_advanceSlots.n: must be at least 1")
    chain.advance_slots(n)
    return clock_json(chain)


@admin("setClock")
def set_clock(chain: DevnetChain, raw: Any) -> Any:
    obj = _obj("rtrm_setClock", raw)
    ts = _field(obj, "unixTimestamp", "rtrm_setClock")
    if isinstance(ts, bool) or not isinstance(ts, int) or not 0 <= ts < 2**63:
        raise invalid_params(f"rtrm_setClock.unixTimestamp: expected a non-negative integer, got {ts!r}")
    chain.set_unix_timestamp(ts)
    return clock_json(chain)


@admin("advanceTime")
def advance_time(chain: DevnetChain, raw: Any) -> Any:
    secs = _field(_obj("rtrm_advanceTime", raw), "seconds", "rtrm_advanceTime")
    if isinstance(secs, bool) or not isinstance(secs, (int, float)) or not 0 <= secs <= 10 * 365 * 86400:
        raise invalid_params(f"rtrm_advanceTime.seconds: expected a number in [0, 10 years], got {secs!r}")
    chain.advance_time(secs)
    return clock_json(chain)


@admin("getClock")
def get_clock(chain: DevnetChain, raw: Any) -> Any:
    return clock_json(chain)
