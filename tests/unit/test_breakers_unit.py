"""Breakers trip once, stay tripped while the condition holds, and clear once."""

from __future__ import annotations

from keeper.ops.breakers import BreakerInputs, Breakers


def test_trip_hold_clear():
    """Each change is reported once; the reason is refreshed while tripped."""
    breakers = Breakers(max_consecutive_failures=2)
    assert breakers.evaluate(BreakerInputs()) == []
    tripped = breakers.evaluate(BreakerInputs(stale_feeds={"0xA": 4000}, consecutive_failures=2))
    assert {(c.name, c.tripped) for c in tripped} == {("stale_feed", True), ("failures", True)}
    assert breakers.evaluate(BreakerInputs(stale_feeds={"0xA": 4100}, consecutive_failures=3)) == []
    assert "4100" in breakers.tripped["stale_feed"]
    cleared = breakers.evaluate(BreakerInputs(base_fee_wei=10, tip_wei=1, max_fee_wei=5))
    assert {(c.name, c.tripped) for c in cleared} == {
        ("stale_feed", False),
        ("failures", False),
        ("gas_ceiling", True),
    }
    assert list(breakers.tripped) == ["gas_ceiling"]
