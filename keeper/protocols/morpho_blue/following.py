"""Following one Morpho contract's chain: heads with parent hashes, reorgs, checkpoints.

The :class:`MorphoFollower` owns the head tracker and the state tracker: it starts them (cold,
or from a checkpoint), advances them head by head (a reorg rolls the tracker back to the common
ancestor first; one deeper than remembered reads everything again), and captures the state for
a checkpoint between blocks. The market (``lending_market.py``) only asks it for ticks.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import structlog

from keeper.chain.heads import DeepReorgError, HeadTracker
from keeper.core.checkpoint import CheckpointRejectedError, DiscardReason
from keeper.core.market import Tick
from keeper.errors import RpcError
from keeper.protocols.morpho_blue import checkpoint
from keeper.protocols.morpho_blue.tracker import MorphoTracker

if TYPE_CHECKING:
    from keeper.chain.client import ChainClient
    from keeper.chain.heads import Header
    from keeper.core.checkpoint import MarketCheckpoint
    from keeper.settings import Settings

log = structlog.get_logger(__name__)


class MorphoFollower:
    """The heads and the exact state of one Morpho contract, kept at the chain's head."""

    def __init__(self, client: ChainClient, morpho: str, settings: Settings) -> None:
        self.client, self.morpho, self.settings = client, morpho, settings
        self.heads = HeadTracker(client)
        self.tracker = self._new_tracker()
        self._clean = False  # the state is that of one whole block (a checkpoint may be taken)

    def _new_tracker(self) -> MorphoTracker:
        return MorphoTracker(
            self.client,
            self.morpho,
            start_block=self.settings.start_block,
            log_range=self.settings.log_range,
            batch_size=self.settings.batch_size,
            follows=self.settings.follows,
        )

    async def start(self) -> Tick:
        """Discover every market and position, read them at the head."""
        self._clean = False
        self.heads, self.tracker = HeadTracker(self.client), self._new_tracker()
        block = await self.tracker.start()
        head = await self.heads.start(block)
        self._clean = True
        return Tick(head.number, head.timestamp, base_fee=head.base_fee)

    async def advance(self, head: Header | None) -> Tick | None:
        """Follow the head, rolling back orphaned blocks; None when the head has not moved."""
        followed = self.heads.snapshot()
        was_clean, self._clean = self._clean, False
        try:
            target = head.number if head is not None else await self.client.block_number()
            step = await self.heads.advance(target, head)
            if step.ancestor is not None:
                await self.tracker.rollback(step.ancestor)
            if step.headers:
                await self.tracker.advance(step.headers[-1].number, step.headers)
        except DeepReorgError as exc:
            return await self._rebuild(str(exc))
        except RpcError:
            self.heads.restore(followed)  # the next advance reads the same blocks again
            raise
        self._clean = was_clean or bool(step.headers)
        if not step.headers:
            return None
        last = step.headers[-1]
        return Tick(
            last.number, last.timestamp, base_fee=last.base_fee, reorg_ancestor=step.ancestor
        )

    async def _rebuild(self, reason: str) -> Tick:
        """A reorg deeper than remembered: read everything again at the head."""
        log.error("deep_reorg_rebuild", reason=reason)
        oldest = next(iter(self.heads.snapshot()[0]), self.tracker.block + 1)
        tick = await self.start()
        return Tick(
            tick.block,
            tick.timestamp,
            base_fee=tick.base_fee,
            reorg_ancestor=max(0, oldest - 1),
            deep_reorg=True,
        )

    def _lists(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        s = self.settings
        return tuple(s.morpho_markets), tuple(s.morpho_skip_markets)

    def snapshot(self) -> checkpoint.MorphoSnapshot | None:
        """The state at the block, if the last step finished (positions dicts copied)."""
        t = self.tracker
        block_hash = self.heads.hash_of(t.block)
        if not self._clean or block_hash is None:
            return None
        saved = checkpoint.Saved(
            t.start_block,
            self._lists(),
            t.state.fee_recipient,
            {m: (s.params, s.totals, dict(s.positions)) for m, s in t.state.markets.items()},
            t.recent.since,
            dict(t.recent.blocks),
        )
        return checkpoint.MorphoSnapshot(t.block, block_hash, t.timestamp, saved)

    async def restore(self, saved_checkpoint: MarketCheckpoint) -> Tick:
        """The checkpoint's state, then what changed since read at the head.

        Raises CheckpointRejectedError for a payload this keeper cannot use (nothing changes).
        """
        if saved_checkpoint.payload_version != checkpoint.VERSION:
            raise CheckpointRejectedError(
                DiscardReason.FORMAT_VERSION,
                f"morpho payload version {saved_checkpoint.payload_version}, this keeper reads "
                f"{checkpoint.VERSION}",
            )
        saved = await asyncio.to_thread(checkpoint.decode, saved_checkpoint.payload)
        if saved.start_block != self.settings.start_block or saved.lists != self._lists():
            raise CheckpointRejectedError(
                DiscardReason.OTHER_SETTINGS,
                "made with other start_block, morpho_markets or morpho_skip_markets",
            )
        head = await self.client.block_number()
        if head < saved_checkpoint.block:
            raise CheckpointRejectedError(
                DiscardReason.AHEAD_OF_CHAIN,
                f"block {saved_checkpoint.block} above the head {head}",
            )
        tracker, heads = self._new_tracker(), HeadTracker(self.client)
        at = (saved_checkpoint.block, saved_checkpoint.timestamp)
        await tracker.resume(saved, at, head)
        header = await heads.start(tracker.block)
        self.tracker, self.heads, self._clean = tracker, heads, True
        log.info("morpho_resumed", block=tracker.block, resumed_from=saved_checkpoint.block)
        return Tick(header.number, header.timestamp, base_fee=header.base_fee)
