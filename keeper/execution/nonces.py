"""One nonce writer per key: nonces are handed out under a lock and resynced on error."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from keeper.chain.client import ChainClient


class NonceManager:
    """Hands out consecutive nonces; ``resync`` re-reads the node's pending count."""

    def __init__(self, client: ChainClient, address: str) -> None:
        self._client = client
        self._address = address
        self._next: int | None = None
        self.lock = asyncio.Lock()

    async def resync(self) -> int:
        """Forget the local counter and take the node's pending nonce."""
        self._next = await self._client.get_transaction_count(self._address, "pending")
        return self._next

    async def take(self) -> int:
        """The next nonce; the caller must hold ``lock`` until the transaction is sent."""
        if self._next is None:
            await self.resync()
        if self._next is None:  # pragma: no cover - resync always sets it
            raise RuntimeError("nonce not initialised")
        nonce = self._next
        self._next += 1
        return nonce

    def at_least(self, nonce: int) -> None:
        """Never hand out a nonce below ``nonce`` (ours in flight that the node may not know)."""
        if self._next is None or self._next < nonce:
            self._next = nonce

    def release(self, nonce: int) -> None:
        """Give back a nonce whose transaction was never broadcast (only the latest one)."""
        if self._next == nonce + 1:
            self._next = nonce

    def give_back(self, nonce: int) -> bool:
        """Hand ``nonce`` out again if it is the newest one handed out; False otherwise."""
        if self._next != nonce + 1:
            return False
        self._next = nonce
        return True
