"""Choosing the (collateral, debt) pair and amount for a liquidation paid from inventory.

Pure: it gets the account's balances, the reserves, prices and the keeper's inventory, and
returns the most valuable plan, or a Skip naming the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from keeper.protocols.aave_v3.liquidation import (
    LiquidationAmounts,
    is_liquidatable,
    liquidation_amounts,
    max_debt_to_cover,
    value_in_base,
)
from keeper.strategy.plan import LiquidationPlan, Skip

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from keeper.protocols.aave_v3.reads import ReserveInfo, UserReserve


@dataclass(frozen=True)
class EModeTerms:
    """The liquidation bonus and price source an eMode category substitutes (if any)."""

    category: int
    liquidation_bonus: int
    price_source: str | None  # asset whose oracle price replaces both prices, when set


def choose_liquidation(
    *,
    account: str,
    health_factor: int,
    block: int,
    positions: Sequence[UserReserve],
    reserves: Mapping[str, ReserveInfo],
    prices: Mapping[str, int],
    inventory: Mapping[str, int],
    min_profit_base: int,
    gas_cost_base: int = 0,
    emode: EModeTerms | None = None,
    reserve_emode: Mapping[str, int] | None = None,
) -> LiquidationPlan | Skip:
    """The pair and amount with the highest expected profit that inventory can pay for.

    Profit is the collateral's value minus the debt repaid, at oracle prices, minus
    ``gas_cost_base`` (the estimated gas, in the same base units); below ``min_profit_base``
    the account is skipped.
    """
    debts = [p for p in positions if p.debt > 0 and _usable(reserves.get(p.asset))]
    collaterals = [p for p in positions if _seizable(p, reserves.get(p.asset))]
    payable = [d for d in debts if inventory.get(d.asset, 0) > 0]
    reason = (
        "healthy"
        if not is_liquidatable(health_factor)
        else "no debt in an active reserve"
        if not debts
        else "no seizable collateral"
        if not collaterals
        else "no inventory of any debt asset"
        if not payable
        else None
    )
    if reason is not None:
        return Skip(account, reason)
    plans = [
        _evaluate(
            account=account,
            health_factor=health_factor,
            block=block,
            debt=debt,
            coll=coll,
            cover=min(max_debt_to_cover(debt.debt, health_factor), inventory[debt.asset]),
            reserves=reserves,
            prices=prices,
            emode=emode,
            reserve_emode=reserve_emode or {},
        )
        for debt in payable
        for coll in collaterals
    ]
    candidates = [p for p in plans if p is not None]
    if not candidates:
        return Skip(account, "collateral dust only: nothing to seize (bad debt)")
    best = max(candidates, key=lambda p: p.expected_profit_base)
    net = best.expected_profit_base - gas_cost_base
    if net < min_profit_base:
        return Skip(
            account,
            f"profit {best.expected_profit_base} minus gas {gas_cost_base} below minimum "
            f"{min_profit_base}",
        )
    return replace(best, expected_profit_base=net, gross_profit_base=best.expected_profit_base)


def _seizable(position: UserReserve, reserve: ReserveInfo | None) -> bool:
    return (
        position.collateral > 0
        and position.used_as_collateral
        and reserve is not None
        and _usable(reserve)
        and reserve.liquidation_threshold > 0
    )


def _usable(reserve: ReserveInfo | None) -> bool:
    return reserve is not None and reserve.active and not reserve.paused


def _evaluate(
    *,
    account: str,
    health_factor: int,
    block: int,
    debt: UserReserve,
    coll: UserReserve,
    cover: int,
    reserves: Mapping[str, ReserveInfo],
    prices: Mapping[str, int],
    emode: EModeTerms | None,
    reserve_emode: Mapping[str, int],
) -> LiquidationPlan | None:
    c_res, d_res = reserves[coll.asset], reserves[debt.asset]
    bonus = c_res.liquidation_bonus
    c_price, d_price = prices.get(coll.asset, 0), prices.get(debt.asset, 0)
    if (
        emode is not None
        and emode.category != 0
        and reserve_emode.get(coll.asset) == emode.category
    ):
        bonus = emode.liquidation_bonus
        if emode.price_source is not None:
            c_price = d_price = prices.get(emode.price_source, 0)
    if c_price <= 0 or d_price <= 0 or cover <= 0:
        return None

    def at(amount: int) -> LiquidationAmounts:
        return liquidation_amounts(
            debt_to_cover=amount,
            user_debt=debt.debt,
            health_factor=health_factor,
            user_collateral=coll.collateral,
            collateral_price=c_price,
            debt_price=d_price,
            collateral_decimals=c_res.decimals,
            debt_decimals=d_res.decimals,
            liquidation_bonus=bonus,
            liquidation_protocol_fee=c_res.liquidation_protocol_fee,
        )

    amounts = at(cover)
    limited = amounts.debt_to_repay != cover
    if limited:
        # Collateral-limited: we will pass the smaller debt amount explicitly, and the Pool then
        # derives the collateral from that amount (a rounding step differs from the limited
        # path), so predict what it does with the amount we actually send.
        amounts = at(amounts.debt_to_repay)
    if amounts.debt_to_repay == 0 or amounts.collateral_to_liquidator == 0:
        return None
    profit = value_in_base(amounts.collateral_to_liquidator, prices[coll.asset], c_res.decimals) - (
        value_in_base(amounts.debt_to_repay, prices[debt.asset], d_res.decimals)
    )
    return LiquidationPlan(
        account=account,
        collateral_asset=coll.asset,
        debt_asset=debt.asset,
        debt_to_cover=amounts.debt_to_repay,
        expected_collateral=amounts.collateral_to_liquidator,
        expected_profit_base=profit,
        health_factor=health_factor,
        block=block,
        collateral_limited=limited,
    )
