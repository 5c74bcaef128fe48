"""The liquidation radar: how far each account is from liquidation, and what a fall would free.

For each account with debt: its health factor and, per collateral asset, the lowest price of that
asset (every other price unchanged) at which the account is still healthy: its liquidation price.
For the market: the debt that is liquidatable at each 1% step of each asset's price drop.

Every health factor here comes from ``account_data`` (the engine's GenericLogic mirror) at a
changed price, so each number is what ``getUserAccountData`` would return after that price move.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

from keeper.protocols.aave_v3.health import account_data
from keeper.protocols.aave_v3.liquidation import is_liquidatable
from keeper.protocols.aave_v3.positions import grace_wait
from keeper.risk.market import collateral_indices, exposed_to
from keeper.risk.shock import shocked_price

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from keeper.protocols.aave_v3.health import MarketView
    from keeper.protocols.aave_v3.reads import AccountData
    from keeper.protocols.aave_v3.state import AccountState, ReserveState

DEFAULT_MAX_DROP_PCT = 50


def health_at(account: AccountState, view: MarketView, asset: str, price: int) -> int:
    """The account's health factor (wad) with ``asset`` at ``price`` and all else unchanged."""
    return account_data(account, view.with_price(asset, price)).health_factor


def liquidation_price(account: AccountState, view: MarketView, asset: str) -> int | None:
    """The lowest price of ``asset`` at which the account is still healthy.

    At the returned price ``L`` the health factor is >= 1 and at ``L - 1`` it is < 1 (exact, in
    the oracle's units). None when the account is already liquidatable, or when even a price of
    zero leaves it healthy. Binary search on the exact health factor: it is non-decreasing in a
    collateral's price, up to the Pool's flooring of the weighted liquidation threshold, which
    can only matter within about 0.01% of the crossing.
    """
    index = view.reserve_index(asset)
    reserve = view.reserves[index] if index is not None else None
    if reserve is None:
        return None
    current = reserve.price
    if is_liquidatable(health_at(account, view, asset, current)):
        return None
    if not is_liquidatable(health_at(account, view, asset, 0)):
        return None
    low, high = 0, current  # invariant: liquidatable at low, healthy at high
    while high - low > 1:
        mid = (low + high) // 2
        if is_liquidatable(health_at(account, view, asset, mid)):
            low = mid
        else:
            high = mid
    return high


@dataclass(frozen=True)
class CollateralRadar:
    """One collateral asset of one account: its price now and its liquidation price."""

    asset: str
    price: int
    liquidation_price: int | None

    @property
    def drop(self) -> Fraction | None:
        """The relative fall to the liquidation price (0.2 = 20%); None without one."""
        if self.liquidation_price is None or self.price == 0:
            return None
        return Fraction(self.price - self.liquidation_price, self.price)


@dataclass(frozen=True)
class AccountRadar:
    """One account's health and its liquidation price per collateral asset."""

    data: AccountData
    collateral: tuple[CollateralRadar, ...]
    waiting_until: int | None = None  # liquidatable, held back by a grace period until then

    @property
    def liquidatable(self) -> bool:
        """Health factor below 1 now."""
        return is_liquidatable(self.data.health_factor)

    @property
    def distance(self) -> Fraction | None:
        """The smallest single-asset fall that liquidates it.

        0 when it is already liquidatable, None when no single asset's fall does.
        """
        if self.liquidatable:
            return Fraction(0)
        drops = [c.drop for c in self.collateral if c.drop is not None]
        return min(drops) if drops else None


def account_radar(
    account: AccountState,
    view: MarketView,
    reserves: Mapping[str, ReserveState] | None = None,
) -> AccountRadar:
    """The radar of one account (with ``reserves``, whether a grace period holds it back)."""
    data = account_data(account, view)
    rows = []
    for i in collateral_indices(account, view):
        reserve = view.reserves[i]
        if reserve is None:
            continue
        rows.append(
            CollateralRadar(
                reserve.asset, reserve.price, liquidation_price(account, view, reserve.asset)
            )
        )
    waiting = (
        grace_wait(account, view, reserves)
        if reserves is not None and is_liquidatable(data.health_factor)
        else None
    )
    return AccountRadar(data, tuple(rows), waiting)


