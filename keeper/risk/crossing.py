"""Where one account is liquidatable as one asset's price runs from 0 to its current price.

Solved in integers from a :class:`keeper.risk.lines.PriceLine`, instead of evaluating the health
factor at every price a bisection or a curve asks about. Notation: ``t = collateral * p // unit``
(the reserve's collateral value at price ``p``), ``D`` the total debt, ``W`` and ``T`` the
threshold-weighted and plain collateral of the account (base units; see lines.py).

- **3.5+, collateral only** (the account does not borrow the asset): healthy iff
  ``W * WAD + D // 2 >= 1e22 * D``, i.e. ``W >= Y = ceil((1e22 * D - D // 2) / WAD)``; ``W`` is
  ``W_other + threshold * t``, non-decreasing in ``p``: healthy iff ``t >= ceil((Y - W_other) /
  threshold)``, iff ``p >= L = ceil(t_min * unit / collateral)``. One crossing.
- **v3.0-3.4, collateral only**: healthy iff ``percentMul(T, k) >= X`` with ``k = W // T`` and
  ``X = D - (D // 2) // WAD`` the least collateral whose ``wadDiv`` by ``D`` reaches 1, i.e. iff
  ``T * k >= Y = 10_000 * X - 5_000``. The floored average threshold ``k`` makes ``T * k`` a
  sawtooth (``W - T < T * k <= W``), so: below ``t_A = ceil((Y - W_other) / threshold)`` the account
  is liquidatable (``T * k <= W < Y``), from ``t_B = ceil((Y - 1 - W_other + T_other) /
  (threshold - 1))`` it is healthy (``T * k >= W - T + 1 >= Y``), and between the two ``k`` is
  constant on runs whose ends solve ``(W_other + threshold * t) // (T_other + t) = k`` exactly
  (``W / T`` moves monotonically toward the reserve's threshold); on a run of ``k`` the
  account is healthy iff ``t >= ceil(Y / k) - T_other``. The window spans about ``T / threshold``
  in ``t``, over which ``W / T`` moves by less than one bps: one or two runs.
- **debt only** (the account borrows the asset and holds none of it as collateral): the
  collateral side ``N`` is fixed and healthy iff ``g(D) <= N`` with ``g`` strictly increasing
  (``WAD * D - D // 2`` before 3.5, ``1e22 * D - D // 2`` from 3.5), i.e. ``D <= D_max``; ``D`` is
  ``D_other + debt * p / unit`` rounded, so healthy iff ``p <= U`` in closed form.
- anything else (the asset both supplied and borrowed): no closed form; None, and the caller
  evaluates the line's exact health factor at each price it needs.

Every crossing found is then checked with the line's exact health factor on both sides (the
last units fixed up: the analytic candidate must be right to the unit, else None and the
exact evaluation is used), so the result is what an exact bisection or step-by-step
evaluation returns.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from typing import TYPE_CHECKING

from keeper.protocols.aave_v3.math import HALF_PERCENTAGE_FACTOR, PERCENTAGE_FACTOR, WAD

if TYPE_CHECKING:
    from collections.abc import Callable

    from keeper.risk.lines import PriceLine

MAX_RUNS = 64  # runs of the floored average threshold inside the window (one or two in practice)
_WAD_BPS = WAD * PERCENTAGE_FACTOR


@dataclass(frozen=True, slots=True)
class Crossings:
    """Liquidatable at price ``p`` (in [0, top]) iff ``start`` xor an odd count of points <= p."""

    start: bool
    points: tuple[int, ...]

    def liquidatable(self, price: int) -> bool:
        """Whether the account is liquidatable with the asset at ``price``."""
        return self.start ^ (bisect_right(self.points, price) & 1 == 1)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def liquidation_price(liquidatable: Callable[[int], bool], top: int) -> int | None:
    """The reference bisection (keeper.risk.radar.liquidation_price) on a predicate.

    Lowest price still healthy, from the liquidatable ``0`` and the healthy ``top``; None when
    the account is liquidatable at ``top`` or healthy at 0. With a unique crossing it is that
    crossing; otherwise the very point the reference bisection's path reaches.
    """
    if liquidatable(top) or not liquidatable(0):
        return None
    low, high = 0, top
    while high - low > 1:
        mid = (low + high) // 2
        if liquidatable(mid):
            low = mid
        else:
            high = mid
    return high


def crossing_price(found: Crossings, top: int) -> int | None:
    """:func:`liquidation_price` on a solved set: the bisection replayed on comparisons only."""
    if found.start and len(found.points) == 1 and found.points[0] <= top:
        return found.points[0]  # one crossing: every bisection path ends on it
    return liquidation_price(found.liquidatable, top)


_NEVER = Crossings(False, ())
_ALWAYS = Crossings(True, ())


def solve(line: PriceLine, top: int, health_at_top: int) -> Crossings | None:
    """The prices in [0, top] at which the account is liquidatable; None: no closed form.

    ``health_at_top`` is the account's exact health factor at ``top`` (its current price).
    """
    weighs = line.collateral != 0 and (line.threshold != 0 or not line.directed)
    if line.debt:
        if weighs:
            return None  # supplied and borrowed: no closed form
        if health_at_top >= WAD:
            return _NEVER  # the debt only shrinks as the price falls: healthy on all of [0, top]
        found = _debt_only(line, top)
    elif weighs:
        if line.directed and health_at_top < WAD:
            return _ALWAYS  # W only shrinks as the price falls: liquidatable on [0, top]
        intervals = _collateral_v35(line) if line.directed else _collateral_v30(line, top)
        if intervals is None:
            return None
        found = _from_value_intervals(intervals, line, top)
    else:  # the asset's price does not enter this account's health
        return _ALWAYS if health_at_top < WAD else _NEVER
    return found if _checked(found, line, health_at_top) else None


def _checked(found: Crossings, line: PriceLine, health_at_top: int) -> bool:
    """Each crossing is right to the unit: the exact health factor flips exactly there."""
    state = found.start
    if not found.points and (line.health(0) < WAD) != state:
        return False
    for point in found.points:
        if (line.health(point - 1) < WAD) != state:
            return False
        state = not state
        if (line.health(point) < WAD) != state:
            return False
    return (health_at_top < WAD) == state


def _collateral_v35(line: PriceLine) -> list[tuple[int, int]]:
    """Liquidatable ``t`` values as inclusive intervals, 3.5+ (one interval from 0)."""
    debt = line.debt_other
    if debt == 0:
        return []
    need = _ceil_div(_WAD_BPS * debt - debt // 2, WAD)  # least W that is healthy
    t_min = max(0, _ceil_div(need - line.weighted_other, line.threshold))
    return [(0, t_min - 1)] if t_min > 0 else []


def _collateral_v30(line: PriceLine, top: int) -> list[tuple[int, int]] | None:
    """Liquidatable ``t`` values as inclusive intervals, v3.0-3.4 (runs of the average)."""
    debt = line.debt_other
    if debt == 0:
        return []
    lt, t_other, w_other = line.threshold, line.collateral_other, line.weighted_other
    if lt < 2:
        return None  # a threshold of 0 or 1 bps in the average: no closed form
    least = debt - (debt // 2) // WAD  # least percentMul(T, k) with wadDiv(., D) >= WAD
    y = PERCENTAGE_FACTOR * least - HALF_PERCENTAGE_FACTOR  # healthy iff T * k >= y
    t_top = line.collateral * top // line.unit
    t_a = max(0, _ceil_div(y - w_other, lt))
    t_b = min(max(t_a, _ceil_div(y - 1 - w_other + t_other, lt - 1)), t_top + 1)
    out: list[tuple[int, int]] = []
    if t_a > 0:
        out.append((0, t_a - 1))
    start, runs = t_a, 0
    while start < t_b:
        runs += 1
        if runs > MAX_RUNS:
            return None
        k = (w_other + lt * start) // (t_other + start)
        end = _run_end(k, t_other, w_other, lt)
        last = t_b - 1 if end is None else min(end, t_b - 1)
        sick = last if k == 0 else min(last, _ceil_div(y, k) - t_other - 1)
        if sick >= start:
            if out and out[-1][1] + 1 == start:
                out[-1] = (out[-1][0], sick)
            else:
                out.append((start, sick))
        start = last + 1
    return out


def _run_end(k: int, t_other: int, w_other: int, lt: int) -> int | None:
    """The last ``t`` of the run where ``(w_other + lt * t) // (t_other + t) == k``; None: no end.

    ``W / T`` moves monotonically toward ``lt`` as ``t`` grows: down when ``lt < k``, up when
    ``lt > k``, and stays in [lt, lt + 1) when ``k == lt``.
    """
    if lt < k:  # k(t) >= k  iff  (k - lt) * t <= w_other - k * t_other
        return (w_other - k * t_other) // (k - lt)
    if lt <= k + 1:
        return None
    # k(t) <= k  iff  (lt - k - 1) * t < (k + 1) * t_other - w_other
    return _ceil_div((k + 1) * t_other - w_other, lt - k - 1) - 1


def _from_value_intervals(intervals: list[tuple[int, int]], line: PriceLine, top: int) -> Crossings:
    """Map liquidatable ``t`` intervals to prices: ``s <= c * p // u <= e`` for p in [0, top]."""
    c, u = line.collateral, line.unit
    flips: list[int] = []
    start = False
    for low_t, high_t in intervals:
        low = _ceil_div(low_t * u, c)
        high = min(_ceil_div((high_t + 1) * u, c) - 1, top)
        if low > high:
            continue
        if low == 0:
            start = True
        elif flips and flips[-1] == low:
            flips.pop()  # adjacent to the previous interval: no flip between them
        else:
            flips.append(low)
        if high < top:
            flips.append(high + 1)
    return Crossings(start, tuple(flips))


def _debt_only(line: PriceLine, top: int) -> Crossings:
    """Healthy iff the debt's base value stays at or under the most the collateral carries."""
    if line.directed:
        carried = line.weighted_other * WAD  # healthy iff 1e22 * D - D // 2 <= carried
        slope = _WAD_BPS
    else:
        total = line.collateral_other
        average = line.weighted_other // total if total else 0
        carried = (total * average + HALF_PERCENTAGE_FACTOR) // PERCENTAGE_FACTOR * WAD
        slope = WAD
    most = 2 * carried // (2 * slope - 1)
    while slope * (most + 1) - (most + 1) // 2 <= carried:
        most += 1
    while most >= 0 and slope * most - most // 2 > carried:
        most -= 1
    room = most - line.debt_other  # the most this reserve's debt value may be
    if room < 0:
        return Crossings(True, ())
    if line.directed:  # ceil(debt * p / unit) <= room
        highest = room * line.unit // line.debt
    else:  # debt * p // unit <= room
        highest = ((room + 1) * line.unit - 1) // line.debt
    if highest >= top:
        return Crossings(False, ())
    return Crossings(False, (highest + 1,))


__all__ = ["Crossings", "crossing_price", "liquidation_price", "solve"]
