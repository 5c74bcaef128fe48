"""The public mempool: ``eth_sendRawTransaction`` to the node."""

from __future__ import annotations

from typing import TYPE_CHECKING

from keeper.chain.rpc_errors import SendRefusal, send_refusal
from keeper.errors import RpcError, TransientRpcError
from keeper.submission.channel import ChannelRefusedError, Delivery
from keeper.submission.events import ChannelEvent, ChannelResult

if TYPE_CHECKING:
    from keeper.chain.client import ChainClient
    from keeper.submission.events import ChannelListener


class PublicMempool:
    """Broadcast through the node the keeper reads from (or its fork in a dry run)."""

    name = "public"

    def __init__(self, client: ChainClient, listener: ChannelListener | None = None) -> None:
        self.client = client
        self.listener = listener

    async def submit(self, raw: bytes, tx_hash: str) -> Delivery:
        """Send once; never retried here (a lost answer may still have reached the pool)."""
        try:
            await self.client.send_raw_transaction(raw)
        except TransientRpcError:
            self._tell(tx_hash, ChannelResult.UNCONFIRMED, delivered=False)
            return Delivery.UNCONFIRMED
        except RpcError as exc:
            refusal = send_refusal(exc)
            if refusal is SendRefusal.KNOWN:
                self._tell(tx_hash, ChannelResult.KNOWN)
                return Delivery.KNOWN
            # A nonce used or fees too low is the node's answer about this transaction, not a
            # failing channel.
            failing = refusal is SendRefusal.OTHER
            self._tell(tx_hash, ChannelResult.REFUSED, delivered=not failing, detail=str(exc))
            raise ChannelRefusedError(self.name, refusal, str(exc)) from None
        self._tell(tx_hash, ChannelResult.SENT)
        return Delivery.ACCEPTED

    async def close(self) -> None:
        """Nothing to release: the node's client belongs to the keeper."""

    def _tell(self, tx_hash: str, result: ChannelResult, **fields: object) -> None:
        if self.listener is not None:
            event = ChannelEvent(self.name, tx_hash, result, **fields)  # type: ignore[arg-type]
            self.listener.on_channel_event(event)
