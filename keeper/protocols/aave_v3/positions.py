"""An account's liquidation context from the tracked state: no RPC.

The token balances are those the Pool itself computes at the view's timestamp (aToken and debt
token ``balanceOf``, with the Pool version's rounding), so a plan made from them equals one
made from ``PoolDataProvider.getUserReserveData`` at that block, without the round trip.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from keeper.protocols.aave_v3.config import is_borrowing, is_using_as_collateral
from keeper.protocols.aave_v3.math import ray_mul, ray_mul_ceil, ray_mul_floor
from keeper.protocols.aave_v3.pair_rules import EModeTerms, Holding, ReserveTerms

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from keeper.protocols.aave_v3.health import MarketView
    from keeper.protocols.aave_v3.state import AccountState, EModeCategory, ReserveState


def holdings(account: AccountState, view: MarketView) -> list[Holding]:
    """Each reserve the account uses, in token units at ``view.timestamp``."""
    directed = view.rules.directed_rounding
    collateral_of = ray_mul_floor if directed else ray_mul
    debt_of = ray_mul_ceil if directed else ray_mul
    out = []
    for index, reserve in enumerate(view.reserves):
        if reserve is None:
            continue
        enabled = is_using_as_collateral(account.user_config, index)
        borrowing = is_borrowing(account.user_config, index)
        if not enabled and not borrowing:
            continue
        scaled = account.scaled_collateral.get(index, 0)
        collateral = collateral_of(scaled, reserve.normalized_income) if enabled else 0
        debt = 0
        if borrowing:
            variable = account.scaled_variable_debt.get(index, 0)
            debt = debt_of(variable, reserve.normalized_debt) if variable else 0
            stable = account.stable_debt.get(index)
            if stable is not None:
                debt += stable.balance(view.timestamp)
        out.append(Holding(reserve.asset, collateral, debt, enabled))
    return out


def reserve_terms(
    reserves: Iterable[ReserveState], prices: Mapping[str, int], now: int
) -> dict[str, ReserveTerms]:
    """Every reserve's liquidation terms with these prices, grace periods at time ``now``."""
    out = {}
    for r in reserves:
        c = r.config
        out[r.asset] = ReserveTerms(
            asset=r.asset,
            decimals=c.decimals,
            price=prices.get(r.asset, 0),
            liquidation_threshold=c.liquidation_threshold,
            liquidation_bonus=c.liquidation_bonus,
            protocol_fee=c.liquidation_protocol_fee,
            usable=c.active and not c.paused,
            in_grace=r.in_grace_period(now),
        )
    return out


def emode_terms(
    account: AccountState,
    emodes: Mapping[int, EModeCategory],
    reserves: Iterable[ReserveState],
) -> EModeTerms | None:
    """The account's eMode category as a liquidation applies it (None outside eMode)."""
    if account.emode == 0:
        return None
    category = emodes.get(account.emode)
    if category is None:
        return None
    members = frozenset(
        r.asset for r in reserves if category.has_collateral(r.index, r.config.emode_category)
    )
    return EModeTerms(category.id, category.liquidation_bonus, members, category.price_source)


def grace_wait(
    account: AccountState, view: MarketView, reserves: Mapping[str, ReserveState]
) -> int | None:
    """Until when a liquidation of the account must wait for a grace period (3.1+).

    Every (debt, collateral) pair of the account touches a reserve in its grace period: the
    earliest time a pair opens is returned as the ``liquidationGracePeriodUntil`` to wait out;
    None when some pair is open now (or the pool has no grace periods).
    """
    if not view.rules.grace_period:
        return None
    now = view.timestamp
    by_asset = {r.asset: r for r in reserves.values()}
    rows = holdings(account, view)
    debts = [by_asset[h.asset] for h in rows if h.debt > 0 and h.asset in by_asset]
    colls = [by_asset[h.asset] for h in rows if h.collateral > 0 and h.asset in by_asset]
    ends = [
        max(d.grace_until, c.grace_until) if d.in_grace_period(now) or c.in_grace_period(now) else 0
        for d in debts
        for c in colls
    ]
    if not ends or min(ends) == 0:
        return None
    return min(ends)
