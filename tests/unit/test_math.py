"""Aave's fixed-point helpers agree with exact Fraction arithmetic rounded half up."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keeper.protocols.aave_v3.math import (
    MAX_UINT256,
    percent_div,
    percent_mul,
    ray_div,
    ray_mul,
    wad_div,
    wad_mul,
)

U128 = st.integers(min_value=0, max_value=2**128 - 1)
BPS = st.integers(min_value=0, max_value=20_000)


def half_up(x: Fraction) -> int:
    """Round a non-negative fraction half up (the Solidity pattern (a*b + half) / unit)."""
    return int(x + Fraction(1, 2)) if x >= 0 else -half_up(-x)


@given(U128, BPS)
def test_percent_mul_rounds_half_up(value, pct):
    """PercentMul equals value x pct / 1e4 rounded half up."""
    assert percent_mul(value, pct) == half_up(Fraction(value * pct, 10_000))


@given(U128, st.integers(min_value=1, max_value=20_000))
def test_percent_div_matches_solidity(value, pct):
    """PercentDiv is (value x 1e4 + pct // 2) // pct: half up, with the half floored for odd pct."""
    expected = (value * 10_000 + pct // 2) // pct
    assert percent_div(value, pct) == expected
    assert abs(Fraction(percent_div(value, pct)) - Fraction(value * 10_000, pct)) <= 1


@given(U128, U128)
def test_wad_and_ray_mul(a, b):
    """WadMul and rayMul round half up."""
    assert wad_mul(a, b) == half_up(Fraction(a * b, 10**18))
    assert ray_mul(a, b) == half_up(Fraction(a * b, 10**27))


@given(U128, st.integers(min_value=1, max_value=2**128))
def test_wad_and_ray_div(a, b):
    """WadDiv and rayDiv add half the divisor, floored, before dividing."""
    assert wad_div(a, b) == (a * 10**18 + b // 2) // b
    assert ray_div(a, b) == (a * 10**27 + b // 2) // b


def test_rounding_edges():
    """Exactly half rounds up; just below half rounds down."""
    assert percent_mul(1, 5_000) == 1  # 0.5 -> 1
    assert percent_mul(1, 4_999) == 0
    assert ray_mul(1, 5 * 10**26) == 1
    assert ray_mul(1, 5 * 10**26 - 1) == 0


def test_overflow_and_division_by_zero_raise_like_the_contract():
    """uint256 overflow raises OverflowError; division by zero raises."""
    with pytest.raises(OverflowError):
        percent_mul(MAX_UINT256, 2)
    with pytest.raises(OverflowError):
        ray_mul(MAX_UINT256, 10**27)
    with pytest.raises(ZeroDivisionError):
        percent_div(1, 0)
    with pytest.raises(ZeroDivisionError):
        ray_div(1, 0)
