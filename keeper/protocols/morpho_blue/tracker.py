"""Following one Morpho contract: discovery from its logs, state read once, then moved by events.

``start`` finds every market and account in the logs from ``start_block`` (markets from
``CreateMarket``, or ``idToMarketParams`` for one created earlier), then reads each market's
totals and each account's position at the head in batches, so the state is exact whatever the
start block. ``advance`` applies the logs of the new blocks event by event (exact: the events
carry Morpho's own rounded amounts), with the timestamps of the blocks that accrued (from the
followed headers when given: the usual next block's logs are then read by its hash, so never
another branch's). After either, the oracles' prices and the IRMs' rates are read at the block
in one batch, and :meth:`view` accrues each market to the block's timestamp locally, as
``_accrueInterest`` does. :meth:`rollback` undoes orphaned blocks (``history.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog

from keeper.chain.heads import DeepReorgError
from keeper.chain.logs import LogFetcher
from keeper.chain.types import Log
from keeper.protocols.morpho_blue import events as ev
from keeper.protocols.morpho_blue.feed_book import FeedBook
from keeper.protocols.morpho_blue.health import health_factor
from keeper.protocols.morpho_blue.history import Pair, RecentChanges
from keeper.protocols.morpho_blue.interest import accrue
from keeper.protocols.morpho_blue.reads import (
    read_fee_recipient,
    read_params,
    read_positions,
    read_prices_and_rates,
    read_timestamps,
    read_totals,
)
from keeper.protocols.morpho_blue.state import MarketState, MorphoState

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from keeper.chain.client import ChainClient
    from keeper.chain.heads import Header
    from keeper.errors import RpcError
    from keeper.protocols.morpho_blue.checkpoint import Saved
    from keeper.protocols.morpho_blue.types import MarketParams, MarketTotals, Position

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class MarketView:
    """A market at the tracked block: totals accrued to its timestamp, the oracle's price."""

    id: str
    params: MarketParams
    totals: MarketTotals
    price: int
    rate: int  # the IRM's borrow rate (WAD per second) the accrual used


