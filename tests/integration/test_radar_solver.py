"""The solved radar against the reference bisection on the devnet worlds (v3.0 and v3.6).

The market state is the one `keeper radar` reads from the node (saved with --save-snapshot);
the comparison then runs offline on it, for every account and every listed asset, at the
oracle's prices and with each asset moved down 10% and 25%.
"""

from __future__ import annotations

import json

import pytest

from keeper.risk import render, snapshot
from keeper.risk.radar import liquidation_price, reference_radar
from keeper.risk.shock import shocked_price
from keeper.risk.solved import SolveStats, solved_liquidation_price, solved_radar
from tests.integration.helpers import keeper_cli

pytestmark = pytest.mark.integration


def test_solved_radar_equals_the_bisection_on_the_devnet(devnet_any, tmp_path):
    """For every account and every asset of the devnet market, the solved liquidation price is
    the reference bisection's, at the oracle's prices and after each asset's fall of 10% and
    25%; the whole radar (rows in order, debt curves) is equal too, and `keeper radar`'s JSON
    (the solver) is the JSON of the reference radar.
    """
    snap = tmp_path / "market.json"
    out = keeper_cli(devnet_any, "radar", "--format", "json", "--save-snapshot", str(snap))
    state = snapshot.load(snap)
    assert state.pool_version == devnet_any.world.aave_version
    assets = state.assets()
    scenarios = [(dict(state.prices), True)] + [
        ({**state.prices, a: shocked_price(state.prices[a], pct)}, pct == -25)
        for a in assets
        for pct in (-10, -25)
    ]
    compared = levels = 0
    stats = SolveStats()
    for prices, whole in scenarios:
        view = state.view(prices)
        for account in state.accounts.values():
            for asset in assets:
                expected = liquidation_price(account, view, asset)
                assert solved_liquidation_price(account, view, asset) == expected, (
                    account.address,
                    asset,
                )
                compared += 1
                levels += expected is not None
        if whole:  # the whole radar too (the reference takes ~1.5 s per view)
            reference = reference_radar(state.accounts, view, assets, 50, state.reserves)
            solved = solved_radar(state.accounts, view, assets, 50, state.reserves, stats)
            assert solved.accounts == reference.accounts
            assert solved.curves == reference.curves
    assert compared >= 200 * len(assets) * len(scenarios)
    assert levels > 300
    assert stats.closed_form > 0
    assert stats.reference == 0  # no eMode price source on the devnet

    view = state.view()
    reference = reference_radar(state.accounts, view, assets, 50, state.reserves)
    assert json.loads(out.stdout) == json.loads(render.radar_json(state, reference))
