"""The radar of a running Morpho keeper, for the ops endpoint's ``/radar`` page.

The markets' views and positions are taken in the event loop (the tracker replaces positions
and totals, never mutates them, so copies of its dicts are a consistent snapshot); the radar is
computed and drawn in a worker thread, at most once per ``min_interval_s``. One curve per
market: its liquidatable debt (USD) as its own oracle price drops.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from keeper.errors import KeeperError
from keeper.protocols.morpho_blue.risk import curve, position_risks

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping, Sequence

    from keeper.protocols.morpho_blue.lending_market import MorphoLendingMarket
    from keeper.protocols.morpho_blue.tracker import MarketView
    from keeper.protocols.morpho_blue.types import Position

RadarPicture = tuple[bytes, dict[str, str]]  # PNG, and a few facts to show beside it
PAGE_MAX_DROP_PCT = 30


def draw(
    views: Mapping[str, MarketView],
    positions: Sequence[tuple[str, str, Position]],
    usd: Mapping[str, int],
    labels: tuple[Mapping[str, int], Mapping[str, str], int],
) -> RadarPicture:
    """The radar's picture and facts; ``labels`` = (decimals, market labels, block)."""
    from keeper.risk.plots import PlotData, render_png  # noqa: PLC0415 - matplotlib, on use
    from keeper.risk.radar import CurvePoint  # noqa: PLC0415

    decimals, names, block = labels
    risks = position_risks(views, positions, usd, decimals)
    curves = {
        names.get(m, m[:10]): [
            CurvePoint(p.drop_pct, p.price, p.positions, p.debt_base or 0)
            for p in curve(risks, view, PAGE_MAX_DROP_PCT)
        ]
        for m, view in sorted(views.items())
    }
    picture = render_png(
        PlotData(
            title=f"Morpho liquidation radar, block {block}",
            curves=curves,
            health=[("now", [r.health_factor for r in risks])],
        )
    )
    facts = {
        "block": str(block),
        "positions with debt": str(len(risks)),
        "liquidatable now": str(sum(r.drop_bps == 0 for r in risks)),
    }
    nearest = next((r for r in risks if r.drop_bps > 0), None)
    if nearest is not None:
        facts["nearest healthy position"] = (
            f"{nearest.account} in {names.get(nearest.market_id, nearest.market_id)} "
            f"({nearest.drop_bps / 100:.2f}% fall of its oracle price)"
        )
    return picture, facts


def radar_provider(
    market: MorphoLendingMarket, min_interval_s: float = 10.0
) -> Callable[[], Awaitable[RadarPicture]]:
    """An async callable for ``OpsServer(radar=...)``, drawing the markets' radar."""
    lock = asyncio.Lock()
    cache: list[tuple[float, RadarPicture]] = []

    async def provide() -> RadarPicture:
        async with lock:
            if cache and time.monotonic() - cache[0][0] < min_interval_s:
                return cache[0][1]
            tracker = market.tracker
            if tracker.block < 0:
                raise KeeperError("no block processed yet")
            views = {m: v for m in tracker.state.markets if (v := tracker.view(m)) is not None}
            assets = await market.assets()
            symbols = {a: i.label for a, i in assets.items()}
            names = {
                m: f"{symbols.get(v.params.collateral_token, '?')}/"
                f"{symbols.get(v.params.loan_token, '?')}"
                for m, v in views.items()
            }
            labels = ({a: i.decimals for a, i in assets.items()}, names, tracker.block)
            positions = list(tracker.borrowers())
            picture = await asyncio.to_thread(draw, views, positions, market.prices(), labels)
            cache[:] = [(time.monotonic(), picture)]
            return picture

    return provide