class MorphoTracker:
    """The state of every market of one Morpho contract, at one block."""

    def __init__(
        self,
        client: ChainClient,
        morpho: str,
        *,
        start_block: int = 0,
        log_range: int = 10_000,
        batch_size: int = 200,
        follows: Callable[[str], bool] | None = None,
    ) -> None:
        self.client = client
        self.follows = follows  # which market ids to follow (None: every market)
        self.morpho = morpho
        self.start_block = start_block
        self.batch_size = batch_size
        self.fetcher = LogFetcher(client, log_range)
        self.state = MorphoState()
        self.block = -1
        self.timestamp = 0
        self.prices: dict[str, int] = {}
        self.rates: dict[str, int] = {}
        self.unpriced: dict[str, RpcError] = {}
        self.feeds = FeedBook()  # the feeds behind the oracles that have them
        self.recent = RecentChanges()

    async def _logs(
        self, first: int, last: int, single: Header | None = None
    ) -> list[ev.MorphoEvent]:
        if single is not None:  # one block: by its hash, spared when its bloom rules us out
            bloom = single.logs_bloom
            raw = await self.fetcher.fetch_block([self.morpho], ev.topics(), single.hash, bloom)
        else:
            raw = await self.fetcher.fetch([self.morpho], ev.topics(), first, last)
        decoded = (ev.decode(Log.from_rpc(r)) for r in raw)
        return sorted(
            (e for e in decoded if e is not None and self._followed(e)),
            key=lambda e: (e.at.block, e.at.log_index),
        )

    def _followed(self, event: ev.MorphoEvent) -> bool:
        """False for an event of a market left out by the allow-list or deny-list."""
        market = ev.market_of(event)
        return market is None or self.follows is None or self.follows(market)

    async def start(self, head: int | None = None) -> int:
        """Discover and read everything at ``head`` (default: the node's); returns the block."""
        block = await self.client.block_number() if head is None else head
        found = await self._logs(self.start_block, block) if block >= self.start_block else []
        await self._load(found, block)
        self.block = block
        self.timestamp = (await read_timestamps(self.client, [block], self.batch_size))[block]
        self.recent.reset(block)
        await self.refresh()
        return block

    async def _load(self, found: Sequence[ev.MorphoEvent], block: int) -> None:
        """Read the markets and positions the events name, at ``block``."""
        params = {e.id: e.params for e in found if isinstance(e, ev.CreateMarket)}
        named = {ev.market_of(e) for e in found} - {None} - set(self.state.markets)
        ids = sorted(i for i in named if i is not None)
        missing = [i for i in ids if i not in params]
        if missing:
            params |= await read_params(self.client, self.morpho, missing, block, self.batch_size)
        totals = await read_totals(self.client, self.morpho, ids, block, self.batch_size)
        for market_id in ids:
            self.state.markets[market_id] = MarketState(params[market_id], totals[market_id])
        recipient = await read_fee_recipient(self.client, self.morpho, block)
        self.state.fee_recipient = recipient
        # Earlier fee recipients hold the fee shares minted while they were it.
        receivers = {recipient} | {e.recipient for e in found if isinstance(e, ev.SetFeeRecipient)}
        pairs = sorted(
            {p for e in found for p in _pairs(e)} | {(m, r) for m in ids for r in receivers}
        )
        pairs = [p for p in pairs if p[1] not in self.state.markets[p[0]].positions]
        positions = await read_positions(self.client, self.morpho, pairs, block, self.batch_size)
        for (market_id, account), position in positions.items():
            self.state.markets[market_id].positions[account] = position

    async def advance(self, to_block: int, headers: Sequence[Header] = ()) -> set[Pair]:
        """Apply the logs up to ``to_block`` and re-read prices and rates; returns who moved.

        ``headers``: the canonical headers of the blocks above ours up to ``to_block``, when the
        caller follows them (their timestamps are then not read again).
        """
        if to_block <= self.block:
            return set()
        given = {h.number: h for h in headers}
        if sorted(given) != list(range(self.block + 1, to_block + 1)):
            given.clear()  # not exactly our gap: read what is needed by number
        single = given.get(to_block) if to_block == self.block + 1 else None
        found = await self._logs(self.block + 1, to_block, single)
        created = {e.id for e in found if isinstance(e, ev.CreateMarket)}
        known = set(self.state.markets) | created
        earlier = [e for e in found if (m := ev.market_of(e)) is not None and m not in known]
        if earlier:
            # A market created before start_block, first seen now: read it as it was before.
            await self._load(earlier, self.block)
        await self._read_new_accounts(found, created)
        accrued = {e.at.block for e in found if isinstance(e, ev.AccrueInterest | ev.CreateMarket)}
        stamps = {n: h.timestamp for n, h in given.items()}
        unread = sorted((accrued | {to_block}) - set(stamps))
        if unread:
            stamps |= await read_timestamps(self.client, unread, self.batch_size)
        touched: set[Pair] = set()
        for event in found:
            moved = self.state.apply(event, stamps.get(event.at.block, 0))
            self.recent.record(event, moved)
            touched |= moved
        self.block, self.timestamp = to_block, stamps[to_block]
        self.recent.prune(to_block)
        await self.refresh()
        return touched

    async def reconcile(self, pairs: Sequence[Pair]) -> list[tuple[str, str, str | None]]:
        """Compare ``pairs`` and their markets' totals with Morpho at the block.

        Each difference is taken from the chain and returned as (what, market, account).
        """
        if not pairs:
            return []
        ids = sorted({m for m, _ in pairs})
        size = self.batch_size
        totals = await read_totals(self.client, self.morpho, ids, self.block, size)
        positions = await read_positions(self.client, self.morpho, list(pairs), self.block, size)
        markets = self.state.markets
        differences: list[tuple[str, str, str | None]] = []
        for market_id in ids:
            if markets[market_id].totals != totals[market_id]:
                differences.append(("totals", market_id, None))
                markets[market_id].totals = totals[market_id]
        for (market_id, account), position in positions.items():
            if markets[market_id].position(account) != position:
                differences.append(("position", market_id, account))
                markets[market_id].positions[account] = position
        return differences

    async def rollback(self, ancestor: int) -> set[Pair]:
        """Undo the blocks above ``ancestor`` (orphaned by a reorg); returns the pairs re-read.

        What they changed is read again at ``ancestor`` (the markets' totals, the positions, the
        fee recipient; markets they created are dropped), so the state is exactly the chain's
        there and the next :meth:`advance` applies the new branch. Raises ``DeepReorgError``
        when a block above ``ancestor`` is not remembered. Nothing changes if a read fails.
        """
        if ancestor >= self.block:
            return set()
        if not self.recent.covers(ancestor):
            raise DeepReorgError(
                f"reorg to block {ancestor}: Morpho changes known from block {self.recent.since}"
            )
        undo = self.recent.after(ancestor)
        gone = undo.created
        markets = sorted(m for m in undo.markets - gone if m in self.state.markets)
        pairs = sorted(p for p in undo.pairs if p[0] in self.state.markets and p[0] not in gone)
        size = self.batch_size
        totals = await read_totals(self.client, self.morpho, markets, ancestor, size)
        positions = await read_positions(self.client, self.morpho, pairs, ancestor, size)
        recipient = self.state.fee_recipient
        if undo.fee_recipient:
            recipient = await read_fee_recipient(self.client, self.morpho, ancestor)
        stamp = (await read_timestamps(self.client, [ancestor], size))[ancestor]
        # Every read is in: change the state (no await below).
        for market_id in gone:
            self.state.markets.pop(market_id, None)
            self.prices.pop(market_id, None)
            self.rates.pop(market_id, None)
            self.unpriced.pop(market_id, None)
        for market_id, market_totals in totals.items():
            self.state.markets[market_id].totals = market_totals
        for (market_id, account), position in positions.items():
            self.state.markets[market_id].positions[account] = position
        self.state.fee_recipient = recipient
        self.recent.drop_after(ancestor)
        log.warning(
            "morpho_reorg_rollback",
            ancestor=ancestor,
            orphaned_blocks=self.block - ancestor,
            markets_reread=len(markets),
            positions_reread=len(pairs),
            markets_dropped=len(gone),
        )
        self.block, self.timestamp = ancestor, stamp
        return set(pairs)

    async def resume(self, saved: Saved, at: tuple[int, int], head: int) -> None:
        """Start from ``saved`` (a checkpoint of block ``at[0]``, timestamp ``at[1]``) to ``head``.

        What the logs since touched (markets, positions, the fee recipient) is read at the
        head rather than replayed, so only the head's state is needed from the node; a reorg
        below the head is then rebuilt (its changes are not recorded). At the checkpoint's
        own block the saved record of recent changes is kept.
        """
        state = saved.state()
        self.state, (self.block, self.timestamp) = state, at
        if head <= self.block:
            self.recent.blocks, self.recent.since = dict(saved.recent), saved.since
            await self.refresh()
            return
        found = await self._logs(self.block + 1, head)
        named = {m for e in found if (m := ev.market_of(e)) is not None}
        params = {e.id: e.params for e in found if isinstance(e, ev.CreateMarket)}
        unknown = sorted(named - set(state.markets) - set(params))
        if unknown:
            params |= await read_params(self.client, self.morpho, unknown, head, self.batch_size)
        recipient = await read_fee_recipient(self.client, self.morpho, head)
        ids = sorted(named)
        receivers = {r for r in (state.fee_recipient, recipient) if r is not None}
        pairs = sorted(
            {p for e in found for p in _pairs(e)} | {(m, r) for m in ids for r in receivers}
        )
        totals = await read_totals(self.client, self.morpho, ids, head, self.batch_size)
        positions = await read_positions(self.client, self.morpho, pairs, head, self.batch_size)
        stamp = (await read_timestamps(self.client, [head], self.batch_size))[head]
        for market_id in ids:
            if market_id not in state.markets:
                state.markets[market_id] = MarketState(params[market_id], totals[market_id])
            state.markets[market_id].totals = totals[market_id]
        for (market_id, account), position in positions.items():
            state.markets[market_id].positions[account] = position
        state.fee_recipient = recipient
        self.block, self.timestamp = head, stamp
        self.recent.reset(head)
        await self.refresh()

    async def _read_new_accounts(self, found: Sequence[ev.MorphoEvent], created: set[str]) -> None:
        """Read the positions of accounts first seen now, as they were before.

        A start_block after an account's first move would otherwise leave it at zero.
        """
        markets = self.state.markets
        pairs = sorted(
            {
                p
                for e in found
                for p in _pairs(e)
                if p[0] not in created and p[1] not in markets[p[0]].positions
            }
        )
        if pairs:
            got = await read_positions(self.client, self.morpho, pairs, self.block, self.batch_size)
            for (market_id, account), position in got.items():
                markets[market_id].positions[account] = position

    async def refresh(self) -> None:
        """Read every market's price and IRM rate, and the feeds behind them (one batch)."""
        markets = [(i, m.params, m.totals) for i, m in self.state.markets.items()]
        oracles = {i: p.oracle for i, p, _ in markets}
        await self.feeds.resolve(self.client, list(oracles.values()), self.block, self.batch_size)
        self.prices, self.rates, self.unpriced, inputs = await read_prices_and_rates(
            self.client, markets, self.block, self.batch_size, self.feeds.calls(self.block)
        )
        self.feeds.take(inputs)
        self.feeds.check(self.prices, oracles, self.block)

    def view(self, market_id: str) -> MarketView | None:
        """The market accrued to the block's timestamp, None while its price or rate is unread."""
        market = self.state.markets[market_id]
        if market_id not in self.prices:
            return None
        rate = self.rates[market_id]
        accrual = accrue(market.totals, rate, self.timestamp, has_irm=market.params.has_irm)
        return MarketView(market_id, market.params, accrual.totals, self.prices[market_id], rate)

    def borrowers(self) -> Iterator[tuple[str, str, Position]]:
        """(market id, account, position) of every position with borrow shares."""
        for market_id, market in self.state.markets.items():
            for account in market.borrowers():
                yield market_id, account, market.positions[account]

    def health(self, market_id: str, account: str) -> int | None:
        """The position's health factor at the block (18 decimals), None while unpriced."""
        view = self.view(market_id)
        if view is None:
            return None
        position = self.state.markets[market_id].position(account)
        return health_factor(position, view.totals, view.price, view.params.lltv)


def _pairs(event: ev.MorphoEvent) -> list[Pair]:
    if isinstance(event, ev.SupplyChange | ev.BorrowChange | ev.CollateralChange):
        return [(event.id, event.account)]
    if isinstance(event, ev.Liquidate):
        return [(event.id, event.borrower)]
    return []
