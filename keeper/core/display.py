"""Health factors as exact decimal strings (for output only; comparisons stay on integers)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation, localcontext

WAD = 10**18
NO_DEBT = 2**256 - 1


def format_wad(value: int) -> str:
    """A wad as a decimal string with all 18 decimals, e.g. ``"0.981234567890123456"``."""
    whole, frac = divmod(value, WAD)
    return f"{whole}.{frac:018d}"


def parse_wad(text: str) -> int:
    """A decimal string to a wad, exactly; more than 18 decimals is an error."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(f"not a decimal number: {text!r}") from None
    if not value.is_finite():
        raise ValueError(f"not a finite number: {text!r}")
    with localcontext() as ctx:
        ctx.prec = 200  # Decimal's default 28 digits would round large values
        scaled = value * WAD
    if scaled != scaled.to_integral_value() or scaled < 0:
        raise ValueError(f"expected a non-negative number with at most 18 decimals: {text!r}")
    return int(scaled)


def format_base(value: int, unit: int = 10**8) -> str:
    """Base-currency units (USD x 1e8 on Aave's USD markets) as a decimal string."""
    digits = len(str(unit)) - 1
    whole, frac = divmod(value, unit)
    return f"{whole}.{frac:0{digits}d}" if digits else str(whole)
