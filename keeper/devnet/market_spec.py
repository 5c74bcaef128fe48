"""What the devnet market holds: reserves with realistic risk parameters (basis points)."""

from __future__ import annotations

from dataclasses import dataclass

RAY = 10**27


@dataclass(frozen=True)
class ReserveSpec:
    """One reserve of the devnet market and the token behind it."""

    symbol: str
    name: str
    decimals: int
    price: int  # USD with 8 decimals, the AaveOracle base currency unit
    ltv: int  # bps
    liquidation_threshold: int  # bps
    liquidation_bonus: int  # bps including 100%: 10500 means a 5% bonus
    reserve_factor: int  # bps
    liquidation_protocol_fee: int  # bps of the bonus
    optimal_usage: int  # ray
    base_rate: int  # ray
    slope1: int  # ray
    slope2: int  # ray
    liquidity_whole_tokens: int  # supplied by the liquidity provider so borrowers can borrow


def _pct(value: float) -> int:
    return round(value * RAY) // 100


# Parameters in the range of Aave's Ethereum market.
DEFAULT_RESERVES: tuple[ReserveSpec, ...] = (
    ReserveSpec(
        "WETH",
        "Wrapped Ether (devnet)",
        18,
        3_000 * 10**8,
        8050,
        8300,
        10500,
        1500,
        1000,
        _pct(80),
        0,
        _pct(3.3),
        _pct(80),
        40_000,
    ),
    ReserveSpec(
        "USDC",
        "USD Coin (devnet)",
        6,
        1 * 10**8,
        7700,
        8000,
        10450,
        1000,
        1000,
        _pct(90),
        0,
        _pct(4),
        _pct(60),
        120_000_000,
    ),
    ReserveSpec(
        "WBTC",
        "Wrapped BTC (devnet)",
        8,
        60_000 * 10**8,
        7300,
        7800,
        10500,
        2000,
        1000,
        _pct(45),
        0,
        _pct(4),
        _pct(300),
        2_000,
    ),
)

FLASHLOAN_PREMIUM_TOTAL = 5  # bps (0.05%)
FLASHLOAN_PREMIUM_TO_PROTOCOL = 0
PRICE_DECIMALS = 8


@dataclass(frozen=True)
class EModeSpec:
    """An efficiency-mode category and its member assets."""

    id: int
    ltv: int
    liquidation_threshold: int
    liquidation_bonus: int
    label: str
    members: tuple[str, ...]


DEFAULT_EMODES: tuple[EModeSpec, ...] = (
    EModeSpec(1, 9000, 9300, 10300, "ETH-BTC (devnet)", ("WETH", "WBTC")),
)
