"""Keeping an Aave V3 market's state in memory, block by block.

Events only mark things dirty; dirty accounts and reserves are re-read in batches pinned to the
new block. Discovery has no lookback window: every account that ever touched the market since
``start_block`` is known. A reorg rolls the tracker back to the common ancestor: accounts first
seen in orphaned blocks are forgotten and every account those blocks touched is re-read.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import structlog

from keeper.chain.batch import run_calls
from keeper.chain.logs import LogFetcher
from keeper.protocols.aave_v3.checkpoint import TrackedAccounts
from keeper.protocols.aave_v3.events import Effects, EventDecoder
from keeper.protocols.aave_v3.feeds import FeedRegistry
from keeper.protocols.aave_v3.sentinel import (
    NO_SENTINEL,
    SentinelView,
    allowed_call,
    decode_allowed,
    read_sentinel_address,
)
from keeper.protocols.aave_v3.state_reader import (
    read_account_states,
    read_emode_categories,
    read_prices_checked,
    read_reserve_list,
    read_reserve_states,
    with_cash,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from keeper.chain.client import ChainClient
    from keeper.chain.heads import Header
    from keeper.errors import RpcError
    from keeper.protocols.aave_v3.market import Market
    from keeper.protocols.aave_v3.state import AccountState, EModeCategory, ReserveState

log = structlog.get_logger(__name__)
REORG_MEMORY = 256
# Every price is read at least this often, even when the feeds say nothing moved: the check
# that the feeds' answers are the oracle's prices (an adapter told apart too late, a proxy
# pointed at another aggregator without an event we watch).
PRICE_CHECK_BLOCKS = 64


@dataclass
class SyncResult:
    """What one step of the tracker changed."""

    block: int
    timestamp: int
    accounts: dict[str, AccountState] = field(default_factory=dict)  # re-read this step
    removed: set[str] = field(default_factory=set)
    answers: list[tuple[str, int]] = field(default_factory=list)  # (asset, answer) from events
    prices_changed: dict[str, int] = field(default_factory=dict)
    market_changed: bool = False  # reserves, eMode categories or prices moved
    reloaded: bool = False  # the market's configuration was read anew (listing, risk params)
    failed: dict[str, RpcError] = field(default_factory=dict)


class MarketTracker:
    """The market's reserves, eMode categories, prices and accounts at ``self.block``."""

    def __init__(
        self,
        client: ChainClient,
        market: Market,
        *,
        start_block: int,
        batch_size: int,
        log_span: int,
        on_progress: Callable[[int, int, int], None] | None = None,
    ) -> None:
        self.client = client
        self.market = market
        self.start_block = start_block
        self.batch_size = batch_size
        self.logs = LogFetcher(client, log_span, on_progress)
        self.decoder = EventDecoder(
            market.pool, market.configurator, market.oracle, market.addresses_provider
        )
        self.feeds = FeedRegistry()
        self.reserves: dict[str, ReserveState] = {}
        self.emodes: dict[int, EModeCategory] = {}
        self.prices: dict[str, int] = {}
        # Assets the oracle cannot price now; they keep their last good price meanwhile.
        self.unpriced: set[str] = set()
        # The market's PriceOracleSentinel and its answer at ``self.block`` (L2 markets).
        self.sentinel: SentinelView = NO_SENTINEL
        self.accounts: dict[str, AccountState] = {}
        self.first_seen: dict[str, int] = {}
        self.touched: dict[int, set[str]] = {}
        self.dirty: set[str] = set()
        self.dirty_reserves: set[str] = set()
        self.reload_market = False
        self.block = -1
        self.timestamp = 0
        self._prices_read_at = -1  # the block of the last read of every price
        self.price_reads = 0  # reads of every price after the start (for the RPC budget)
        self.price_mismatches = 0  # a feed's answer that was not the oracle's price

    # -- startup -------------------------------------------------------------------------------

    async def bootstrap(self, head: Header) -> SyncResult:
        """Load the market at ``head`` and every account since ``start_block``."""
        await self._load_market(head.number)
        started = time.perf_counter()
        logs = await self.logs.fetch(
            self.decoder.addresses(), self.decoder.topics(), self.start_block, head.number
        )
        effects = self.decoder.apply(logs)
        self._discover(effects)
        log.info(
            "backfill_done",
            blocks=head.number - self.start_block + 1,
            logs=len(logs),
            accounts=len(self.first_seen),
            splits=self.logs.splits,
            s=round(time.perf_counter() - started, 2),
        )
        self.block, self.timestamp = head.number, head.timestamp
        self.dirty = set(self.first_seen)
        result = SyncResult(head.number, head.timestamp, market_changed=True)
        await self._refresh_accounts(result)
        return result

    async def resume(self, head: Header, saved: TrackedAccounts, since: int) -> SyncResult:
        """Stand at ``head`` from a checkpoint at block ``since``.

        Its accounts, then only the logs of ``since + 1 .. head`` (what happened meanwhile),
        and the accounts those touched re-read.
        """
        self.first_seen = dict(saved.first_seen)
        self.accounts = dict(saved.accounts)
        self.touched = {b: set(a) for b, a in saved.touched.items()}
        self.block = since
        await self._load_market(head.number)  # every reserve, category and price at the head
        started = time.perf_counter()
        logs = await self.logs.fetch(
            self.decoder.addresses(), self.decoder.topics(), since + 1, head.number
        )
        effects = self.decoder.apply(logs)
        self._discover(effects)
        log.info(
            "backfill_done",
            resumed_from=since,
            blocks=head.number - since,
            logs=len(logs),
            accounts=len(self.first_seen),
            splits=self.logs.splits,
            s=round(time.perf_counter() - started, 2),
        )
        self.block, self.timestamp = head.number, head.timestamp
        # Accounts with no state read yet are read now, whatever the checkpoint says.
        unread = set(self.first_seen) - set(self.accounts)
        self.dirty = set(saved.dirty) | effects.accounts() | unread
        result = SyncResult(head.number, head.timestamp, market_changed=True)
        await self._refresh_accounts(result)
        return result

    def tracked(self) -> TrackedAccounts:
        """The account-level state at :attr:`block` for a checkpoint (copies of references)."""
        return TrackedAccounts(
            start_block=self.start_block,
            pool_version=self.market.rules.version.value,
            first_seen=dict(self.first_seen),
            accounts=dict(self.accounts),
            dirty=frozenset(self.dirty),
            touched={b: frozenset(a) for b, a in self.touched.items()},
        )

    async def _load_market(self, block: int) -> None:
        assets = await read_reserve_list(self.client, self.market, block)
        states = await read_reserve_states(self.client, self.market, assets, block)
        states = await with_cash(self.client, states, block)
        self.reserves = {r.asset: r for r in states}
        # Before 3.2 a category is named in its members' configuration; from 3.2 on only the
        # accounts name theirs (the rest are read when an account in them is).
        named = {r.config.emode_category for r in states} | {
            a.emode for a in self.accounts.values()
        }
        categories = sorted(named - {0})
        self.emodes = await read_emode_categories(self.client, self.market, categories, block)
        await self._read_sentinel_address(block)
        self.prices = await self._read_prices(assets, block)
        self._prices_read_at = block
        await self.feeds.load(self.client, self.market, assets, block, self.prices)
        self.decoder.a_tokens = {r.a_token.lower() for r in states}
        self.decoder.feeds = self.feeds.emitters()
        self.reload_market = False
        self.dirty_reserves.clear()

    # -- per block -----------------------------------------------------------------------------

    async def advance(self, headers: list[Header]) -> SyncResult:
        """Apply the logs of ``headers`` (consecutive, canonical) and re-read what they touched."""
        first, last = headers[0], headers[-1]
        addresses, topics = self.decoder.addresses(), self.decoder.topics()
        if len(headers) == 1:  # the usual block: its logs by hash, so never another branch's
            logs = await self.logs.fetch_block(addresses, topics, last.hash, last.logs_bloom)
        else:
            logs = await self.logs.fetch(addresses, topics, first.number, last.number)
        effects = self.decoder.apply(logs)
        self._discover(effects)
        result = SyncResult(last.number, last.timestamp)
        for _block, emitter, answer, updated_at in effects.answers:
            for asset in self.feeds.on_answer(emitter, updated_at):
                result.answers.append((asset, answer))
        self.block, self.timestamp = last.number, last.timestamp
        if effects.sentinel_changed:
            await self._read_sentinel_address(last.number)
        if effects.config_changed or effects.sources_changed or self.reload_market:
            await self._load_market(last.number)
            result.market_changed = result.reloaded = True
        else:
            self.dirty_reserves |= effects.reserves
            if self.dirty_reserves:
                a_tokens = {a: r.a_token for a, r in self.reserves.items()}
                for state in await read_reserve_states(
                    self.client, self.market, sorted(self.dirty_reserves), last.number, a_tokens
                ):
                    self.reserves[state.asset] = state
                self.dirty_reserves.clear()
                result.market_changed = True
            prices = await self._prices_at(last.number, result.answers)
            result.prices_changed = {a: p for a, p in prices.items() if self.prices.get(a) != p}
            if result.prices_changed:
                result.market_changed = True
            self.prices = prices
        self.dirty |= effects.accounts()
        await self._refresh_accounts(result)
        return result

    async def _prices_at(self, block: int, answers: list[tuple[str, int]]) -> dict[str, int]:
        """The oracle's prices at ``block``, read only when the feeds' answers cannot say them.

        Every price moves only with a direct feed's answer (most blocks: none): those answers
        are the new prices, no request. Any other source, an answer that is no price (zero or
        less: the oracle falls back), or ``PRICE_CHECK_BLOCKS`` since the last read: every
        price is read, and a direct feed's answer that differs from it is reported and its
        feed demoted (its asset is read every block from then on).
        """
        feeds = self.feeds
        derived = self.prices | dict(answers)  # the last answer of a block wins
        must_read = (
            any(not feeds.event_priced(a) for a in self.reserves)
            or any(answer <= 0 or asset in self.unpriced for asset, answer in answers)
            or block - self._prices_read_at >= PRICE_CHECK_BLOCKS
        )
        if not must_read:
            await self._read_sentinel(block)
            return derived
        prices = await self._read_prices(list(self.reserves), block)
        self._prices_read_at = block
        self.price_reads += 1
        for asset, price in prices.items():
            if feeds.event_priced(asset) and derived.get(asset) != price:
                self.price_mismatches += 1
                feeds.demote(asset)
                log.error(
                    "price_mismatch",
                    block=block,
                    asset=asset,
                    from_feed=derived.get(asset),
                    oracle=price,
                )
        return prices

    async def _read_prices(self, assets: list[str], block: int) -> dict[str, int]:
        sentinel = self.sentinel.address
        read = await read_prices_checked(self.client, self.market, assets, block, sentinel)
        prices, self.unpriced = read.prices, read.unpriced
        for asset in self.unpriced:
            prices[asset] = self.prices.get(asset, 0)
        if read.liquidation_allowed is not None:
            self._note_sentinel(read.liquidation_allowed, block)
        return prices

    async def _read_sentinel(self, block: int) -> None:
        """The sentinel's answer alone (one request), on a block whose prices need no read."""
        sentinel = self.sentinel.address
        if sentinel is None:
            return
        (raw,) = await run_calls(self.client, [allowed_call(sentinel, block)], 1)
        self._note_sentinel(decode_allowed(raw), block)

    async def _read_sentinel_address(self, block: int) -> None:
        address = await read_sentinel_address(self.client, self.market.addresses_provider, block)
        if address != self.sentinel.address:
            log.info("price_oracle_sentinel", sentinel=address, block=block)
            self.sentinel = SentinelView(address, liquidation_allowed=True, block=block)

    def _note_sentinel(self, allowed: bool, block: int) -> None:
        """Keep the sentinel's answer at ``block``; a change is logged (held or released)."""
        if allowed != self.sentinel.liquidation_allowed:
            event = (
                "liquidations_allowed_by_sentinel" if allowed else "liquidations_held_by_sentinel"
            )
            log.warning(event, sentinel=self.sentinel.address, block=block)
        self.sentinel = SentinelView(self.sentinel.address, allowed, block)

    def _discover(self, effects: Effects) -> None:
        for block in sorted(effects.touched):
            accounts = effects.touched[block]
            for account in accounts:
                self.first_seen.setdefault(account, block)
            self.touched.setdefault(block, set()).update(accounts)
        for old in [b for b in self.touched if b < self.block - REORG_MEMORY]:
            del self.touched[old]

    async def _refresh_accounts(self, result: SyncResult) -> None:
        if not self.dirty:
            return
        wanted = sorted(self.dirty)
        states, failed = await read_account_states(
            self.client,
            self.market,
            list(self.reserves.values()),
            wanted,
            block=self.block,
            batch_size=self.batch_size,
        )
        self.accounts.update(states)
        result.accounts.update(states)
        result.failed.update(failed)
        self.dirty = set(failed)  # failed reads stay dirty and are retried next block
        missing = sorted({s.emode for s in states.values()} - set(self.emodes) - {0})
        if missing:
            self.emodes.update(
                await read_emode_categories(self.client, self.market, missing, self.block)
            )
            result.market_changed = True
        if failed:
            log.warning("account_reads_failed", block=self.block, count=len(failed))

    # -- reorgs --------------------------------------------------------------------------------

    def cash(self) -> dict[str, int]:
        """Each reserve's cash at the block (those read: every reserve, once loaded)."""
        return {a: r.cash for a, r in self.reserves.items() if r.cash is not None}

    def rollback(self, ancestor: int) -> set[str]:
        """Forget what blocks above ``ancestor`` brought; return the accounts forgotten."""
        orphaned = [b for b in self.touched if b > ancestor]
        for block in orphaned:
            self.dirty |= self.touched.pop(block)
        removed = {a for a, b in self.first_seen.items() if b > ancestor}
        for account in removed:
            del self.first_seen[account]
            self.accounts.pop(account, None)
            self.dirty.discard(account)
        self.reload_market = True
        self.block = ancestor
        log.warning(
            "reorg_rollback",
            ancestor=ancestor,
            orphaned_blocks=len(orphaned),
            forgotten=len(removed),
            to_reread=len(self.dirty),
        )
        return removed

    def reserve_list(self) -> Iterable[ReserveState]:
        """Listed reserves."""
        return self.reserves.values()
