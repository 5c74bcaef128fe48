"""The radar of a running keeper, for the status server's ``/radar`` page.

The provider takes the engine's current view and account states (objects the engine replaces
and never mutates, so a shallow copy is a consistent snapshot) in the event loop, then computes
the radar and draws it in a worker thread, at most once per ``min_interval_s``.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from keeper.errors import KeeperError
from keeper.risk.plots import PlotData, render_png
from keeper.risk.radar import radar
from keeper.risk.render import pct

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    from keeper.protocols.aave_v3.health import MarketView
    from keeper.protocols.aave_v3.state import AccountState
    from keeper.risk.engine import HealthEngine

RadarPicture = tuple[bytes, dict[str, str]]  # PNG, and a few facts to show beside it
PAGE_MAX_DROP_PCT = 30


def draw_radar(
    view: MarketView,
    accounts: Mapping[str, AccountState],
    symbols: Mapping[str, str],
    base_unit: int,
    max_drop_pct: int = PAGE_MAX_DROP_PCT,
) -> RadarPicture:
    """Compute the radar and draw it; return the PNG and a summary."""
    assets = [r.asset for r in view.reserves if r is not None]
    result = radar(accounts, view, assets, max_drop_pct)

    def name(asset: str) -> str:
        return symbols.get(asset) or asset[:10]

    picture = render_png(
        PlotData(
            title=f"Liquidation radar at timestamp {view.timestamp}",
            curves={name(a): points for a, points in result.curves.items()},
            health=[("now", result.health_factors())],
            base_unit=base_unit,
        )
    )
    nearest = next((r for r in result.accounts if not r.liquidatable), None)
    facts = {
        "timestamp": str(view.timestamp),
        "accounts with debt": str(len(result.accounts)),
        "liquidatable now": str(sum(r.liquidatable for r in result.accounts)),
    }
    if nearest is not None and nearest.distance is not None:
        facts["nearest healthy account"] = (
            f"{nearest.data.account} ({pct(nearest.distance, 2)}% fall of one asset)"
        )
    return picture, facts


def radar_provider(
    engine: Callable[[], HealthEngine],
    symbols: Mapping[str, str],
    base_unit: Callable[[], int],
    min_interval_s: float = 10.0,
) -> Callable[[], Awaitable[RadarPicture]]:
    """An async callable for ``OpsServer(radar=...)``, drawing the engine's radar."""
    lock = asyncio.Lock()
    cache: list[tuple[float, RadarPicture]] = []

    async def provide() -> RadarPicture:
        async with lock:
            if cache and time.monotonic() - cache[0][0] < min_interval_s:
                return cache[0][1]
            current = engine()
            view = current.view
            if view is None:
                raise KeeperError("no block processed yet")
            accounts = dict(current.accounts)
            picture = await asyncio.to_thread(
                draw_radar, view, accounts, dict(symbols), base_unit() or 10**8
            )
            cache[:] = [(time.monotonic(), picture)]
            return picture

    return provide
