"""Token prices in USD (8 decimals) for profit and gas checks, from the markets' own oracles.

Morpho has no price in a common currency: each market's oracle prices its collateral in its
loan token. Starting from tokens taken at 1 USD (``usd_tokens``, or stablecoins found by
symbol), prices spread along the markets: a market with one side priced prices the other
through its oracle. A token no market connects to a USD token stays unpriced (its
liquidations are skipped, never valued at zero). The liquidation math never uses these: it
uses the oracle's 36-decimal price directly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from keeper.protocols.morpho_blue.health import ORACLE_PRICE_SCALE

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

USD_UNIT = 10**8
STABLE_SYMBOLS = frozenset({"USDC", "USDT", "DAI", "USDS", "PYUSD", "USDBC", "USDC.E"})


def usd_prices(
    markets: Iterable[tuple[str, str, int]],
    decimals: Mapping[str, int],
    usd_tokens: Iterable[str],
) -> dict[str, int]:
    """USD per whole token (8 decimals), rounded down, for every reachable token.

    ``markets`` are (collateral, loan, oracle price) triples; the first price found for a
    token (breadth first from the USD tokens, markets in the given order) is kept.
    """
    edges = [(coll, loan, p) for coll, loan, p in markets if p > 0]
    prices = {t: USD_UNIT for t in usd_tokens if t in decimals}
    changed = True
    while changed:
        changed = False
        for coll, loan, price in edges:
            if coll not in decimals or loan not in decimals:
                continue
            if loan in prices and coll not in prices:
                # loan units per collateral unit = price / 1e36; per whole tokens: x 10^(dc-dl)
                prices[coll] = (
                    prices[loan]
                    * price
                    * 10 ** decimals[coll]
                    // (ORACLE_PRICE_SCALE * 10 ** decimals[loan])
                )
                changed = True
            elif coll in prices and loan not in prices:
                prices[loan] = (
                    prices[coll]
                    * ORACLE_PRICE_SCALE
                    * 10 ** decimals[loan]
                    // (price * 10 ** decimals[coll])
                )
                changed = True
    return prices
