"""Health of a Morpho Blue position, with ``Morpho._isHealthy``'s rounding.

``borrowed`` is the borrow shares to assets rounded up; ``maxBorrow`` is the collateral priced
at the oracle (36-decimal scale) rounded down, times the LLTV rounded down. Healthy iff
``maxBorrow >= borrowed``. The health factor the keeper reports is ``maxBorrow * 1e18 /
borrowed`` rounded down, so it is below 1e18 exactly when Morpho calls the position unhealthy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from keeper.protocols.morpho_blue.math import WAD, mul_div_down, w_mul_down

if TYPE_CHECKING:
    from keeper.protocols.morpho_blue.types import MarketTotals, Position

ORACLE_PRICE_SCALE = 10**36
# No debt: the health factor is unbounded; reported as the largest uint256, as Aave does.
NO_DEBT_HEALTH = 2**256 - 1


def max_borrow(collateral: int, price: int, lltv: int) -> int:
    """What the collateral allows to borrow in loan units (both roundings down)."""
    return w_mul_down(mul_div_down(collateral, price, ORACLE_PRICE_SCALE), lltv)


def is_healthy(position: Position, totals: MarketTotals, price: int, lltv: int) -> bool:
    """``Morpho._isHealthy(marketParams, id, borrower, collateralPrice)`` on accrued totals."""
    return max_borrow(position.collateral, price, lltv) >= position.borrowed(totals)


def health_factor(position: Position, totals: MarketTotals, price: int, lltv: int) -> int:
    """``maxBorrow * 1e18 / borrowed`` rounded down; ``NO_DEBT_HEALTH`` without debt."""
    borrowed = position.borrowed(totals)
    if borrowed == 0:
        return NO_DEBT_HEALTH
    return max_borrow(position.collateral, price, lltv) * WAD // borrowed
