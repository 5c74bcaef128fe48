"""Where seized collateral is sold: the real Uniswap V3 pool at the block, or a stand-in.

Each asset but the quote gets a :class:`SellSide` against the quote asset:

- the deepest Uniswap V3 pool of the pair (most in-range liquidity) read at the block, swapped
  exactly as the pool swaps (keeper.risk.univ3): through its initialized ticks within the window
  read around the current tick; what would go past the window is left unsold and reported;
- without a pool, a constant-product pool holding ``depth_base`` of the asset (base units, at
  its price before the shock) and no fee.

A sale returns the ratio of the pool's price of the asset after it to before it (an exact
fraction); :meth:`SellSide.move` moves the pool's price by a ratio (the shock reaching the pool
before the first round, and arbitrage bringing it to the oracle's move after a round when the
oracle follows only part of the pool's move).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from fractions import Fraction
from math import isqrt
from typing import TYPE_CHECKING, Protocol

from keeper.risk.univ3 import MAX_TICK, MIN_TICK, PoolCurve, tick_at_sqrt_ratio

if TYPE_CHECKING:
    from keeper.risk.market import MarketState, PoolState

_ALL = 2**200  # an amount no pool absorbs: a swap that is stopped by its price limit


@dataclass(frozen=True)
class Sale:
    """One sale of collateral into a pool."""

    offered: int  # token units
    sold: int  # taken by the pool (the rest would go past what is known of its depth)
    ratio: Fraction  # the pool's price of the asset after the sale over before it


class SellSide(Protocol):
    """One asset's side of a pool against the quote asset: sell into it, move its price.

    A sale returns the pool's price ratio (after over before); ``move`` is arbitrage from
    elsewhere (the shock reaching the pool, or the pool brought to the oracle's move);
    ``depth`` is how much of the asset it takes to push the price down to a ratio; ``source``
    says what the model stands for, for the report.
    """

    asset: str
    source: str

    def sell(self, amount: int) -> Sale:
        """Sell ``amount`` token units of the asset."""
        ...

    def move(self, ratio: Fraction) -> None:
        """Move the pool's price of the asset by ``ratio``."""
        ...

    def depth(self, ratio: Fraction) -> int:
        """Token units of the asset that move the pool's price to ``ratio`` of it (< 1)."""
        ...


class V3Side:
    """The asset's side of a real Uniswap V3 pool, swapped as the pool swaps."""

    def __init__(self, pool: PoolState, asset: str) -> None:
        self.asset = asset
        self.pool = pool
        self.token0 = pool.token0.lower() == asset.lower()
        self.curve = _curve(pool)
        window = (
            f"ticks {pool.tick_low}..{pool.tick_high} read, {len(pool.ticks)} initialized"
            if pool.tick_spacing
            else "ticks not read: in-range liquidity taken as constant"
        )
        self.source = (
            f"uniswap-v3 {pool.address} fee {pool.fee}, liquidity {pool.liquidity}, {window}"
        )

    def _ratio(self, before: int, after: int) -> Fraction:
        if self.token0:  # price of token0 in token1: (sqrtP / 2^96)^2
            return Fraction(after * after, before * before)
        return Fraction(before * before, after * after)

    def sell(self, amount: int) -> Sale:
        """Swap ``amount`` of the asset in, as the pool would (stops at the known ticks' edge)."""
        before = self.curve.sqrt_price
        used, _ = self.curve.swap(self.token0, amount)
        return Sale(amount, used, self._ratio(before, self.curve.sqrt_price))

    def _target(self, ratio: Fraction) -> int:
        """The sqrt price that moves the asset's price by ``ratio``, rounded down."""
        square = self.curve.sqrt_price**2
        if self.token0:
            return isqrt(square * ratio.numerator // ratio.denominator)
        return isqrt(square * ratio.denominator // ratio.numerator)

    def move(self, ratio: Fraction) -> None:
        """Swap the pool to the price ``ratio`` times its current one (arbitrage)."""
        if ratio == 1:
            return
        target = self._target(ratio)
        if target < self.curve.sqrt_price:
            self.curve.swap(True, _ALL, target)
        elif target > self.curve.sqrt_price:
            self.curve.swap(False, _ALL, target)

    def depth(self, ratio: Fraction) -> int:
        """The asset sold into a copy of the pool to bring its price to ``ratio`` of it."""
        used, _ = replace(self.curve).swap(self.token0, _ALL, self._target(ratio))
        return used


def _curve(pool: PoolState) -> PoolCurve:
    if not pool.tick_spacing:  # ticks not read: the current range over the whole curve
        price = pool.sqrt_price_x96
        return PoolCurve(price, tick_at_sqrt_ratio(price), pool.liquidity, pool.fee, 0)
    return PoolCurve(
        pool.sqrt_price_x96,
        pool.tick,
        pool.liquidity,
        pool.fee,
        pool.tick_spacing,
        max(pool.tick_low, MIN_TICK),
        min(pool.tick_high, MAX_TICK),
        {t // pool.tick_spacing: net for t, net in pool.ticks},
    )


class ConstantProductSide:
    """A constant-product pool of chosen depth, no fee: only the asset's reserve matters.

    Selling ``dx`` into reserve ``x`` moves the price by ``(x / (x + dx))**2``; moving the price
    by ``r`` sets the reserve to ``x / sqrt(r)`` (rounded down).
    """

    def __init__(self, asset: str, reserve: int, source: str) -> None:
        self.asset = asset
        self.reserve = reserve  # token units of the asset
        self.source = source

    def sell(self, amount: int) -> Sale:
        """Add ``amount`` to the asset's reserve."""
        before = self.reserve
        self.reserve = before + amount
        return Sale(amount, amount, Fraction(before * before, self.reserve * self.reserve))

    def move(self, ratio: Fraction) -> None:
        """The reserve that prices the asset at ``ratio`` of its current price."""
        self.reserve = isqrt(self.reserve**2 * ratio.denominator // ratio.numerator)

    def depth(self, ratio: Fraction) -> int:
        """``(x / (x + d))^2 = r``, so ``d = x / sqrt(r) - x`` (rounded down)."""
        return isqrt(self.reserve**2 * ratio.denominator // ratio.numerator) - self.reserve


def constant_product_side(
    asset: str, price: int, unit: int, depth_base: int, base_unit: int = 10**8
) -> ConstantProductSide:
    """A constant-product pool holding ``depth_base`` (base units) worth of the asset."""
    depth = f"{Decimal(depth_base) / base_unit:,.0f}"
    return ConstantProductSide(
        asset, depth_base * unit // price, f"constant product, {depth} per side, no fee"
    )


def build_sides(state: MarketState, quote: str, depth_base: int) -> dict[str, SellSide]:
    """Per asset but the quote, its side of a pool against the quote.

    The deepest V3 pool of the pair (most in-range liquidity), else a constant-product pool of
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
            sides[asset] = V3Side(max(pools, key=lambda p: p.liquidity), asset)
        else:
            unit = 10 ** state.reserves[asset].config.decimals
            sides[asset] = constant_product_side(
                asset, state.prices[asset], unit, depth_base, state.base_unit
            )
    return sides


__all__ = [
    "ConstantProductSide",
    "Sale",
    "SellSide",
    "V3Side",
    "build_sides",
    "constant_product_side",
]
