"""The radar solved in integers: the same result as the reference bisection, without bisecting.

Per account, one exact :func:`account_data` and one :func:`keeper.risk.lines.decompose`; per
(account, asset) a :class:`keeper.risk.lines.PriceLine` and the prices where it is liquidatable
(:func:`keeper.risk.crossing.solve`, closed forms checked to the unit). The liquidation price is
the reference bisection replayed on those prices (a unique crossing is the answer itself); each
debt-curve step counts the accounts from sorted crossings instead of recomputing every exposed
account at every step. Where a closed form does not apply, the line's exact health factor is
evaluated at each price asked (the same integers); where the account cannot be decomposed (a
pre-3.2 eMode price source), the reference code runs for it. :class:`SolveStats` counts each.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING

from keeper.protocols.aave_v3.health import account_data
from keeper.protocols.aave_v3.liquidation import is_liquidatable
from keeper.protocols.aave_v3.math import WAD
from keeper.protocols.aave_v3.positions import grace_wait
from keeper.risk.crossing import crossing_price, liquidation_price, solve
from keeper.risk.lines import decompose
from keeper.risk.market import exposed_to
from keeper.risk.radar import (
    DEFAULT_MAX_DROP_PCT,
    AccountRadar,
    CollateralRadar,
    CurvePoint,
    Radar,
    account_radar,
)
from keeper.risk.radar import liquidation_price as reference_liquidation_price
from keeper.risk.shock import shocked_price

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from keeper.protocols.aave_v3.health import MarketView, ReserveView
    from keeper.protocols.aave_v3.reads import AccountData
    from keeper.protocols.aave_v3.state import AccountState, ReserveState
    from keeper.risk.crossing import Crossings
    from keeper.risk.lines import Decomposition, PriceLine

_BORROWING = int("01" * 128, 2)  # the borrowing bit (2i) of every reserve of a user bitmap
_ZERO = Fraction(0)


@dataclass
class SolveStats:
    """How each (account, asset) was answered."""

    closed_form: int = 0  # crossings solved and checked to the unit
    exact_line: int = 0  # no closed form: the line's exact health at each price asked
    reference: int = 0  # not decomposable: the reference code (account_data per price)

    def as_dict(self) -> dict[str, int]:
        """The counts by name."""
        return {
            "closed_form": self.closed_form,
            "exact_line": self.exact_line,
            "reference": self.reference,
        }


@dataclass
class _Curve:
    """One asset's debt curve, gathered account by account."""

    reserve: ReserveView
    prices: list[int]  # the step prices, 0% first
    steady_count: int = 0  # liquidatable whatever the asset's price
    steady_debt: int = 0
    below: list[tuple[int, int]] = field(default_factory=list)  # (L, debt): liquidatable p < L
    rising: list[tuple[int, PriceLine]] = field(default_factory=list)  # liquidatable p >= U
    crossed: list[tuple[Crossings, int]] = field(default_factory=list)  # several crossings
    exact: list[PriceLine] = field(default_factory=list)  # the line's health at every step
    reference: list[AccountState] = field(default_factory=list)  # account_data at every step
    _others: list[int] = field(default_factory=list)  # prefix sums of the rising debt_other
    _amounts: list[tuple[int, int]] = field(default_factory=list)  # rising (debt, unit)

    def steady(self, data: AccountData) -> None:
        self.steady_count += 1
        self.steady_debt += data.total_debt_base

    def add(self, line: PriceLine, found: Crossings | None) -> None:
        if found is None:
            self.exact.append(line)
            return
        points = found.points
        if line.debt == 0:  # its debt does not move with the price
            if found.start and len(points) <= 1:
                self.below.append(
                    (points[0] if points else self.reserve.price + 1, line.debt_other)
                )
            elif found.start or points:
                self.crossed.append((found, line.debt_other))
        elif not found.start and len(points) == 1:
            self.rising.append((points[0], line))
        elif found.start and not points:
            self.rising.append((0, line))
        elif found.start or points:
            self.exact.append(line)

    def points(self, view: MarketView) -> list[CurvePoint]:
        self.below.sort(key=lambda b: b[0])
        self.rising.sort(key=lambda r: r[0])
        levels = [b[0] for b in self.below]
        suffix = [0] * (len(self.below) + 1)
        for k in range(len(self.below) - 1, -1, -1):
            suffix[k] = suffix[k + 1] + self.below[k][1]
        starts = [r[0] for r in self.rising]
        return [
            self._point(step, price, (levels, suffix, starts), view)
            for step, price in enumerate(self.prices)
        ]

    def _rising_debt(self, count: int, price: int, directed: bool) -> int:
        """The summed PriceLine.debt_base(price) of the first ``count`` rising lines."""
        if not count:
            return 0
        if len(self._others) != len(self.rising) + 1:
            self._others = [0]
            for _, line in self.rising:
                self._others.append(self._others[-1] + line.debt_other)
            self._amounts = [(line.debt, line.unit) for _, line in self.rising]
        amounts = self._amounts[:count]
        if directed:  # ceil(debt * price / unit), as PriceLine.debt_base
            own = sum(-(-(d * price) // u) for d, u in amounts)
        else:
            own = sum(price * d // u for d, u in amounts)
        return self._others[count] + own

    def _point(
        self,
        step: int,
        price: int,
        sorted_: tuple[list[int], list[int], list[int]],
        view: MarketView,
    ) -> CurvePoint:
        levels, suffix, starts = sorted_
        first = bisect_right(levels, price)  # below[first:] have L > price
        count = self.steady_count + len(levels) - first
        debt = self.steady_debt + suffix[first]
        rising = bisect_right(starts, price)
        count += rising
        debt += self._rising_debt(rising, price, view.directed_rounding)
        for found, constant in self.crossed:
            if found.liquidatable(price):
                count += 1
                debt += constant
        for line in self.exact:
            if line.health(price) < WAD:
                count += 1
                debt += line.debt_base(price)
        if self.reference:
            shocked = view.with_price(self.reserve.asset, price)
            for account in self.reference:
                data = account_data(account, shocked)
                if is_liquidatable(data.health_factor):
                    count += 1
                    debt += data.total_debt_base
        return CurvePoint(step, price, count, debt)


def _curves(view: MarketView, assets: Iterable[str], max_drop_pct: int) -> dict[str, _Curve | None]:
    out: dict[str, _Curve | None] = {}
    for asset in assets:
        index = view.reserve_index(asset)
        reserve = view.reserves[index] if index is not None else None
        out[asset] = (
            None
            if reserve is None
            else _Curve(
                reserve, [shocked_price(reserve.price, -s) for s in range(max_drop_pct + 1)]
            )
        )
    return out


def solved_radar(
    accounts: Mapping[str, AccountState],
    view: MarketView,
    assets: Iterable[str],
    max_drop_pct: int = DEFAULT_MAX_DROP_PCT,
    reserves: Mapping[str, ReserveState] | None = None,
    stats: SolveStats | None = None,
) -> Radar:
    """:func:`keeper.risk.radar.radar`, solved: the same rows and curves."""
    stats = stats if stats is not None else SolveStats()
    curves = _curves(view, assets, max_drop_pct)
    by_index = {
        i: c
        for c in curves.values()
        if c is not None and (i := view.reserve_index(c.reserve.asset)) is not None
    }
    # positions.grace_wait is None unless some reserve is in its grace period
    graced = (
        reserves
        if reserves is not None
        and any(r.in_grace_period(view.timestamp) for r in reserves.values())
        else None
    )
    rows: list[AccountRadar] = []
    for account in accounts.values():
        if not account.user_config & _BORROWING:
            continue  # no debt: never liquidatable, and no price creates debt
        data = account_data(account, view)
        if data.total_debt_base == 0:
            continue
        parts = decompose(account, view, data)
        if parts is None:
            rows.append(account_radar(account, view, reserves))
            for curve in by_index.values():
                if exposed_to(account, view, curve.reserve.asset):
                    stats.reference += 1
                    curve.reference.append(account)
                elif is_liquidatable(data.health_factor):
                    curve.steady(data)
            continue
        rows.append(_solved_account(account, view, data, parts, by_index, stats, graced))
    rows.sort(key=_order)
    return Radar(rows, {a: [] if c is None else c.points(view) for a, c in curves.items()})


def _solved_account(
    account: AccountState,
    view: MarketView,
    data: AccountData,
    parts: Decomposition,
    curves: Mapping[int, _Curve],
    stats: SolveStats,
    graced: Mapping[str, ReserveState] | None,
) -> AccountRadar:
    """One account's radar row; its lines go to the curves of the assets it uses."""
    health = data.health_factor
    sick = health < WAD
    config = account.user_config
    collateral = []
    for index in parts.terms:
        reserve = view.reserves[index]
        if reserve is None:
            continue
        line = parts.line(index, reserve.unit)
        found = solve(line, reserve.price, health)
        if found is None:
            stats.exact_line += 1
        else:
            stats.closed_form += 1
        curve = curves.get(index)
        if curve is not None:
            curve.add(line, found)
        # the rows of keeper.risk.market.collateral_indices: enabled, a threshold, a balance
        if (
            (config >> (2 * index + 1)) & 1
            and reserve.liquidation_threshold != 0
            and account.scaled_collateral.get(index, 0) > 0
        ):
            level = None if sick else _level(line, found, reserve.price)
            collateral.append(CollateralRadar(reserve.asset, reserve.price, level))
    if sick:
        for index, curve in curves.items():
            if index not in parts.terms:
                curve.steady(data)
    waiting = grace_wait(account, view, graced) if graced is not None and sick else None
    return AccountRadar(data, tuple(collateral), waiting)


def _level(line: PriceLine, found: Crossings | None, top: int) -> int | None:
    if found is None:
        return liquidation_price(lambda p: line.health(p) < WAD, top)
    return crossing_price(found, top)


def _order(row: AccountRadar) -> tuple[int, int, Fraction, int]:
    """:func:`keeper.risk.radar.sort_key` with an integer first: the same order, faster.

    ``floor(distance * 2**64)`` is non-decreasing in the distance, so sorting on it first and on
    the exact distance only among equals gives the very order of the exact key.
    """
    health = row.data.health_factor
    if health < WAD:
        return (0, 0, _ZERO, health)
    best: tuple[int, int, int] | None = None  # (scaled distance, numerator, denominator)
    for c in row.collateral:
        level = c.liquidation_price
        if level is None or c.price == 0:
            continue
        scaled = ((c.price - level) << 64) // c.price
        if (
            best is None
            or scaled < best[0]
            or (scaled == best[0] and (c.price - level) * best[2] < best[1] * c.price)
        ):
            best = (scaled, c.price - level, c.price)
    if best is None:
        return (1, 0, _ZERO, health)
    return (0, best[0], Fraction(best[1], best[2]), health)


def solved_liquidation_price(account: AccountState, view: MarketView, asset: str) -> int | None:
    """:func:`keeper.risk.radar.liquidation_price` (the reference bisection), solved."""
    index = view.reserve_index(asset)
    reserve = view.reserves[index] if index is not None else None
    if reserve is None or index is None:
        return None
    data = account_data(account, view)
    parts = decompose(account, view, data)
    if parts is None:
        return reference_liquidation_price(account, view, asset)
    line = parts.line(index, reserve.unit)
    return _level(line, solve(line, reserve.price, data.health_factor), reserve.price)


__all__ = ["SolveStats", "solved_liquidation_price", "solved_radar"]
