"""Delivering signed bytes: every channel at once, or a back-run's own channel alone.

Part of the sender (the one nonce writer): nothing here signs or takes a nonce. A refusal is
journaled and raised as what it means for the nonce (the sender decides what next).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from keeper.chain.rpc_errors import SendRefusal
from keeper.errors import NonceTooLowError, TransactionError, UnderpricedError
from keeper.submission.channel import ChannelRefusedError, Delivery

if TYPE_CHECKING:
    from keeper.execution.sender import TxSender
    from keeper.submission.channel import BackrunRoute

log = structlog.get_logger(__name__)


class Broadcast:
    """The sender's deliveries."""

    def __init__(self, sender: TxSender) -> None:
        self.sender = sender

    async def raw(
        self,
        raw: bytes,
        tx_hash: str,
        nonce: int,
        *,
        decided: bool = False,
        route: BackrunRoute | None = None,
    ) -> None:
        """Deliver signed bytes on every channel; the first channel's refusal decides.

        Any channel that takes them makes the transaction broadcast: the same bytes are the same
        transaction wherever they land. Unless the caller has just journaled them (``decided``),
        the journal first confirms this keeper is still its key's writer (``NotActiveError``).
        A back-run (``route``) goes to the back-run channel alone.
        """
        if not decided:
            self.sender.journal.check_writer()
        if route is not None:
            await self._broadcast_backrun(raw, tx_hash, nonce, route, first=decided)
            return
        refused: ChannelRefusedError | None = None
        delivered = False
        for channel in self.sender.channels:
            try:
                delivery = await channel.submit(raw, tx_hash)
            except ChannelRefusedError as exc:
                refused = refused or exc
                continue
            delivered = True
            if delivery is Delivery.UNCONFIRMED:
                # The channel may or may not have it; tracking will find out by hash.
                log.warning(
                    "broadcast_unconfirmed", tx_hash=tx_hash, nonce=nonce, channel=channel.name
                )
        if not delivered and refused is not None:
            await self._refused(refused, tx_hash, nonce, first=decided)
        self.sender.journal.mark(tx_hash, "broadcast")

    async def _broadcast_backrun(
        self, raw: bytes, tx_hash: str, nonce: int, route: BackrunRoute, *, first: bool
    ) -> None:
        if self.sender.backrun_channel is None:
            if first:
                self.sender.journal.mark(tx_hash, "dropped", note="no channel carries back-runs")
            raise TransactionError(f"nonce {nonce}: no channel carries back-runs (mev_share)")
        try:
            delivery = await self.sender.backrun_channel.submit_backrun(raw, tx_hash, route)
        except ChannelRefusedError as exc:
            await self._refused(exc, tx_hash, nonce, first=first)
            return
        if delivery is Delivery.UNCONFIRMED:
            log.warning("broadcast_unconfirmed", tx_hash=tx_hash, nonce=nonce, channel="mev_share")
        self.sender.journal.mark(tx_hash, "broadcast")

    async def _refused(
        self, exc: ChannelRefusedError, tx_hash: str, nonce: int, *, first: bool
    ) -> None:
        """Journal a refused delivery and raise what the refusal means for the nonce.

        A first delivery refused never entered a pool: the attempt is dropped (the caller
        signs again). Signed bytes sent again (a re-broadcast, a journal adopted at start or
        takeover) stay open unless the nonce is used: they still own their nonce, and dropping
        them would leave a gap; tracking replaces them once they are stuck or priced out.
        """
        if exc.refusal is SendRefusal.NONCE_LOW:
            if await self.sender.client.get_receipt(tx_hash) is not None:
                return  # ours, mined already: tracking settles it
            self.sender.journal.mark(tx_hash, "dropped", note=exc.detail)
            await self.sender.resync_nonce()
            raise NonceTooLowError(f"nonce {nonce} already used: {exc.detail}") from None
        if first:
            self.sender.journal.mark(tx_hash, "dropped", note=exc.detail)
        if exc.refusal is SendRefusal.UNDERPRICED:
            raise UnderpricedError(f"nonce {nonce}: {exc.detail}") from None
        raise TransactionError(f"broadcast of nonce {nonce} refused: {exc.detail}") from None
