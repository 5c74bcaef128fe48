"""A Uniswap V3 pool's swap in integers, as ``UniswapV3Pool.swap`` (v3-core 1.0.1) computes it.

The stress cascade sells seized collateral into the real pool read at the block: its price
(``slot0``), its in-range liquidity, and its initialized ticks with their ``liquidityNet`` in a
window around the current tick (the tick bitmap words read). A sale walks the ticks exactly as
the pool does (``TickBitmap.nextInitializedTickWithinOneWord``, ``SwapMath.computeSwapStep``,
``SqrtPriceMath`` with its roundings, ``TickMath``), so the price it leaves is the pool's own to
the unit; it stops at the edge of the window read (the depth beyond is unknown) and reports
what it could not sell. Exact input only; fees are taken as the pool takes them, protocol fee
and fee growth aside (they do not move the price).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field

Q96 = 2**96
MIN_TICK = -887_272
MAX_TICK = 887_272
MIN_SQRT_RATIO = 4_295_128_739
MAX_SQRT_RATIO = 1_461_446_703_485_210_103_287_273_052_203_988_822_378_723_970_342
_UINT256 = 2**256
_FEE_UNIT = 1_000_000

# TickMath.getSqrtRatioAtTick: the factor of each bit of |tick| (Q128), lowest bit first.
_TICK_FACTORS = (
    0xFFF97272373D413259A46990580E213A,
    0xFFF2E50F5F656932EF12357CF3C7FDCC,
    0xFFE5CACA7E10E4E61C3624EAA0941CD0,
    0xFFCB9843D60F6159C9DB58835C926644,
    0xFF973B41FA98C081472E6896DFB254C0,
    0xFF2EA16466C96A3843EC78B326B52861,
    0xFE5DEE046A99A2A811C461F1969C3053,
    0xFCBE86C7900A88AEDCFFC83B479AA3A4,
    0xF987A7253AC413176F2B074CF7815E54,
    0xF3392B0822B70005940C7A398E4B70F3,
    0xE7159475A2C29B7443B29C7FA6E889D9,
    0xD097F3BDFD2022B8845AD8F792AA5825,
    0xA9F746462D870FDF8A65DC1F90E061E5,
    0x70D869A156D2A1B890BB3DF62BAF32F7,
    0x31BE135F97D08FD981231505542FCFA6,
    0x9AA508B5B7A84E1C677DE54F3E99BC9,
    0x5D6AF8DEDB81196699C329225EE604,
    0x2216E584F5FA1EA926041BEDFE98,
    0x48A170391F7DC42444E8FA2,
)


def sqrt_ratio_at_tick(tick: int) -> int:
    """TickMath.getSqrtRatioAtTick: sqrt(1.0001^tick) x 2^96, rounded up."""
    size = abs(tick)
    if size > MAX_TICK:
        raise ValueError(f"tick out of range: {tick}")
    ratio = 0xFFFCB933BD6FAD37AA2D162D1A594001 if size & 1 else 1 << 128
    for bit, factor in enumerate(_TICK_FACTORS, start=1):
        if size & (1 << bit):
            ratio = (ratio * factor) >> 128
    if tick > 0:
        ratio = (_UINT256 - 1) // ratio
    return (ratio >> 32) + (1 if ratio % (1 << 32) else 0)


def tick_at_sqrt_ratio(sqrt_price: int) -> int:
    """TickMath.getTickAtSqrtRatio: the greatest tick whose sqrt ratio is <= ``sqrt_price``."""
    if not MIN_SQRT_RATIO <= sqrt_price < MAX_SQRT_RATIO:
        raise ValueError(f"sqrt price out of range: {sqrt_price}")
    low, high = MIN_TICK, MAX_TICK  # ratio(low) <= sqrt_price < ratio(high)
    while high - low > 1:
        mid = (low + high) // 2
        if sqrt_ratio_at_tick(mid) <= sqrt_price:
            low = mid
        else:
            high = mid
    return low


def _div_up(a: int, b: int) -> int:
    return -(-a // b)


def amount0_delta(a: int, b: int, liquidity: int, round_up: bool) -> int:
    """SqrtPriceMath.getAmount0Delta: token0 between two sqrt prices."""
    a, b = min(a, b), max(a, b)
    numerator1, numerator2 = liquidity << 96, b - a
    if round_up:
        return _div_up(_div_up(numerator1 * numerator2, b), a)
    return numerator1 * numerator2 // b // a


def amount1_delta(a: int, b: int, liquidity: int, round_up: bool) -> int:
    """SqrtPriceMath.getAmount1Delta: token1 between two sqrt prices."""
    a, b = min(a, b), max(a, b)
    if round_up:
        return _div_up(liquidity * (b - a), Q96)
    return liquidity * (b - a) // Q96


def next_sqrt_price_from_input(
    sqrt_price: int, liquidity: int, amount: int, zero_for_one: bool
) -> int:
    """SqrtPriceMath.getNextSqrtPriceFromInput (the uint256 overflow fallbacks included)."""
    if zero_for_one:  # getNextSqrtPriceFromAmount0RoundingUp, add
        if amount == 0:
            return sqrt_price
        numerator1 = liquidity << 96
        product = amount * sqrt_price
        if product < _UINT256 and numerator1 + product < _UINT256:
            return _div_up(numerator1 * sqrt_price, numerator1 + product)
        return _div_up(numerator1, numerator1 // sqrt_price + amount)
    # getNextSqrtPriceFromAmount1RoundingDown, add
    quotient = (amount << 96) // liquidity if amount < 2**160 else amount * Q96 // liquidity
    return sqrt_price + quotient


def swap_step(
    current: int, target: int, liquidity: int, remaining: int, fee: int
) -> tuple[int, int, int, int]:
    """SwapMath.computeSwapStep for an exact input: (next sqrt price, in, out, fee amount)."""
    zero_for_one = current >= target
    less_fee = remaining * (_FEE_UNIT - fee) // _FEE_UNIT
    if zero_for_one:
        amount_in = amount0_delta(target, current, liquidity, True)
    else:
        amount_in = amount1_delta(current, target, liquidity, True)
    if less_fee >= amount_in:
        following = target
    else:
        following = next_sqrt_price_from_input(current, liquidity, less_fee, zero_for_one)
    reached = following == target
    if zero_for_one:
        if not reached:
            amount_in = amount0_delta(following, current, liquidity, True)
        amount_out = amount1_delta(following, current, liquidity, False)
    else:
        if not reached:
            amount_in = amount1_delta(current, following, liquidity, True)
        amount_out = amount0_delta(current, following, liquidity, False)
    fee_amount = remaining - amount_in if not reached else _div_up(amount_in * fee, _FEE_UNIT - fee)
    return following, amount_in, amount_out, fee_amount


@dataclass
class PoolCurve:
    """One pool's price state and the ticks known around it (the tick bitmap words read).

    ``low`` and ``high`` bound the ticks whose bitmap is known: ``nets`` holds every initialized
    tick between them (compressed tick -> liquidityNet). A swap never walks past them.
    ``spacing`` 0: no tick is known, the liquidity is taken as constant between the bounds.
    """

    sqrt_price: int
    tick: int
    liquidity: int
    fee: int  # hundredths of a bps (3000 = 0.3%)
    spacing: int
    low: int = MIN_TICK
    high: int = MAX_TICK
    nets: dict[int, int] = field(default_factory=dict)
    _sorted: list[int] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self._sorted = sorted(self.nets)

    def _next_tick(self, zero_for_one: bool) -> tuple[int, bool]:
        """TickBitmap.nextInitializedTickWithinOneWord on the known ticks.

        ``spacing`` 0: no bitmap known, the in-range liquidity holds to the edges (one step).
        """
        if self.spacing == 0:
            return (self.low if zero_for_one else self.high), False
        compressed = self.tick // self.spacing
        if zero_for_one:
            first = (compressed >> 8) << 8  # the lowest compressed tick of the word
            k = bisect_right(self._sorted, compressed) - 1
            if k >= 0 and self._sorted[k] >= first:
                return self._sorted[k] * self.spacing, True
            return first * self.spacing, False
        start = compressed + 1
        last = ((start >> 8) << 8) + 255  # the highest compressed tick of the word
        k = bisect_left(self._sorted, start)
        if k < len(self._sorted) and self._sorted[k] <= last:
            return self._sorted[k] * self.spacing, True
        return last * self.spacing, False

    def swap(self, zero_for_one: bool, amount: int, limit: int | None = None) -> tuple[int, int]:
        """Sell ``amount`` of token0 (``zero_for_one``) or token1: (amount used, amount out).

        Stops at ``limit`` (a sqrt price) or at the edge of the known ticks, whichever is
        nearer; the amount not used could not be sold within what is known of the pool.
        """
        edge = sqrt_ratio_at_tick(
            max(self.low, MIN_TICK) if zero_for_one else min(self.high, MAX_TICK)
        )
        if zero_for_one:
            edge = max(edge, MIN_SQRT_RATIO + 1)
            stop = edge if limit is None else max(limit, edge)
        else:
            edge = min(edge, MAX_SQRT_RATIO - 1)
            stop = edge if limit is None else min(limit, edge)
        remaining, out = amount, 0
        while remaining != 0 and (
            self.sqrt_price > stop if zero_for_one else self.sqrt_price < stop
        ):
            start = self.sqrt_price
            tick_next, initialized = self._next_tick(zero_for_one)
            tick_next = min(max(tick_next, MIN_TICK), MAX_TICK)
            price_next = sqrt_ratio_at_tick(tick_next)
            beyond = price_next < stop if zero_for_one else price_next > stop
            target = stop if beyond else price_next
            self.sqrt_price, used, got, fee = swap_step(
                start, target, self.liquidity, remaining, self.fee
            )
            remaining -= used + fee
            out += got
            if self.sqrt_price == price_next:
                if initialized:
                    net = self.nets[tick_next // self.spacing]  # initialized: spacing > 0
                    self.liquidity += -net if zero_for_one else net
                self.tick = tick_next - 1 if zero_for_one else tick_next
            elif self.sqrt_price != start:
                self.tick = tick_at_sqrt_ratio(self.sqrt_price)
        return amount - remaining, out


__all__ = [
    "MAX_SQRT_RATIO",
    "MAX_TICK",
    "MIN_SQRT_RATIO",
    "MIN_TICK",
    "Q96",
    "PoolCurve",
    "sqrt_ratio_at_tick",
    "swap_step",
    "tick_at_sqrt_ratio",
]
