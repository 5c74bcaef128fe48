"""The pure v3.0 liquidation rules: close factor, bonus, protocol fee, collateral limit."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from keeper.protocols.aave_v3.liquidation import (
    close_factor,
    is_liquidatable,
    liquidation_amounts,
    max_debt_to_cover,
)

WAD = 10**18


def test_close_factor_switches_at_095():
    """50% above HF 0.95, 100% at or below it; liquidatable only below 1."""
    assert close_factor(950_000_000_000_000_001) == 5_000
    assert close_factor(950_000_000_000_000_000) == 10_000
    assert max_debt_to_cover(1001, 97 * WAD // 100) == 501  # half up
    assert is_liquidatable(WAD - 1) and not is_liquidatable(WAD)


def test_worked_example_with_protocol_fee():
    """1,000 USDC of debt against WETH at 2,000 USD with a 5% bonus and 10% fee on the bonus."""
    out = liquidation_amounts(
        debt_to_cover=500 * 10**6,
        user_debt=1_000 * 10**6,
        health_factor=97 * WAD // 100,
        user_collateral=10 * 10**18,
        collateral_price=2_000 * 10**8,
        debt_price=10**8,
        collateral_decimals=18,
        debt_decimals=6,
        liquidation_bonus=10_500,
        liquidation_protocol_fee=1_000,
    )
    assert out.debt_to_repay == 500 * 10**6
    # 0.25 WETH base + 5% bonus = 0.2625; fee = 10% of the 0.0125 bonus = 0.00125
    assert out.protocol_fee == 1_250_000_000_000_000
    assert out.collateral_to_liquidator == 262_500_000_000_000_000 - 1_250_000_000_000_000


def test_collateral_limited_liquidation_takes_all_collateral():
    """When the bonus-adjusted collateral exceeds the balance, all of it is taken and the debt
    needed shrinks accordingly.
    """
    out = liquidation_amounts(
        debt_to_cover=10**30,
        user_debt=5_000 * 10**6,
        health_factor=WAD // 2,
        user_collateral=10**18,
        collateral_price=2_000 * 10**8,
        debt_price=10**8,
        collateral_decimals=18,
        debt_decimals=6,
        liquidation_bonus=10_500,
        liquidation_protocol_fee=0,
    )
    assert out.collateral_to_liquidator == 10**18
    assert out.debt_to_repay == (2_000 * 10**6 * 10_000 + 10_500 // 2) // 10_500


@given(
    debt=st.integers(1, 10**30),
    coll=st.integers(0, 10**30),
    cp=st.integers(1, 10**14),
    dp=st.integers(1, 10**14),
    cd=st.integers(0, 24),
    dd=st.integers(0, 24),
    bonus=st.integers(10_000, 11_500),
    fee=st.integers(0, 10_000),
    hf=st.integers(0, WAD - 1),
)
def test_invariants(debt, coll, cp, dp, cd, dd, bonus, fee, hf):
    """Never more than the close factor allows or the collateral held; the liquidator's share
    is never worth more than the debt repaid plus the bonus.
    """
    out = liquidation_amounts(
        debt_to_cover=2**255,
        user_debt=debt,
        health_factor=hf,
        user_collateral=coll,
        collateral_price=cp,
        debt_price=dp,
        collateral_decimals=cd,
        debt_decimals=dd,
        liquidation_bonus=bonus,
        liquidation_protocol_fee=fee,
    )
    assert out.debt_to_repay <= max_debt_to_cover(debt, hf)
    assert out.collateral_to_liquidator + out.protocol_fee <= coll
    assert out.protocol_fee >= 0 and out.collateral_to_liquidator >= 0
    received = Fraction(out.collateral_to_liquidator * cp, 10**cd)
    # In the collateral-limited path the Pool floors twice (the base conversion, then
    # percentDiv), so the debt needed can fall short by up to two debt units, and percentMul's
    # half-up adds a collateral unit: the liquidator may gain those, never more.
    repaid = Fraction((out.debt_to_repay + 2) * dp, 10**dd)
    assert received <= repaid * Fraction(bonus, 10_000) + Fraction(2 * cp, 10**cd)


def test_v33_small_positions_are_fully_liquidatable():
    """v3.3: below 2,000 USD of reserve debt or collateral the whole reserve debt may be
    repaid even at HF 0.99; large positions keep the 50%-of-total-debt cap.
    """
    from keeper.protocols.aave_v3.liquidation import max_debt_to_cover_v33

    common = {
        "health_factor": 99 * WAD // 100,
        "total_debt_base": 10_000 * 10**8,
        "debt_price": 10**8,
        "debt_decimals": 6,
    }
    small = max_debt_to_cover_v33(
        user_reserve_debt=1_500 * 10**6,
        reserve_debt_base=1_500 * 10**8,
        reserve_collateral_base=50_000 * 10**8,
        **common,
    )
    assert small == 1_500 * 10**6
    large = max_debt_to_cover_v33(
        user_reserve_debt=8_000 * 10**6,
        reserve_debt_base=8_000 * 10**8,
        reserve_collateral_base=50_000 * 10**8,
        **common,
    )
    assert large == 5_000 * 10**6  # half of the total debt, not of this reserve
    low_hf = max_debt_to_cover_v33(
        user_reserve_debt=8_000 * 10**6,
        reserve_debt_base=8_000 * 10**8,
        reserve_collateral_base=50_000 * 10**8,
        **{**common, "health_factor": 9 * WAD // 10},
    )
    assert low_hf == 8_000 * 10**6


def test_v33_dust_rule():
    """A partial liquidation leaving under 1,000 USD of debt or collateral is refused; taking
    all the debt or all the collateral is always allowed.
    """
    from keeper.protocols.aave_v3.liquidation import LiquidationAmounts, leaves_dust_v33

    units: dict[str, Any] = {
        "debt_price": 10**8,
        "debt_decimals": 6,
        "collateral_price": 2_000 * 10**8,
        "collateral_decimals": 18,
    }
    partial = LiquidationAmounts(4_500 * 10**6, 2 * 10**18, 0)
    assert leaves_dust_v33(
        amounts=partial, user_reserve_debt=5_000 * 10**6, user_collateral=10 * 10**18, **units
    )  # 500 USD of debt left
    assert not leaves_dust_v33(
        amounts=partial, user_reserve_debt=6_000 * 10**6, user_collateral=10 * 10**18, **units
    )
    full = LiquidationAmounts(5_000 * 10**6, 2 * 10**18, 0)
    assert not leaves_dust_v33(
        amounts=full, user_reserve_debt=5_000 * 10**6, user_collateral=10 * 10**18, **units
    )
