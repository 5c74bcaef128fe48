"""Oracle vs Uniswap V3 pool price deviation, in exact integers."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from keeper.devnet.uniswap import sqrt_price_x96
from keeper.oracles.dex import deviation_bps

WETH, USDC = (3000 * 10**8, 18), (10**8, 6)


def _sqrt(price0: int, dec0: int, price1: int, dec1: int) -> int:
    return sqrt_price_x96(price0, dec0, price1, dec1)


def test_pool_at_the_oracle_price_deviates_by_nothing():
    # WETH as token0 against USDC: the pool's price is USDC units per WETH unit.
    s = _sqrt(*WETH, *USDC)
    assert deviation_bps(s, True, WETH[0], WETH[1], USDC[0], USDC[1]) == 0
    # The same pool seen from USDC (token1), priced in WETH.
    assert deviation_bps(s, False, USDC[0], USDC[1], WETH[0], WETH[1]) == 0


def test_oracle_30_percent_below_the_pool():
    s = _sqrt(*WETH, *USDC)
    shocked = WETH[0] * 70 // 100
    # pool / oracle - 1 = 1/0.7 - 1 = 42.857%
    assert deviation_bps(s, True, shocked, WETH[1], USDC[0], USDC[1]) == 4285


def test_zero_price_is_maximal():
    s = _sqrt(*WETH, *USDC)
    assert deviation_bps(s, True, 0, 18, 10**8, 6) == 10_000


@given(
    price=st.integers(10**6, 10**14),
    dec0=st.integers(0, 24),
    dec1=st.integers(0, 24),
    move_bps=st.integers(-5000, 5000),
)
def test_a_pool_moved_by_k_bps_reads_k_bps_within_rounding(price, dec0, dec1, move_bps):
    """Move the pool price by move_bps: the deviation is |move_bps| (sqrt rounding aside)."""
    ref = 10**8
    moved = _sqrt(price * (10_000 + move_bps), dec0, ref * 10_000, dec1)
    if moved < 2**40:  # too coarse a sqrt price to resolve a basis point
        return
    got = deviation_bps(moved, True, price, dec0, ref, dec1)
    assert math.isclose(got, abs(move_bps), abs_tol=1)
