"""What a channel tells about a transaction after its delivery: the per-channel record.

A delivery answer (:class:`~keeper.submission.channel.Delivery`) says only that the channel
took the bytes. Private channels follow their transactions further (resent each block) and
report how that ended; the sender journals every result and the metrics count them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Sequence


class ChannelResult(StrEnum):
    """The latest result of one transaction on one channel."""

    SENT = "sent"  # delivered (at least one endpoint took it)
    KNOWN = "known"  # the channel had it already
    UNCONFIRMED = "unconfirmed"  # no endpoint answered: it may or may not have arrived
    REFUSED = "refused"  # every endpoint refused it
    RESENT = "resent"  # a bundle sent again for the next block
    INCLUDED = "included"  # mined (its receipt)
    LOST = "lost"  # missed its block and would now revert: someone else took the opportunity
    REPLACED = "replaced"  # a newer attempt at its nonce took its place
    NONCE_USED = "nonce_used"  # another transaction used its nonce
    STALE = "stale"  # not included after the configured number of blocks; given up
    CANCELLED = "cancelled"  # withdrawn on request


# Results after which a channel no longer follows the transaction.
FINAL = frozenset(
    {
        ChannelResult.INCLUDED,
        ChannelResult.LOST,
        ChannelResult.REPLACED,
        ChannelResult.NONCE_USED,
        ChannelResult.STALE,
        ChannelResult.CANCELLED,
        ChannelResult.REFUSED,
    }
)


@dataclass(frozen=True)
class ChannelEvent:
    """One result of one transaction on one channel.

    ``bid_wei``: what inclusion paid the block's builder (priority fees; the coinbase payment
    is in the transaction's plan); ``rival``: who took the opportunity, when known;
    ``failed_endpoints``: endpoints (redacted) that failed on this step; ``delivered``: on a
    send, whether at least one endpoint took it (a channel none took is failing).
    """

    channel: str
    tx_hash: str
    result: ChannelResult
    block: int | None = None
    bid_wei: int = 0
    rival: str | None = None
    detail: str = ""
    failed_endpoints: Sequence[str] = ()
    delivered: bool = True


class ChannelListener(Protocol):
    """Told of every channel result (metrics, logs, the journal, alerts)."""

    def on_channel_event(self, event: ChannelEvent) -> None:
        """Must not raise: a channel's watch calls it from its background task."""
        ...
