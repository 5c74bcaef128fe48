"""The attempt book: the single owner of "in flight", cooldowns and where ours were mined."""

from __future__ import annotations

from typing import TYPE_CHECKING

from keeper.core.outcome import OutcomeStatus, TxPurpose
from keeper.core.plan import Skip, SkipKind

if TYPE_CHECKING:
    from keeper.core.outcome import Outcome
    from keeper.execution.journal import Journal

# Attempts after which the account is left alone for a while (a timeout is still in flight).
COOLING = (OutcomeStatus.SIMULATION_FAILED, OutcomeStatus.REVERTED, OutcomeStatus.LOST)


class AttemptBook:
    """Which accounts may be planned at a head, and why not.

    - in flight: a liquidation of ours on the account is still open in the journal;
    - cooling down: an attempt on it failed (simulation, revert, lost, timeout, error),
      whichever stage made it (the block cycle or a back-run);
    - mined after the head: a cycle acting again on an older head after a fault must not act
      on state that predates our own mined liquidation.
    """

    def __init__(self, journal: Journal, sender: str, cooldown_blocks: int) -> None:
        self.journal = journal
        self.sender = sender
        self.cooldown_blocks = cooldown_blocks
        self._cooldown: dict[str, int] = {}  # account -> first block it may be tried again
        self._mined_at: dict[str, int] = {}  # account -> block our transaction was mined

    def in_flight(self) -> set[str]:
        """Accounts with a liquidation of ours still open."""
        return {
            str(e.meta.get("account"))
            for e in self.journal.open_entries(self.sender)
            if TxPurpose(e.purpose).liquidates
        }

    def gate(self, account: str, head: int, in_flight: set[str]) -> Skip | None:
        """Why ``account`` may not be planned at ``head``, or None."""
        if account in in_flight:
            return Skip(account, "a liquidation of it is still pending", SkipKind.PENDING)
        if self._cooldown.get(account, 0) > head:
            return Skip(account, "cooling down after a failed attempt", SkipKind.COOLDOWN)
        mined_at = self._mined_at.get(account)
        if mined_at is not None and mined_at > head:
            reason = f"a liquidation of ours was mined at block {mined_at}, after this head"
            return Skip(account, reason, SkipKind.MINED_AFTER_HEAD)
        return None

    def settle(self, account: str, head: int, outcome: Outcome | None) -> None:
        """Book an attempt's end: a failure (None: an error) cools the account down."""
        if outcome is not None and outcome.block is not None:
            self.note_mined(account, outcome.block)
        if outcome is None or outcome.status in COOLING:
            self._cooldown[account] = head + 1 + self.cooldown_blocks

    def note_mined(self, account: str, block: int) -> None:
        """Remember where a transaction of ours on ``account`` was mined."""
        self._mined_at[account] = max(block, self._mined_at.get(account, block))

    def forget_above(self, ancestor: int) -> None:
        """Blocks above ``ancestor`` were replaced: what was mined there is gone with them."""
        self._mined_at = {a: b for a, b in self._mined_at.items() if b <= ancestor}

    def prune(self, head: int) -> None:
        """Drop what no longer matters at ``head``."""
        self._mined_at = {a: b for a, b in self._mined_at.items() if b > head}
        self._cooldown = {a: b for a, b in self._cooldown.items() if b > head}
