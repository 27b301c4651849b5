"""Protocol name → adapter factory. Adding a protocol = one module with a `factory` plus one line here."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from chains.protocols import cover_market, option_amm, portfolio_margin, uniswap_v3, vault_options
from chains.protocols.base import AdapterError, ProtocolAdapter, Rpc

AdapterFactory = Callable[[str, Rpc, Mapping[str, Any]], ProtocolAdapter]

REGISTRY: dict[str, AdapterFactory] = {
    vault_options.PROTOCOL: vault_options.factory,
    portfolio_margin.PROTOCOL: portfolio_margin.factory,
    cover_market.PROTOCOL: cover_market.factory,
    option_amm.PROTOCOL: option_amm.factory,
    uniswap_v3.PROTOCOL: uniswap_v3.factory,
}


def create_adapter(protocol: str, chain: str, rpc: Rpc, config: Mapping[str, Any]) -> ProtocolAdapter:
    """The adapter for `protocol` on `chain`; an unknown name says which ones exist."""
    try:
        make = REGISTRY[protocol]
    except KeyError:
        raise AdapterError(f"unknown protocol {protocol!r}; registered: {', '.join(sorted(REGISTRY))}") from None
    return make(chain, rpc, config)
