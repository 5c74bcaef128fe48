"""The submission-channel seam."""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class BackrunRoute:
    """Send only as a back-run of ``target_hash`` (a private transaction), until ``max_block``.

    A back-run goes to the channel that carries back-runs and nowhere else: in a public pool
    it could land without the transaction it depends on.
    """

    target_hash: str
    max_block: int


class BackrunChannel(Protocol):
    """Delivers a signed transaction as a back-run of another one (``mev_sendBundle``)."""

    name: str

    async def submit_backrun(self, raw: bytes, tx_hash: str, route: BackrunRoute) -> Delivery:
        """Deliver ``raw`` right behind ``route.target_hash``; ChannelRefusedError on refusal."""
        ...

    async def close(self) -> None:
        """Stop what the channel runs in the background and release its connections."""
        ...
