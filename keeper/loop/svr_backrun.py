"""SVR back-running: a private Chainlink SVR update seen on MEV-Share, our liquidation behind it.

Each hint of the MEV-Share event stream is decoded (``oracles.svr``); one that updates a
configured SVR aggregator of the market is acted on at once: the exposed accounts' health is
recomputed at its price with no RPC (``exposed_at``), each planned, and the most profitable
plan sent as the back-run bundle [the update's hash, our transaction] (``mev_sendBundle``,
valid for ``svr_max_blocks`` blocks), simulated first behind the update's call, with the
bidding policy's coinbase bid. One back-run per update: MEV-Share takes one back-run
transaction per bundle, and each bundle carries the update, so only one of them can land.

When the update does not land (or lands behind someone else's back-run), ours is not included
and costs nothing; its nonce is freed, nothing cools the account down, and the standard path
(the block cycle, when a feed update lands on chain) acts on it and on the accounts this
back-run left. A dry run never sends back-runs: its fork has no MEV-Share.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import structlog

from keeper.chain.sse import EventStream
from keeper.errors import ConfigError, RpcError
from keeper.loop.attempt import attempt
from keeper.oracles.svr import decode_hint
from keeper.submission.channel import BackrunRoute

if TYPE_CHECKING:
    from keeper.core.market import PlanContext
    from keeper.core.plan import AnyPlan, Candidate
    from keeper.loop.cycle import BlockCycle
    from keeper.ops.metrics import Metrics
    from keeper.oracles.svr import SvrUpdate
    from keeper.settings import Settings

log = structlog.get_logger(__name__)
SEEN_MEMORY = 1024  # update hashes remembered (the stream may repeat a hint)


class SvrBackrun:
    """The SVR stage: the MEV-Share stream in, one back-run per update out."""

    def __init__(
        self,
        stream: EventStream,
        cycle: BlockCycle,
        aggregators: set[str],
        max_blocks: int,
        metrics: Metrics,
    ) -> None:
        self.stream = stream
        self.cycle = cycle
        self.aggregators = {a.lower() for a in aggregators}
        self.max_blocks = max_blocks
        self.metrics = metrics
        gauge = metrics.svr_stream_connected.labels(stream=stream.name)
        gauge.set(0)
        stream.on_state = lambda up: gauge.set(1 if up else 0)
        self.ready = False  # set once the market state is built
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()
        self._failure: BaseException | None = None

    async def stage(self, stop: asyncio.Event) -> None:
        """Follow the stream until ``stop``; back-runs in flight are seen to their end."""
        log.info("svr_watch_on", aggregators=sorted(self.aggregators))
        self._failure = None  # a restarted stage starts clean
        try:
            await self.stream.run(self.on_event, stop)
        finally:
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._failure is not None:
            raise self._failure

    async def on_event(self, event: dict[str, Any]) -> None:
        """One hint: start the back-run of the update it shows, if it is one of ours."""
        if self._failure is not None:
            raise self._failure  # a bug in an earlier back-run: the stage fails with it
        if not self.ready:
            return
        update = decode_hint(event, self.aggregators)
        if update is None or update.tx_hash in self._seen:
            return
        self._seen[update.tx_hash] = None
        while len(self._seen) > SEEN_MEMORY:
            self._seen.popitem(last=False)
        self.metrics.svr_updates.labels(feed=update.feed).inc()
        task = asyncio.create_task(self._guarded(update, time.perf_counter()))
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def start(self) -> None:
        """Act on hints from now on (the market is built); ConfigError for an unknown feed.

        Every configured aggregator must be one the market reads: one that is not would never
        be back-run, silently.
        """
        emitters = self.cycle.market.feed_emitters()
        unknown = sorted(self.aggregators - emitters)
        if unknown:
            raise ConfigError(
                f"svr_aggregators: {', '.join(unknown)} is not a feed this market reads; its "
                f"feeds' aggregators are {', '.join(sorted(emitters)) or 'none'}"
            )
        self.ready = True

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._failure = task.exception()

    async def _guarded(self, update: SvrUpdate, t0: float) -> None:
        try:
            await self.backrun(update, t0)
        except RpcError as exc:  # the node's hiccup: the standard path still acts
            log.warning("svr_backrun_skipped", tx_hash=update.tx_hash, error=str(exc))

    async def backrun(self, update: SvrUpdate, t0: float) -> None:
        """Plan the accounts ``update`` opens and back-run the best plan (see the module)."""
        cycle, market = self.cycle, self.cycle.market
        prices, hit = market.exposed_at(update.feed, update.answer)
        log.info(
            "svr_update_seen",
            tx_hash=update.tx_hash,
            feed=update.feed,
            answer=update.answer,
            accounts=len(hit),
        )
        if not hit or update.answer <= 0 or cycle.guards.tripped or not cycle.gate.sending:
            return
        assets = await market.assets()
        head = market.block
        pricing, bid_float = await asyncio.gather(
            cycle.pricing(assets, head), cycle.bid_float(head)
        )
        detect_ms = round((time.perf_counter() - t0) * 1000, 2)
        t_plan = time.perf_counter()
        best = await self._best_plan(hit, cycle.context(head, pricing), prices)
        if best is None:
            return
        phases = {"detect": detect_ms, "plan": round((time.perf_counter() - t_plan) * 1000, 2)}
        if cycle.settings.dry_run:
            log.info("svr_backrun_not_sent", account=best.account, reason="dry run")
            return
        # From the chain's head, not the market's (it may be a block behind): the window is
        # svr_max_blocks blocks from now.
        now = max(head, await cycle.client.block_number())
        route = BackrunRoute(update.tx_hash, now + self.max_blocks)
        request = cycle.request(best, pricing, bid_float, behind=update.inner, route=route)
        structlog.contextvars.bind_contextvars(account=best.account)
        outcome = await attempt(
            best,
            request,
            execution=cycle.execution,
            book=cycle.book,
            ledger=cycle.ledger,
            assets=assets,
            phases=phases,
            cycle_started=t0,
            dry_run_fork=False,
        )
        log.info(
            "svr_backrun_done",
            tx_hash=update.tx_hash,
            account=best.account,
            outcome=None if outcome is None else outcome.status.value,
            left_to_the_standard_path=len(hit) - 1,
        )

    async def _best_plan(
        self, hit: list[Candidate], ctx: PlanContext, prices: dict[str, int]
    ) -> AnyPlan | None:
        """The most profitable plan among the accounts the update opens (None: none)."""
        cycle = self.cycle
        in_flight = cycle.book.in_flight()
        best: AnyPlan | None = None
        for candidate in hit:
            planned = await cycle.plan_at(
                candidate, ctx, prices, in_flight, skipped="svr_backrun_skipped"
            )
            if planned is None:
                continue
            if best is None or planned.gross_profit_base > best.gross_profit_base:
                best = planned
        return best


def svr_stage(settings: Settings, cycle: BlockCycle, metrics: Metrics) -> SvrBackrun | None:
    """The SVR stage the settings ask for (None: no SVR aggregators configured)."""
    if not settings.svr_aggregators or settings.mev_share_stream_url is None:
        return None
    stream = EventStream(settings.mev_share_stream_url.get_secret_value(), name="mev_share")
    aggregators = set(settings.svr_aggregators)
    return SvrBackrun(stream, cycle, aggregators, settings.svr_max_blocks, metrics)
