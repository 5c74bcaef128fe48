"""Aave's fixed-point helpers with the Pool's own rounding (half up), on Python integers.

Mirrors PercentageMath and WadRayMath of aave-v3-core: the on-chain versions revert on
overflow of uint256; these raise OverflowError the same way, so a mismatch cannot hide.
"""

from __future__ import annotations

PERCENTAGE_FACTOR = 10_000
HALF_PERCENTAGE_FACTOR = 5_000
WAD = 10**18
HALF_WAD = WAD // 2
RAY = 10**27
HALF_RAY = RAY // 2
MAX_UINT256 = 2**256 - 1


def _check(value: int) -> int:
    if value < 0 or value > MAX_UINT256:
        raise OverflowError("uint256 overflow")
    return value


def percent_mul(value: int, percentage: int) -> int:
    """Value x percentage / 10_000, rounded half up (PercentageMath.percentMul)."""
    _check(value * percentage + HALF_PERCENTAGE_FACTOR)
    return (value * percentage + HALF_PERCENTAGE_FACTOR) // PERCENTAGE_FACTOR


def percent_div(value: int, percentage: int) -> int:
    """Value x 10_000 / percentage, rounded half up (PercentageMath.percentDiv)."""
    if percentage == 0:
        raise ZeroDivisionError("percentDiv by zero")
    _check(value * PERCENTAGE_FACTOR + percentage // 2)
    return (value * PERCENTAGE_FACTOR + percentage // 2) // percentage


def wad_mul(a: int, b: int) -> int:
    """A x b / 1e18, rounded half up (WadRayMath.wadMul)."""
    return _check(a * b + HALF_WAD) // WAD


def wad_div(a: int, b: int) -> int:
    """A x 1e18 / b, rounded half up (WadRayMath.wadDiv)."""
    if b == 0:
        raise ZeroDivisionError("wadDiv by zero")
    return _check(a * WAD + b // 2) // b


def ray_mul(a: int, b: int) -> int:
    """A x b / 1e27, rounded half up (WadRayMath.rayMul)."""
    return _check(a * b + HALF_RAY) // RAY


def ray_div(a: int, b: int) -> int:
    """A x 1e27 / b, rounded half up (WadRayMath.rayDiv)."""
    if b == 0:
        raise ZeroDivisionError("rayDiv by zero")
    return _check(a * RAY + b // 2) // b


SECONDS_PER_YEAR = 365 * 24 * 3600


def linear_interest(rate: int, last_update: int, now: int) -> int:
    """MathUtils.calculateLinearInterest: 1 + rate x dt / year, in ray (floor division)."""
    return RAY + _check(rate * (now - last_update)) // SECONDS_PER_YEAR


def compounded_interest(rate: int, last_update: int, now: int) -> int:
    """MathUtils.calculateCompoundedInterest: the three-term binomial approximation, in ray."""
    exp = now - last_update
    if exp == 0:
        return RAY
    exp_minus_one = exp - 1
    exp_minus_two = exp - 2 if exp > 2 else 0
    base_power_two = ray_mul(rate, rate) // (SECONDS_PER_YEAR * SECONDS_PER_YEAR)
    base_power_three = ray_mul(base_power_two, rate) // SECONDS_PER_YEAR
    second_term = _check(exp * exp_minus_one * base_power_two) // 2
    third_term = _check(exp * exp_minus_one * exp_minus_two * base_power_three) // 6
    return RAY + (rate * exp) // SECONDS_PER_YEAR + second_term + third_term


# Directed rounding (aave-v3-origin 3.4+: WadRayMath, PercentageMath, MathUtils).


def ray_mul_floor(a: int, b: int) -> int:
    """A x b / 1e27 rounded down (WadRayMath.rayMulFloor)."""
    return _check(a * b) // RAY


def ray_mul_ceil(a: int, b: int) -> int:
    """A x b / 1e27 rounded up (WadRayMath.rayMulCeil)."""
    return -(-_check(a * b) // RAY)


def ray_div_floor(a: int, b: int) -> int:
    """A x 1e27 / b rounded down (WadRayMath.rayDivFloor)."""
    if b == 0:
        raise ZeroDivisionError("rayDivFloor by zero")
    return _check(a * RAY) // b


def ray_div_ceil(a: int, b: int) -> int:
    """A x 1e27 / b rounded up (WadRayMath.rayDivCeil)."""
    if b == 0:
        raise ZeroDivisionError("rayDivCeil by zero")
    return -(-_check(a * RAY) // b)


def mul_div_ceil(a: int, b: int, c: int) -> int:
    """A x b / c rounded up (MathUtils.mulDivCeil)."""
    if c == 0:
        raise ZeroDivisionError("mulDivCeil by zero")
    return -(-_check(a * b) // c)


def percent_mul_floor(value: int, percentage: int) -> int:
    """Value x percentage / 10_000 rounded down (PercentageMath.percentMulFloor)."""
    return _check(value * percentage) // PERCENTAGE_FACTOR


def percent_mul_ceil(value: int, percentage: int) -> int:
    """Value x percentage / 10_000 rounded up (PercentageMath.percentMulCeil)."""
    return -(-_check(value * percentage) // PERCENTAGE_FACTOR)


def percent_div_ceil(value: int, percentage: int) -> int:
    """Value x 10_000 / percentage rounded up (PercentageMath.percentDivCeil)."""
    if percentage == 0:
        raise ZeroDivisionError("percentDivCeil by zero")
    return -(-_check(value * PERCENTAGE_FACTOR) // percentage)


def compounded_interest_v34(rate: int, last_update: int, now: int) -> int:
    """MathUtils.calculateCompoundedInterest of 3.4+: ``1 + x + x(x/2 + x.x/6)`` with rayMul."""
    exp = now - last_update
    if exp == 0:
        return RAY
    x = rate * exp // SECONDS_PER_YEAR
    return RAY + x + ray_mul(x, x // 2 + ray_mul(x, x // 6))
