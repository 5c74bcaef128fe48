"""The engine's health-factor bands give the same accounts as scanning every one."""

from __future__ import annotations

from bench import synthetic
from keeper.protocols.aave_v3.math import WAD
from keeper.risk.engine import HealthEngine

THRESHOLDS = [WAD, 1005 * 10**15, 102 * 10**16, 107 * 10**16, 125 * 10**16, 2 * WAD]


def _scan(engine: HealthEngine, threshold: int) -> set[str]:
    return {a for a, d in engine.data.items() if d.health_factor < threshold}


def test_bands_follow_price_moves_both_ways_and_removals():
    """After each of a series of price moves up and down (accounts crossing bands both ways),
    a removal and a re-insert, ``under`` and ``below`` at every threshold equal a full scan.
    """
    reserves = synthetic.reserves()
    prices = synthetic.prices(reserves)
    engine = HealthEngine()
    engine.set_market(reserves, synthetic.emodes(), prices, 1_700_100_000)
    accounts = synthetic.accounts(600, seed=3)
    engine.upsert(accounts)
    asset = reserves[0].asset
    for step, pct in enumerate([97, 90, 104, 125, 80, 100]):
        moved = dict(prices)
        moved[asset] = prices[asset] * pct // 100
        engine.set_market(reserves, synthetic.emodes(), moved, 1_700_100_000 + 12 * step)
        if step % 2:
            engine.recompute_all()
        else:
            engine.recompute(engine.exposed(asset))
        if step == 3:
            gone = [a.address for a in accounts[:50]]
            engine.remove(gone)
            assert not engine.under(2 * WAD) & set(gone)
            engine.upsert(accounts[:50])
        for threshold in THRESHOLDS:
            assert engine.under(threshold) == _scan(engine, threshold), (pct, threshold)
        below = engine.below()
        assert {d.account for d in below} == _scan(engine, WAD)
        assert [d.health_factor for d in below] == sorted(d.health_factor for d in below)
