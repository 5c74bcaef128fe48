"""Price shocks: ``WETH=-20%`` parsed, and applied to an oracle price exactly.

A shock of ``pct`` percent moves a price ``p`` to ``floor(p * (100 + pct) / 100)``, computed on
exact fractions: the same integer ``keeper devnet shock`` writes to a feed, so a prediction and
the real move agree to the unit.
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from fractions import Fraction


def shocked_price(price: int, pct: Decimal | int) -> int:
    """``price`` moved by ``pct`` percent (e.g. -20), rounded down to the feed's unit."""
    return math.floor(price * (100 + Fraction(pct)) / 100)


def parse_pct(text: str) -> Decimal:
    """``-20%`` or ``-20`` to Decimal(-20); a move must leave the price above zero."""
    raw = text.strip().removesuffix("%").strip()
    try:
        pct = Decimal(raw)
    except InvalidOperation:
        raise ValueError(f"not a percentage: {text!r} (e.g. -20%)") from None
    if not pct.is_finite() or pct <= -100:
        raise ValueError(f"a price move must be a finite percentage above -100%: {text!r}")
    return pct


def parse_shock(text: str) -> tuple[str, Decimal]:
    """``SYMBOL=PCT`` (e.g. ``WETH=-20%``) to (symbol, percent)."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise ValueError(f"expected ASSET=PERCENT, e.g. WETH=-20%: {text!r}")
    return name.strip(), parse_pct(value)
