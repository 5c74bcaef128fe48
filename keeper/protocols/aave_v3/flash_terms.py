"""The economics of a zero-capital liquidation through the flash liquidator. Pure.

The debt is flash-borrowed (premium on top), the seized collateral is sold on Uniswap V3 for the
debt asset; what is left after repaying the loan and premium is the profit, in debt-asset units.
The quote comes from the chain (QuoterV2 at the current block); a slippage bound turns it into
the swap's minimum output; and the on-chain ``minProfit`` is set so that the contract itself
refuses a liquidation that would not pay the minimum profit plus the gas.
"""

from __future__ import annotations

from dataclasses import dataclass

from keeper.protocols.aave_v3.math import PERCENTAGE_FACTOR, percent_mul, percent_mul_ceil


@dataclass(frozen=True)
class FlashTerms:
    """What to pass to FlashLiquidator.liquidate, and what it should yield."""

    swap_out_quote: int  # debt-asset units the swap returns at the quote
    min_swap_out: int  # the quote less the slippage bound
    premium: int  # the flash-loan premium, debt-asset units
    profit_at_quote: int  # debt-asset units, before gas
    profit_at_min: int  # debt-asset units, before gas, at the worst accepted swap
    min_profit: int  # the contract's minProfit: the minimum profit plus gas, debt-asset units
    bid_cost: int = 0  # the coinbase bid's worth, debt-asset units (the contract adds it)


def flash_terms(
    *,
    debt_to_cover: int,
    collateral_received: int,
    same_asset: bool,
    quote_out: int,
    premium_bps: int,
    slippage_bps: int,
    debt_price: int,
    debt_decimals: int,
    min_profit_base: int,
    gas_cost_base: int,
    bid_cost_base: int = 0,
    debt_repaid: int | None = None,
    premium_rounds_up: bool = False,
) -> FlashTerms:
    """Terms of one flash liquidation; ``quote_out`` is ignored when collateral is the debt.

    ``debt_to_cover`` is borrowed; the Pool may pull less (``debt_repaid``: all of a debt that
    grows until inclusion, on 3.3+), and what it leaves stays ours. ``premium_rounds_up``: the
    Pool's flash premium is ``percentMulCeil`` (aave-v3-origin 3.5+), half-up before.
    ``bid_cost_base``: what a coinbase bid paid with the liquidation is worth (base units).
    """
    out = collateral_received if same_asset else quote_out
    min_out = out if same_asset else out * (PERCENTAGE_FACTOR - slippage_bps) // PERCENTAGE_FACTOR
    premium = (
        percent_mul_ceil(debt_to_cover, premium_bps)
        if premium_rounds_up
        else percent_mul(debt_to_cover, premium_bps)
    )
    owed = (debt_to_cover if debt_repaid is None else debt_repaid) + premium
    floor_base = max(0, min_profit_base) + gas_cost_base
    # Rounded up: the on-chain floor must never be below what the keeper needs.
    floor_units = _units_up(floor_base, debt_price, debt_decimals)
    return FlashTerms(
        swap_out_quote=out,
        min_swap_out=min_out,
        premium=premium,
        profit_at_quote=out - owed,
        profit_at_min=min_out - owed,
        min_profit=floor_units,
        bid_cost=_units_up(max(0, bid_cost_base), debt_price, debt_decimals),
    )


def _units_up(base: int, price: int, decimals: int) -> int:
    """Base units to token units, rounded up: an on-chain floor never below what is needed."""
    return -(-base * 10**decimals // price) if price > 0 else 0


def units_to_base(amount: int, price: int, decimals: int) -> int:
    """Token units to base units, rounded toward zero."""
    sign = -1 if amount < 0 else 1
    return int(sign * (abs(amount) * price // 10**decimals))
