"""The minimum market size (``morpho_min_market_usd``): which markets are big enough to act in.

A market's size is its total borrow (accrued to the block) in USD at the prices derived from the
markets' oracles (``prices.py``), rounded down; the floor is rounded up to a whole base unit. A
market whose loan token has no USD price has no known size and is left out while a floor is set.
"""

from __future__ import annotations

from decimal import ROUND_CEILING
from typing import TYPE_CHECKING

from keeper.core.money import to_base_down
from keeper.protocols.morpho_blue.prices import USD_UNIT

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from decimal import Decimal

    from keeper.protocols.morpho_blue.tracker import MorphoTracker


def sized_markets(
    tracker: MorphoTracker,
    min_usd: Decimal,
    usd: Callable[[], Mapping[str, int]],
    decimals: Mapping[str, int],
) -> set[str]:
    """Ids of the tracked markets whose total borrow is worth ``min_usd`` or more."""
    markets = tracker.state.markets
    floor = int((min_usd * USD_UNIT).to_integral_value(ROUND_CEILING))
    if floor == 0:
        return set(markets)
    prices, out = usd(), set()
    for market_id, market in markets.items():
        view = tracker.view(market_id)
        loan = market.params.loan_token
        price, places = prices.get(loan), decimals.get(loan)
        if view is None or price is None or places is None:
            continue
        if to_base_down(view.totals.total_borrow_assets, price, places) >= floor:
            out.add(market_id)
    return out
