"""Radar and stress for Morpho Blue markets: liquidation prices in closed form, and shocks. Pure.

Each Morpho market has one price (its oracle's: collateral in loan units, 36-decimal scale), so
a position's liquidation price is one number, solved exactly in integers from Morpho's own
rounding: liquidatable iff ``borrowed > wMulDown(mulDivDown(collateral, price, 1e36), lltv)``.
Both roundings are floors of a product, so the largest price at which that holds has a closed
form (:func:`liquidation_price`); below it the position is liquidatable, above it not.

Stress: assets' USD moves become each market's oracle move (the collateral's move over the loan
token's), and every position Morpho would then let be liquidated is liquidated whole, one after
another in each market (the totals move with each), with Morpho's exact math: what is repaid,
what is seized, what bad debt is realised. Markets are isolated (no shared collateral), so a
shock does not cascade from one market into another through health; a cascade through DEX
prices is not modelled here (see keeper/risk for Aave's).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING

from keeper.core.money import to_base_down
from keeper.protocols.morpho_blue.health import ORACLE_PRICE_SCALE, health_factor, is_healthy
from keeper.protocols.morpho_blue.liquidation import LiquidationRefusedError, largest
from keeper.protocols.morpho_blue.math import WAD

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from decimal import Decimal

    from keeper.protocols.morpho_blue.tracker import MarketView
    from keeper.protocols.morpho_blue.types import Position

BPS = 10_000


def liquidation_price(collateral: int, borrowed: int, lltv: int) -> int:
    """The highest oracle price at which Morpho lets the position be liquidated.

    ``floor(floor(c * p / 1e36) * lltv / 1e18) < borrowed`` holds iff ``floor(c * p / 1e36) <=
    X`` with ``X = floor((borrowed * 1e18 - 1) / lltv)``, iff ``p <= floor(((X + 1) * 1e36 - 1)
    / c)``. Needs collateral, debt and a non-zero LLTV (else there is no such price: never
    liquidatable without debt, always with debt and no collateral or a zero LLTV).
    """
    if collateral <= 0 or borrowed <= 0 or lltv <= 0:
        raise ValueError("a liquidation price needs collateral, debt and a non-zero LLTV")
    most = (borrowed * WAD - 1) // lltv
    return ((most + 1) * ORACLE_PRICE_SCALE - 1) // collateral


@dataclass(frozen=True)
class PositionRisk:
    """One borrowing position on the radar."""

    market_id: str
    account: str
    health_factor: int  # 18 decimals, as `keeper scan` reports it
    price: int  # the market's oracle price now
    liquidation_price: int  # the highest oracle price at which it is liquidatable
    drop_bps: int  # how far the oracle price must fall for that, rounded up (0: it already is)
    debt: int  # loan units, rounded up as Morpho's health check does
    debt_base: int | None  # USD (8 decimals), None while the loan token is unpriced


def _drop_bps(price: int, liquidation: int) -> int:
    if liquidation >= price:
        return 0
    return -(-(price - liquidation) * BPS // price)


def position_risks(
    views: Mapping[str, MarketView],
    positions: Iterable[tuple[str, str, Position]],
    usd: Mapping[str, int],
    decimals: Mapping[str, int],
) -> list[PositionRisk]:
    """Every position with debt and collateral in a priced market, the nearest first."""
    out = []
    for market_id, account, position in positions:
        view = views.get(market_id)
        if view is None or position.collateral == 0 or view.params.lltv == 0:
            continue
        debt = position.borrowed(view.totals)
        if debt == 0:
            continue
        loan = view.params.loan_token
        price = liquidation_price(position.collateral, debt, view.params.lltv)
        out.append(
            PositionRisk(
                market_id,
                account,
                health_factor(position, view.totals, view.price, view.params.lltv),
                view.price,
                price,
                _drop_bps(view.price, price),
                debt,
                to_base_down(debt, usd[loan], decimals[loan])
                if loan in usd and loan in decimals
                else None,
            )
        )
    out.sort(key=lambda r: (r.drop_bps, r.health_factor, r.market_id, r.account))
    return out


@dataclass(frozen=True)
class CurvePoint:
    """Positions of one market liquidatable once its oracle price has dropped ``drop_pct``."""

    drop_pct: int
    price: int
    positions: int
    debt: int  # loan units
    debt_base: int | None


def curve(risks: Iterable[PositionRisk], view: MarketView, max_drop: int) -> list[CurvePoint]:
    """Liquidatable debt of ``view``'s market at each whole-percent drop, 0 to ``max_drop``."""
    mine = [r for r in risks if r.market_id == view.id]
    points = []
    for drop in range(max_drop + 1):
        price = view.price * (100 - drop) // 100
        hit = [r for r in mine if r.liquidation_price >= price]
        priced = [r.debt_base for r in hit]
        points.append(
            CurvePoint(
                drop,
                price,
                len(hit),
                sum(r.debt for r in hit),
                None if None in priced else sum(p for p in priced if p is not None),
            )
        )
    return points


def shocked_price(view: MarketView, moves: Mapping[str, Decimal]) -> int:
    """The market's oracle price after USD moves (percent) of its tokens, rounded down.

    The collateral's move multiplies it, the loan token's divides it.
    """
    price = Fraction(view.price)
    coll, loan = view.params.collateral_token, view.params.loan_token
    if coll in moves:
        price *= (100 + Fraction(moves[coll])) / 100
    if loan in moves:
        price /= (100 + Fraction(moves[loan])) / 100
    return int(price)  # floor: the price is positive


@dataclass
class MarketStress:
    """What a shock liquidates in one market (loan and collateral units)."""

    market_id: str
    price_before: int
    price_after: int
    positions: int = 0
    liquidated: int = 0
    repaid: int = 0
    seized: int = 0
    bad_debt: int = 0
    bad_debt_positions: int = 0
    accounts: list[str] = field(default_factory=list)


def stress(
    views: Mapping[str, MarketView],
    positions: Iterable[tuple[str, str, Position]],
    moves: Mapping[str, Decimal],
) -> list[MarketStress]:
    """Every position liquidatable after ``moves``, liquidated whole in turn, per market."""
    by_market: dict[str, list[tuple[str, Position]]] = {}
    for market_id, account, position in positions:
        by_market.setdefault(market_id, []).append((account, position))
    out = []
    for market_id in sorted(by_market):
        view = views.get(market_id)
        if view is None:
            continue
        after = shocked_price(view, moves)
        result = MarketStress(market_id, view.price, after, positions=len(by_market[market_id]))
        totals, lltv = view.totals, view.params.lltv
        for account, position in sorted(by_market[market_id]):
            if position.collateral == 0 or is_healthy(position, totals, after, lltv):
                continue
            try:
                choice = largest(position, totals, after, lltv)
            except LiquidationRefusedError:
                continue
            r = choice.result
            totals = r.totals
            result.liquidated += 1
            result.repaid += r.repaid_assets
            result.seized += r.seized_assets
            result.bad_debt += r.bad_debt_assets
            result.bad_debt_positions += int(r.bad_debt_shares > 0)
            result.accounts.append(account)
        out.append(result)
    return out
