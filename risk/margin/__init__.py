"""Margin: protocol mirrors, house scenario margin, distance to liquidation.

- ``vault``: VaultOptions (Opyn naked margin) requirement and liquidation auction price, per vault.
- ``portfolio`` + ``auction``: PortfolioMargin (Lyra v2 standard manager) MM / MtM and Dutch-auction maths.
- ``house``: 33-scenario full-revaluation margin for any wallet's whole book.
- ``distance``: smallest spot move that liquidates, for all three, vectorised over accounts.

Inputs are struct-of-arrays books built with ``*.build(...)`` (validated, errors name field and rows).
"""

from ._arrays import MarginInputError
from .auction import (
    AuctionParams,
    bid_price,
    bidder_profit,
    buffer_margin,
    discount,
    insolvent_payout,
    max_bid_fraction,
    max_fraction,
)
from .distance import Distance, DistanceRange, house_distance, pm_distance, solve_move, vault_distance
from .house import (
    EXTENDED_MOVES,
    HouseBook,
    HouseMargin,
    HouseParams,
    ScenarioTable,
    forward_from_spot,
    house_margin,
    house_margin_moved,
    scenario_table,
    shocked_vols,
)
from .portfolio import PMBook, PMMargin, PMParams, PMReason, pm_margin, pm_vols
from .vault import (
    UpperBoundTable,
    VaultBook,
    VaultMargin,
    VaultParams,
    VaultReason,
    cash_value,
    first_unsafe_round,
    vault_auction_price,
    vault_margin,
)

__all__ = [
    "EXTENDED_MOVES",
    "AuctionParams",
    "Distance",
    "DistanceRange",
    "HouseBook",
    "HouseMargin",
    "HouseParams",
    "MarginInputError",
    "PMBook",
    "PMMargin",
    "PMParams",
    "PMReason",
    "ScenarioTable",
    "UpperBoundTable",
    "VaultBook",
    "VaultMargin",
    "VaultParams",
    "VaultReason",
    "bid_price",
    "bidder_profit",
    "buffer_margin",
    "cash_value",
    "discount",
    "first_unsafe_round",
    "forward_from_spot",
    "house_distance",
    "house_margin",
    "house_margin_moved",
    "insolvent_payout",
    "max_bid_fraction",
    "max_fraction",
    "pm_distance",
    "pm_margin",
    "pm_vols",
    "scenario_table",
    "shocked_vols",
    "solve_move",
    "vault_auction_price",
    "vault_distance",
    "vault_margin",
]
