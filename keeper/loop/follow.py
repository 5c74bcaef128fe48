"""The head follower: one ``Tick`` per new head, the block cycle on it, then the books."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import structlog

from keeper.errors import RpcError
from keeper.loop.pricing import NativeAssetUnknownError, native_asset

if TYPE_CHECKING:
    from collections.abc import Callable

    from keeper.chain.client import ChainClient
    from keeper.core.market import Tick
    from keeper.execution.transactions import Settled
    from keeper.loop.cycle import BlockCycle
    from keeper.loop.report import BlockReport
    from keeper.ops.metrics import Metrics
    from keeper.ops.server import Status
    from keeper.settings import Settings

log = structlog.get_logger(__name__)


class HeadFollower:
    """Processes the newest head whenever it changes.

    Heads that arrive mid-cycle coalesce to the newest (the market jumps to the node's head),
    so work never stacks up.
    """

    def __init__(
        self,
        settings: Settings,
        client: ChainClient,
        cycle: BlockCycle,
        ops: tuple[Metrics, Status],
    ) -> None:
        self.settings = settings
        self.client = client
        self.cycle = cycle
        self.metrics, self.status = ops
        self.last_block: int | None = None
        self._unfinished: Tick | None = None  # a head whose cycle failed on a node fault
        self.on_block: list[Callable[[BlockReport], None]] = []
        self.on_report: list[Callable[[Tick, BlockReport], None]] = []

    def _mark_seen(self) -> None:
        self.cycle.started = time.perf_counter()
        self.cycle.seen_at = time.time()

    async def first(self, tick: Tick, stop: asyncio.Event) -> None:
        """Act on the head the market started at (a node fault: retried by :meth:`follow`)."""
        self._mark_seen()
        try:
            await self._cycle(tick, stop)
        except (RpcError, NativeAssetUnknownError) as exc:
            log.warning("block_skipped", error=str(exc), block=tick.block)

    async def follow(self, stop: asyncio.Event, idle: Callable[[], None]) -> None:
        """Until ``stop``: settle late transactions, advance, act, book. ``idle`` runs between."""
        cycle = self.cycle
        while not stop.is_set():
            try:
                late = await cycle.execution.sender.check_open()
                for settled in late:
                    self._note_settled(settled)
                await self.record_late(late)
                self._mark_seen()
                tick = await cycle.market.advance(defer=True)
                if tick is not None and tick.reorg_ancestor is not None:
                    await cycle.execution.sender.on_reorg(tick.reorg_ancestor)
                    cycle.book.forget_above(tick.reorg_ancestor)
                if tick is None and self._unfinished is not None:
                    # The last cycle failed after the head was followed (a node fault): act on
                    # that head again now rather than waiting for the next block.
                    tick = self._unfinished
                if tick is not None:
                    await self._cycle(tick, stop)
            except (RpcError, NativeAssetUnknownError) as exc:
                # Skip this head: nothing is sent on partial data; the next head retries.
                log.warning("block_skipped", error=str(exc), last_block=self.last_block)
            idle()
            await self.wait_next(stop)

    async def _cycle(self, tick: Tick, stop: asyncio.Event) -> None:
        self._unfinished = tick
        report = await self.cycle.act(tick, stop)
        for observe in self.on_report:
            observe(tick, report)  # before the reads after acting, which may fail
        self._unfinished = None
        self.cycle.market.finish()  # the accounts the advance left for after acting
        await self.cycle.market.reconcile_sample(self.settings.reconcile_sample)
        self.record(tick, report)
        self.last_block = tick.block
        for callback in self.on_block:
            callback(report)

    def _note_settled(self, settled: Settled) -> None:
        account, receipt = settled.meta.get("account"), settled.receipt
        if isinstance(account, str) and receipt is not None:
            self.cycle.book.note_mined(account, receipt.block_number)
        log.info(
            "open_transaction_settled",
            status=settled.status,
            tx_hash=settled.tx_hash,
            replacements=settled.replacements,
        )

    async def record_late(self, settled: list[Settled]) -> None:
        """Book liquidations of ours that settled outside an executor."""
        if not settled:
            return
        cycle = self.cycle
        assets = await cycle.market.assets()
        native = native_asset(assets, self.settings.native_price_asset)
        await cycle.ledger.record_late(
            settled, cycle.execution.by_purpose, cycle.market.prices().get(native, 0)
        )

    async def wait_next(self, stop: asyncio.Event) -> None:
        """Until a new head is announced (WebSocket), the poll interval passes, or stop."""
        waiters = [
            asyncio.ensure_future(stop.wait()),
            asyncio.ensure_future(self.client.next_head(self.settings.poll_interval_s)),
        ]
        try:
            done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if not task.cancelled() and isinstance(task.exception(), RpcError):
                    log.warning("head_wait_failed", error=str(task.exception()))
        finally:
            for task in waiters:
                task.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)

    def record(self, tick: Tick, report: BlockReport) -> None:
        """Status and metrics after a processed head."""
        market, status, metrics = self.cycle.market, self.status, self.metrics
        accounts = market.account_count()
        status.head_block, status.head_timestamp = tick.block, tick.timestamp
        status.last_step_at = time.time()
        status.accounts, status.candidates = accounts, report.candidates
        metrics.head_block.set(tick.block)
        metrics.head_lag.set(max(0.0, time.time() - tick.timestamp))
        metrics.blocks.inc()
        metrics.accounts.set(accounts)
        metrics.candidates.set(report.candidates)
        metrics.mismatches.set(market.mismatches)
        metrics.rpc_failovers.set(self.client.failovers)
        metrics.health_buckets(market.health_factors())
        for skip in report.skips:
            metrics.skips.labels(skip.kind.value).inc()
