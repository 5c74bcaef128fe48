"""The public mempool: ``eth_sendRawTransaction`` to the node."""

from __future__ import annotations

from typing import TYPE_CHECKING

from keeper.chain.rpc_errors import SendRefusal, send_refusal
from keeper.errors import RpcError, TransientRpcError
from keeper.submission.channel import ChannelRefusedError, Delivery

if TYPE_CHECKING:
    from keeper.chain.client import ChainClient


class PublicMempool:
    """Broadcast through the node the keeper reads from (or its fork in a dry run)."""

    name = "public"

    def __init__(self, client: ChainClient) -> None:
        self.client = client

    async def submit(self, raw: bytes, tx_hash: str) -> Delivery:
        """Send once; never retried here (a lost answer may still have reached the pool)."""
        del tx_hash  # the node derives it from the bytes
        try:
            await self.client.send_raw_transaction(raw)
        except TransientRpcError:
            return Delivery.UNCONFIRMED
        except RpcError as exc:
            refusal = send_refusal(exc)
            if refusal is SendRefusal.KNOWN:
                return Delivery.KNOWN
            raise ChannelRefusedError(self.name, refusal, str(exc)) from None
        return Delivery.ACCEPTED
