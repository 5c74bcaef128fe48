"""Bundles to block builders: ``eth_sendBundle`` to each endpoint, resent block by block.

A bundle is for one block. Each of our transactions is sent as a one-transaction bundle for
the next block, to every builder at once (see :mod:`keeper.submission.endpoints` for their
dialects), and sent again for the next block while it is not in: until it is included (its
receipt), another transaction uses its nonce, a newer attempt at its nonce replaces it (the
same ``replacementUuid``: builders keep only the newest), it would now revert (lost: the
opportunity went to someone else), or it is stale (``stale_blocks``); then, unless included,
it is withdrawn with ``eth_cancelBundle``. A delivery answer never means inclusion: the sender
tracks that from receipts and our nonce, as it does for the public mempool.
"""

from __future__ import annotations

import uuid as uuid_module
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from eth_account.typed_transactions.typed_transaction import TypedTransaction
from hexbytes import HexBytes

from keeper.errors import ContractRevertError, RpcError
from keeper.submission.channel import Delivery
from keeper.submission.events import ChannelResult
from keeper.submission.following import Followed, Follower
from keeper.submission.relay_rpc import EndpointPool

if TYPE_CHECKING:
    from collections.abc import Sequence

    from keeper.chain.client import ChainClient
    from keeper.submission.endpoints import BuilderEndpoint
    from keeper.submission.events import ChannelListener
    from keeper.submission.relay_rpc import FanOut
    from keeper.submission.signing import SearcherIdentity


# Ends after which the same bytes sent again are not taken up again (stale or lost ones are:
# the sender still waits for them, and it may yet come).
_ENDED = frozenset(
    {
        ChannelResult.INCLUDED,
        ChannelResult.REPLACED,
        ChannelResult.NONCE_USED,
        ChannelResult.REFUSED,
    }
)
DONE_MEMORY = 4096  # ended transactions remembered (a re-broadcast of one is "known")
_WITHDRAW = frozenset(
    {ChannelResult.STALE, ChannelResult.LOST, ChannelResult.CANCELLED, ChannelResult.NONCE_USED}
)


