"""Interest accrual exactly as ``Morpho._accrueInterest`` does it, given the IRM's rate.

The IRM is any contract (``borrowRate`` may change its own state); the keeper reads
``borrowRateView(marketParams, market)`` at the block with the totals it tracks and accrues
here. The fee recipient's shares are minted on the supply side, priced as if the fee had not
yet been added to the supply (Morpho subtracts it back before converting).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from keeper.protocols.morpho_blue.math import (
    sub,
    to_shares_down,
    to_uint128,
    w_mul_down,
    w_taylor_compounded,
)

if TYPE_CHECKING:
    from keeper.protocols.morpho_blue.types import MarketTotals


@dataclass(frozen=True)
class Accrual:
    """What one accrual did: the new totals, the interest and the fee recipient's new shares."""

    totals: MarketTotals
    interest: int
    fee_shares: int


def accrue(
    totals: MarketTotals, borrow_rate: int, timestamp: int, *, has_irm: bool = True
) -> Accrual:
    """The totals accrued to ``timestamp`` at ``borrow_rate`` (WAD per second).

    Nothing changes when no time passed; a market without an IRM only moves ``last_update``.
    """
    elapsed = sub(timestamp, totals.last_update)
    if elapsed == 0:
        return Accrual(totals, 0, 0)
    if not has_irm:
        return Accrual(totals.with_(last_update=timestamp), 0, 0)
    interest = w_mul_down(totals.total_borrow_assets, w_taylor_compounded(borrow_rate, elapsed))
    to_uint128(interest)
    supply_assets = totals.total_supply_assets + interest
    fee_shares = 0
    if totals.fee != 0:
        fee_amount = w_mul_down(interest, totals.fee)
        fee_shares = to_shares_down(
            fee_amount, supply_assets - fee_amount, totals.total_supply_shares
        )
        to_uint128(fee_shares)
    new = totals.with_(
        total_borrow_assets=to_uint128(totals.total_borrow_assets + interest),
        total_supply_assets=to_uint128(supply_assets),
        total_supply_shares=to_uint128(totals.total_supply_shares + fee_shares),
        last_update=timestamp,
    )
    return Accrual(new, interest, fee_shares)
