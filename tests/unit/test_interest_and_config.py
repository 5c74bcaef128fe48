"""Interest accrual and configuration bitmaps, checked against independent references."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from keeper.protocols.aave_v3.config import (
    ReserveConfig,
    is_borrowing,
    is_using_as_collateral,
    used_reserve_indices,
)
from keeper.protocols.aave_v3.math import RAY, compounded_interest, linear_interest

YEAR = 365 * 24 * 3600
RATES = st.integers(min_value=0, max_value=10 * RAY)  # up to 1000% APR
SPANS = st.integers(min_value=0, max_value=5 * YEAR)


@given(RATES, SPANS)
def test_linear_interest_is_floor_of_exact(rate, dt):
    """1 + rate x dt / year, the division floored, in ray."""
    assert linear_interest(rate, 1_000, 1_000 + dt) == RAY + int(Fraction(rate * dt, YEAR))


def _reference_compounded(rate: int, dt: int) -> int:
    """The binomial expansion written out term by term, with the contract's floors."""
    if dt == 0:
        return RAY

    def half_up(a: int, b: int) -> int:
        return (a * b + RAY // 2) // RAY

    p2 = half_up(rate, rate) // (YEAR * YEAR)
    p3 = half_up(p2, rate) // YEAR
    second = dt * (dt - 1) * p2 // 2
    third = dt * (dt - 1) * max(dt - 2, 0) * p3 // 6
    return RAY + rate * dt // YEAR + second + third


@given(RATES, SPANS)
def test_compounded_interest_matches_the_expansion_and_bounds(rate, dt):
    """Matches the written-out expansion; at least linear growth; below true exp growth."""
    value = compounded_interest(rate, 5, 5 + dt)
    assert value == _reference_compounded(rate, dt)
    assert value >= linear_interest(rate, 5, 5 + dt)
    x = Fraction(rate, RAY) * Fraction(dt, YEAR)
    exp_upper = sum(x**k / _fact(k) for k in range(12)) * RAY
    assert value <= exp_upper + 1


def _fact(k: int) -> int:
    out = 1
    for i in range(2, k + 1):
        out *= i
    return out


def test_zero_elapsed_is_exactly_one_ray():
    """No time, no interest."""
    assert compounded_interest(5 * RAY, 77, 77) == RAY
    assert linear_interest(5 * RAY, 77, 77) == RAY


FIELDS = st.fixed_dictionaries(
    {
        "ltv": st.integers(0, 2**16 - 1),
        "lt": st.integers(0, 2**16 - 1),
        "bonus": st.integers(0, 2**16 - 1),
        "decimals": st.integers(0, 255),
        "flags": st.integers(0, 255),
        "rf": st.integers(0, 2**16 - 1),
        "bcap": st.integers(0, 2**36 - 1),
        "scap": st.integers(0, 2**36 - 1),
        "fee": st.integers(0, 2**16 - 1),
        "emode": st.integers(0, 255),
        "umc": st.integers(0, 2**36 - 1),
        "ceiling": st.integers(0, 2**40 - 1),
    }
)


@given(FIELDS)
def test_reserve_config_decodes_every_field(f):
    """Fields packed at ReserveConfiguration's bit positions decode back unchanged."""
    word = (
        f["ltv"]
        | f["lt"] << 16
        | f["bonus"] << 32
        | f["decimals"] << 48
        | f["flags"] << 56
        | f["rf"] << 64
        | f["bcap"] << 80
        | f["scap"] << 116
        | f["fee"] << 152
        | f["emode"] << 168
        | f["umc"] << 176
        | f["ceiling"] << 212
    )
    c = ReserveConfig.decode(word)
    assert (c.ltv, c.liquidation_threshold, c.liquidation_bonus, c.decimals) == (
        f["ltv"],
        f["lt"],
        f["bonus"],
        f["decimals"],
    )
    flags = [
        c.active,
        c.frozen,
        c.borrowing_enabled,
        c.stable_borrowing_enabled,
        c.paused,
        c.borrowable_in_isolation,
        c.siloed_borrowing,
        c.flashloan_enabled,
    ]
    assert flags == [bool(f["flags"] >> k & 1) for k in range(8)]
    assert (c.reserve_factor, c.borrow_cap, c.supply_cap, c.liquidation_protocol_fee) == (
        f["rf"],
        f["bcap"],
        f["scap"],
        f["fee"],
    )
    assert (c.emode_category, c.unbacked_mint_cap, c.debt_ceiling) == (
        f["emode"],
        f["umc"],
        f["ceiling"],
    )


def test_real_devnet_weth_configuration_word():
    """A word as the devnet's WETH reserve holds it: LTV 80.5%, LT 83%, bonus 5%, 18 decimals,
    active, borrowing and flash loans on, 15% reserve factor, 10% fee, eMode 1.
    """
    word = (
        8050
        | 8300 << 16
        | 10500 << 32
        | 18 << 48
        | 1 << 56
        | 1 << 58
        | 1 << 63
        | 1500 << 64
        | 1000 << 152
        | 1 << 168
    )
    c = ReserveConfig.decode(word)
    assert (c.ltv, c.liquidation_threshold, c.liquidation_bonus, c.decimals) == (
        8050,
        8300,
        10500,
        18,
    )
    assert (
        c.active and c.borrowing_enabled and c.flashloan_enabled and not c.frozen and not c.paused
    )
    assert (c.reserve_factor, c.liquidation_protocol_fee, c.emode_category) == (1500, 1000, 1)


def test_user_configuration_bits():
    """Bit 2i: borrowing reserve i; bit 2i+1: using it as collateral."""
    config = 0b10_00_01_10  # reserve 0 collateral, reserve 1 borrowed, reserve 3 collateral
    assert is_using_as_collateral(config, 0) and not is_borrowing(config, 0)
    assert is_borrowing(config, 1) and not is_using_as_collateral(config, 1)
    assert not is_borrowing(config, 2) and not is_using_as_collateral(config, 2)
    assert is_using_as_collateral(config, 3)
    assert used_reserve_indices(config) == [0, 1, 3]
    assert used_reserve_indices(0) == []
