"""Where seized collateral is sold: constant-product pools, in Decimal (display-grade money).

Inside its current tick range a Uniswap V3 pool trades exactly like a constant-product pool on
its virtual reserves ``x = L / sqrtP`` (token0) and ``y = L * sqrtP`` (token1), with
``sqrtP = sqrtPriceX96 / 2**96``; for the devnet's full-range positions that range is the whole
curve, elsewhere it holds until the price leaves the current range. Without a pool, a plain
constant-product pool of a chosen depth stands in.

Selling ``dx`` of the asset (after the fee) into reserves ``x`` moves its price by
``(x / (x + dx))**2``: only the asset's side of the pool matters.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal, localcontext
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from keeper.risk.market import MarketState, PoolState

PRECISION = 60
Q96 = Decimal(2**96)
FEE_UNIT = Decimal(1_000_000)


@dataclass
class SellSide:
    """One asset's side of a constant-product pool against the quote asset."""

    asset: str
    reserve: Decimal  # the asset's (virtual) reserve, in token units
    fee: Decimal  # fraction kept by the pool
    source: str  # what the model stands for, for the report

    def sell(self, amount: int) -> Decimal:
        """Sell ``amount`` token units; return the asset's new price over its old price."""
        with localcontext() as ctx:
            ctx.prec = PRECISION
            before = self.reserve
            self.reserve = before + Decimal(amount) * (1 - self.fee)
            return (before / self.reserve) ** 2


def v3_side(pool: PoolState, asset: str) -> SellSide:
    """The asset's virtual reserve in a V3 pool's current range."""
    with localcontext() as ctx:
        ctx.prec = PRECISION
        sqrt_price = Decimal(pool.sqrt_price_x96) / Q96
        liquidity = Decimal(pool.liquidity)
        reserve = liquidity / sqrt_price if asset == pool.token0 else liquidity * sqrt_price
        return SellSide(
            asset,
            reserve,
            Decimal(pool.fee) / FEE_UNIT,
            f"uniswap-v3 {pool.address} fee {pool.fee}",
        )


def constant_product_side(
    asset: str, price: int, unit: int, depth_base: int, base_unit: int = 10**8
) -> SellSide:
    """A constant-product pool holding ``depth_base`` (base units) worth of the asset."""
    with localcontext() as ctx:
        ctx.prec = PRECISION
        reserve = Decimal(depth_base) * unit / price
    depth = f"{Decimal(depth_base) / base_unit:,.0f}"
    return SellSide(asset, reserve, Decimal(0), f"constant product, {depth} per side, no fee")


def apply_ratio(price: int, ratio: Decimal) -> int:
    """An oracle price times a ratio, rounded down, never below 1."""
    with localcontext() as ctx:
        ctx.prec = PRECISION
        moved = (Decimal(price) * ratio).to_integral_value(rounding=ROUND_FLOOR)
    return max(1, int(moved))


def build_sides(state: MarketState, quote: str, depth_base: int) -> dict[str, SellSide]:
    """Per asset but the quote, its side of the deepest pool against the quote.

    A Uniswap V3 pool when the state has one for the pair, else a constant-product pool of
    ``depth_base``.
    """
    sides: dict[str, SellSide] = {}
    for asset in state.assets():
        if asset == quote:
            continue
        pools = [
            p
            for p in state.pools
            if {p.token0.lower(), p.token1.lower()} == {asset.lower(), quote.lower()}
            and p.liquidity > 0
        ]
        if pools:
            best = max(pools, key=lambda p: p.liquidity)
            token = best.token0 if best.token0.lower() == asset.lower() else best.token1
            sides[asset] = v3_side(best, token)
        else:
            unit = 10 ** state.reserves[asset].config.decimals
            sides[asset] = constant_product_side(
                asset, state.prices[asset], unit, depth_base, state.base_unit
            )
    return sides
