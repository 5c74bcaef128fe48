"""The verdict rules: would the keeper have won a liquidation the real chain saw? Pure.

Our transaction, planned at head ``B``, would land in block ``B + 1`` at the earliest. Against a
real liquidation of the same account in block ``W``:

- ``W > B + 1``: we would have won, an earlier block;
- ``W == B + 1``: the same block; block builders order by the tip a transaction pays above the
  block's base fee, so a higher effective tip wins, an equal or lower one loses (an equal bid's
  order is not ours to know: counted as a loss), and a max fee below the base fee is not
  included at all;
- no plan of ours before ``W``: a loss for the reason the keeper skipped the account (it saw it
  and chose not to act), or *missed* when it never saw it as liquidatable;
- a plan nobody else took within ``VERDICT_WINDOW_BLOCKS``: would have won, uncontested.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from keeper.core.outcome import OutcomeStatus
from keeper.core.plan import SkipKind

VERDICT_WINDOW_BLOCKS = 5


class Verdict(enum.StrEnum):
    """What shadow mode concludes for one opportunity or real liquidation."""

    WOULD_WIN = "would_win"
    WOULD_LOSE = "would_lose"
    MISSED = "missed"


class Reason(enum.StrEnum):
    """Why."""

    # would win
    EARLIER_BLOCK = "earlier_block"
    HIGHER_BID = "higher_bid"
    UNCONTESTED = "uncontested"
    # would lose: raced and beaten
    LOWER_BID = "lower_bid"
    EQUAL_BID = "equal_bid"
    PRICED_OUT = "priced_out"
    FORK_REVERTED = "fork_reverted"
    # would lose: seen, not acted on
    UNPROFITABLE = "unprofitable"
    NO_INVENTORY = "no_inventory"
    BREAKER = "breaker"
    COOLDOWN = "cooldown"
    SIMULATION_FAILED = "simulation_failed"
    OTHER_SKIP = "other_skip"
    # missed
    NOT_A_CANDIDATE = "not_a_candidate"
    HEAD_NOT_PROCESSED = "head_not_processed"


@dataclass(frozen=True)
class Bid:
    """What a transaction pays per gas: its fee caps (a legacy transaction: both its price)."""

    max_fee: int
    max_tip: int

    def effective_tip(self, base_fee: int) -> int | None:
        """The tip per gas it pays in a block of ``base_fee``; None if it cannot be included."""
        if self.max_fee < base_fee:
            return None
        return min(self.max_tip, self.max_fee - base_fee)


@dataclass(frozen=True)
class OurAttempt:
    """Our first plan of an opportunity: where, what it bid, how it ran on the fork."""

    plan_block: int
    bid: Bid
    fork_liquidated: bool


@dataclass(frozen=True)
class Rival:
    """The real liquidation we compare with."""

    block: int
    base_fee: int
    effective_tip: int


def judge_race(ours: OurAttempt, rival: Rival) -> tuple[Verdict, Reason]:
    """Our planned transaction against a real liquidation of the same account."""
    if not ours.fork_liquidated:
        return Verdict.WOULD_LOSE, Reason.FORK_REVERTED
    landing = ours.plan_block + 1
    if rival.block > landing:
        return Verdict.WOULD_WIN, Reason.EARLIER_BLOCK
    if rival.block < landing:  # pragma: no cover - callers match only plans before the rival
        raise ValueError("a plan at or after the rival's block is not its opportunity")
    tip = ours.bid.effective_tip(rival.base_fee)
    if tip is None:
        return Verdict.WOULD_LOSE, Reason.PRICED_OUT
    if tip > rival.effective_tip:
        return Verdict.WOULD_WIN, Reason.HIGHER_BID
    if tip == rival.effective_tip:
        return Verdict.WOULD_LOSE, Reason.EQUAL_BID
    return Verdict.WOULD_LOSE, Reason.LOWER_BID


def judge_unplanned(skip: Reason | None, *, head_before_processed: bool) -> tuple[Verdict, Reason]:
    """A real liquidation with no plan of ours before it.

    ``skip`` is why the keeper passed on the account before that block (None: it never had it
    as a candidate); ``head_before_processed`` says whether the keeper processed the block
    just before the liquidation's (else it was behind, or not running yet).
    """
    if skip is not None:
        return Verdict.WOULD_LOSE, skip
    if head_before_processed:
        return Verdict.MISSED, Reason.NOT_A_CANDIDATE
    return Verdict.MISSED, Reason.HEAD_NOT_PROCESSED


SKIP_REASONS = {
    SkipKind.BREAKER: Reason.BREAKER,
    SkipKind.NO_INVENTORY: Reason.NO_INVENTORY,
    SkipKind.COOLDOWN: Reason.COOLDOWN,
    SkipKind.UNPROFITABLE: Reason.UNPROFITABLE,
    SkipKind.UNPROFITABLE_L1_FEE: Reason.UNPROFITABLE,
    SkipKind.DUST: Reason.UNPROFITABLE,
}


def skip_reason(kind: SkipKind) -> Reason:
    """The reason class of a skip, from its kind (never from its words)."""
    return SKIP_REASONS.get(kind, Reason.OTHER_SKIP)


def refusal_reason(status: OutcomeStatus) -> Reason:
    """The reason class of a plan refused before sending."""
    if status is OutcomeStatus.SIMULATION_FAILED:
        return Reason.SIMULATION_FAILED
    return Reason.UNPROFITABLE  # not sent: the profit after (simulated) gas was too low
