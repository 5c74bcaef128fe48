"""What the Morpho Blue devnet holds: tokens, markets (LLTV, decimals, fee) and their prices."""

from __future__ import annotations

from dataclasses import dataclass

WAD = 10**18
USD = 10**8  # token prices in USD carry 8 decimals, as Chainlink's


@dataclass(frozen=True)
class TokenSpec:
    """A devnet token and its USD price."""

    symbol: str
    decimals: int
    usd: int


@dataclass(frozen=True)
class MarketSpec:
    """A devnet market: collateral and loan symbols, LLTV and fee (WAD)."""

    label: str
    collateral: str
    loan: str
    lltv: int
    fee: int = 0


TOKENS: tuple[TokenSpec, ...] = (
    TokenSpec("WETH", 18, 2_000 * USD),
    TokenSpec("USDC", 6, 1 * USD),
    TokenSpec("WBTC", 8, 60_000 * USD),
    TokenSpec("DAI", 18, 1 * USD),
    TokenSpec("wstETH", 18, 2_300 * USD),
)

MARKETS: tuple[MarketSpec, ...] = (
    MarketSpec("WETH/USDC", "WETH", "USDC", 860 * WAD // 1000, fee=WAD // 10),  # 18/6
    MarketSpec("WBTC/DAI", "WBTC", "DAI", 770 * WAD // 1000),  # 8/18
    MarketSpec("wstETH/WETH", "wstETH", "WETH", 945 * WAD // 1000),  # 18/18
    MarketSpec("USDC/WETH", "USDC", "WETH", 625 * WAD // 1000),  # 6/18
)


def oracle_price(coll_usd: int, coll_decimals: int, loan_usd: int, loan_decimals: int) -> int:
    """One collateral unit in loan units scaled by 1e36 (``IOracle.price()``), rounded down."""
    scale: int = 10 ** (36 + loan_decimals - coll_decimals)
    return coll_usd * scale // loan_usd
