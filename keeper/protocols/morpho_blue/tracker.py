"""Following one Morpho contract: discovery from its logs, state read once, then moved by events.

``start`` finds every market and account in the logs from ``start_block`` (markets from
``CreateMarket``, or ``idToMarketParams`` for one created earlier), then reads each market's
totals and each account's position at the head in batches, so the state is exact whatever the
start block. ``advance`` applies the logs of the new blocks event by event (exact: the events
carry Morpho's own rounded amounts), with the timestamps of the blocks that accrued. After
either, the oracles' prices and the IRMs' rates are read at the block in one batch, and
:meth:`view` accrues each market to the block's timestamp locally, as ``_accrueInterest`` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from keeper.chain.logs import LogFetcher
from keeper.chain.types import Log
from keeper.protocols.morpho_blue import events as ev
from keeper.protocols.morpho_blue.health import health_factor
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
    from collections.abc import Iterator, Sequence

    from keeper.chain.client import ChainClient
    from keeper.errors import RpcError
    from keeper.protocols.morpho_blue.types import MarketParams, MarketTotals, Position

Pair = tuple[str, str]  # (market id, account)


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
    ) -> None:
        self.client = client
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

    async def _logs(self, first: int, last: int) -> list[ev.MorphoEvent]:
        raw = await self.fetcher.fetch([self.morpho], ev.topics(), first, last)
        decoded = (ev.decode(Log.from_rpc(r)) for r in raw)
        return sorted(
            (e for e in decoded if e is not None), key=lambda e: (e.at.block, e.at.log_index)
        )

    async def start(self, head: int | None = None) -> int:
        """Discover and read everything at ``head`` (default: the node's); returns the block."""
        block = await self.client.block_number() if head is None else head
        found = await self._logs(self.start_block, block) if block >= self.start_block else []
        await self._load(found, block)
        self.block = block
        self.timestamp = (await read_timestamps(self.client, [block], self.batch_size))[block]
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
        pairs = sorted({p for e in found for p in _pairs(e)} | {(m, recipient) for m in ids})
        pairs = [p for p in pairs if p[1] not in self.state.markets[p[0]].positions]
        positions = await read_positions(self.client, self.morpho, pairs, block, self.batch_size)
        for (market_id, account), position in positions.items():
            self.state.markets[market_id].positions[account] = position

    async def advance(self, to_block: int) -> set[Pair]:
        """Apply the logs up to ``to_block`` and re-read prices and rates; returns who moved."""
        if to_block <= self.block:
            return set()
        found = await self._logs(self.block + 1, to_block)
        created = {e.id for e in found if isinstance(e, ev.CreateMarket)}
        known = set(self.state.markets) | created
        earlier = [e for e in found if (m := ev.market_of(e)) is not None and m not in known]
        if earlier:
            # A market created before start_block, first seen now: read it as it was before.
            await self._load(earlier, self.block)
        await self._read_new_accounts(found, created)
        accrued = {e.at.block for e in found if isinstance(e, ev.AccrueInterest | ev.CreateMarket)}
        stamps = await read_timestamps(self.client, sorted(accrued | {to_block}), self.batch_size)
        touched: set[Pair] = set()
        for event in found:
            touched |= self.state.apply(event, stamps.get(event.at.block, 0))
        self.block, self.timestamp = to_block, stamps[to_block]
        await self.refresh()
        return touched

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
        """Read every market's price and IRM rate at the tracked block (one batch)."""
        markets = [(i, m.params, m.totals) for i, m in self.state.markets.items()]
        self.prices, self.rates, self.unpriced = await read_prices_and_rates(
            self.client, markets, self.block, self.batch_size
        )

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
