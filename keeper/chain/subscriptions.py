"""New heads and pending transactions by subscription, when the endpoint is a WebSocket."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from keeper.chain.ws import WebSocketTransport

if TYPE_CHECKING:
    from keeper.chain.heads import Header
    from keeper.chain.provider import RedactedHTTPProvider


class Subscriptions:
    """The preferred endpoint's streams (none over HTTP: the caller polls)."""

    def __init__(self, provider: RedactedHTTPProvider | WebSocketTransport) -> None:
        self.provider = provider
        self._subscribed = False
        self._pending_subscribed = False

    @property
    def streams(self) -> bool:
        """True when new heads arrive by subscription (a ws:// endpoint)."""
        return isinstance(self.provider, WebSocketTransport)

    async def next_head(self, timeout_s: float) -> Header | None:
        """Wait up to ``timeout_s`` for a new head; the newest header, or None.

        Over WebSocket this returns as soon as the node announces a block (``newHeads``); over
        HTTP it just waits, and the caller polls.
        """
        provider = self.provider
        if not isinstance(provider, WebSocketTransport):
            await asyncio.sleep(timeout_s)
            return None
        if not self._subscribed:
            await provider.subscribe_new_heads()
            self._subscribed = True
        try:
            header = await asyncio.wait_for(provider.heads.get(), timeout_s)
        except TimeoutError:
            return None
        while not provider.heads.empty():  # coalesce to the newest head
            newer = provider.heads.get_nowait()
            if newer.number >= header.number:
                header = newer
        return header

    async def pending_transactions(self) -> asyncio.Queue[str] | None:
        """Hashes of transactions entering the node's pool (WebSocket only), or None.

        Each caller gets its own queue (one subscription serves them all).
        """
        provider = self.provider
        if not isinstance(provider, WebSocketTransport):
            return None
        if not self._pending_subscribed:
            await provider.subscribe_pending_transactions()
            self._pending_subscribed = True
        return provider.listen_pending()

    def stop_pending(self, queue: asyncio.Queue[str]) -> None:
        """A caller of :meth:`pending_transactions` no longer reads its queue."""
        if isinstance(self.provider, WebSocketTransport):
            self.provider.unlisten_pending(queue)
