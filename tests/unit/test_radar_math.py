"""The radar's pure parts: shocks, liquidation prices, the debt curve, the snapshot format."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keeper.protocols.aave_v3.health import account_data
from keeper.risk import snapshot
from keeper.risk.market import PoolState
from keeper.risk.radar import debt_curve, health_at, liquidation_price, radar
from keeper.risk.shock import parse_pct, parse_shock, shocked_price
from tests.unit.risk_market import COL, USD, borrower, market

WAD = 10**18


@given(
    price=st.integers(min_value=1, max_value=10**15),
    pct=st.decimals(min_value=-99, max_value=200, places=4, allow_nan=False),
)
def test_shocked_price_is_the_devnet_feed_move(price, pct):
    """A shock gives the very integer `keeper devnet shock` writes to the feed."""
    expected = int((Decimal(price) * (100 + pct) / 100).to_integral_value(rounding=ROUND_DOWN))
    assert shocked_price(price, pct) == expected


def test_parse_shock_accepts_percent_forms_and_rejects_the_rest():
    """`WETH=-20%` and `wbtc=-15` parse; a missing `=`, text or a fall of 100% or more do not."""
    assert parse_shock("WETH=-20%") == ("WETH", Decimal(-20))
    assert parse_shock(" wbtc = -15 ") == ("wbtc", Decimal(-15))
    assert parse_pct("+5%") == Decimal(5)
    for bad in ("WETH", "=-20%", "WETH=abc", "WETH=-100%", "WETH=-150", "WETH=nan"):
        with pytest.raises(ValueError, match=r"."):
            parse_shock(bad)


@settings(max_examples=150, deadline=None)
@given(
    collateral=st.integers(min_value=10**15, max_value=10**24),
    debt_share=st.integers(min_value=1, max_value=7999),
    price=st.integers(min_value=10**6, max_value=10**13),
)
def test_liquidation_price_is_the_exact_crossing(collateral, debt_share, price):
    """At the liquidation price the health factor is >= 1; one unit lower it is < 1."""
    value = collateral * price // 10**18  # base units of collateral
    debt = max(1, value * debt_share // 10_000 * 10**6 // 10**8)
    account = borrower("0xa", collateral, debt)
    state = market([account], col_price=price)
    view = state.view()
    level = liquidation_price(account, view, COL)
    now = account_data(account, view).health_factor
    if now < WAD:
        assert level is None
        return
    assert level is not None
    assert 0 < level <= price
    assert health_at(account, view, COL, level) >= WAD
    assert health_at(account, view, COL, level - 1) < WAD


def test_no_liquidation_price_when_other_collateral_covers_the_debt():
    """An account whose USD collateral alone covers its debt has no COL liquidation price."""
    account = borrower("0xa", 10**18, 10 * 10**6)
    account.user_config |= 0b1000  # USD as collateral too
    account.scaled_collateral[1] = 1_000 * 10**6
    assert liquidation_price(account, market([account]).view(), COL) is None


def test_debt_curve_counts_the_accounts_a_drop_liquidates():
    """HF 800/790 falls below 1 at a 2% drop, HF 800/700 at a 13% drop; their debt adds up."""
    a, b = borrower("0xa", 10 * 10**18, 790 * 10**6), borrower("0xb", 10 * 10**18, 700 * 10**6)
    state = market([a, b])
    points = debt_curve(state.accounts.values(), state.view(), COL, 20)
    by_step = {p.drop_pct: (p.accounts, p.debt_base) for p in points}
    assert by_step[0] == by_step[1] == (0, 0)
    assert by_step[2] == (1, 790 * 10**8)
    assert by_step[12] == (1, 790 * 10**8)
    assert by_step[13] == (2, 1490 * 10**8)
    assert points[13].price == 87 * 10**8


def test_radar_sorts_by_distance_to_liquidation():
    """The account closer to its liquidation price comes first, with its liquidation price."""
    a, b = borrower("0xa", 10 * 10**18, 700 * 10**6), borrower("0xb", 10 * 10**18, 790 * 10**6)
    state = market([a, b])
    result = radar(state.accounts, state.view(), [COL, USD])
    assert [r.data.account for r in result.accounts] == ["0xb", "0xa"]
    # 0.8 * 10 * p = 790  =>  p = 98.75 exactly: healthy at it, not one unit below.
    assert result.accounts[0].collateral[0].liquidation_price == 9_875_000_000


def test_snapshot_round_trips_exactly():
    """A state written to JSON and read back is equal, field for field, its pools' ticks too;
    a pool written before ticks were read loads with none (tick spacing 0).
    """
    state = market([borrower("0xa", 10 * 10**18, 700 * 10**6)])
    state.pools = [
        PoolState(
            "0xp", COL, USD, 3000, 2**96, 10**18, -5, 60, -15_360, 15_300, ((-60, 7), (120, -7))
        )
    ]
    text = snapshot.to_json(state)
    assert snapshot.from_json(text) == state
    old = text.replace('"tick_spacing": 60', '"tick_spacing": 0')
    assert snapshot.from_json(old).pools[0].tick_spacing == 0
