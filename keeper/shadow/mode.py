"""Shadow mode as the keeper loop sees it: the fork, the bookkeeping, and their few hooks.

Built by the loop when ``dry_run`` is on. The loop calls ``start`` (prepare), ``reset`` (before
acting on a head), ``observe`` (after each head, never waiting), ``stop`` (at shutdown), runs
``stage`` under its supervisor and uses ``shutdown_timeout_s``: fork transactions are not real
in-flight transactions, so nothing is worth waiting for at SIGTERM.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from keeper.shadow.book import Observation, ShadowBook
from keeper.shadow.fork import ShadowFork
from keeper.shadow.ledger import ShadowLedger

if TYPE_CHECKING:
    import asyncio

    from prometheus_client import CollectorRegistry

    from keeper.chain.client import ChainClient
    from keeper.core.market import LendingMarket
    from keeper.core.outcome import Outcome
    from keeper.core.plan import Skip
    from keeper.execution.journal import Journal
    from keeper.execution.sender import TxSender
    from keeper.ops.server import Status
    from keeper.settings import Settings

SHADOW_SHUTDOWN_S = 2.0


def shadow_journal_path(settings: Settings) -> str:
    """Where shadow mode journals: apart from the real journal, never mixed with it."""
    return settings.journal_path + ".dry-run"


class ShadowMode:
    """The fork plus the verdict book, behind the hooks the loop calls."""

    def __init__(
        self,
        settings: Settings,
        chain_id: int,
        journal: Journal,
        client: ChainClient,
        market: LendingMarket,
        registry: CollectorRegistry,
        status: Status,
    ) -> None:
        self.settings = settings
        self.fork = ShadowFork(settings, chain_id, journal)
        self.ledger = ShadowLedger(shadow_journal_path(settings), chain_id)
        self.book = ShadowBook(client, market, journal, self.ledger, registry, status)

    @property
    def shutdown_timeout_s(self) -> float:
        """What SIGTERM waits for: a cycle on the fork, never a receipt of the real chain."""
        return min(self.settings.shutdown_timeout_s, SHADOW_SHUTDOWN_S)

    async def start(self, block: int, keeper: str) -> ChainClient:
        """Start the fork at ``block`` (the client the executors send to)."""
        return await self.fork.start(block, keeper)

    async def reset(self, block: int, sender: TxSender) -> None:
        """Put the fork at the real state of ``block`` before acting on it."""
        await self.fork.reset(block, sender)

    async def stage(self, stop: asyncio.Event) -> None:
        """The supervised bookkeeping stage."""
        await self.book.run(stop)

    def observe(
        self,
        head: int,
        seen_at: float,
        report: tuple[list[Outcome], list[Skip]],
        prices: dict[str, int],
        decimals: dict[str, int],
        native_price: int,
        base_unit: int,
    ) -> None:
        """Hand one processed head to the book (queued: the loop never waits on it)."""
        if base_unit:
            self.book.base_unit = base_unit
        self.book.queue.put_nowait(
            Observation(
                head=head,
                seen_at=seen_at,
                outcomes=list(report[0]),
                skips=list(report[1]),
                prices=dict(prices),
                decimals=dict(decimals),
                native_price=native_price,
            )
        )

    async def stop(self, keeper: str) -> None:
        """Forget the fork's transactions, record the run's end, stop the fork."""
        self.fork.close(keeper)
        self.book.finish()
        try:
            await self.fork.stop()
        finally:
            self.ledger.close()
