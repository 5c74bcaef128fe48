"""``keeper scan`` for Morpho Blue: every borrowing position's exact health at the head.

One JSON line per position with borrow shares: ``account``, ``market`` (the id), the health
factor (``maxBorrow * 1e18 / borrowed`` rounded down, below 1 exactly when Morpho would let it
be liquidated), the debt (shares to assets rounded up, interest accrued to the block) and the
collateral, in token units.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from keeper.core.display import format_wad
from keeper.protocols.morpho_blue.connect import connect
from keeper.protocols.morpho_blue.health import health_factor, max_borrow
from keeper.protocols.morpho_blue.tracker import MorphoTracker

if TYPE_CHECKING:
    from keeper.settings import Settings


@dataclass(frozen=True)
class MorphoScanRow:
    """One position's line of output."""

    account: str
    market: str
    health_factor: int
    borrowed: int
    max_borrow: int
    collateral: int

    def as_json(self) -> dict[str, object]:
        """The JSON object printed for this row."""
        return {
            "account": self.account,
            "market": self.market,
            "health_factor": format_wad(self.health_factor),
            "borrow_assets": self.borrowed,
            "max_borrow": self.max_borrow,
            "collateral": self.collateral,
        }


@dataclass
class MorphoScanResult:
    """Rows below the bound; markets whose price or rate could not be read (not shown)."""

    block: int
    accounts: int
    rows: list[MorphoScanRow]
    unreadable: list[str]


async def scan(settings: Settings, below: int) -> MorphoScanResult:
    """Positions with health factor < ``below`` (wad) at the head, lowest first."""
    client, _, morpho = await connect(settings)
    try:
        tracker = MorphoTracker(
            client,
            morpho,
            start_block=settings.start_block,
            log_range=settings.log_range,
            batch_size=settings.batch_size,
            follows=settings.follows,
        )
        await tracker.start()
    finally:
        await client.close()
    rows = []
    count = 0
    for market_id, account, position in tracker.borrowers():
        count += 1
        view = tracker.view(market_id)
        if view is None:
            continue
        borrowed = position.borrowed(view.totals)
        limit = max_borrow(position.collateral, view.price, view.params.lltv)
        hf = health_factor(position, view.totals, view.price, view.params.lltv)
        if hf < below:
            rows.append(MorphoScanRow(account, market_id, hf, borrowed, limit, position.collateral))
    rows.sort(key=lambda r: (r.health_factor, r.market, r.account))
    return MorphoScanResult(tracker.block, count, rows, sorted(tracker.unpriced))
