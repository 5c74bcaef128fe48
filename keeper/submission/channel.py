"""The submission-channel seam."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from keeper.errors import TransactionError

if TYPE_CHECKING:
    from keeper.chain.rpc_errors import SendRefusal


class Delivery(StrEnum):
    """How a delivery went, when it was not refused."""

    ACCEPTED = "accepted"
    KNOWN = "known"  # the channel already had these bytes
    UNCONFIRMED = "unconfirmed"  # the answer was lost: it may or may not have arrived


class ChannelRefusedError(TransactionError):
    """The channel refused the transaction; ``refusal`` says why (the sender decides what next)."""

    def __init__(self, channel: str, refusal: SendRefusal, detail: str) -> None:
        super().__init__(f"{channel}: {detail}")
        self.channel = channel
        self.refusal = refusal
        self.detail = detail


class SubmissionChannel(Protocol):
    """Delivers signed transactions towards a block."""

    name: str

    async def submit(self, raw: bytes, tx_hash: str) -> Delivery:
        """Deliver ``raw`` (whose hash is ``tx_hash``); raise ChannelRefusedError on refusal."""
        ...

    async def close(self) -> None:
        """Stop what the channel runs in the background and release its connections."""
        ...
