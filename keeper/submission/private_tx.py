"""Private single transactions: ``eth_sendPrivateTransaction`` to protect-style RPCs.

Such an RPC (Flashbots Protect, MEV Blocker and the like) keeps the transaction out of the
public mempool and itself retries it with builders until ``maxBlockNumber``, dropping it if it
would revert. Sent once to each endpoint; followed to its end only to report it (included,
nonce used by another transaction, or stale after its last block).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from keeper.chain.rpc_errors import SendRefusal, send_refusal
from keeper.errors import RpcError
from keeper.submission.channel import ChannelRefusedError, Delivery
from keeper.submission.events import ChannelResult
from keeper.submission.following import Followed, Follower
from keeper.submission.relay_rpc import EndpointPool

if TYPE_CHECKING:
    from collections.abc import Sequence

    from keeper.chain.client import ChainClient
    from keeper.submission.endpoints import BuilderEndpoint
    from keeper.submission.events import ChannelListener
    from keeper.submission.signing import SearcherIdentity


class PrivateTxChannel(Follower):
    """One transaction to every protect-style endpoint; the endpoints retry it themselves."""

    def __init__(
        self,
        client: ChainClient,
        endpoints: Sequence[BuilderEndpoint],
        identity: SearcherIdentity | None,
        *,
        max_blocks: int = 25,
        listener: ChannelListener | None = None,
        poll_s: float = 0.25,
        timeout_s: float = 3.0,
        name: str = "private_tx",
    ) -> None:
        super().__init__(client, listener, poll_s=poll_s)
        self.name = name
        self.pool = EndpointPool(endpoints, identity, timeout_s=timeout_s)
        self.max_blocks = max_blocks
        self._sent: set[str] = set()

    async def submit(self, raw: bytes, tx_hash: str) -> Delivery:
        """Send once to every endpoint with ``maxBlockNumber`` = head + ``max_blocks``."""
        if tx_hash in self._sent:
            return Delivery.KNOWN
        sender, nonce = self.signer_of(raw)
        head = await self.client.block_number()
        last = head + self.max_blocks
        params = [{"tx": "0x" + raw.hex(), "maxBlockNumber": hex(last)}]
        out = await self.pool.fan_out(lambda _e: ("eth_sendPrivateTransaction", params))
        item = Followed(tx_hash, raw, sender, nonce, head, head + 1, sent_at=self.now())
        if out.all_refused:
            label, detail = out.refused[0]
            refusal = send_refusal(RpcError(detail, method="eth_sendPrivateTransaction"))
            if refusal is SendRefusal.KNOWN:
                return Delivery.KNOWN
            self.emit(item, ChannelResult.REFUSED, detail=f"{label}: {detail}", delivered=False)
            raise ChannelRefusedError(self.name, refusal, f"{label}: {detail}")
        self._sent.add(tx_hash)
        return self.accepted(item, out, block=last)

    async def step(self, item: Followed, head: int) -> ChannelResult | None:
        """Past its last block without a receipt: stale (the endpoints stopped retrying)."""
        return ChannelResult.STALE if head > item.first_block + self.max_blocks else None

    async def close(self) -> None:
        """Stop the watch and close the HTTP session."""
        await super().close()
        await self.pool.close()
