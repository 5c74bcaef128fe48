"""What came of executing one plan, and what a mined liquidation really moved."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from keeper.core.plan import AnyPlan


class OutcomeStatus(StrEnum):
    """The end of one attempt."""

    LIQUIDATED = "liquidated"
    LOST = "lost"  # mined and reverted: another liquidator got there first
    REVERTED = "reverted"  # mined and reverted, nobody else liquidated the account
    SIMULATION_FAILED = "simulation_failed"  # refused before signing: costs nothing
    NOT_SENT = "not_sent"  # refused before signing: unprofitable after simulated gas
    TIMEOUT = "timeout"  # sent, no receipt in time: the journal settles it later
    NOT_INCLUDED = "not_included"  # a private back-run that never landed: costs nothing

    @property
    def failed(self) -> bool:
        """An attempt the failure breaker and the plan cooldown count."""
        return self in (OutcomeStatus.REVERTED, OutcomeStatus.LOST, OutcomeStatus.TIMEOUT)


class TxPurpose(StrEnum):
    """Why a transaction of ours exists (journaled with it)."""

    LIQUIDATION = "liquidation"
    FLASH_LIQUIDATION = "flash_liquidation"
    APPROVE = "approve"
    DEPLOY_LIQUIDATOR = "deploy_liquidator"
    CANCEL = "cancel"
    OTHER = "other"

    @property
    def liquidates(self) -> bool:
        """A transaction that acts on a borrower (one in flight blocks a second plan)."""
        return self in (TxPurpose.LIQUIDATION, TxPurpose.FLASH_LIQUIDATION)


@dataclass(frozen=True)
class Realised:
    """What a mined liquidation of ours moved, read from its receipt by the market."""

    spent: int  # units of the plan's spend asset the protocol pulled
    received: int  # units of the plan's receive asset we got
    profit: int | None = None  # flash: spend-asset units paid out to the owner


@dataclass
class Outcome:
    """The result of executing one plan; amounts in token units, gas in wei.

    ``sent_at`` is this attempt's own broadcast time (``perf_counter``): concurrent plans never
    share one, so reaction timings are each plan's own.
    """

    status: OutcomeStatus
    plan: AnyPlan
    tx_hash: str | None = None
    gas_used: int = 0
    gas_cost_wei: int = 0
    spent: int = 0
    received: int = 0
    reason: str = ""
    error: str | None = None  # the decoded revert (custom error name, string code, panic)
    winner_tx: str | None = None  # the competitor's transaction, when we lost the race
    realized_profit: int | None = None  # flash mode: spend-asset units paid to the owner
    expected_profit: int | None = None  # flash mode: the same, predicted from the quote
    # Wei our contract paid block.coinbase: all-or-nothing with the liquidation, so only when
    # it liquidated (a cost beside the gas in the ledger).
    bid_paid_wei: int = 0
    timings_ms: dict[str, float] = field(default_factory=dict)
    block: int | None = None  # where our transaction was mined, if it was
    sent_at: float | None = None
