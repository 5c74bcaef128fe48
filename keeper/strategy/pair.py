"""Choosing the (collateral, debt) pair and amount for a liquidation paid from inventory.

Pure: it gets the account's balances, the reserves, prices and the keeper's inventory, and
returns the most valuable plan, or a Skip naming the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

from keeper.protocols.aave_v3.liquidation import (
    MIN_LEFTOVER_BASE,
    LiquidationAmounts,
    is_liquidatable,
    leaves_dust_v33,
    liquidation_amounts,
    max_debt_to_cover,
    max_debt_to_cover_v33,
    value_in_base,
)
from keeper.strategy.plan import LiquidationPlan, Skip

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from keeper.protocols.aave_v3.reads import ReserveInfo, UserReserve


# Collateral units (of the smallest denomination) a v3.0 liquidation leaves the account, so
# that its scaled burn never rounds past the balance; covers liquidity indexes up to ~9.
SEIZE_MARGIN = 10


@dataclass(frozen=True)
class PoolRules:
    """Which Pool version's liquidation rules apply, and what v3.3 needs to apply them."""

    version: Literal["3.0", "3.3"] = "3.0"
    total_debt_base: int = 0  # the account's total debt (getUserAccountData)


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
    rules: PoolRules | None = None,
    liquidity: Mapping[str, int] | None = None,
) -> LiquidationPlan | Skip:
    """The pair and amount with the highest expected profit that inventory can pay for.

    Profit is the collateral's value minus the debt repaid, at oracle prices, minus
    ``gas_cost_base`` (the estimated gas, in the same base units); below ``min_profit_base``
    the account is skipped. ``liquidity`` is the underlying each collateral reserve can pay out
    (the Pool sends the seized collateral from it; a liquidation asking more reverts): the
    amount is cut to fit. None: not checked.
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
            available=inventory[debt.asset],
            rules=rules,
            reserves=reserves,
            prices=prices,
            emode=emode,
            reserve_emode=reserve_emode or {},
            liquidity=None if liquidity is None else liquidity.get(coll.asset, 0),
        )
        for debt in payable
        for coll in collaterals
    ]
    candidates = [p for p in plans if p is not None]
    if not candidates:
        if liquidity is not None and all(liquidity.get(c.asset, 0) <= 0 for c in collaterals):
            return Skip(account, "no liquidity in its collateral reserves to pay the collateral")
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


def _terms(
    coll: UserReserve,
    debt: UserReserve,
    c_res: ReserveInfo,
    prices: Mapping[str, int],
    emode: EModeTerms | None,
    reserve_emode: Mapping[str, int],
) -> tuple[int, int, int]:
    """(liquidation bonus, collateral price, debt price), eMode applied."""
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
    return bonus, c_price, d_price


def _max_debt(
    debt: UserReserve,
    coll: UserReserve,
    health_factor: int,
    c_res: ReserveInfo,
    d_res: ReserveInfo,
    c_price: int,
    d_price: int,
    rules: PoolRules | None,
) -> int:
    """The close-factor cap of the Pool version in force."""
    if rules is None or rules.version != "3.3":
        return max_debt_to_cover(debt.debt, health_factor)
    return max_debt_to_cover_v33(
        user_reserve_debt=debt.debt,
        health_factor=health_factor,
        reserve_debt_base=value_in_base(debt.debt, d_price, d_res.decimals),
        reserve_collateral_base=value_in_base(coll.collateral, c_price, c_res.decimals),
        total_debt_base=rules.total_debt_base,
        debt_price=d_price,
        debt_decimals=d_res.decimals,
    )


def _final_amounts(
    at: Callable[[int], LiquidationAmounts],
    dust: Callable[[LiquidationAmounts], bool],
    cover: int,
    available: int,
    liquidity: int | None,
    seize_at_most: int,
) -> tuple[LiquidationAmounts, bool] | None:
    """What the Pool will do with the amount we send, and whether the collateral limits it.

    The collateral taken in all (ours and the treasury's) stays within ``seize_at_most``, and
    ours within ``liquidity`` when given: past either, the repayment is cut to fit.
    """
    amounts = at(min(cover, available))
    limited = amounts.debt_to_repay != cover
    if limited:
        # Collateral-limited: we will pass the smaller debt amount explicitly, and the Pool then
        # derives the collateral from that amount (a rounding step differs from the limited
        # path), so predict what it does with the amount we actually send.
        amounts = at(amounts.debt_to_repay)

    def fits(a: LiquidationAmounts) -> bool:
        return a.collateral_to_liquidator + a.protocol_fee <= seize_at_most and (
            liquidity is None or a.collateral_to_liquidator <= liquidity
        )

    if not fits(amounts):
        # An explicit smaller amount: the Pool takes its exact path, not the limited one.
        fitted = _largest_fitting(at, dust, amounts.debt_to_repay, fits)
        if fitted is None:
            return None
        amounts = fitted
    if amounts.debt_to_repay == 0 or amounts.collateral_to_liquidator == 0:
        return None
    return amounts, limited


def _largest_fitting(
    at: Callable[[int], LiquidationAmounts],
    dust: Callable[[LiquidationAmounts], bool],
    most: int,
    fits: Callable[[LiquidationAmounts], bool],
) -> LiquidationAmounts | None:
    """The largest repayment up to ``most`` whose amounts fit.

    Collateral grows with the repayment, so a bisection finds it exactly. None when nothing
    fits, or what fits leaves dust the Pool refuses.
    """
    low, high = 0, most  # at(low) fits; at(high) does not
    while high - low > 1:
        middle = (low + high) // 2
        if fits(at(middle)):
            low = middle
        else:
            high = middle
    if low == 0 or dust(at(low)):
        return None
    return at(low)


def _evaluate(
    *,
    account: str,
    health_factor: int,
    block: int,
    debt: UserReserve,
    coll: UserReserve,
    available: int,
    rules: PoolRules | None,
    reserves: Mapping[str, ReserveInfo],
    prices: Mapping[str, int],
    emode: EModeTerms | None,
    reserve_emode: Mapping[str, int],
    liquidity: int | None = None,
) -> LiquidationPlan | None:
    c_res, d_res = reserves[coll.asset], reserves[debt.asset]
    bonus, c_price, d_price = _terms(coll, debt, c_res, prices, emode, reserve_emode)
    if c_price <= 0 or d_price <= 0:
        return None
    v33 = rules is not None and rules.version == "3.3"
    max_debt = _max_debt(debt, coll, health_factor, c_res, d_res, c_price, d_price, rules)
    cover = min(max_debt, available)
    if cover <= 0:
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
            max_debt=max_debt,
        )

    def dust(a: LiquidationAmounts) -> bool:
        return v33 and leaves_dust_v33(
            amounts=a,
            user_reserve_debt=debt.debt,
            user_collateral=coll.collateral,
            debt_price=d_price,
            debt_decimals=d_res.decimals,
            collateral_price=c_price,
            collateral_decimals=c_res.decimals,
        )

    if dust(at(cover)):
        # v3.3 refuses a partial liquidation that leaves dust: repay it all if allowed, else
        # leave just over the threshold of debt behind.
        keep = -(-(MIN_LEFTOVER_BASE + 1) * 10**d_res.decimals // d_price)
        cover = debt.debt if max_debt >= debt.debt and available >= debt.debt else debt.debt - keep
        if cover <= 0 or dust(at(min(cover, available))):
            return None
    # Pool v3.0 can revert when a liquidation takes the whole collateral balance: the burn and
    # the fee transfer each round their scaled amount up, and together they can exceed the
    # balance by one (seen on the devnet: panic 0x11, depending on the block's index). Leave a
    # few units; v3.3 requires taking it all when the rest would be dust.
    seize_at_most = coll.collateral - (0 if v33 else SEIZE_MARGIN)
    found = _final_amounts(at, dust, cover, available, liquidity, seize_at_most)
    if found is None:
        return None
    amounts, limited = found
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
