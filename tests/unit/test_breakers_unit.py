"""Breakers trip once, stay tripped while the condition holds, and clear once."""

from __future__ import annotations

from keeper.execution.journal import DAY_S
from keeper.execution.journal_sqlite import SqliteJournal
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


def test_head_lag_loss_budget_and_dex_deviation():
    breakers = Breakers(max_consecutive_failures=3, max_head_lag_s=30, max_dex_deviation_bps=500)
    calm = BreakerInputs(
        head_age_s=12, loss_24h_base=50, loss_budget_base=100, dex_deviation_bps={"WBTC": 500}
    )
    assert breakers.evaluate(calm) == []
    rough = BreakerInputs(
        head_age_s=31,
        loss_24h_base=101 * 10**8,
        loss_budget_base=100 * 10**8,
        base_unit=10**8,
        dex_deviation_bps={"WBTC": 501, "USDC": 3},
    )
    changes = breakers.evaluate(rough)
    assert {(c.name, c.tripped) for c in changes} == {
        ("head_lag", True),
        ("loss_budget", True),
        ("dex_deviation", True),
    }
    assert "101.00" in breakers.tripped["loss_budget"]
    assert "WBTC 5.01%" in breakers.tripped["dex_deviation"]
    assert "USDC" not in breakers.tripped["dex_deviation"]
    assert {c.name for c in breakers.evaluate(calm)} == {"head_lag", "loss_budget", "dex_deviation"}
    assert breakers.tripped == {}


def test_head_lag_zero_is_off():
    breakers = Breakers(max_consecutive_failures=3, max_head_lag_s=0)
    assert breakers.evaluate(BreakerInputs(head_age_s=10**6)) == []


def test_losses_are_kept_in_the_journal_and_age_out(tmp_path):
    path = tmp_path / "j.sqlite"
    journal = SqliteJournal(path, 1)
    now = 1_000_000.0
    journal.record_result("0xK", "0x1", -(10**30), at=now - DAY_S - 1)  # older than a day
    journal.record_result("0xK", "0x2", -7, at=now - 60)
    journal.record_result("0xK", "0x3", 1000, at=now - 30)  # a win does not offset losses
    journal.record_result("0xOther", "0x4", -5, at=now - 30)
    journal.close()
    reopened = SqliteJournal(path, 1)  # survives a restart
    assert reopened.losses_since("0xK", now - DAY_S) == 7
    assert reopened.losses_since("0xK", now - DAY_S - 2) == 10**30 + 7
    assert SqliteJournal(path, 2).losses_since("0xK", 0) == 0  # per chain