class BundleChannel(Follower):
    """Bundles to a list of builders; one failing builder never blocks the others."""

    def __init__(
        self,
        client: ChainClient,
        endpoints: Sequence[BuilderEndpoint],
        identity: SearcherIdentity,
        *,
        stale_blocks: int = 25,
        listener: ChannelListener | None = None,
        poll_s: float = 0.25,
        timeout_s: float = 3.0,
        name: str = "bundle",
    ) -> None:
        super().__init__(client, listener, poll_s=poll_s)
        self.name = name
        self.pool = EndpointPool(endpoints, identity, timeout_s=timeout_s)
        self.stale_blocks = stale_blocks
        self._uuids: dict[tuple[str, int], str] = {}
        self._by_nonce: dict[tuple[str, int], str] = {}
        self._earlier: dict[tuple[str, int], list[str]] = {}  # replaced attempts at a nonce
        self._done: OrderedDict[str, ChannelResult] = OrderedDict()

    def result_of(self, tx_hash: str) -> ChannelResult | None:
        """How a transaction ended on this channel (None: followed still, or never seen)."""
        return self._done.get(tx_hash)

    async def submit(self, raw: bytes, tx_hash: str) -> Delivery:
        """Send ``raw`` as a bundle for the next block and follow it (see the module)."""
        if tx_hash in self.followed or self._done.get(tx_hash) in _ENDED:
            return Delivery.KNOWN  # followed (the watch resends), or ended for good
        sender, nonce = self.signer_of(raw)
        key = (sender.lower(), nonce)
        replacement = self._uuids.setdefault(key, str(uuid_module.uuid4()))
        head = await self.client.block_number()
        item = Followed(tx_hash, raw, sender, nonce, head, head + 1, replacement, self.now())
        previous = self.followed.get(self._by_nonce.get(key, ""))
        if previous is not None:  # the same uuid: the new bundle takes its place
            self.followed.pop(previous.tx_hash)
            self._earlier.setdefault(key, []).append(previous.tx_hash)
            self._remember(previous.tx_hash, ChannelResult.REPLACED)
            self.emit(previous, ChannelResult.REPLACED, detail=f"by {tx_hash}")
        out = await self._send(item)
        if out.all_refused:
            self._remember(tx_hash, ChannelResult.REFUSED)
            raise self.refused_everywhere(item, out, "every builder refused the bundle")
        self._by_nonce[key] = tx_hash
        return self.accepted(item, out, block=item.target)

    async def cancel(self, tx_hash: str) -> bool:
        """Withdraw a followed transaction's bundle; False when it is not followed."""
        item = self.followed.get(tx_hash)
        if item is None:
            return False
        await self.drop(item, ChannelResult.CANCELLED)
        return True

    async def close(self) -> None:
        """Stop the watch and close the HTTP session."""
        await super().close()
        await self.pool.close()

    # -- the watch's steps --------------------------------------------------------------------

    async def step(self, item: Followed, head: int) -> ChannelResult | None:
        """Its block passed without it: stale, lost, or sent again for the next block."""
        if head - item.first_block >= self.stale_blocks:
            return ChannelResult.STALE
        if await self._would_revert(item, head):
            return ChannelResult.LOST
        item.target = head + 1
        out = await self._send(item)
        self.emit(
            item,
            ChannelResult.RESENT,
            block=item.target,
            failed_endpoints=out.unsuccessful,
            delivered=out.delivered,
        )
        return None

    async def nonce_used(self, item: Followed, head: int) -> None:
        """Another transaction used the nonce: perhaps an earlier attempt of ours.

        A builder may still have had it when the newest was sent: that one is reported
        included, and the newest as replaced by it.
        """
        for earlier in reversed(self._earlier.get((item.sender.lower(), item.nonce), [])):
            event = await self.included(earlier)
            if event is not None:
                self.emit(earlier, ChannelResult.INCLUDED, block=event.block, bid_wei=event.bid_wei)
                await self.drop(item, ChannelResult.REPLACED, block=head, detail=f"{earlier} mined")
                return
        await super().nonce_used(item, head)

    async def finish(self, item: Followed, result: ChannelResult) -> None:
        """Remember the end; withdraw the bundle unless it was included or replaced."""
        self._remember(item.tx_hash, result)
        key = (item.sender.lower(), item.nonce)
        if self._by_nonce.get(key) == item.tx_hash:
            del self._by_nonce[key]
        if key not in self._by_nonce:  # nothing newer at this nonce: done with it
            self._uuids.pop(key, None)
            self._earlier.pop(key, None)
        if result in _WITHDRAW:
            await self.pool.fan_out(lambda e: e.cancel(item.uuid, item.target))

    # -- helpers ------------------------------------------------------------------------------

    async def _send(self, item: Followed) -> FanOut:
        txs = ["0x" + item.raw.hex()]
        return await self.pool.fan_out(
            lambda e: ("eth_sendBundle", [e.bundle(txs, item.target, item.uuid)])
        )

    async def _would_revert(self, item: Followed, head: int) -> bool:
        """Whether the transaction reverts on the head's state (its opportunity is gone).

        Judged only once it is next in line at its nonce: one behind an earlier transaction
        of ours still in flight (an approval) may need that one first.
        """
        if await self.client.get_transaction_count(item.sender, head) != item.nonce:
            return False
        tx = TypedTransaction.from_bytes(HexBytes(item.raw)).as_dict()
        call: dict[str, Any] = {
            "from": item.sender,
            "data": "0x" + bytes(tx.get("data", b"")).hex(),
            "value": hex(int(tx.get("value", 0))),
            "gas": hex(int(tx["gas"])),
        }
        if tx.get("to"):
            call["to"] = "0x" + bytes(tx["to"]).hex()
        try:
            await self.client.request("eth_call", [call, hex(head)])
        except ContractRevertError:
            return True
        except RpcError:
            return False  # unknown: resend, the builders simulate it anyway
        return False

    def _remember(self, tx_hash: str, result: ChannelResult) -> None:
        self._done[tx_hash] = result
        while len(self._done) > DONE_MEMORY:
            self._done.popitem(last=False)