def sort_key(row: AccountRadar) -> tuple[int, Fraction, int]:
    """Nearest to liquidation first; accounts no single fall liquidates last, by health."""
    distance = row.distance
    if distance is None:
        return (1, Fraction(0), row.data.health_factor)
    return (0, distance, row.data.health_factor)


@dataclass(frozen=True)
class CurvePoint:
    """The debt liquidatable once one asset's price has dropped by ``drop_pct`` percent."""

    drop_pct: int
    price: int
    accounts: int
    debt_base: int  # total debt of the liquidatable accounts, at the dropped price


def debt_curve(
    accounts: Iterable[AccountState],
    view: MarketView,
    asset: str,
    max_drop_pct: int = DEFAULT_MAX_DROP_PCT,
) -> list[CurvePoint]:
    """Liquidatable debt at 0%, 1%, ... ``max_drop_pct``% of ``asset``'s price drop.

    Accounts not exposed to the asset keep their health; only the exposed ones are recomputed.
    """
    index = view.reserve_index(asset)
    reserve = view.reserves[index] if index is not None else None
    if reserve is None:
        return []
    exposed: list[AccountState] = []
    steady_count = steady_debt = 0
    for account in accounts:
        if exposed_to(account, view, asset):
            exposed.append(account)
            continue
        data = account_data(account, view)
        if is_liquidatable(data.health_factor):
            steady_count += 1
            steady_debt += data.total_debt_base
    points = []
    for step in range(max_drop_pct + 1):
        price = shocked_price(reserve.price, -step)
        shocked = view.with_price(asset, price)
        count, debt = steady_count, steady_debt
        for account in exposed:
            data = account_data(account, shocked)
            if is_liquidatable(data.health_factor):
                count += 1
                debt += data.total_debt_base
        points.append(CurvePoint(step, price, count, debt))
    return points


@dataclass(frozen=True)
class Radar:
    """The whole radar: accounts nearest to liquidation first, and the curve per asset."""

    accounts: list[AccountRadar]
    curves: dict[str, list[CurvePoint]]  # asset -> points from 0% to max_drop_pct

    def health_factors(self) -> list[int]:
        """Health factors (wad) of the accounts with debt."""
        return [r.data.health_factor for r in self.accounts]


METHODS = ("solve", "bisect")


def radar(
    accounts: Mapping[str, AccountState],
    view: MarketView,
    assets: Iterable[str],
    max_drop_pct: int = DEFAULT_MAX_DROP_PCT,
    reserves: Mapping[str, ReserveState] | None = None,
    method: str = "solve",
) -> Radar:
    """The radar of every account with debt, and the debt curves of ``assets``.

    ``method`` "solve" (the default) solves each liquidation price and curve step in integers
    (keeper.risk.solved); "bisect" is the reference: a bisection per account and asset and a
    recompute per curve step. Both give the same radar.
    """
    if method not in METHODS:
        raise ValueError(f"unknown radar method {method!r} (one of {', '.join(METHODS)})")
    if method == "solve":
        from keeper.risk.solved import solved_radar  # noqa: PLC0415 - it builds on this module

        return solved_radar(accounts, view, assets, max_drop_pct, reserves)
    return reference_radar(accounts, view, assets, max_drop_pct, reserves)


def reference_radar(
    accounts: Mapping[str, AccountState],
    view: MarketView,
    assets: Iterable[str],
    max_drop_pct: int = DEFAULT_MAX_DROP_PCT,
    reserves: Mapping[str, ReserveState] | None = None,
) -> Radar:
    """The reference radar: bisection per account and asset, a recompute per curve step."""
    rows = [
        account_radar(a, view, reserves)
        for a in accounts.values()
        if a.user_config and account_data(a, view).total_debt_base > 0
    ]
    rows.sort(key=sort_key)
    curves = {asset: debt_curve(accounts.values(), view, asset, max_drop_pct) for asset in assets}
    return Radar(rows, curves)


__all__ = [
    "METHODS",
    "AccountRadar",
    "CollateralRadar",
    "CurvePoint",
    "Radar",
    "account_radar",
    "debt_curve",
    "health_at",
    "liquidation_price",
    "radar",
    "reference_radar",
]
