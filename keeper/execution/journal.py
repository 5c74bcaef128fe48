"""The write-ahead journal of every transaction the keeper signs: the interface and its entry.

A transaction is written here, raw bytes included, *before* it is broadcast, and every change of
its fate after. After a crash the journal says exactly which nonces are in flight and with which
signed bytes, so the keeper never signs a second transaction for a nonce it may already have
used, and never leaves a gap. The journal also holds the P&L ledger (each settled attempt's
realised result), so that the loss budget survives restarts.

Two implementations: :class:`~keeper.execution.journal_sqlite.SqliteJournal` (a file, the
default, one keeper alone on its key) and :class:`~keeper.execution.journal_pg.PostgresJournal`
(several keepers on one key, one active under a lease: every write carries the lease's fencing
epoch and is refused once the epoch is no longer the key's).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

Status = Literal["signed", "broadcast", "mined", "reverted", "replaced", "lost", "dropped"]
OPEN: tuple[Status, ...] = ("signed", "broadcast")
DAY_S = 86_400.0


@dataclass(frozen=True)
class Entry:
    """One signed transaction as journaled."""

    tx_hash: str
    sender: str
    nonce: int
    raw: bytes
    to: str
    data: str
    gas_limit: int
    max_fee: int
    tip: int
    purpose: str
    meta: dict[str, Any]
    status: Status
    block: int | None
    note: str | None


@dataclass(frozen=True)
class ChannelRecord:
    """One submission channel a transaction went through, and how it last went there."""

    tx_hash: str
    channel: str
    first_sent_at: float  # epoch seconds
    last_result: str  # a keeper.submission.events.ChannelResult value
    updated_at: float
    detail: str | None


class Journal(Protocol):
    """Durable record of one chain's signed transactions and results.

    Every write is committed before it returns. Writes raise ``NotActiveError`` when this
    keeper no longer holds its key's lease (PostgreSQL), and ``JournalUnavailableError`` when
    the database cannot be reached: nothing may be sent that is not journaled.
    """

    chain_id: int

    @property
    def location(self) -> str:
        """Where the journal lives, for logs (no credentials)."""
        ...

    def close(self) -> None:
        """Release the database."""
        ...

    def check_writer(self) -> None:
        """Raise ``NotActiveError`` unless this keeper may write and broadcast now.

        Asked right before each broadcast: the decision to send carries the lease's epoch too.
        """
        ...

    def record_signed(
        self,
        *,
        tx_hash: str,
        sender: str,
        nonce: int,
        raw: bytes,
        to: str,
        data: str,
        gas_limit: int,
        max_fee: int,
        tip: int,
        purpose: str,
        meta: dict[str, Any],
    ) -> None:
        """Write a signed transaction before it is broadcast (the same hash again reopens it)."""
        ...

    def mark(
        self, tx_hash: str, status: Status, *, block: int | None = None, note: str | None = None
    ) -> None:
        """Record a transaction's new fate."""
        ...

    def record_result(
        self, sender: str, tx_hash: str | None, pnl_base: int, at: float | None = None
    ) -> None:
        """The realised profit (negative: loss) of one settled attempt, in base units."""
        ...

    def losses_since(self, sender: str, since: float) -> int:
        """Sum of realised losses (as a positive number) recorded at or after ``since``."""
        ...

    def settled_after(self, sender: str, block: int) -> list[Entry]:
        """Transactions recorded as mined or reverted in a block above ``block``."""
        ...

    def open_or_settled_after(self, sender: str, block: int) -> list[Entry]:
        """Transactions still open, or mined or reverted in a block above ``block``."""
        ...

    def open_entries(self, sender: str) -> list[Entry]:
        """Transactions whose fate is not known yet, oldest nonce first."""
        ...

    def at_nonce(self, sender: str, nonce: int) -> list[Entry]:
        """Every attempt at one nonce, oldest first."""
        ...

    def highest_nonce(self, sender: str) -> int | None:
        """The highest nonce ever signed for ``sender``."""
        ...

    def find(self, tx_hash: str) -> tuple[Entry, float] | None:
        """One journaled transaction by hash, with the time it was signed (epoch seconds)."""
        ...

    def result_of(self, tx_hash: str) -> int | None:
        """The realised result recorded for one transaction (base units), if any."""
        ...

    def entries(self, sender: str) -> list[Entry]:
        """Everything journaled for ``sender``, in signing order."""
        ...

    def record_channel(
        self, tx_hash: str, channel: str, result: str, *, detail: str | None = None
    ) -> None:
        """A channel's latest result for a transaction (the first one's time is kept)."""
        ...

    def channels_of(self, tx_hash: str) -> list[ChannelRecord]:
        """Every channel ``tx_hash`` went through, first sent first."""
        ...


def record_inclusion(journal: Journal, tx_hash: str, block: int) -> None:
    """Record a mined transaction as included on every channel it went through.

    The sender's word, from its receipt: a channel's own watch may not have seen it yet.
    """
    for record in journal.channels_of(tx_hash):
        if record.last_result != "included":
            journal.record_channel(tx_hash, record.channel, "included", detail=f"block {block}")
