"""A pending feed update's effect on Morpho markets, computed locally (no RPC).

The update's emitter names feeds (``feed_book.py``); each market whose oracle has one of them
behind it gets its oracle price recomputed with the new answer (``oracle_feeds.local_price``),
and its positions are judged at that price exactly as ``Morpho._isHealthy`` does, on the totals
accrued to the tracked block.

The neutral back-run hands the prices :meth:`exposed_at` returned back to ``plan``; for Morpho
that mapping carries, besides the USD prices by token address, each moved market's pending
oracle price (36-decimal scale) under its market id (a 32-byte id, never a 20-byte address):
:func:`split_prices` separates the two.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from keeper.protocols.morpho_blue.health import health_factor, is_healthy

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping

    from keeper.protocols.morpho_blue.tracker import MarketView, MorphoTracker

MARKET_ID_LEN = 66  # "0x" + 32 bytes


@dataclass(frozen=True)
class Exposed:
    """One position liquidatable at the pending price."""

    market_id: str
    account: str
    health_factor: int
    view: MarketView  # the market at the pending price


def pending_prices(tracker: MorphoTracker, emitter: str, answer: int) -> dict[str, int]:
    """Market id -> its oracle's price once ``emitter`` sets ``answer`` (moved markets only).

    A market whose oracle would revert at the new answer (e.g. a negative one) is left out.
    """
    book = tracker.feeds
    override = dict.fromkeys(book.feeds_of_emitter(emitter), answer)
    out: dict[str, int] = {}
    for market_id, market in tracker.state.markets.items():
        shape = book.shape(market.params.oracle)
        if shape is None or market_id not in tracker.prices:
            continue
        if any(f in override for f in shape.feeds()):
            price = book.local(market.params.oracle, override)
            if price is not None:
                out[market_id] = price
    return out


def exposed(
    tracker: MorphoTracker, moved: Mapping[str, int], sized: Collection[str]
) -> list[Exposed]:
    """Every position with collateral of the ``moved`` markets unhealthy at the new prices."""
    out = []
    for market_id, price in moved.items():
        view = tracker.view(market_id)
        if view is None or market_id not in sized:
            continue
        at = replace(view, price=price)
        market = tracker.state.markets[market_id]
        for account in market.borrowers():
            position = market.positions[account]
            if position.collateral == 0 or is_healthy(position, at.totals, price, at.params.lltv):
                continue
            hf = health_factor(position, at.totals, price, at.params.lltv)
            out.append(Exposed(market_id, account, hf, at))
    return out


def split_prices(prices: Mapping[str, int]) -> tuple[dict[str, int], dict[str, int]]:
    """(USD prices by token, pending oracle prices by market id) of an ``exposed_at`` mapping."""
    usd = {k: v for k, v in prices.items() if len(k) != MARKET_ID_LEN}
    oracle = {k: v for k, v in prices.items() if len(k) == MARKET_ID_LEN}
    return usd, oracle
