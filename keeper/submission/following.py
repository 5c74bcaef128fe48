"""What the private channels share: each transaction followed block by block to its end.

A private channel cannot ask a pool whether it still has a transaction; it watches the chain
instead. At each new head, a transaction whose block has come is looked up: its receipt
(included), our account's nonce (used by another transaction), its age (stale). What it does
in between (a bundle is resent for the next block) is the channel's own :meth:`step`. One
background task per channel, started with the first transaction, cancelled and awaited by
:meth:`close`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog
from eth_account import Account
from eth_account.typed_transactions.typed_transaction import TypedTransaction
from hexbytes import HexBytes

from keeper.chain.rpc_errors import SendRefusal
from keeper.errors import RpcError
from keeper.submission.channel import ChannelRefusedError, Delivery
from keeper.submission.events import ChannelEvent, ChannelResult

if TYPE_CHECKING:
    from keeper.chain.client import ChainClient
    from keeper.chain.types import Receipt
    from keeper.submission.events import ChannelListener
    from keeper.submission.relay_rpc import FanOut

log = structlog.get_logger(__name__)


@dataclass
class Followed:
    """One transaction a private channel follows."""

    tx_hash: str
    raw: bytes
    sender: str
    nonce: int
    first_block: int  # the head when it was first sent
    target: int  # the block it was last sent for (bundles) or its last valid block
    uuid: str = ""  # bundles: the replacementUuid of its nonce
    sent_at: float = 0.0


def sender_and_nonce(raw: bytes) -> tuple[str, int]:
    """The signer and nonce of typed (EIP-2718) signed transaction bytes, as the sender signs.

    Raises ValueError for anything else (a legacy transaction).
    """
    if not raw or raw[0] >= 0x7F:
        raise ValueError("not a typed transaction")
    nonce = int(TypedTransaction.from_bytes(HexBytes(raw)).as_dict()["nonce"])
    return str(Account.recover_transaction(raw)), nonce


class Follower:
    """The block-by-block watch of a channel's transactions (subclasses define the steps)."""

    name = "private"

    def __init__(
        self,
        client: ChainClient,
        listener: ChannelListener | None,
        *,
        poll_s: float = 0.25,
    ) -> None:
        self.client = client
        self.listener = listener
        self.poll_s = poll_s
        self.followed: dict[str, Followed] = {}
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._last_head: int | None = None

    # -- hooks --------------------------------------------------------------------------------

    async def step(self, item: Followed, head: int) -> ChannelResult | None:
        """What to do with ``item`` at ``head``, its block passed and no receipt; None: go on."""
        del item, head
        return None

    async def nonce_used(self, item: Followed, head: int) -> None:
        """Another transaction used ``item``'s nonce (an earlier attempt of ours, perhaps)."""
        await self.drop(item, ChannelResult.NONCE_USED, block=head)

    async def included(self, tx_hash: str) -> ChannelEvent | None:
        """The inclusion of ``tx_hash`` if it is mined (with the tip it paid), else None."""
        receipt = await self.client.receipt(tx_hash)
        if receipt is None:
            return None
        bid = await self._tip_paid(receipt)
        return ChannelEvent(
            self.name, tx_hash, ChannelResult.INCLUDED, block=receipt.block_number, bid_wei=bid
        )

    async def finish(self, item: Followed, result: ChannelResult) -> None:
        """Called once ``item`` is no longer followed (a bundle is cancelled here)."""
        del item, result

    # -- shared -------------------------------------------------------------------------------

    def signer_of(self, raw: bytes) -> tuple[str, int]:
        """The signer and nonce of ``raw``; a channel refusal for bytes it cannot carry."""
        try:
            return sender_and_nonce(raw)
        except ValueError as exc:
            raise ChannelRefusedError(self.name, SendRefusal.OTHER, str(exc)) from None

    def emit(self, item: Followed | str, result: ChannelResult, **fields: object) -> None:
        """Tell the listener (and the log) of one result."""
        tx_hash = item if isinstance(item, str) else item.tx_hash
        event = ChannelEvent(self.name, tx_hash, result, **fields)  # type: ignore[arg-type]
        log.info(
            "channel_result",
            channel=self.name,
            tx_hash=tx_hash,
            result=result.value,
            block=event.block,
            detail=event.detail or None,
        )
        if self.listener is not None:
            self.listener.on_channel_event(event)

    def follow(self, item: Followed) -> None:
        """Start following ``item`` (the watch starts with the first one)."""
        self.followed[item.tx_hash] = item
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._watch(), name=f"{self.name}_watch")
        self._wake.set()

    def accepted(self, item: Followed, out: FanOut, **fields: object) -> Delivery:
        """Follow ``item`` once ``out`` was not refused everywhere; how the delivery went.

        Sent when an endpoint took it; unconfirmed when none answered usably (it may have
        arrived: following it finds out).
        """
        self.follow(item)
        result = ChannelResult.SENT if out.delivered else ChannelResult.UNCONFIRMED
        failed = out.unsuccessful
        self.emit(item, result, failed_endpoints=failed, delivered=out.delivered, **fields)
        return Delivery.ACCEPTED if out.delivered else Delivery.UNCONFIRMED

    def refused_everywhere(self, item: Followed, out: FanOut, what: str) -> ChannelRefusedError:
        """Tell of ``item`` refused by every endpoint; the error to raise (``what`` says so)."""
        detail = "; ".join(f"{label}: {error}" for label, error in out.refused)
        refused = ChannelResult.REFUSED
        self.emit(item, refused, detail=detail, failed_endpoints=out.unsuccessful, delivered=False)
        return ChannelRefusedError(self.name, SendRefusal.OTHER, f"{what} ({detail})")

    async def drop(self, item: Followed, result: ChannelResult, **fields: object) -> None:
        """Stop following ``item`` with ``result``."""
        if self.followed.pop(item.tx_hash, None) is None:
            return
        self.emit(item, result, **fields)
        await self.finish(item, result)

    async def close(self) -> None:
        """Stop the watch (what is followed stays with the builders until its block)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _watch(self) -> None:
        while True:
            if not self.followed:
                self._wake.clear()
                await self._wake.wait()
            try:
                head = await self.client.block_number()
                if head != self._last_head:
                    self._last_head = head
                    await self._on_head(head)
            except RpcError as exc:  # the node's hiccup: the next poll tries again
                log.warning("channel_watch_failed", channel=self.name, error=str(exc))
            await asyncio.sleep(self.poll_s)

    async def _on_head(self, head: int) -> None:
        for item in list(self.followed.values()):
            if item.target > head or item.tx_hash not in self.followed:
                continue  # its block is not built yet
            receipt = await self.client.receipt(item.tx_hash)
            if receipt is not None:
                bid = await self._tip_paid(receipt)
                block = receipt.block_number
                await self.drop(item, ChannelResult.INCLUDED, block=block, bid_wei=bid)
                continue
            if await self.client.get_transaction_count(item.sender, "latest") > item.nonce:
                await self.nonce_used(item, head)
                continue
            result = await self.step(item, head)
            if result is not None:
                await self.drop(item, result, block=head)

    async def _tip_paid(self, receipt: Receipt) -> int:
        """The priority fees the transaction paid the block's builder (wei)."""
        block = await self.client.get_block(receipt.block_number)
        base_fee = int(block.get("baseFeePerGas", "0x0"), 16)
        return max(receipt.effective_gas_price - base_fee, 0) * receipt.gas_used

    @staticmethod
    def now() -> float:
        """Wall-clock seconds (journaled first-send times)."""
        return time.time()
