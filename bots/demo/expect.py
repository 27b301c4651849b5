"""What a demo run must show, as data: each line of issue 8's acceptance is one (label, bot, kinds) check over
the journal's confirmed actions. Pure, so the CLI's exit code and the tests use the same rule."""

from __future__ import annotations

from collections.abc import Sequence

from bots.demo.data import Action

# label, bot, action kinds (any of), scenarios it applies to
EXPECTED: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("VaultOptions liquidation", "liquidator", ("mint_and_liquidate", "liquidate")),
    ("PortfolioMargin auction bid", "liquidator", ("bid",)),
    ("hedge swap", "hedger", ("hedge",)),
    ("AMM rebalance", "hedger", ("rebalance",)),
    ("claim filed", "claimer", ("submit_claim",)),
    ("claim settled", "claimer", ("settle_claim",)),
    ("dispute", "disputer", ("dispute",)),
    ("expiry settlement", "settlement", ("settle_vault", "settle_expired", "settle_batch", "redeem")),
)


def missing(actions: Sequence[Action]) -> list[str]:
    """Labels of the expected outcomes with no confirmed action (empty = the run showed everything)."""
    done = {(a.bot, a.kind) for a in actions if a.state == "confirmed"}
    return [label for label, bot, kinds in EXPECTED if not any((bot, k) in done for k in kinds)]


def counts(actions: Sequence[Action]) -> dict[str, int]:
    """Confirmed actions per expected outcome (the summary line the CLI prints)."""
    return {label: sum(1 for a in actions if a.state == "confirmed" and a.bot == bot and a.kind in kinds)
            for label, bot, kinds in EXPECTED}
