"""The market monitor: head tracking, the market tracker and the health engine, wired.

``start`` backfills and builds every account's exact account data; each ``step`` follows the
head (rolling back on a reorg), applies the new blocks, and leaves the engine current. The
``reconcile`` check compares local account data with ``getUserAccountData`` at the same block:
any difference is a bug, logged loudly and counted.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from typing import TYPE_CHECKING

import structlog

from keeper.chain.heads import DeepReorgError, Header, HeadTracker
from keeper.core.checkpoint import CheckpointRejectedError, DiscardReason
from keeper.core.display import format_wad
from keeper.errors import RpcError
from keeper.protocols.aave_v3 import checkpoint
from keeper.protocols.aave_v3.progress import BackfillProgress
from keeper.protocols.aave_v3.reads import AccountData, account_fields, read_account_data
from keeper.protocols.aave_v3.step import Step
from keeper.protocols.aave_v3.tracker import MarketTracker
from keeper.risk.engine import HealthEngine, move_threshold

if TYPE_CHECKING:
    from collections.abc import Sequence

    from keeper.chain.client import ChainClient
    from keeper.core.checkpoint import MarketCheckpoint
    from keeper.protocols.aave_v3.market import Market
    from keeper.settings import Settings

log = structlog.get_logger(__name__)
WAD = 10**18
# Accounts below this health factor (before the block's price moves) are recomputed before
# acting on a deferred step: interest cannot take an account from 1.01 to under 1 in the time
# below (1% at even 1,000% a year takes ~8.8 hours).
URGENT_HF = 101 * 10**16
# Older account data than this (chain time since the last full recompute) is never deferred.
DEFER_MAX_AGE_S = 3_600


class MarketMonitor:
    """Exact account data of every account of one market, kept current block by block."""

    def __init__(self, client: ChainClient, market: Market, settings: Settings) -> None:
        self.client = client
        self.market = market
        self.settings = settings
        self.heads = HeadTracker(client)
        self.tracker = self._new_tracker()
        self.engine = HealthEngine()
        self.mismatches = 0
        # Accounts whose local data differed from the chain: checked on chain before they are
        # acted on again, until a check finds the local data equal.
        self.suspects: set[str] = set()
        self._deferred = False
        # The urgent accounts a deferred step left for after the first liquidation was sent
        # (largest debt first); their local data is not of this block until :meth:`rest`.
        self._rest: list[str] = []
        self._rest_set: set[str] = set()
        self._computed_at = 0  # chain timestamp of the last full recompute
        self._view_at = 0  # chain timestamp of the engine's market view
        self._sample_cursor = 0
        self._clean = False  # the state is that of one whole block (a checkpoint may be taken)

    def _new_tracker(self) -> MarketTracker:
        self.progress = BackfillProgress()
        return MarketTracker(
            self.client,
            self.market,
            start_block=self.settings.start_block,
            batch_size=self.settings.batch_size,
            log_span=self.settings.log_range,
            on_progress=self.progress,
        )

    async def _rebuild(self, reason: str, started: float) -> Step:
        """A reorg deeper than remembered: forget everything and start over at the head."""
        log.error("deep_reorg_rebuild", reason=reason)
        before = set(self.engine.data)
        remembered = self.heads.snapshot()[0]
        oldest = next(iter(remembered), self.tracker.block + 1)
        self.heads = HeadTracker(self.client)
        self.tracker = self._new_tracker()
        self.engine = HealthEngine()
        head = await self.start()
        return Step(
            head.number,
            head.timestamp,
            max(0, oldest - 1),
            len(self.engine.data),
            0,
            len(self.engine.data),
            round((time.perf_counter() - started) * 1000, 1),
            before - set(self.engine.data),
            head.base_fee,
            deep_reorg=True,
        )

    @property
    def block(self) -> int:
        """The block the state is at."""
        return self.tracker.block

    async def start(self, at: int | None = None) -> Header:
        """Backfill from ``start_block`` and compute every account at the head (or ``at``)."""
        self._clean = False
        if self.tracker.block >= 0:  # started before (a restore found stale): from scratch
            self.heads, self.tracker = HeadTracker(self.client), self._new_tracker()
            self.engine = HealthEngine()
        number = at if at is not None else await self.client.block_number()
        head = await self.heads.start(number)
        result = await self.tracker.bootstrap(head)
        self.engine.set_market(
            self.tracker.reserves.values(),
            self.tracker.emodes,
            self.tracker.prices,
            head.timestamp,
            self.tracker.market.rules,
        )
        self.engine.upsert(result.accounts.values())
        self._computed_at = self._view_at = head.timestamp
        self.progress.finished = True
        self._clean = True
        log.info("monitor_started", block=head.number, accounts=len(self.engine.data))
        return head

    async def restore(self, saved: MarketCheckpoint) -> Header:
        """Start from a checkpoint: its accounts, the logs since its block, those re-read.

        Raises ``CheckpointRejectedError`` for a payload this monitor cannot use; nothing of
        the monitor changes until the whole state is built.
        """
        if saved.payload_version != checkpoint.VERSION:
            raise CheckpointRejectedError(
                DiscardReason.FORMAT_VERSION,
                f"aave payload version {saved.payload_version}, this keeper reads "
                f"{checkpoint.VERSION}",
            )
        tracked = await asyncio.to_thread(checkpoint.decode, saved.payload)
        if tracked.start_block != self.settings.start_block:
            raise CheckpointRejectedError(
                DiscardReason.OTHER_SETTINGS,
                f"made with start_block {tracked.start_block}, configured "
                f"{self.settings.start_block}",
            )
        if tracked.pool_version != self.market.rules.version.value:
            raise CheckpointRejectedError(
                DiscardReason.OTHER_MARKET,
                f"made on Pool {tracked.pool_version}, the Pool is now "
                f"{self.market.rules.version.value}",
            )
        heads, tracker, engine = HeadTracker(self.client), self._new_tracker(), HealthEngine()
        head = await heads.start(await self.client.block_number())
        if head.number < saved.block:
            raise CheckpointRejectedError(
                DiscardReason.AHEAD_OF_CHAIN, f"block {saved.block} above the head {head.number}"
            )
        await tracker.resume(head, tracked, saved.block)
        engine.set_market(
            tracker.reserves.values(),
            tracker.emodes,
            tracker.prices,
            head.timestamp,
            tracker.market.rules,
        )
        engine.upsert(tracker.accounts.values())
        self.heads, self.tracker, self.engine = heads, tracker, engine
        self._computed_at = self._view_at = head.timestamp
        self.progress.finished = True
        self._clean = True
        log.info(
            "monitor_started",
            block=head.number,
            accounts=len(engine.data),
            resumed_from=saved.block,
        )
        return head

    def snapshot(self) -> checkpoint.AaveSnapshot | None:
        """The tracked accounts at the block, if the last step finished (cheap: references)."""
        block = self.tracker.block
        block_hash = self.heads.hash_of(block)
        if not self._clean or block_hash is None:
            return None
        return checkpoint.AaveSnapshot(
            block, block_hash, self.tracker.timestamp, self.tracker.tracked()
        )

    async def step(self, *, defer: bool = False, head: Header | None = None) -> Step | None:
        """Follow the head (``head``: its header when the caller has it); None if it has not moved.

        With ``defer``, only the accounts that can be liquidatable at this head are recomputed
        now (those re-read, and those the block's price moves can take under ``URGENT_HF``: one
        block of interest cannot move an account further than that); the rest wait for
        :meth:`finish`, which the caller runs once it has acted.
        """
        self.finish()
        started = time.perf_counter()
        was_clean, self._clean = self._clean, False  # until the step has applied its blocks
        followed = self.heads.snapshot()
        try:
            target = head.number if head is not None else await self.client.block_number()
            advance = await self.heads.advance(target, head)
        except DeepReorgError as exc:
            return await self._rebuild(str(exc), started)
        removed: set[str] = set()
        if advance.ancestor is not None:
            removed = self.tracker.rollback(advance.ancestor)
            self.engine.remove(removed)
        if not advance.headers:
            self._clean = was_clean and advance.ancestor is None
            return None
        before = dict(self.tracker.prices)
        try:
            result = await self.tracker.advance(advance.headers)
        except RpcError:
            # These blocks' logs and reads were not (all) applied: the next step reads them again
            # rather than finding "no new block" and leaving their effects out for good.
            self.heads.restore(followed)
            raise
        engine = self.engine
        # A feed's answers in these blocks need no separate on_price here: the tracker has
        # already read the oracle's prices at the head, and every account is recomputed below
        # with them (recomputing the exposed accounts first was the same work twice, on exactly
        # the blocks where reaction time matters).
        engine.set_market(
            self.tracker.reserves.values(),
            self.tracker.emodes,
            self.tracker.prices,
            result.timestamp,
            self.tracker.market.rules,
        )
        engine.upsert(result.accounts.values())
        if (
            defer
            and advance.ancestor is None
            and not result.reloaded
            and result.timestamp - self._computed_at <= DEFER_MAX_AGE_S
        ):
            recomputed = self._first_wave(self._urgent(before, result.prices_changed))
            self._deferred = True
        else:
            recomputed = engine.recompute_all()
        self._view_at = result.timestamp
        if not self._deferred:
            self._computed_at = result.timestamp
        self._clean = True
        return Step(
            result.block,
            result.timestamp,
            advance.ancestor,
            len(result.accounts),
            len(result.answers),
            recomputed,
            round((time.perf_counter() - started) * 1000, 1),
            removed,
            advance.headers[-1].base_fee,
        )

    def _urgent(self, before: dict[str, int], changed: dict[str, int]) -> set[str]:
        """The accounts that can be liquidatable after this block's price moves.

        Only those whose health factor was low enough for the moves to take it under
        ``URGENT_HF`` (a bound, see ``move_threshold``): after a small move that is a handful,
        not every account holding the asset.
        """
        threshold = move_threshold(URGENT_HF, before, changed)
        if threshold is not None:
            # Under URGENT_HF whatever they hold (a block of interest); above it, only those a
            # moved price reaches (an account holding none of the assets did not move).
            return self.engine.under(URGENT_HF) | self.engine.under_exposed(threshold, changed)
        urgent = self.engine.under(URGENT_HF)
        for asset in changed:
            urgent |= self.engine.exposed(asset)
        return urgent

    def _first_wave(self, urgent: set[str]) -> int:
        """Recompute the urgent accounts, the largest liquidation first, up to one under 1.

        The rest wait for :meth:`rest`, which the caller runs once that one's liquidation is
        on its way: at 100k accounts a shock's urgent set takes tens of milliseconds, and the
        first broadcast need not wait for it. The order is the lesser of collateral and debt
        before the block (what a liquidation can be worth at most, so an account of bad debt
        with dust collateral does not come first; a preference only: each account is exact).
        """
        engine, data = self.engine, self.engine.data

        def size(account: str) -> int:
            known = data.get(account)
            return 0 if known is None else min(known.total_collateral_base, known.total_debt_base)

        # A heap, not a sort: the first wave is usually an account or two of the whole set.
        heap = [(-size(a), a) for a in urgent]
        heapq.heapify(heap)
        count = 0
        while heap:
            account = heapq.heappop(heap)[1]
            engine.recompute((account,))
            count += 1
            found = data.get(account)
            if (
                found is not None
                and found.health_factor < WAD
                and min(found.total_debt_base, found.total_collateral_base) > 0
            ):
                break
        self._rest = [a for _, a in heap]
        self._rest_set = set(self._rest)
        return count

    def rest(self) -> set[str]:
        """Recompute the urgent accounts the first wave left; return them (empty: none)."""
        rest, self._rest, self._rest_set = self._rest, [], set()
        self.engine.recompute(rest)
        return set(rest)

    def finish(self) -> None:
        """Recompute the accounts a deferred step left for later (nothing when none)."""
        self._rest, self._rest_set = [], set()
        if self._deferred:
            self._deferred = False
            self.engine.recompute_all()
            self._computed_at = self._view_at

    def trusted(self, account: str) -> bool:
        """Whether the local data of ``account`` may be acted on without asking the chain.

        Not for an account whose last check found a difference, one whose state read failed
        (it still holds the state from before this block's events), nor one of the urgent
        accounts a first wave left (its data is of the block before).
        """
        return (
            account not in self.suspects
            and account not in self.tracker.dirty
            and account not in self._rest_set
        )

    def stale_feeds(self) -> dict[str, int]:
        """Assets whose feed has not updated within ``oracle_heartbeat_s``: asset -> age (s)."""
        return self.tracker.feeds.stale(self.tracker.timestamp, self.settings.oracle_heartbeat_s)

    def sample(self, size: int) -> list[str]:
        """The next ``size`` accounts of a rotating sample over all accounts."""
        accounts = sorted(self.engine.data)
        if not accounts or size <= 0:
            return []
        out = [
            accounts[(self._sample_cursor + k) % len(accounts)]
            for k in range(min(size, len(accounts)))
        ]
        self._sample_cursor = (self._sample_cursor + size) % len(accounts)
        return out

    async def reconcile(self, accounts: Sequence[str]) -> dict[str, AccountData]:
        """``getUserAccountData`` at the monitor's block for ``accounts``; log every mismatch.

        Returns the on-chain data of the accounts that could be read.
        """
        block = self.tracker.block
        onchain, _failed = await read_account_data(
            self.client, self.market, list(accounts), block, self.settings.batch_size
        )
        # At the monitor's block first: a deferred step leaves accounts of the block before
        # (recomputed later), and comparing those would count the time between as a mismatch.
        self.engine.recompute(onchain)
        for account, chain in onchain.items():
            local = self.engine.data.get(account)
            if local == chain:
                self.suspects.discard(account)
            else:
                self.mismatches += 1
                self.suspects.add(account)
                # An event we never saw (e.g. logs a node restored from a dump no longer has):
                # the account's state is read again with the next block.
                self.tracker.dirty.add(account)
                log.error(
                    "health_mismatch",
                    block=block,
                    account=account,
                    local_health_factor=format_wad(local.health_factor) if local else None,
                    onchain_health_factor=format_wad(chain.health_factor),
                    local=account_fields(local),
                    onchain=account_fields(chain),
                )
        return onchain
