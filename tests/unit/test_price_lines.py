"""The solved radar: price lines equal account_data, crossings equal exact evaluation, and the
whole radar equals the reference bisection, on random markets of every health formula.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keeper.protocols.aave_v3.health import account_data
from keeper.protocols.aave_v3.state import AccountState
from keeper.risk.crossing import crossing_price, liquidation_price, solve
from keeper.risk.lines import PriceLine, decompose
from keeper.risk.market import MarketState
from keeper.risk.radar import liquidation_price as reference_liquidation_price
from keeper.risk.radar import radar, reference_radar
from keeper.risk.solved import SolveStats, solved_liquidation_price, solved_radar
from tests.unit.risk_market import config, reserve
from tests.unit.risk_random import random_market

WAD = 10**18
VERSIONS = ("3.0", "3.2", "3.5", "3.6")


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32), version=st.sampled_from(VERSIONS), data=st.data())
def test_price_line_is_account_data_at_any_price(seed, version, data):
    """For every account and asset, the line's health factor at a price is account_data's at
    the view with that one price changed: at 0, 1, around the current price and at random.
    """
    state = random_market(seed, version)
    view = state.view()
    for account in state.accounts.values():
        now = account_data(account, view)
        parts = decompose(account, view, now)
        assert parts is not None
        for asset in state.assets():
            index = view.reserve_index(asset)
            assert index is not None
            r = view.reserves[index]
            assert r is not None
            line = parts.line(index, r.unit)
            assert line.health(r.price) == now.health_factor
            prices = {0, 1, max(0, r.price - 1), r.price + 1, r.price // 3}
            prices.add(data.draw(st.integers(0, 2 * r.price + 2)))
            for price in prices:
                moved = account_data(account, view.with_price(asset, price))
                assert line.health(price) == moved.health_factor, (asset, price)
                assert line.debt_base(price) == moved.total_debt_base


@settings(max_examples=400, deadline=None)
@given(
    directed=st.booleans(),
    unit=st.sampled_from((1, 10, 1000, 10**6)),
    collateral=st.integers(0, 5_000),
    threshold=st.sampled_from((0, 2, 5000, 7000, 8250, 9500)),
    debt=st.integers(0, 3_000) | st.just(0),
    other=st.integers(0, 20_000),
    other_lt=st.sampled_from((5000, 8000, 9900)),
    shortfall=st.integers(0, 20_000),
    debt_other=st.integers(0, 30_000),
    top=st.integers(0, 2_500),
)
def test_crossings_are_the_exact_health_at_every_price(
    directed, unit, collateral, threshold, debt, other, other_lt, shortfall, debt_other, top
):
    """Small lines (where the v3.0 average threshold's floor makes a sawtooth of several
    crossings): the solved set is liquidatable exactly where the exact health factor is below
    1 at every price from 0 to the top, and its liquidation price is the bisection's.
    """
    weighted = max(0, other * other_lt - min(shortfall, other))
    line = PriceLine(directed, unit, collateral, threshold, debt, other, weighted, debt_other)
    found = solve(line, top, line.health(top))
    if found is None:
        return  # no closed form: the callers evaluate the line itself
    for price in range(top + 1):
        assert found.liquidatable(price) == (line.health(price) < WAD), price
    exact = liquidation_price(lambda p: line.health(p) < WAD, top)
    assert crossing_price(found, top) == exact


def _sawtooth() -> tuple[AccountState, MarketState]:
    """v3.0: X (6 decimals, LT 70%) at 100 base units is worth 320_783 * p / 1e6; Y (0
    decimals, LT 90%, price 1) 881_446; debt Z (0 decimals, price 1) 813_001. Moving X's price,
    the floored average threshold steps down (from 9000 towards 7000) inside the crossing.
    """
    x, y, z = ("0x" + c * 40 for c in "abc")
    reserves = {
        x: reserve(x, 0, config(6, lt=7000, ltv=6500)),
        y: reserve(y, 1, config(0, lt=9000, ltv=8500)),
        z: reserve(z, 2, config(0)),
    }
    account = AccountState(
        "0x" + "e" * 40,
        user_config=0b01_10_10,
        scaled_collateral={0: 320_783, 1: 881_446},
        scaled_variable_debt={2: 813_001},
    )
    state = MarketState(7, 1_000, reserves, {}, {x: 10**7, y: 1, z: 1}, {account.address: account})
    return account, state


def test_sawtooth_crossings_and_the_bisections_answer():
    """The hand-made v3.0 account's health against X's price crosses 1 three times (healthy
    from 87,770, liquidatable again from 87,907, healthy from 88,085, found by the exact health
    factor at each unit); the reference bisection from 10,000,000 ends on 87,770 and so does
    the solver, which replays the bisection on the solved crossings.
    """
    account, state = _sawtooth()
    view = state.view()
    x = state.assets()[0]

    def sick(price: int) -> bool:
        return account_data(account, view.with_price(x, price)).health_factor < WAD

    assert [sick(p) for p in (87_769, 87_770, 87_906, 87_907, 88_084, 88_085)] == [
        True,
        False,
        False,
        True,
        True,
        False,
    ]
    now = account_data(account, view)
    parts = decompose(account, view, now)
    assert parts is not None
    found = solve(parts.line(0, 10**6), 10**7, now.health_factor)
    assert found is not None
    assert found.start
    assert found.points == (87_770, 87_907, 88_085)
    assert reference_liquidation_price(account, view, x) == 87_770
    assert solved_liquidation_price(account, view, x) == 87_770


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32), version=st.sampled_from(VERSIONS))
def test_solved_radar_is_the_reference_radar(seed, version):
    """Random markets of every formula: the solved radar has the same rows (health, liquidation
    prices, order) and the same debt curves as the reference bisection, to the unit.
    """
    state = random_market(seed, version, accounts=25)
    for prices in (state.prices, {a: p // 2 + 1 for a, p in state.prices.items()}):
        view = state.view(prices)
        expected = reference_radar(state.accounts, view, state.assets(), 20, state.reserves)
        stats = SolveStats()
        got = solved_radar(state.accounts, view, state.assets(), 20, state.reserves, stats)
        assert got.accounts == expected.accounts
        assert got.curves == expected.curves
        assert stats.reference == 0
        for account in state.accounts.values():
            for asset in state.assets():
                assert solved_liquidation_price(account, view, asset) == (
                    reference_liquidation_price(account, view, asset)
                )


def test_price_source_accounts_use_the_reference():
    """A pre-3.2 eMode category with a price source: its accounts are not decomposed (one price
    moves several reserves), the reference code answers for them, and the radar is unchanged.
    """
    state = random_market(5, "3.0", accounts=30, price_source=True)
    view = state.view()
    stats = SolveStats()
    got = solved_radar(state.accounts, view, state.assets(), 10, state.reserves, stats)
    expected = reference_radar(state.accounts, view, state.assets(), 10, state.reserves)
    assert stats.reference > 0
    assert got.accounts == expected.accounts
    assert got.curves == expected.curves


def test_unknown_radar_method_is_refused():
    """A method other than solve or bisect is a ValueError naming the choices."""
    state = random_market(1, "3.6")
    with pytest.raises(ValueError, match="solve, bisect"):
        radar(state.accounts, state.view(), state.assets(), method="newton")
