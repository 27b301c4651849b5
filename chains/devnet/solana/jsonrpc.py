"""JSON-RPC 2.0 envelope handling: parsing, batches, notifications and error objects.

Anything a client sends ends in a well-formed response (or none, for notifications); unexpected
exceptions in a handler become -32603 and are logged, never propagated to the server.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable, Mapping
from typing import Any

from loguru import logger

from .errors import INTERNAL_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, PARSE_ERROR, RpcError

MAX_BATCH = 1000
Call = Callable[[str, Any], Any]


def plain_traceback(exc: BaseException) -> str:
    """The traceback without local variables (loguru's diagnose mode would print them: keys, payloads)."""
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def _error(id_: Any, err: RpcError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "error": err.to_json(), "id": id_}


def _valid_id(value: Any) -> bool:
    return value is None or (isinstance(value, (str, int)) and not isinstance(value, bool))


def handle_one(item: Any, call: Call, allowed: Callable[[str], bool]) -> dict[str, Any] | None:
    """One request object → response object (None for a notification)."""
    if not isinstance(item, dict):
        return _error(None, RpcError(INVALID_REQUEST, "Invalid request: expected a JSON object"))
    id_ = item.get("id")
    if not _valid_id(id_):
        return _error(
            None, RpcError(INVALID_REQUEST, "Invalid request: id must be a string, integer or null")
        )
    if item.get("jsonrpc") != "2.0":
        return _error(id_, RpcError(INVALID_REQUEST, 'Invalid request: "jsonrpc" must be "2.0"'))
    name = item.get("method")
    if not isinstance(name, str):
        return _error(id_, RpcError(INVALID_REQUEST, 'Invalid request: "method" must be a string'))
    params = item.get("params")
    if params is not None and not isinstance(params, (list, dict)):
        return _error(
            id_, RpcError(INVALID_REQUEST, 'Invalid request: "params" must be an array or an object')
        )
    is_notification = "id" not in item
    if not allowed(name):
        response = _error(id_, RpcError(METHOD_NOT_FOUND, f"Method not found: {name[:80]}"))
    else:
        try:
            response = {"jsonrpc": "2.0", "result": call(name, params), "id": id_}
        except RpcError as err:
            response = _error(id_, err)
        except Exception as exc:  # a bug here must not take the endpoint down
            logger.error("solana endpoint: {} failed:\n{}", name, plain_traceback(exc))
            response = _error(id_, RpcError(INTERNAL_ERROR, f"Internal error: {type(exc).__name__}: {exc}"))
    return None if is_notification else response


def handle_payload(text: str | bytes, call: Call, allowed: Callable[[str], bool]) -> Any:
    """A request body → the JSON value to send back (None: send nothing)."""
    try:
        payload = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        return _error(None, RpcError(PARSE_ERROR, "Parse error"))
    if isinstance(payload, list):
        if not payload:
            return _error(None, RpcError(INVALID_REQUEST, "Invalid request: empty batch"))
        if len(payload) > MAX_BATCH:
            return _error(None, RpcError(INVALID_REQUEST, f"Invalid request: batch larger than {MAX_BATCH}"))
        out = [r for r in (handle_one(item, call, allowed) for item in payload) if r is not None]
        return out or None
    return handle_one(payload, call, allowed)


def dispatcher(table: Mapping[str, Callable[[Any, Any], Any]], target: Any) -> Call:
    def call(name: str, params: Any) -> Any:
        return table[name](target, params)

    return call
