"""What one ``liquidationCall`` does for a (collateral, debt) pair, by the Pool version's rules.

Pure. The inputs an account's liquidation is decided from (its holdings, the reserves' terms,
its eMode), the terms of one pair as LiquidationLogic takes them (bonus, prices, close-factor
cap), the 3.3 leftover rule with the slack a sent transaction needs, and :func:`predict_call`:
the amounts a call moves, or the error it reverts with. The choice among pairs and amounts is
:mod:`keeper.protocols.aave_v3.choice`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from keeper.protocols.aave_v3.liquidation import (
    MIN_LEFTOVER_BASE,
    LiquidationAmounts,
    is_liquidatable,
    leaves_dust_v33,
    liquidation_amounts,
    max_debt_to_cover,
    max_debt_to_cover_v33,
)
from keeper.protocols.aave_v3.math import (
    PERCENTAGE_FACTOR,
    RAY,
    mul_div_ceil,
    percent_mul,
    ray_div,
    ray_div_floor,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from keeper.protocols.aave_v3.versions import PoolRules

# On 3.3+ what a choice leaves behind (and the collateral a take-all call pays for) clears the
# Pool's bounds by this much, so that interest and price moves before inclusion cannot turn it
# into a MustNotLeaveDust revert (seen on the devnet: a liquidation planned before a time jump
# reverted with it when mined).
LEFTOVER_SLACK_BPS = 100


@dataclass(frozen=True, slots=True)
class Holding:
    """One reserve of the account: token units, interest included, at the plan's time."""

    asset: str
    collateral: int  # aToken balance
    debt: int  # variable (+ stable before 3.2)
    collateral_enabled: bool


@dataclass(frozen=True, slots=True)
class ReserveTerms:
    """What a liquidation needs of one reserve."""

    asset: str
    decimals: int
    price: int  # the oracle's price in base units
    liquidation_threshold: int
    liquidation_bonus: int
    protocol_fee: int
    usable: bool  # active and not paused
    in_grace: bool = False  # 3.1+: liquidations touching it revert for now


@dataclass(frozen=True, slots=True)
class EModeTerms:
    """The account's eMode category as a liquidation sees it."""

    category: int
    liquidation_bonus: int
    collateral_assets: frozenset[str]  # the assets its terms apply to
    price_source: str | None = None  # before 3.2: an asset whose price replaces both prices


@dataclass(frozen=True, slots=True)
class PairTerms:
    """One (collateral, debt) pair of an account: its holdings, terms, bonus and prices."""

    debt: Holding
    coll: Holding
    d_res: ReserveTerms
    c_res: ReserveTerms
    bonus: int
    c_price: int
    d_price: int


