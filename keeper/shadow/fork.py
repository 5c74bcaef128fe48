"""The shadow fork: kept at the real head, and its transactions never mistaken for real ones.

Before the keeper acts on a block the fork is reset to that block of the real chain. What the
keeper sent to the previous fork is gone with it, so those journal entries are closed as
dropped and the nonce counter is read again from the new fork (which holds the key's real
nonce). Without this the counter ran on past the real nonce: the next fork transaction waited
behind a gap, never mined, and the loop sat out the whole receipt timeout (and a restart waited
on the previous run's "open" fork transactions).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from keeper.shadow.anvil import find_anvil
from keeper.shadow.fork_node import ForkNode

if TYPE_CHECKING:
    from keeper.chain.client import ChainClient
    from keeper.execution.journal import Journal
    from keeper.execution.sender import TxSender
    from keeper.settings import Settings

log = structlog.get_logger(__name__)


class ShadowFork:
    """The fork node plus the journal hygiene that keeps the keeper following the head."""

    def __init__(self, settings: Settings, chain_id: int, journal: Journal) -> None:
        # Resolved now: a missing Anvil stops the keeper at start (exit 2), not in a stage.
        self.node = ForkNode(settings, chain_id, binary=find_anvil())
        self.journal = journal
        self._forked_at = -1

    @property
    def block(self) -> int:
        """The real block the fork currently holds."""
        return self.node.block

    async def start(self, block: int, keeper: str) -> ChainClient:
        """Start the fork at ``block``; forget what an earlier run left open on its own fork.

        Called again (the loop's preparation is retried after a node fault), the running fork
        is reset instead: a second Anvil would be left behind.
        """
        self._forget(keeper, None, "left open by an earlier shadow run; its fork is gone")
        if self.node.client is not None:
            await self.node.reset(block)
            self._forked_at = block
            return self.node.client
        client = await self.node.start(block, keeper)
        self._forked_at = block
        return client

    async def reset(self, block: int, sender: TxSender) -> None:
        """Re-fork at ``block`` and align the sender with the new fork."""
        if block == self.node.block:
            return
        await self.node.reset(block)
        self._forget(sender.signer.address, self._forked_at, f"fork reset to block {block}")
        self._forked_at = block
        await sender.nonces.resync()

    def close(self, keeper: str) -> None:
        """At shutdown: fork transactions are not in flight anywhere real."""
        self._forget(keeper, None, "shadow fork stopped")

    async def stop(self) -> None:
        """Stop the fork's Anvil."""
        await self.node.stop()

    def _forget(self, keeper: str, forked_at: int | None, note: str) -> None:
        """Close as dropped the fork's open transactions.

        With ``forked_at`` given, also those the fork mined above that block.
        """
        if forked_at is None:
            entries = self.journal.open_entries(keeper)
        else:
            entries = self.journal.open_or_settled_after(keeper, forked_at)
        for entry in entries:
            self.journal.mark(entry.tx_hash, "dropped", note=note)
        if entries and forked_at is None:
            log.info("shadow_fork_transactions_forgotten", count=len(entries), note=note)
