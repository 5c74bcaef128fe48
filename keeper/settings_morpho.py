"""The Morpho Blue market filters of :class:`keeper.settings.Settings` (kept apart for size).

Anyone can create a Morpho market, with any oracle: an operator may follow only the markets
they trust (``morpho_markets``), leave some out (``morpho_skip_markets``), and act only in
markets with enough borrowed (``morpho_min_market_usd``). Market ids are 0x + 64 hex digits
(``keccak256(abi.encode(marketParams))``, as Morpho's events and the scan print them).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator
from pydantic_settings import BaseSettings

_MARKET_ID_RE = re.compile(r"^0x[0-9a-fA-F]{64}$")


def _market_id(value: str) -> str:
    if not _MARKET_ID_RE.match(value.strip()):
        raise ValueError("expected a Morpho market id: 0x + 64 hex digits")
    return value.strip().lower()


MarketId = Annotated[str, AfterValidator(_market_id)]
MORPHO_ONLY = ("morpho_markets", "morpho_skip_markets", "morpho_min_market_usd")


class MorphoMarketFilter(BaseSettings):
    """Which Morpho markets the keeper follows and acts in."""

    morpho_markets: list[MarketId] = Field(
        default_factory=list,
        description="morpho_blue: follow only these markets (ids); default: every market",
    )
    morpho_skip_markets: list[MarketId] = Field(
        default_factory=list, description="morpho_blue: never follow these markets (ids)"
    )
    morpho_min_market_usd: Decimal = Field(
        default=Decimal(0),
        ge=0,
        description="morpho_blue: liquidate only in markets whose total borrow is worth at "
        "least this (USD at the markets' oracle prices; 0: every market)",
    )

    @model_validator(mode="after")
    def _one_list(self) -> MorphoMarketFilter:
        if self.morpho_markets and self.morpho_skip_markets:
            raise ValueError(
                "morpho_markets, morpho_skip_markets: give an allow-list or a deny-list, not "
                "both (remove one of them)"
            )
        # ``protocol`` is declared by the Settings that inherit these fields.
        stray = [k for k in MORPHO_ONLY if k in self.model_fields_set]
        if getattr(self, "protocol", "morpho_blue") != "morpho_blue" and stray:
            them = "them" if len(stray) > 1 else "it"
            raise ValueError(
                f'{", ".join(stray)}: only used with protocol = "morpho_blue"; remove {them}'
            )
        return self

    def follows(self, market_id: str) -> bool:
        """True when the market is to be followed (the lists; the size is checked per block)."""
        market = market_id.lower()
        if self.morpho_markets:
            return market in self.morpho_markets
        return market not in self.morpho_skip_markets
