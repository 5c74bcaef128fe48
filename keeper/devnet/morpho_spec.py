"""What the Morpho Blue devnet holds: tokens, markets (LLTV, decimals, fee) and their prices.

Most markets are priced by Morpho's own ``OracleMock`` (a settable price). The ``FEED`` ones
are priced as most live markets are: by an oracle of the MorphoChainlinkOracleV2 shape (our
``DevnetChainlinkOracle``) over Chainlink-style feeds (our ``ManualAggregator``, one behind a
``FeedProxy``), so that the keeper resolves the feeds behind them and back-runs their updates.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

WAD = 10**18
USD = 10**8  # token prices in USD carry 8 decimals, as Chainlink's


@dataclass(frozen=True)
class TokenSpec:
    """A devnet token and its USD price."""

    symbol: str
    decimals: int
    usd: int


class OracleKind(enum.Enum):
    """How a devnet market is priced."""

    MOCK = "mock"  # Morpho's OracleMock: setPrice
    FEED = "feed"  # DevnetChainlinkOracle over feeds: their answers


@dataclass(frozen=True)
class FeedSpec:
    """A devnet feed: what it prices in what, its decimals, and whether behind a proxy."""

    label: str  # e.g. "WETH / USD"
    symbol: str  # the token it prices (a shock of that token moves it)
    decimals: int
    proxied: bool = False


@dataclass(frozen=True)
class MarketSpec:
    """A devnet market: collateral and loan symbols, LLTV and fee (WAD), its oracle.

    ``base_feeds`` / ``quote_feeds``: labels of the feeds of a ``FEED`` market's oracle.
    """

    label: str
    collateral: str
    loan: str
    lltv: int
    fee: int = 0
    oracle: OracleKind = OracleKind.MOCK
    base_feeds: tuple[str, ...] = ()
    quote_feeds: tuple[str, ...] = ()


TOKENS: tuple[TokenSpec, ...] = (
    TokenSpec("WETH", 18, 2_000 * USD),
    TokenSpec("USDC", 6, 1 * USD),
    TokenSpec("WBTC", 8, 60_000 * USD),
    TokenSpec("DAI", 18, 1 * USD),
    TokenSpec("wstETH", 18, 2_300 * USD),
)

FEEDS: tuple[FeedSpec, ...] = (
    FeedSpec("WBTC / USD", "WBTC", 8),
    FeedSpec("USDC / USD", "USDC", 8),
    FeedSpec("ETH / USD", "WETH", 8, proxied=True),
    FeedSpec("wstETH / ETH", "wstETH", 18),
)

MOCK_MARKETS: tuple[MarketSpec, ...] = (
    MarketSpec("WETH/USDC", "WETH", "USDC", 860 * WAD // 1000, fee=WAD // 10),  # 18/6
    MarketSpec("WBTC/DAI", "WBTC", "DAI", 770 * WAD // 1000),  # 8/18
    MarketSpec("wstETH/WETH", "wstETH", "WETH", 945 * WAD // 1000),  # 18/18
    MarketSpec("USDC/WETH", "USDC", "WETH", 625 * WAD // 1000),  # 6/18
)
# Both quote USDC / USD (one update moves both); wstETH goes through two base feeds of
# different decimals (18 and 8, the ETH one behind a proxy).
FEED_MARKETS: tuple[MarketSpec, ...] = (
    MarketSpec(
        "WBTC/USDC",  # 8/6
        "WBTC",
        "USDC",
        915 * WAD // 1000,
        oracle=OracleKind.FEED,
        base_feeds=("WBTC / USD",),
        quote_feeds=("USDC / USD",),
    ),
    MarketSpec(
        "wstETH/USDC",  # 18/6
        "wstETH",
        "USDC",
        800 * WAD // 1000,
        oracle=OracleKind.FEED,
        base_feeds=("wstETH / ETH", "ETH / USD"),
        quote_feeds=("USDC / USD",),
    ),
)
MARKETS: tuple[MarketSpec, ...] = MOCK_MARKETS + FEED_MARKETS


def feed_answer(feed: FeedSpec, usd: dict[str, int]) -> int:
    """The feed's answer at the tokens' USD prices (8 decimals): "X / USD" or "X / ETH"."""
    quote = usd["WETH"] if feed.label.endswith("/ ETH") else USD
    answer: int = usd[feed.symbol] * 10**feed.decimals // quote
    return answer


def oracle_price(coll_usd: int, coll_decimals: int, loan_usd: int, loan_decimals: int) -> int:
    """One collateral unit in loan units scaled by 1e36 (``IOracle.price()``), rounded down."""
    scale: int = 10 ** (36 + loan_decimals - coll_decimals)
    return coll_usd * scale // loan_usd
