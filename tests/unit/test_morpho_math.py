"""Morpho Blue's integer math: rounding directions, accrual, health and liquidation amounts."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from keeper.protocols.morpho_blue.health import (
    NO_DEBT_HEALTH,
    health_factor,
    is_healthy,
    max_borrow,
)
from keeper.protocols.morpho_blue.interest import accrue
from keeper.protocols.morpho_blue.liquidation import (
    LiquidationRefusedError,
    RefusalKind,
    incentive_factor,
    largest,
    liquidate,
)
from keeper.protocols.morpho_blue.math import (
    WAD,
    to_assets_down,
    to_assets_up,
    to_shares_down,
    to_shares_up,
    w_taylor_compounded,
)
from keeper.protocols.morpho_blue.types import MarketParams, MarketTotals, Position

YEAR = 365 * 86_400
# 18/6 market at 2000 USDC per WETH: 2000 * 1e36 * 1e6 / 1e18.
PRICE = 2_000 * 10**24
LLTV = 860 * WAD // 1000


def test_incentive_factor_is_capped_and_rounded_down() -> None:
    """LIF = min(1.15, 1/(1 - 0.3 (1 - LLTV))), each step rounded down; low LLTVs hit the cap."""
    assert incentive_factor(LLTV) == 10**36 // (WAD - 3 * 10**17 * 14 * 10**16 // WAD)
    assert incentive_factor(LLTV) == 1_043_841_336_116_910_229
    assert incentive_factor(945 * WAD // 1000) == 10**36 // (WAD - 165 * 10**14)
    assert incentive_factor(0) == 115 * 10**16
    assert incentive_factor(625 * WAD // 1000) == 10**36 // (WAD - 1125 * 10**14)  # 1.1267..
    assert incentive_factor(500 * WAD // 1000) == 115 * 10**16  # 1/0.85 = 1.176 capped


def test_virtual_shares_round_in_the_protocols_favour() -> None:
    """The first borrow mints 1e6 shares per asset; up and down differ by one where inexact."""
    assert to_shares_up(100, 0, 0) == 100 * 10**6
    assert to_assets_down(10**6 - 1, 0, 0) == 0
    assert to_assets_up(10**6 - 1, 0, 0) == 1
    assert to_shares_down(7, 10, 3 * 10**7) == 7 * (3 * 10**7 + 10**6) // 11
    assert to_shares_up(7, 10, 3 * 10**7) == -(-7 * (3 * 10**7 + 10**6) // 11)


def test_taylor_compounding_has_three_terms() -> None:
    """One year at a 100% rate compounds to x + x^2/2 + x^3/6 (about 1.6667), not e - 1."""
    rate = WAD // YEAR
    first = rate * YEAR
    second = first * first // (2 * WAD)
    third = second * first // (3 * WAD)
    assert w_taylor_compounded(rate, YEAR) == first + second + third
    assert 1_666_666 * 10**12 < w_taylor_compounded(rate, YEAR) < 1_666_667 * 10**12


def test_accrual_mints_fee_shares_priced_before_the_fee() -> None:
    """Interest goes to both totals; the fee's shares are priced on the supply minus the fee."""
    totals = MarketTotals(10**12, 10**18, 8 * 10**11, 8 * 10**17, 1_000, WAD // 10)
    done = accrue(totals, WAD // YEAR, 1_000 + 86_400)
    interest = 8 * 10**11 * w_taylor_compounded(WAD // YEAR, 86_400) // WAD
    fee = interest // 10
    shares = fee * (10**18 + 10**6) // (10**12 + interest - fee + 1)
    assert (done.interest, done.fee_shares) == (interest, shares)
    assert done.totals.total_borrow_assets == 8 * 10**11 + interest
    assert done.totals.total_supply_shares == 10**18 + shares
    assert done.totals.last_update == 1_000 + 86_400
    assert accrue(totals, WAD // YEAR, 1_000) == accrue(totals, 0, 1_000)  # no time, no change
    no_irm = accrue(totals, WAD // YEAR, 5_000, has_irm=False).totals
    assert no_irm == totals.with_(last_update=5_000)


def test_health_boundary_is_morphos() -> None:
    """Borrowing exactly maxBorrow is healthy (HF 1e18); one more unit is liquidatable."""
    totals = MarketTotals(10**12, 10**18, 0, 0, 0, 0)
    collateral = 10**18  # 1 WETH -> 2000 USDC, times 0.86
    limit = max_borrow(collateral, PRICE, LLTV)
    assert limit == 1_720 * 10**6
    shares = to_shares_up(limit, 0, 0)
    position = Position(0, shares, collateral)
    grown = totals.with_(total_borrow_assets=limit, total_borrow_shares=shares)
    assert is_healthy(position, grown, PRICE, LLTV)
    assert health_factor(position, grown, PRICE, LLTV) == WAD
    more = grown.with_(total_borrow_assets=limit + 1)
    assert not is_healthy(position, more, PRICE, LLTV)
    assert health_factor(position, more, PRICE, LLTV) < WAD
    assert health_factor(Position(0, 0, collateral), totals, PRICE, LLTV) == NO_DEBT_HEALTH


@given(
    collateral=st.integers(1, 10**30),
    shares=st.integers(1, 10**30),
    borrow_assets=st.integers(1, 10**24),
    price=st.integers(1, 10**40),
    lltv=st.integers(1, WAD - 1),
)
def test_health_factor_below_one_exactly_when_unhealthy(
    collateral: int, shares: int, borrow_assets: int, price: int, lltv: int
) -> None:
    """The reported health factor is below 1e18 if and only if Morpho calls it unhealthy."""
    totals = MarketTotals(borrow_assets, shares, borrow_assets, shares, 0, 0)
    position = Position(0, shares, collateral)
    assert (health_factor(position, totals, PRICE if price == 0 else price, lltv) < WAD) == (
        not is_healthy(position, totals, price, lltv)
    )


def _underwater(collateral: int) -> tuple[Position, MarketTotals]:
    debt = 1_800 * 10**6  # above the 1,720 limit of one WETH
    shares = to_shares_up(debt, 0, 0)
    totals = MarketTotals(10**12, 10**18, debt, shares, 0, 0)
    return Position(0, shares, collateral), totals


def test_liquidation_both_ways_and_refusals() -> None:
    """Seized -> shares rounds up, shares -> seized rounds down; healthy and mixed inputs revert."""
    position, totals = _underwater(10**18)
    lif = incentive_factor(LLTV)
    by_seized = liquidate(position, totals, PRICE, LLTV, seized_assets=10**17)
    quoted = -(-(10**17) * PRICE // 10**36)
    assert by_seized.repaid_shares == to_shares_up(
        -(-quoted * WAD // lif), totals.total_borrow_assets, totals.total_borrow_shares
    )
    by_shares = liquidate(position, totals, PRICE, LLTV, repaid_shares=by_seized.repaid_shares)
    # Repaying the shares that 1e17 cost seizes at least as much, at most one loan unit more.
    assert 10**17 <= by_shares.seized_assets <= 10**17 + 2 * 10**36 // PRICE
    assert by_shares.repaid_assets == to_assets_up(
        by_seized.repaid_shares, 1_800 * 10**6, position.borrow_shares
    )
    assert liquidate_or_kind(position, totals) is RefusalKind.INCONSISTENT_INPUT
    both = liquidate_or_kind(position, totals, seized_assets=1, repaid_shares=1)
    assert both is RefusalKind.INCONSISTENT_INPUT
    healthy = position.with_(collateral=2 * 10**18)
    assert liquidate_or_kind(healthy, totals, seized_assets=1) is RefusalKind.HEALTHY_POSITION
    too_much = liquidate_or_kind(position, totals, seized_assets=10**18 + 1)
    assert too_much is RefusalKind.ARITHMETIC  # more collateral than the borrower has


def liquidate_or_kind(position: Position, totals: MarketTotals, **kwargs: int) -> object:
    """The result, or the refusal's kind."""
    try:
        return liquidate(position, totals, PRICE, LLTV, **kwargs)
    except LiquidationRefusedError as exc:
        return exc.kind


def test_largest_repays_all_or_realises_bad_debt() -> None:
    """Enough collateral: every share repaid, collateral left; too little: all seized, bad debt."""
    position, totals = _underwater(10**18)
    full = largest(position, totals, PRICE, LLTV)
    assert (full.seized_assets, full.repaid_shares) == (0, position.borrow_shares)
    assert full.result.position.borrow_shares == 0
    assert full.result.position.collateral > 0
    assert full.result.bad_debt_assets == 0
    thin, thin_totals = _underwater(8 * 10**17)  # 1,600 USDC of collateral for 1,800 of debt
    crash = largest(thin, thin_totals, PRICE, LLTV)
    assert crash.seized_assets == 8 * 10**17
    assert crash.result.position == Position(0, 0, 0)
    assert crash.result.bad_debt_assets > 0
    after = crash.result.totals
    assert after.total_supply_assets == 10**12 - crash.result.bad_debt_assets
    assert after.total_borrow_shares == 0


def test_market_without_irm() -> None:
    """A market created with the zero IRM is known as one (it never accrues)."""
    zero = "0x" + "00" * 20
    params = MarketParams("0x" + "11" * 20, "0x" + "22" * 20, "0x" + "33" * 20, zero, 1)
    assert params.has_irm is False
