"""The ``Order`` our contract takes for an Aave plan: the liquidation, what it assumed, the bid.

The assumption is the borrower's scaled variable debt in the debt reserve as tracked (read with
``scaledBalanceOf`` at a pinned block): interest never lowers it, only a repayment or a
liquidation does, so less on chain when the transaction runs means someone else got there
first, and the contract stops with ``PlanStale()`` before touching the Pool. The bound is 1 bp
below the tracked figure, so that a read one unit off never stops a good plan; repayments that
small go on to the Pool's own checks. Pure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

    from keeper.protocols.aave_v3.planner import AavePlan
    from keeper.protocols.aave_v3.state import AccountState, ReserveState

STALE_TOLERANCE_DEN = 10_000  # the early stop's bound: 1 bp under the tracked scaled debt
Order = tuple[str, str, str, int, str, int, int]


def order(
    plan: AavePlan,
    reserves: Mapping[str, ReserveState],
    accounts: Mapping[str, AccountState],
    bid_wei: int,
) -> Order:
    """(collateral, debt, user, debtToCover, debtToken, minScaledDebt, bid) for the contract."""
    p = plan.payload
    reserve = reserves[p.debt_asset]
    state = accounts.get(plan.account)
    scaled = 0 if state is None else state.scaled_variable_debt.get(reserve.index, 0)
    return (
        p.collateral_asset,
        p.debt_asset,
        plan.account,
        p.debt_to_cover,
        reserve.variable_debt_token,
        scaled - scaled // STALE_TOLERANCE_DEN,
        bid_wei,
    )
