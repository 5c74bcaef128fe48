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


# The v3.6 devnet only: a fourth reserve, listed like the others, whose LTV and liquidation
# threshold the world then sets to 0, keeping its bonus (see keeper/devnet/governance.py), so
# that one account holds enabled collateral with LT 0; the three reserves above keep theirs.
LT_ZERO_RESERVE = ReserveSpec(
    "LINK",
    "ChainLink Token (devnet)",
    18,
    15 * 10**8,
    6600,
    7100,
    10750,
    2000,
    1000,
    _pct(45),
    0,
    _pct(7),
    _pct(300),
    200_000,
)
ORIGIN_RESERVES: tuple[ReserveSpec, ...] = (*DEFAULT_RESERVES, LT_ZERO_RESERVE)


@dataclass(frozen=True)
class EModeBitmapSpec:
    """A v3.2+ eMode category, with its two asset bitmaps.

    Its LTV, LT and bonus apply only to the assets in ``collateral``; an account in it may borrow
    only the assets in ``borrowable``.
    """

    id: int
    ltv: int
    liquidation_threshold: int
    liquidation_bonus: int
    label: str
    collateral: tuple[str, ...]
    borrowable: tuple[str, ...]


# Category 1 is DEFAULT_EMODES' category with both assets in both bitmaps. Category 2 takes WETH
# as collateral and lends only USDC, so an account in it can also hold collateral outside its
# bitmap (WBTC, USDC) at the reserve's own parameters.
ORIGIN_EMODES: tuple[EModeBitmapSpec, ...] = (
    EModeBitmapSpec(1, 9000, 9300, 10300, "ETH-BTC (devnet)", ("WETH", "WBTC"), ("WETH", "WBTC")),
    EModeBitmapSpec(2, 8500, 8800, 10400, "ETH-USD (devnet)", ("WETH",), ("USDC",)),
)
