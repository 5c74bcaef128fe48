"""One market frozen at one block: what the radar, the stress test and the cascade work on.

Plain data, filled from the live tracker (keeper.risk.live) or from a snapshot file
(keeper.risk.snapshot). Health is always computed from it with the engine's own exact code
(keeper.protocols.aave_v3.health), never re-implemented.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from keeper.protocols.aave_v3.config import is_using_as_collateral, used_reserve_indices
from keeper.protocols.aave_v3.health import build_view
from keeper.protocols.aave_v3.versions import AaveVersion, PoolRules

if TYPE_CHECKING:
    from collections.abc import Mapping

    from keeper.protocols.aave_v3.health import MarketView
    from keeper.protocols.aave_v3.state import AccountState, EModeCategory, ReserveState


@dataclass(frozen=True, slots=True)
class PoolState:
    """A Uniswap V3 pool at the block: ``slot0()``, ``liquidity()`` and the ticks around it.

    ``ticks`` are the initialized ticks (tick, liquidityNet) of the bitmap words read, which
    cover ``tick_low`` to ``tick_high``; ``tick_spacing`` 0: no tick was read (a snapshot of an
    older keeper), the in-range liquidity then stands for the whole curve.
    """

    address: str
    token0: str
    token1: str
    fee: int  # hundredths of a basis point (3000 = 0.3%)
    sqrt_price_x96: int
    liquidity: int
    tick: int = 0
    tick_spacing: int = 0
    tick_low: int = 0
    tick_high: int = 0
    ticks: tuple[tuple[int, int], ...] = ()


@dataclass
class MarketState:
    """Reserves, eMode categories, oracle prices and every account at ``block``."""

    block: int
    timestamp: int
    reserves: dict[str, ReserveState]  # by asset address
    emodes: dict[int, EModeCategory]
    prices: dict[str, int]  # oracle prices in base units
    accounts: dict[str, AccountState]
    symbols: dict[str, str] = field(default_factory=dict)
    base_unit: int = 10**8  # the oracle's BASE_CURRENCY_UNIT (USD x 1e8 on Aave's markets)
    pool_version: str = "3.0"  # the Pool's release (AaveVersion value)
    pools: list[PoolState] = field(default_factory=list)

    @property
    def rules(self) -> PoolRules:
        """The liquidation and health rules of the Pool's version."""
        return PoolRules(AaveVersion(self.pool_version))

    def view(self, prices: Mapping[str, int] | None = None) -> MarketView:
        """The engine's market view at ``timestamp``, with these prices (default: the oracle's)."""
        return build_view(
            list(self.reserves.values()),
            self.emodes,
            self.prices if prices is None else prices,
            self.timestamp,
            self.rules,
        )

    def symbol(self, asset: str) -> str:
        """The token symbol of a reserve (its short address when unknown)."""
        return self.symbols.get(asset) or asset[:10]

    def asset(self, name: str) -> str | None:
        """A reserve by symbol (case-insensitive) or address; None when not listed."""
        for asset in self.reserves:
            if name.lower() in {asset.lower(), self.symbol(asset).lower()}:
                return asset
        return None

    def assets(self) -> list[str]:
        """Listed reserves in the Pool's order."""
        return [r.asset for r in sorted(self.reserves.values(), key=lambda r: r.index)]


def collateral_indices(account: AccountState, view: MarketView) -> list[int]:
    """Reserves that count as the account's collateral: enabled, with a threshold, non-zero."""
    out = []
    for i in used_reserve_indices(account.user_config):
        reserve = view.reserves[i] if i < len(view.reserves) else None
        if (
            reserve is not None
            and reserve.liquidation_threshold != 0
            and is_using_as_collateral(account.user_config, i)
            and account.scaled_collateral.get(i, 0) > 0
        ):
            out.append(i)
    return out


def exposed_to(account: AccountState, view: MarketView, asset: str) -> bool:
    """True when the account's health depends on ``asset``'s price."""
    index = view.reserve_index(asset)
    if index is not None and index in used_reserve_indices(account.user_config):
        return True
    emode = view.emodes.get(account.emode) if account.emode else None
    return emode is not None and emode.price_source == asset
