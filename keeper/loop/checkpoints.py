"""Warm restarts: start the market from a checkpoint, and keep checkpointing it.

At start the checkpoint is loaded from ``checkpoint_source`` (or ``checkpoint_path``), its
envelope checked (this chain, this protocol, this market; its block still canonical: the hash
at that height on chain is the one saved), and the market restored from it with a backfill of
only the blocks since. Anything wrong is logged with the reason (``checkpoint_discarded``),
counted, and the market starts cold. The block is checked again after the backfill: a reorg
meanwhile would otherwise leave state of blocks the chain no longer has.

While running, a checkpoint is written every ``checkpoint_interval_blocks`` blocks or
``checkpoint_interval_s`` seconds, whichever comes first, after the block's cycle: the market
captures references on the loop (no encoding), the encoding and the write run in a worker
thread, and a block never waits for them (one write at a time; a block that finds one still
running skips). A clean shutdown writes a last one within the drain.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import structlog

from keeper.core.checkpoint import (
    CheckpointRejectedError,
    CheckpointWriteError,
    DiscardReason,
    MarketCheckpoint,
    MarketIdentity,
)
from keeper.execution.lease import ALONE
from keeper.ops.checkpoint_pg import PostgresCheckpointStore
from keeper.ops.checkpoint_store import FileCheckpointStore, open_source

if TYPE_CHECKING:
    from pathlib import Path

    from keeper.chain.client import ChainClient
    from keeper.core.checkpoint import StateSnapshot
    from keeper.core.market import LendingMarket, Tick
    from keeper.execution.lease import Lease, WriterGate
    from keeper.ops.checkpoint_metrics import CheckpointMetrics
    from keeper.ops.checkpoint_store import CheckpointSource, CheckpointStore
    from keeper.settings import Settings

log = structlog.get_logger(__name__)


class Checkpointer:
    """The market's checkpoints: the warm start, the periodic writes, the last one at stop."""

    def __init__(
        self,
        settings: Settings,
        client: ChainClient,
        identity: tuple[int, LendingMarket],
        stores: tuple[CheckpointSource | None, CheckpointStore | None],
        metrics: CheckpointMetrics,
    ) -> None:
        chain_id, market = identity
        self.client, self.market, self.metrics = client, market, metrics
        self.identity = MarketIdentity(chain_id, market.name, market.address.lower())
        self.source, self.store = stores
        self.every_blocks = settings.checkpoint_interval_blocks
        self.every_s = settings.checkpoint_interval_s
        self.restored_from: int | None = None
        self.written_block = -1
        self._written_mono = float("-inf")
        self._task: asyncio.Task[None] | None = None
        # Who writes (a store shared by an HA pair: only the active, keeper.execution.lease).
        self.gate: WriterGate = ALONE

    # -- the start -----------------------------------------------------------------------------

    async def start(self) -> Tick:
        """The market at the head: restored from the checkpoint if it is usable, else cold."""
        checkpoint = await self._load()
        if checkpoint is not None:
            started = time.perf_counter()
            try:
                tick = await self.market.restore(checkpoint)
                await self._check_on_chain(checkpoint)
            except CheckpointRejectedError as exc:
                self._discard(exc)
            else:
                self._restored(checkpoint, tick, time.perf_counter() - started)
                return tick
        self.metrics.restored_block.set(0)
        return await self.market.start()

    async def _load(self) -> MarketCheckpoint | None:
        if self.source is None:
            return None
        try:
            checkpoint = await self.source.load()
            if checkpoint is None:
                log.info("checkpoint_none", source=self.source.location, note="a cold start")
                return None
            self._check_identity(checkpoint)
            await self._check_on_chain(checkpoint)
        except CheckpointRejectedError as exc:
            self._discard(exc)
            return None
        return checkpoint

    def _check_identity(self, checkpoint: MarketCheckpoint) -> None:
        ours, theirs = self.identity, checkpoint.identity
        for reason, mine, saved in (
            (DiscardReason.OTHER_CHAIN, ours.chain_id, theirs.chain_id),
            (DiscardReason.OTHER_PROTOCOL, ours.protocol, theirs.protocol),
            (DiscardReason.OTHER_MARKET, ours.market, theirs.market.lower()),
        ):
            if mine != saved:
                raise CheckpointRejectedError(
                    reason, f"checkpoint of {saved}, this keeper's {mine}"
                )

    async def _check_on_chain(self, checkpoint: MarketCheckpoint) -> None:
        """The checkpoint's block is on the chain with the hash it was saved with."""
        head = await self.client.block_number()
        if checkpoint.block > head:
            raise CheckpointRejectedError(
                DiscardReason.AHEAD_OF_CHAIN, f"block {checkpoint.block} above the head {head}"
            )
        found = str((await self.client.get_block(checkpoint.block))["hash"])
        if found.lower() != checkpoint.block_hash.lower():
            raise CheckpointRejectedError(
                DiscardReason.REORGED,
                f"block {checkpoint.block} is {found} on chain, {checkpoint.block_hash} in the "
                "checkpoint",
            )

    def _discard(self, exc: CheckpointRejectedError) -> None:
        log.warning(
            "checkpoint_discarded",
            reason=exc.reason.value,
            detail=exc.detail,
            source=None if self.source is None else self.source.location,
            note="a cold start: the whole history is read",
        )
        self.metrics.discarded.labels(exc.reason.value).inc()

    def _restored(self, checkpoint: MarketCheckpoint, tick: Tick, seconds: float) -> None:
        self.restored_from = checkpoint.block
        self.written_block = checkpoint.block  # the next write is due from this block on
        self._written_mono = time.monotonic()
        self.metrics.restored_block.set(checkpoint.block)
        self.metrics.written_at = checkpoint.written_at
        log.info(
            "checkpoint_restored",
            block=checkpoint.block,
            head=tick.block,
            backfilled_blocks=tick.block - checkpoint.block,
            accounts=self.market.account_count(),
            age_s=round(time.time() - checkpoint.written_at, 1),
            s=round(seconds, 2),
            source=None if self.source is None else self.source.location,
        )

    # -- while running -------------------------------------------------------------------------

    def after_block(self, block: int) -> None:
        """After a block's cycle: start a write if one is due (never waits for it)."""
        if self.store is None or not self.gate.sending:
            return
        if self._task is not None:
            if not self._task.done():
                return  # still writing the last one; a later block tries again
            self._task.result()  # a bug in the write surfaces here
            self._task = None
        due_blocks = block - self.written_block >= self.every_blocks
        due_time = time.monotonic() - self._written_mono >= self.every_s
        if not (due_blocks or due_time):
            return
        snapshot = self.market.snapshot()
        if snapshot is not None:
            self._task = asyncio.create_task(self._write(snapshot), name="checkpoint_write")

    async def _write(self, snapshot: StateSnapshot) -> None:
        if self.store is None:  # pragma: no cover - only scheduled with a store
            return
        started = time.perf_counter()
        # Set before the write: a failing disk is retried after an interval, not every block.
        self.written_block, self._written_mono = snapshot.block, time.monotonic()
        try:
            payload = await asyncio.to_thread(snapshot.encode)
            at = time.time()
            size = await self.store.save(
                MarketCheckpoint(
                    self.identity,
                    snapshot.block,
                    snapshot.block_hash,
                    snapshot.timestamp,
                    snapshot.version,
                    payload,
                    written_at=at,
                )
            )
        except CheckpointWriteError as exc:
            self.metrics.write_failures.inc()
            log.error("checkpoint_write_failed", block=snapshot.block, error=str(exc))  # noqa: TRY400 - no traceback for a full disk
            return
        seconds = time.perf_counter() - started
        self.metrics.written(snapshot.block, size, seconds, at)
        log.info(
            "checkpoint_written",
            block=snapshot.block,
            bytes=size,
            ms=round(seconds * 1000, 1),
            path=self.store.location,
        )

    async def close(self) -> None:
        """At a clean stop: finish the write in flight, then write the last block's state."""
        if self.store is None or not self.gate.sending:
            return
        if self._task is not None:
            await self._task
            self._task = None
        snapshot = self.market.snapshot()
        if snapshot is not None and snapshot.block != self.written_block:
            await self._write(snapshot)

    def cancel(self) -> None:
        """At a stop past the deadline: a write in flight is dropped (the old file stays)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()


def open_checkpoints(
    settings: Settings,
    client: ChainClient,
    identity: tuple[int, LendingMarket],
    metrics: CheckpointMetrics,
    lease: Lease | None,
) -> tuple[Checkpointer, Path | None]:
    """The checkpointer the settings name, and the file /checkpoint serves (None: no file).

    ``checkpoint_to_journal`` (HA): the journal's PostgreSQL, written by the active only;
    else ``checkpoint_path``; loaded from ``checkpoint_source`` when set, else the store.
    """
    chain_id, market = identity
    store: CheckpointStore | None = None
    served = None
    url = settings.journal_url
    if settings.checkpoint_to_journal and url is not None and lease is not None:
        key = MarketIdentity(chain_id, market.name, market.address.lower())
        store = PostgresCheckpointStore(url.get_secret_value(), key, lease)
    elif settings.checkpoint_path:
        file_store = FileCheckpointStore(settings.checkpoint_path)
        served, store = file_store.path, file_store
    source = open_source(settings.checkpoint_source) if settings.checkpoint_source else store
    checkpointer = Checkpointer(settings, client, identity, (source, store), metrics)
    if isinstance(store, PostgresCheckpointStore) and lease is not None:
        checkpointer.gate = lease
    return checkpointer, served
