"""The liquidation rules of the Pool (LiquidationLogic), as pure integer functions.

v3.0's rules, and the 3.3+ additions below them (close factor on the total debt, 100% for
small positions, the leftover-dust revert), with 3.5's rounding where a flag asks for it.
Which pair and amount to choose is :mod:`keeper.protocols.aave_v3.choice`.
"""

from __future__ import annotations

from dataclasses import dataclass

from keeper.protocols.aave_v3.math import (
    PERCENTAGE_FACTOR,
    WAD,
    mul_div_ceil,
    percent_div,
    percent_div_ceil,
    percent_mul,
    ray_div,
    ray_div_ceil,
    ray_mul,
    ray_mul_floor,
)

DEFAULT_LIQUIDATION_CLOSE_FACTOR = 5_000  # bps, while HF > the threshold below
MAX_LIQUIDATION_CLOSE_FACTOR = 10_000
CLOSE_FACTOR_HF_THRESHOLD = 950_000_000_000_000_000  # 0.95 wad


@dataclass(frozen=True)
class LiquidationAmounts:
    """What one liquidationCall would move, in token units."""

    debt_to_repay: int  # debt asset pulled from the liquidator
    collateral_to_liquidator: int  # collateral asset sent to the liquidator
    protocol_fee: int  # collateral asset sent to the treasury


def is_liquidatable(health_factor: int) -> bool:
    """The Pool accepts a liquidation only below a health factor of 1."""
    return health_factor < WAD


def close_factor(health_factor: int) -> int:
    """Share of one debt reserve that may be repaid at once (bps)."""
    if health_factor > CLOSE_FACTOR_HF_THRESHOLD:
        return DEFAULT_LIQUIDATION_CLOSE_FACTOR
    return MAX_LIQUIDATION_CLOSE_FACTOR


def max_debt_to_cover(user_debt: int, health_factor: int) -> int:
    """The most of ``user_debt`` (stable + variable, one reserve) the Pool lets one call repay."""
    return percent_mul(user_debt, close_factor(health_factor))


def liquidation_amounts(
    *,
    debt_to_cover: int,
    user_debt: int,
    health_factor: int,
    user_collateral: int,
    collateral_price: int,
    debt_price: int,
    collateral_decimals: int,
    debt_decimals: int,
    liquidation_bonus: int,
    liquidation_protocol_fee: int,
    max_debt: int | None = None,
    round_up_limited: bool = False,
) -> LiquidationAmounts:
    """What ``liquidationCall(..., debt_to_cover, false)`` would do, to the unit.

    Follows LiquidationLogic.executeLiquidationCall and _calculateAvailableCollateralToLiquidate
    step by step, including the order of the integer divisions. ``round_up_limited`` (3.5+):
    the debt a collateral-limited call needs is ``percentDivCeil`` (half-up before).
    """
    if collateral_price <= 0 or debt_price <= 0:
        raise ValueError("prices must be positive")
    if max_debt is None:  # v3.0.x close factor; v3.3 callers pass their own cap
        max_debt = max_debt_to_cover(user_debt, health_factor)
    actual_debt = min(debt_to_cover, max_debt)
    debt_unit = 10**debt_decimals
    collateral_unit = 10**collateral_decimals
    base_collateral = (debt_price * actual_debt * collateral_unit) // (collateral_price * debt_unit)
    max_collateral = percent_mul(base_collateral, liquidation_bonus)
    if max_collateral > user_collateral:
        collateral_amount = user_collateral
        divide = percent_div_ceil if round_up_limited else percent_div
        debt_needed = divide(
            (collateral_price * collateral_amount * debt_unit) // (debt_price * collateral_unit),
            liquidation_bonus,
        )
    else:
        collateral_amount = max_collateral
        debt_needed = actual_debt
    fee = 0
    if liquidation_protocol_fee != 0:
        bonus_collateral = collateral_amount - percent_div(collateral_amount, liquidation_bonus)
        fee = percent_mul(bonus_collateral, liquidation_protocol_fee)
    return LiquidationAmounts(debt_needed, collateral_amount - fee, fee)


