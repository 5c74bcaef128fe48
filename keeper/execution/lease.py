"""Who may write and send for a key: alone (SQLite), or the holder of a PostgreSQL lease.

Several keepers on one key share one PostgreSQL journal and one lease row per key (signer
address and chain id): the active holder, a fencing epoch that only ever grows (each new
holder takes the next one), and an expiry by the database's clock. The holder renews it every
``lease_renew_s``; it lapses ``lease_ttl_s`` after the last renewal. Every journal write, and
the decision to broadcast, runs in a transaction that checks the row still names this holder
and epoch and has not expired (``keeper.execution.journal_pg``): a stale active can never
write or send, whatever its own clock says.

This module is the local half: when this keeper stops sending on its own, without asking the
database. The timing, on the process's monotonic clock:

- A renewal taken at local time ``t`` (read *before* the request leaves) set the expiry to the
  database's ``now() + ttl``, and the database ran the statement after ``t``: the lease is ours
  until at least ``t + ttl``.
- This keeper sends only until ``t + ttl - margin``, with ``margin = ttl / 4``: the time between
  the last check and the bytes reaching the node (one journal round trip and a send), scheduling
  delays, and the rate difference of two clocks over a few seconds all fit in it many times.
- Renewals come every ``renew`` (< ``ttl / 2``, validated at start), so one failed renewal never
  pauses sending; after the last successful one, sending stops at most ``ttl - margin`` later,
  which is ``margin`` before any standby can take over. Cut off from PostgreSQL, the active
  therefore stops at renew-failure time + at most ``ttl - margin - renew`` < ``ttl``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from keeper.errors import NotActiveError

if TYPE_CHECKING:
    from collections.abc import Callable

MARGIN_FRACTION = 4  # margin = ttl / 4


class WriterGate(Protocol):
    """Whether this keeper may write its key's journal and send (one writer per key)."""

    @property
    def sending(self) -> bool:
        """True while new work may be sent: the writer, with open transactions adopted."""
        ...

    @property
    def role(self) -> str:
        """``single``, ``active`` or ``standby`` (the ``keeper_role`` metric's label)."""
        ...


class Alone:
    """A keeper alone on its key (SQLite journal): always the writer."""

    sending = True
    role = "single"


ALONE = Alone()


@dataclass(frozen=True)
class LeaseTerms:
    """How long a lease lasts and how often it is renewed (seconds)."""

    ttl_s: float
    renew_s: float

    @property
    def margin_s(self) -> float:
        """How long before the database's expiry this keeper stops on its own."""
        return self.ttl_s / MARGIN_FRACTION


class Lease:
    """The hold of this keeper on its key's lease, as far as it knows locally.

    ``epoch`` is set while this keeper holds the lease; ``ready`` once the open transactions
    of the journal are adopted after acquiring it (until then only recovery writes).
    """

    def __init__(
        self,
        key: str,
        holder: str,
        terms: LeaseTerms,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.key = key
        self.holder = holder
        self.terms = terms
        self.clock = clock
        self.epoch: int | None = None
        self.ready = False
        self.valid_until = float("-inf")
        self.lost_reason = ""

    @property
    def held(self) -> bool:
        """True while this keeper holds the lease by its own clock."""
        return self.epoch is not None and self.clock() < self.valid_until

    @property
    def sending(self) -> bool:
        """True while new work may be sent."""
        return self.ready and self.held

    @property
    def role(self) -> str:
        """``active`` while held, else ``standby``."""
        return "active" if self.held else "standby"

    def writable_epoch(self) -> int:
        """The epoch a write carries; ``NotActiveError`` when the lease is not held."""
        epoch = self.epoch
        if epoch is None or self.clock() >= self.valid_until:
            raise NotActiveError(
                f"not the active keeper of {self.key}: "
                + (self.lost_reason or "this keeper is a standby")
            )
        return epoch

    def granted(self, epoch: int, asked_at: float) -> None:
        """The lease was acquired (``epoch``) or renewed by a request sent at ``asked_at``."""
        if self.epoch != epoch:
            self.ready = False
        self.epoch = epoch
        self.valid_until = asked_at + self.terms.ttl_s - self.terms.margin_s
        self.lost_reason = ""

    def lost(self, reason: str) -> None:
        """The lease is gone (taken, lapsed, or refused a write): stop at once."""
        self.epoch = None
        self.ready = False
        self.valid_until = float("-inf")
        self.lost_reason = reason
