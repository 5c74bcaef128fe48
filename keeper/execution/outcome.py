"""What came of one liquidation attempt."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from keeper.strategy.plan import LiquidationPlan

Status = Literal["liquidated", "lost", "reverted", "simulation_failed", "not_sent", "timeout"]


@dataclass
class Outcome:
    """The result of executing one plan; amounts in token units, gas in wei."""

    status: Status
    plan: LiquidationPlan
    tx_hash: str | None = None
    gas_used: int = 0
    gas_cost_wei: int = 0
    debt_repaid: int = 0
    collateral_received: int = 0
    reason: str = ""
    error: str | None = None  # the decoded revert (custom error name, string code, panic)
    winner_tx: str | None = None  # the competitor's transaction, when we lost the race
    realized_profit: int | None = None  # flash mode: debt-asset units paid to the owner
    expected_profit: int | None = None  # flash mode: the same, predicted from the quote
    timings_ms: dict[str, float] = field(default_factory=dict)
    block: int | None = None  # where our transaction was mined, if it was