def protocol_fee_transferred(
    *,
    protocol_fee: int,
    collateral_to_liquidator: int,
    user_scaled_collateral: int,
    liquidity_index: int,
    directed_rounding: bool = False,
) -> int:
    """The protocol fee the treasury really receives.

    The Pool clamps it to what is left of the user's scaled aToken balance after the
    liquidator's share is burned (1 wei of ray imprecision on exhausted positions). 3.5+
    burns and transfers scaled amounts rounded up, and values the rest rounded down.
    """
    if protocol_fee == 0:
        return 0
    scale = ray_div_ceil if directed_rounding else ray_div
    remaining = user_scaled_collateral - scale(collateral_to_liquidator, liquidity_index)
    if scale(protocol_fee, liquidity_index) > remaining:
        value = ray_mul_floor if directed_rounding else ray_mul
        return value(remaining, liquidity_index)
    return protocol_fee


def value_in_base(amount: int, price: int, decimals: int) -> int:
    """Token units to oracle base units, rounded down (as the Pool values balances)."""
    return int(amount * price // 10**decimals)


__all__ = [
    "PERCENTAGE_FACTOR",
    "LiquidationAmounts",
    "close_factor",
    "is_liquidatable",
    "liquidation_amounts",
    "max_debt_to_cover",
    "protocol_fee_transferred",
    "value_in_base",
]


# Pool v3.3+ (aave-v3-origin) rules. Amounts in the oracle's base currency (USD x 1e8).
MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD = 2_000 * 10**8
MIN_LEFTOVER_BASE = MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD // 2


def max_debt_to_cover_v33(
    *,
    user_reserve_debt: int,
    health_factor: int,
    reserve_debt_base: int,
    reserve_collateral_base: int,
    total_debt_base: int,
    debt_price: int,
    debt_decimals: int,
) -> int:
    """The most of one reserve's debt a v3.3 Pool lets one call repay.

    The whole reserve debt, unless the position is large (this debt and this collateral both
    worth >= 2,000 USD) and HF > 0.95; then at most half of the account's *total* debt.
    """
    if (
        reserve_collateral_base >= MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD
        and reserve_debt_base >= MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD
        and health_factor > CLOSE_FACTOR_HF_THRESHOLD
    ):
        half_total = percent_mul(total_debt_base, DEFAULT_LIQUIDATION_CLOSE_FACTOR)
        if reserve_debt_base > half_total:
            return int(half_total * 10**debt_decimals // debt_price)
    return user_reserve_debt


def leaves_dust_v33(
    *,
    amounts: LiquidationAmounts,
    user_reserve_debt: int,
    user_collateral: int,
    debt_price: int,
    debt_decimals: int,
    collateral_price: int,
    collateral_decimals: int,
    round_debt_up: bool = False,
) -> bool:
    """True when a v3.3+ Pool would revert ``MustNotLeaveDust``.

    That is a partial liquidation leaving under 1,000 USD of this debt or of this collateral;
    taking all of either is always allowed. ``round_debt_up`` (3.5+): the debt left is valued
    with ``mulDivCeil``.
    """
    taken = amounts.collateral_to_liquidator + amounts.protocol_fee
    if amounts.debt_to_repay >= user_reserve_debt or taken >= user_collateral:
        return False
    left = user_reserve_debt - amounts.debt_to_repay
    debt_left = (
        mul_div_ceil(left, debt_price, 10**debt_decimals)
        if round_debt_up
        else left * debt_price // 10**debt_decimals
    )
    coll_left = int((user_collateral - taken) * collateral_price // 10**collateral_decimals)
    return debt_left < MIN_LEFTOVER_BASE or coll_left < MIN_LEFTOVER_BASE