def value(amount: int, price: int, decimals: int) -> int:
    """Token units to base units, rounded down."""
    return int(amount * price // 10**decimals)


def in_grace(p: PairTerms) -> bool:
    """Whether a grace period holds back liquidations on either reserve of the pair."""
    return p.c_res.in_grace or p.d_res.in_grace


def pair_terms(
    debt: Holding, coll: Holding, reserves: Mapping[str, ReserveTerms], emode: EModeTerms | None
) -> PairTerms:
    """Bonus and prices as LiquidationLogic takes them for this pair (eMode applied).

    In eMode the category's bonus applies to a collateral of the category; before 3.2 its
    price source (if any) prices that collateral and, always, the debt.
    """
    c_res, d_res = reserves[coll.asset], reserves[debt.asset]
    bonus, c_price, d_price = c_res.liquidation_bonus, c_res.price, d_res.price
    if emode is not None and emode.category != 0:
        source_price = None
        if emode.price_source is not None and emode.price_source in reserves:
            source_price = reserves[emode.price_source].price
        if coll.asset in emode.collateral_assets:
            bonus = emode.liquidation_bonus
            if source_price is not None:
                c_price = source_price
        if source_price is not None:
            d_price = source_price
    return PairTerms(debt, coll, d_res, c_res, bonus, c_price, d_price)


def close_factor_cap(
    p: PairTerms, health_factor: int, total_debt_base: int, rules: PoolRules
) -> int:
    """The most of this debt one call may repay (the close factor of the Pool's version)."""
    if not rules.close_factor_on_total_debt:
        return max_debt_to_cover(p.debt.debt, health_factor)
    d_dec, c_dec = p.d_res.decimals, p.c_res.decimals
    debt_base = (
        mul_div_ceil(p.debt.debt, p.d_price, 10**d_dec)
        if rules.directed_rounding
        else value(p.debt.debt, p.d_price, d_dec)
    )
    return max_debt_to_cover_v33(
        user_reserve_debt=p.debt.debt,
        health_factor=health_factor,
        reserve_debt_base=debt_base,
        reserve_collateral_base=value(p.coll.collateral, p.c_price, c_dec),
        total_debt_base=total_debt_base,
        debt_price=p.d_price,
        debt_decimals=d_dec,
    )


def gain(p: PairTerms, a: LiquidationAmounts) -> int:
    """Bonus value at the oracle's own prices (not an eMode price source)."""
    return value(a.collateral_to_liquidator, p.c_res.price, p.c_res.decimals) - value(
        a.debt_to_repay, p.d_res.price, p.d_res.decimals
    )


def leaves_dust(p: PairTerms, a: LiquidationAmounts, rules: PoolRules) -> bool:
    """Whether the Pool refuses these amounts with ``MustNotLeaveDust`` (3.3+)."""
    return leaves_dust_v33(
        amounts=a,
        user_reserve_debt=p.debt.debt,
        user_collateral=p.coll.collateral,
        debt_price=p.d_price,
        debt_decimals=p.d_res.decimals,
        collateral_price=p.c_price,
        collateral_decimals=p.c_res.decimals,
        round_debt_up=rules.directed_rounding,
    )


def leftover_units(price: int, decimals: int) -> int:
    """Token units worth the 3.3 leftover threshold plus LEFTOVER_SLACK_BPS, rounded up.

    Leaving exactly the threshold behind would turn into ``MustNotLeaveDust`` on the smallest
    price move before inclusion.
    """
    base = MIN_LEFTOVER_BASE * (PERCENTAGE_FACTOR + LEFTOVER_SLACK_BPS) // PERCENTAGE_FACTOR
    return int(-(-base * 10**decimals // price)) + 1


def takes_all(p: PairTerms, a: LiquidationAmounts) -> bool:
    """Whether the call seizes all of the pair's collateral (the treasury's fee included)."""
    return a.collateral_to_liquidator + a.protocol_fee >= p.coll.collateral


def collateral_paid_for(p: PairTerms, debt: int) -> int:
    """Collateral (liquidator's and fee) that repaying ``debt`` buys: the Pool's maxCollateral."""
    c_unit, d_unit = 10**p.c_res.decimals, 10**p.d_res.decimals
    base = p.d_price * debt * c_unit // (p.c_price * d_unit)
    return percent_mul(base, p.bonus)


def predict_call(
    *,
    health_factor: int,
    total_debt_base: int,
    holdings: Sequence[Holding],
    reserves: Mapping[str, ReserveTerms],
    emode: EModeTerms | None,
    rules: PoolRules,
    collateral_asset: str,
    debt_asset: str,
    debt_to_cover: int,
    borrow_index: int = RAY,
) -> LiquidationAmounts | str:
    """What ``liquidationCall(collateral, debt, user, debt_to_cover, false)`` does.

    The amounts, or the name of the error it reverts with (as the Pool's checks come: grace
    period, health factor, collateral, debt, the leftover rule, then the burns: a debt or
    collateral amount that scales to 0 units is refused). ``borrow_index``: the debt reserve's
    normalized debt at the call.
    """
    by_asset = {h.asset: h for h in holdings}
    coll = by_asset.get(collateral_asset, Holding(collateral_asset, 0, 0, False))
    debt = by_asset.get(debt_asset, Holding(debt_asset, 0, 0, False))
    p = pair_terms(debt, coll, reserves, emode)
    error = None
    if rules.grace_period and in_grace(p):
        error = "LiquidationGraceSentinelCheckFailed"
    elif not is_liquidatable(health_factor):
        error = "HealthFactorNotBelowThreshold"
    elif not coll.collateral_enabled or not (
        p.c_res.liquidation_threshold > 0 or rules.zero_lt_collateral_counts
    ):
        error = "CollateralCannotBeLiquidated"
    elif debt.debt == 0:
        error = "SpecifiedCurrencyNotBorrowedByUser"
    if error is not None:
        return error
    amounts = liquidation_amounts(
        debt_to_cover=debt_to_cover,
        user_debt=debt.debt,
        health_factor=health_factor,
        user_collateral=coll.collateral,
        collateral_price=p.c_price,
        debt_price=p.d_price,
        collateral_decimals=p.c_res.decimals,
        debt_decimals=p.d_res.decimals,
        liquidation_bonus=p.bonus,
        liquidation_protocol_fee=p.c_res.protocol_fee,
        max_debt=close_factor_cap(p, health_factor, total_debt_base, rules),
        round_up_limited=rules.directed_rounding,
    )
    if rules.close_factor_on_total_debt and leaves_dust(p, amounts, rules):
        return "MustNotLeaveDust"
    scale = ray_div_floor if rules.directed_rounding else ray_div
    if scale(amounts.debt_to_repay, borrow_index) == 0 or amounts.collateral_to_liquidator == 0:
        return "InvalidBurnAmount"
    return amounts
