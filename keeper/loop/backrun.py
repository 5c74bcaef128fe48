"""Predictive mode: back-run pending oracle updates seen in the node's pool.

A transaction that moves one of the market's feeds is decoded, the exposed accounts' health
recomputed at its price (no RPC), and their liquidations sent right behind it (simulated after
it, fees one wei under its own) to land in the same block. Each attempt is booked like any
other: a failed one cools its account down.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import structlog

from keeper.errors import RpcError
from keeper.execution.executor import ExecRequest
from keeper.execution.fees import Fees
from keeper.loop.attempt import attempt
from keeper.loop.pricing import native_asset
from keeper.oracles.pending import decode_update
from keeper.strategy.gas import GasPricing

if TYPE_CHECKING:
    from keeper.chain.client import ChainClient
    from keeper.core.plan import Candidate
    from keeper.loop.cycle import BlockCycle

log = structlog.get_logger(__name__)


class Backrun:
    """The pending-transaction stage."""

    def __init__(self, client: ChainClient, cycle: BlockCycle) -> None:
        self.client = client
        self.cycle = cycle
        self.ready = False  # set once the market state is built

    async def stage(self, stop: asyncio.Event) -> None:
        """Follow the node's pending transactions (WebSocket only) until ``stop``."""
        queue = await self.client.pending_transactions()
        if queue is None:
            log.info("pending_watch_off", reason="the node is not a WebSocket endpoint")
            await stop.wait()
            return
        log.info("pending_watch_on")
        while not stop.is_set():
            getter = asyncio.ensure_future(queue.get())
            stopper = asyncio.ensure_future(stop.wait())
            done, _ = await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            for task in (getter, stopper):
                if task not in done:
                    task.cancel()
            if getter in done and self.ready:
                try:
                    await self.on_pending(getter.result())
                except RpcError as exc:
                    log.warning("pending_update_skipped", error=str(exc))

    async def on_pending(self, tx_hash: str) -> None:
        """Decode one pending transaction and back-run the liquidations its price opens."""
        t0 = time.perf_counter()
        cycle, market = self.cycle, self.cycle.market
        tx = await self.client.pending_tx(tx_hash)
        update = None if tx is None else decode_update(tx, market.feed_emitters())
        if update is None or tx is None:
            return
        prices, hit = market.exposed_at(update.feed, update.answer)
        log.info(
            "pending_oracle_update",
            tx_hash=tx_hash,
            feed=update.feed,
            answer=update.answer,
            accounts=len(hit),
        )
        executor = cycle.execution.executor
        if not hit or update.answer <= 0 or executor.sequential or cycle.guards.tripped:
            return
        if not cycle.gate.sending:
            return  # a standby: the active back-runs it
        assets = await market.assets()
        base_fee, tip = await cycle.execution.sender.fees.base_and_tip(self.client)
        native = native_asset(assets, cycle.settings.native_price_asset)
        head = market.block
        l1_fee = await cycle.l1_fee_wei(head, base_fee + tip)
        pricing = GasPricing(base_fee + tip, prices[native], l1_fee, base_fee)
        # One wei less than the update pays, in tip and in max fee: a block orders ours right
        # after it.
        cap = Fees(max(0, tx.max_fee - 1), max(0, tx.effective_tip(base_fee) - 1))
        detect_ms = round((time.perf_counter() - t0) * 1000, 2)
        in_flight = cycle.book.in_flight()
        ctx = cycle.context(head, pricing)

        async def backrun(candidate: Candidate) -> None:
            t_plan = time.perf_counter()
            planned = await cycle.plan_at(
                candidate, ctx, prices, in_flight, skipped="backrun_skipped"
            )
            if planned is None:
                return
            phases = {"detect": detect_ms, "plan": round((time.perf_counter() - t_plan) * 1000, 2)}
            await attempt(
                planned,
                ExecRequest(pricing, cycle.min_profit_base, behind=tx, tip_cap=cap),
                execution=cycle.execution,
                book=cycle.book,
                ledger=cycle.ledger,
                assets=assets,
                phases=phases,
                cycle_started=t0,
                dry_run_fork=cycle.settings.dry_run,
            )

        await asyncio.gather(*(backrun(c) for c in hit))
