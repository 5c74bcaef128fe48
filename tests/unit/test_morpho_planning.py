"""Morpho planning: USD prices spread along the markets' oracles, and the liquidation arguments
that still hold when the transaction lands late.
"""

from __future__ import annotations

from keeper.core.plan import Plan, Skip, SkipKind
from keeper.protocols.morpho_blue.interest import accrue
from keeper.protocols.morpho_blue.liquidation import incentive_factor, liquidate, seized_for
from keeper.protocols.morpho_blue.math import WAD, to_shares_up
from keeper.protocols.morpho_blue.planner import LATE_S, PlanInputs, arguments, plan_liquidation
from keeper.protocols.morpho_blue.prices import USD_UNIT, usd_prices
from keeper.protocols.morpho_blue.tracker import MarketView
from keeper.protocols.morpho_blue.types import MarketParams, MarketTotals, Position

USDC, WETH, WSTETH, WBTC, DAI = ("0x" + c * 40 for c in "12345")
DECIMALS = {USDC: 6, WETH: 18, WSTETH: 18, WBTC: 8, DAI: 18}
ETH_IN_USDC = 2_000 * 10**24  # 2000 USDC (6) per WETH (18), scaled 1e36
LLTV = 860 * WAD // 1000
YEAR = 365 * 86_400


def test_usd_prices_follow_the_oracles_both_ways() -> None:
    """From USDC at 1 USD: WETH through WETH/USDC, wstETH through wstETH/WETH, and a loan token
    priced back from its collateral; a token no market reaches stays unpriced.
    """
    markets = [
        (WETH, USDC, ETH_IN_USDC),
        (WSTETH, WETH, 115 * 10**34),  # 1.15 WETH per wstETH
        (WSTETH, DAI, 2_300 * 10**36),  # DAI priced back from wstETH
    ]
    prices = usd_prices(markets, DECIMALS | {WBTC: 8}, [USDC])
    assert prices[USDC] == USD_UNIT
    assert prices[WETH] == 2_000 * USD_UNIT
    assert prices[WSTETH] == 2_300 * USD_UNIT
    assert prices[DAI] == USD_UNIT
    assert WBTC not in prices


def _view(debt: int, collateral: int) -> tuple[Position, MarketView]:
    shares = to_shares_up(debt, 0, 0)
    totals = MarketTotals(10**13, 10**19, debt, shares, 1_000, 0)
    params = MarketParams(USDC, WETH, "0x" + "66" * 20, "0x" + "77" * 20, LLTV)
    view = MarketView("0x" + "ab" * 32, params, totals, ETH_IN_USDC, WAD // YEAR)
    return Position(0, shares, collateral), view


def test_arguments_repay_all_only_when_still_covered_late() -> None:
    """Enough collateral: repay every share; too little: seize it all (bad debt); in between,
    fewer shares, so that the collateral still covers them LATE_S seconds later.
    """
    position, view = _view(1_800 * 10**6, 10**18)
    assert arguments(position, view) == (0, position.borrow_shares)
    thin, thin_view = _view(1_800 * 10**6, 8 * 10**17)
    assert arguments(thin, thin_view) == (8 * 10**17, 0)
    lif = incentive_factor(LLTV)
    exact = seized_for(position.borrow_shares, ETH_IN_USDC, lif, view.totals)
    # About 3,000 USDC units more than the debt's worth now: covered now, not LATE_S seconds
    # later (interest adds about 6,800 units), and too much to seize with the shares held.
    band = position.with_(collateral=exact + 3_000 * 10**36 // ETH_IN_USDC)
    late = accrue(view.totals, view.rate, view.totals.last_update + LATE_S).totals
    seized, shares = arguments(band, view)
    assert seized == 0
    assert 0 < shares < band.borrow_shares
    liquidate(band, late, ETH_IN_USDC, LLTV, repaid_shares=shares)  # holds when late


def test_plan_values_profit_and_inventory() -> None:
    """A plan pays when the incentive exceeds gas; without the loan tokens it is a typed skip."""
    position, view = _view(1_800 * 10**6, 10**18)
    usd = {USDC: USD_UNIT, WETH: 2_000 * USD_UNIT}
    inputs = PlanInputs(usd, DECIMALS, 300_000, 5 * USD_UNIT, 0, 10**12, 100, 95 * 10**16)
    plan = plan_liquidation("0x" + "99" * 20, position, view, inputs)
    assert isinstance(plan, Plan)
    assert plan.spend.asset == USDC
    assert plan.spend.amount >= plan.expected_spent >= 1_800 * 10**6
    assert plan.gross_profit_base > 0
    assert plan.expected_profit_base == plan.gross_profit_base - 5 * USD_UNIT
    poor = plan_liquidation(
        "0x" + "99" * 20, position, view, PlanInputs(usd, DECIMALS, 1, 0, 0, 10, 100, 0)
    )
    assert isinstance(poor, Skip)
    assert poor.kind is SkipKind.NO_INVENTORY
