"""Morpho liquidation prices in closed form, curves and shocked oracle prices (pure)."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from keeper.protocols.morpho_blue.health import max_borrow
from keeper.protocols.morpho_blue.risk import (
    curve,
    liquidation_price,
    position_risks,
    shocked_price,
)
from keeper.protocols.morpho_blue.tracker import MarketView
from keeper.protocols.morpho_blue.types import MarketParams, MarketTotals, Position

WAD = 10**18
COLL, LOAN = "0x" + "01" * 20, "0x" + "02" * 20
PARAMS = MarketParams(LOAN, COLL, "0x" + "03" * 20, "0x" + "04" * 20, 86 * WAD // 100)


def test_the_liquidation_price_is_the_exact_boundary_of_morphos_rule() -> None:
    """At the solved price Morpho's rule (borrowed > maxBorrow, both roundings down) says
    liquidatable, one unit above it does not, over random sizes, decimals and LLTVs.
    """
    rng = random.Random(5)
    for _ in range(3_000):
        collateral = rng.randint(1, 10**30)
        borrowed = rng.randint(1, 10**30)
        lltv = rng.randint(1, WAD - 1)
        p = liquidation_price(collateral, borrowed, lltv)
        assert max_borrow(collateral, p, lltv) < borrowed
        assert max_borrow(collateral, p + 1, lltv) >= borrowed


def test_a_position_without_collateral_or_debt_has_no_liquidation_price() -> None:
    """No collateral, no debt or a zero LLTV: there is no boundary to solve (an error)."""
    for args in ((0, 10, WAD // 2), (10, 0, WAD // 2), (10, 10, 0)):
        with pytest.raises(ValueError, match="liquidation price needs"):
            liquidation_price(*args)


def _view(price: int) -> MarketView:
    totals = MarketTotals(10**12, 10**18, 5 * 10**11, 5 * 10**17, 0, 0)
    return MarketView(PARAMS.id, PARAMS, totals, price, 0)


def test_radar_rows_and_the_curve_count_what_each_drop_makes_liquidatable() -> None:
    """Positions come nearest first with the drop their oracle price needs (rounded up), and the
    curve at each drop counts exactly the positions whose liquidation price it reaches.
    """
    price = 2_000 * 10**24  # 1 WETH (18) in USDC (6), scaled by 1e36
    view = _view(price)
    positions = [
        (view.id, "0xa", Position(borrow_shares=10**12 * 1_700, collateral=10**18)),
        (view.id, "0xb", Position(borrow_shares=10**12 * 1_000, collateral=10**18)),
    ]
    risks = position_risks({view.id: view}, positions, {LOAN: 10**8}, {LOAN: 6})
    assert [r.account for r in risks] == ["0xa", "0xb"]
    assert all(0 < r.drop_bps < 10_000 for r in risks)
    points = curve(risks, view, 60)
    for point in points:
        assert point.positions == sum(r.liquidation_price >= point.price for r in risks)
    assert points[0].positions == 0
    assert points[-1].positions == 2


def test_a_shock_moves_a_market_price_by_its_collateral_over_its_loan_token() -> None:
    """The collateral's move multiplies the market's price, the loan token's divides it."""
    view = _view(1_000)
    assert shocked_price(view, {COLL: Decimal(-20)}) == 800
    assert shocked_price(view, {LOAN: Decimal(25)}) == 800
    assert shocked_price(view, {COLL: Decimal(-20), LOAN: Decimal(-20)}) == 1_000
