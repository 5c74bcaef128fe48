"""Token amounts in the market's base currency. Integers only, rounding named."""

from __future__ import annotations


def to_base_down(amount: int, price: int, decimals: int) -> int:
    """Token units to base units, rounded toward zero (a gain is never over-counted)."""
    sign = -1 if amount < 0 else 1
    scaled: int = abs(amount) * price // 10**decimals
    return sign * scaled
