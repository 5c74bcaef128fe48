"""Morpho Blue's integer math on Python integers, with its own rounding (MathLib, SharesMathLib).

Every function names its rounding direction as the Solidity library does. The on-chain versions
revert on uint256 overflow (checked arithmetic) and on a division by zero; these raise
OverflowError and ZeroDivisionError, so a state the chain would reject cannot pass silently.
"""

from __future__ import annotations

WAD = 10**18
MAX_UINT256 = 2**256 - 1
MAX_UINT128 = 2**128 - 1
# SharesMathLib: one "virtual" asset and a million virtual shares in every market, so the first
# depositor cannot inflate the share price (and the ratios are defined at zero).
VIRTUAL_SHARES = 10**6
VIRTUAL_ASSETS = 1


def _u256(value: int) -> int:
    if value < 0 or value > MAX_UINT256:
        raise OverflowError("uint256 overflow")
    return value


def to_uint128(value: int) -> int:
    """UtilsLib.toUint128: the value, or OverflowError where Morpho reverts."""
    if value < 0 or value > MAX_UINT128:
        raise OverflowError("uint128 overflow (MAX_UINT128_EXCEEDED)")
    return value


def sub(x: int, y: int) -> int:
    """Checked ``x - y`` (Solidity 0.8 reverts on underflow)."""
    if y > x:
        raise OverflowError("uint underflow")
    return x - y


def mul_div_down(x: int, y: int, d: int) -> int:
    """``x * y / d`` rounded down (MathLib.mulDivDown)."""
    return _u256(x * y) // d


def mul_div_up(x: int, y: int, d: int) -> int:
    """``(x * y + d - 1) / d``: rounded up (MathLib.mulDivUp)."""
    if d == 0:
        raise ZeroDivisionError("mulDivUp by zero")
    return _u256(_u256(x * y) + (d - 1)) // d


def w_mul_down(x: int, y: int) -> int:
    """``x * y / 1e18`` rounded down."""
    return mul_div_down(x, y, WAD)


def w_div_down(x: int, y: int) -> int:
    """``x * 1e18 / y`` rounded down."""
    return mul_div_down(x, WAD, y)


def w_div_up(x: int, y: int) -> int:
    """``x * 1e18 / y`` rounded up."""
    return mul_div_up(x, WAD, y)


def w_taylor_compounded(rate: int, seconds: int) -> int:
    """``e^(rate*seconds) - 1`` by its first three Taylor terms, in WAD (MathLib).

    The second and third terms each round down, as on chain.
    """
    first = _u256(rate * seconds)
    second = mul_div_down(first, first, 2 * WAD)
    third = mul_div_down(second, first, 3 * WAD)
    return _u256(first + second + third)


def to_shares_down(assets: int, total_assets: int, total_shares: int) -> int:
    """Assets to shares, rounded down (what a supplier gets, what a repayment burns)."""
    return mul_div_down(assets, total_shares + VIRTUAL_SHARES, total_assets + VIRTUAL_ASSETS)


def to_shares_up(assets: int, total_assets: int, total_shares: int) -> int:
    """Assets to shares, rounded up (what a borrow mints, what a withdrawal burns)."""
    return mul_div_up(assets, total_shares + VIRTUAL_SHARES, total_assets + VIRTUAL_ASSETS)


def to_assets_down(shares: int, total_assets: int, total_shares: int) -> int:
    """Shares to assets, rounded down."""
    return mul_div_down(shares, total_assets + VIRTUAL_ASSETS, total_shares + VIRTUAL_SHARES)


def to_assets_up(shares: int, total_assets: int, total_shares: int) -> int:
    """Shares to assets, rounded up (a borrower's debt in Morpho's health check)."""
    return mul_div_up(shares, total_assets + VIRTUAL_ASSETS, total_shares + VIRTUAL_SHARES)


def zero_floor_sub(x: int, y: int) -> int:
    """``max(x - y, 0)`` (UtilsLib.zeroFloorSub: a repayment may exceed the total by 1)."""
    return x - y if x > y else 0
