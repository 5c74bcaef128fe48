"""The head follower: one ``Tick`` per new head, the block cycle on it, then the books."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import structlog

from keeper.chain.head_source import HeadSource
from keeper.errors import JournalUnavailableError, RpcError
from keeper.loop.pricing import NativeAssetUnknownError, native_asset

if TYPE_CHECKING:
    from collections.abc import Callable

    from keeper.chain.client import ChainClient
    from keeper.chain.heads import Header
    from keeper.core.market import Tick
    from keeper.execution.transactions import Settled
    from keeper.loop.cycle import BlockCycle
    from keeper.loop.report import BlockReport
    from keeper.ops.metrics import Metrics
    from keeper.ops.server import Status
    from keeper.settings import Settings

log = structlog.get_logger(__name__)
# With no new head for this long, the loop still comes round (its open transactions).
IDLE_LOOK_S = 2.0


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
        self._unfollowed: Header | None = None  # a head the market failed to follow
        self.heads = HeadSource(client, settings.poll_interval_s)
        self._reconciled_at: int | None = None
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
        head: Header | None = None
        # After a restart of this stage (a crash mid-block), the node's head counts as new: the
        # block the crash cut short is followed again without waiting for the next one.
        self.heads.forget()
        while not stop.is_set():
            try:
                # Open transactions are the writer's (HA: a standby leaves them to the active).
                late = await cycle.execution.sender.check_open() if cycle.gate.sending else []
                for settled in late:
                    self._note_settled(settled)
                await self.record_late(late)
                tick = None
                if head is not None:
                    self._unfollowed = head
                    tick = await cycle.market.advance(defer=True, head=head)
                    self._unfollowed = None
                if tick is not None and tick.reorg_ancestor is not None:
                    if cycle.gate.sending:  # the journal's entries are the writer's to reopen
                        await cycle.execution.sender.on_reorg(tick.reorg_ancestor)
                    cycle.book.forget_above(tick.reorg_ancestor)
                if tick is None and self._unfinished is not None:
                    # The last cycle failed after the head was followed (a node fault): act on
                    # that head again now rather than waiting for the next block.
                    tick = self._unfinished
                if tick is not None:
                    await self._cycle(tick, stop)
            except (RpcError, NativeAssetUnknownError, JournalUnavailableError) as exc:
                # Skip this head: nothing is sent on partial data (or unjournaled); the next
                # head retries.
                log.warning("block_skipped", error=str(exc), last_block=self.last_block)
            idle()
            head = await self.wait_next(stop)

    async def _cycle(self, tick: Tick, stop: asyncio.Event) -> None:
        self._unfinished = tick
        report = await self.cycle.act(tick, stop)
        for observe in self.on_report:
            observe(tick, report)  # before the reads after acting, which may fail
        self._unfinished = None
        self.cycle.market.finish()  # the accounts the advance left for after acting
        # Off the reaction path: what the plans were made from, checked against the chain.
        await self.cycle.market.check_after_acting(self.cycle.execution.executor.holder)
        await self._reconcile(tick.block)
        self.record(tick, report)
        self.last_block = tick.block
        for callback in self.on_block:
            callback(report)

    async def _reconcile(self, block: int) -> None:
        """The rotating sample, every ``reconcile_every_blocks`` blocks (a request per account)."""
        settings = self.settings
        last = self._reconciled_at
        if last is not None and 0 <= block - last < settings.reconcile_every_blocks:
            return
        self._reconciled_at = block
        await self.cycle.market.reconcile_sample(settings.reconcile_sample)

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

    async def wait_next(self, stop: asyncio.Event) -> Header | None:
        """The next new head (announced or polled, see :class:`HeadSource`), or None.

        None after a while without one (the loop then looks at its open transactions), on
        stop, or when a poll failed; a head the market failed to follow, or a cycle a node
        fault cut short, is tried again after one poll interval instead.
        """
        poll_s = self.settings.poll_interval_s
        retrying = self._unfollowed is not None or self._unfinished is not None
        timeout_s = poll_s if retrying else max(IDLE_LOOK_S, poll_s)
        stopped = asyncio.ensure_future(stop.wait())
        polled = asyncio.ensure_future(self.heads.next(timeout_s))
        head: Header | None = None
        try:
            done, _ = await asyncio.wait([stopped, polled], return_when=asyncio.FIRST_COMPLETED)
            if polled in done:
                try:
                    head = polled.result()
                except RpcError as exc:
                    log.warning("head_wait_failed", error=str(exc))
        finally:
            for task in (stopped, polled):
                task.cancel()
            await asyncio.gather(stopped, polled, return_exceptions=True)
        if head is not None:
            self._mark_seen()
            return head
        return self._unfollowed

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
