"""How each asset's oracle price answers the cascade's sales: pegged, or a share of the DEX move.

A liquidator sells seized collateral into a pool (keeper.risk.amm): the pool's price of the
asset falls by a ratio ``r``. What the oracle does with it depends on the asset:

- **pegged** assets (a stablecoin: oracle price within ``PEG_BAND_BPS`` of one unit of the base
  currency, USD on Aave's markets, unless configured otherwise) hold their price: arbitrage
  from the rest of the market brings the pool back to the peg, and a Chainlink USD feed of a
  stablecoin does not follow one pool;
- **volatile** assets pass a share ``s`` of the pool's move to the oracle:
  ``new = floor(price * (1 + s * (r - 1)))`` (never below 1). ``s = 1`` (the default,
  ``DEFAULT_PASS_THROUGH``) is the conservative bound: the oracle follows the pool as if no
  other venue absorbed the sale; a lower share models an oracle aggregating deeper markets.
  After the round the pool is arbitraged to the oracle's move (nothing to do at ``s = 1``);
- the **quote** asset (what the collateral is sold for, the numeraire) keeps its price.

Exact: the ratio and the share are fractions, the price is rounded down once.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

    from keeper.risk.market import MarketState

DEFAULT_PASS_THROUGH = Fraction(1)
PEG_BAND_BPS = 100  # within 1% of one unit of the base currency: pegged
PEG_BAND = "1%"
PEG, PASS_THROUGH, QUOTE = "peg", "pass-through", "quote"


@dataclass(frozen=True)
class PriceRule:
    """One asset's price behaviour in the cascade, and why."""

    asset: str
    kind: str  # PEG, PASS_THROUGH or QUOTE
    share: Fraction  # of the pool's move that reaches the oracle (0 when pegged or the quote)
    why: str

    def effective(self, ratio: Fraction) -> Fraction:
        """The oracle's move for a pool move of ``ratio`` (new over old)."""
        return 1 + self.share * (ratio - 1)

    def moved(self, price: int, ratio: Fraction) -> int:
        """The oracle price after a pool move of ``ratio``, rounded down, at least 1."""
        if self.share == 0:
            return price
        eff = self.effective(ratio)
        return max(1, price * eff.numerator // eff.denominator)


def parse_rule(text: str) -> tuple[str, Fraction | None]:
    """``USDC=peg`` (hold) or ``WETH=0.5`` (a share in [0, 1]) to (name, share or None)."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise ValueError(f"expected ASSET=peg or ASSET=SHARE (0 to 1), e.g. WETH=0.5: {text!r}")
    raw = value.strip().lower()
    if raw in {PEG, "hold"}:
        return name.strip(), None
    return name.strip(), parse_share(raw)


def parse_share(text: str) -> Fraction:
    """A pass-through share: a decimal or a fraction from 0 to 1 (``0.5``, ``1/3``)."""
    try:
        share = Fraction(text.strip())
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"not a share from 0 to 1: {text!r}") from None
    if not 0 <= share <= 1:
        raise ValueError(f"a pass-through share must be from 0 to 1: {text!r}")
    return share


def is_pegged(price: int, base_unit: int) -> bool:
    """Whether ``price`` is within ``PEG_BAND_BPS`` of one unit of the base currency."""
    return abs(price - base_unit) * 10_000 <= base_unit * PEG_BAND_BPS


def price_rules(
    state: MarketState,
    quote: str,
    configured: Mapping[str, Fraction | None] | None = None,
    default_share: Fraction = DEFAULT_PASS_THROUGH,
) -> dict[str, PriceRule]:
    """Every reserve's rule.

    The quote holds; configured ones as given (None: pegged); else pegged when its oracle
    price at the block is within the band of one base unit; else the default share.
    """
    configured = configured or {}
    unit = state.base_unit
    out = {}
    for asset in state.assets():
        price = state.prices[asset]
        if asset == quote:
            out[asset] = PriceRule(asset, QUOTE, Fraction(0), "the quote asset: the numeraire")
        elif asset in configured:
            share = configured[asset]
            out[asset] = (
                PriceRule(asset, PEG, Fraction(0), "configured: holds its price")
                if share is None
                else PriceRule(asset, PASS_THROUGH, share, "configured")
            )
        elif is_pegged(price, unit):
            out[asset] = PriceRule(
                asset,
                PEG,
                Fraction(0),
                f"oracle price {Decimal(price) / unit:.6f} within {PEG_BAND} of 1",
            )
        else:
            out[asset] = PriceRule(asset, PASS_THROUGH, default_share, "default")
    return out


__all__ = [
    "DEFAULT_PASS_THROUGH",
    "PASS_THROUGH",
    "PEG",
    "PEG_BAND_BPS",
    "QUOTE",
    "PriceRule",
    "is_pegged",
    "parse_rule",
    "parse_share",
    "price_rules",
]
