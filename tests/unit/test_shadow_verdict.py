"""Shadow mode's verdict rules, skip classes and report rendering (no node)."""

from __future__ import annotations

import json

import pytest

from keeper.core.outcome import OutcomeStatus
from keeper.core.plan import SkipKind
from keeper.shadow.ledger import ShadowLedger
from keeper.shadow.report import render_csv, render_json, render_table, summarize
from keeper.shadow.summary import signed_base
from keeper.shadow.verdict import (
    Bid,
    OurAttempt,
    Reason,
    Rival,
    Verdict,
    judge_race,
    judge_unplanned,
    refusal_reason,
    skip_reason,
)

GWEI = 10**9
OURS = OurAttempt(
    plan_block=100, bid=Bid(max_fee=50 * GWEI, max_tip=2 * GWEI), fork_liquidated=True
)


@pytest.mark.parametrize(
    ("rival", "expected"),
    [
        (
            Rival(block=102, base_fee=GWEI, effective_tip=90 * GWEI),
            (Verdict.WOULD_WIN, Reason.EARLIER_BLOCK),
        ),
        (
            Rival(block=101, base_fee=GWEI, effective_tip=GWEI),
            (Verdict.WOULD_WIN, Reason.HIGHER_BID),
        ),
        (
            Rival(block=101, base_fee=GWEI, effective_tip=2 * GWEI),
            (Verdict.WOULD_LOSE, Reason.EQUAL_BID),
        ),
        (
            Rival(block=101, base_fee=GWEI, effective_tip=3 * GWEI),
            (Verdict.WOULD_LOSE, Reason.LOWER_BID),
        ),
        (
            Rival(block=101, base_fee=60 * GWEI, effective_tip=0),
            (Verdict.WOULD_LOSE, Reason.PRICED_OUT),
        ),
        # A max fee just above the base fee caps the tip we really pay.
        (
            Rival(block=101, base_fee=49 * GWEI, effective_tip=GWEI),
            (Verdict.WOULD_LOSE, Reason.EQUAL_BID),
        ),
    ],
)
def test_a_race_is_won_by_an_earlier_block_or_a_higher_effective_tip(rival, expected):
    """Our transaction lands at plan block + 1: a rival in a later block loses to it; in the
    same block the higher tip above the base fee wins, a tie counts as a loss, and a max fee
    under the base fee is never included.
    """
    assert judge_race(OURS, rival) == expected


def test_a_plan_that_reverts_on_the_fork_loses_whatever_the_rival_did():
    """A transaction that fails on the fork would not have liquidated anything."""
    failed = OurAttempt(100, Bid(50 * GWEI, 2 * GWEI), fork_liquidated=False)
    assert judge_race(failed, Rival(105, GWEI, 0)) == (Verdict.WOULD_LOSE, Reason.FORK_REVERTED)


def test_an_unplanned_liquidation_is_lost_to_its_skip_or_missed():
    """Seen and skipped: a loss for the skip's reason; never seen: missed, and why."""
    assert judge_unplanned(Reason.NO_INVENTORY, head_before_processed=True) == (
        Verdict.WOULD_LOSE,
        Reason.NO_INVENTORY,
    )
    assert judge_unplanned(None, head_before_processed=True) == (
        Verdict.MISSED,
        Reason.NOT_A_CANDIDATE,
    )
    assert judge_unplanned(None, head_before_processed=False) == (
        Verdict.MISSED,
        Reason.HEAD_NOT_PROCESSED,
    )


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        (SkipKind.BREAKER, Reason.BREAKER),
        (SkipKind.NO_INVENTORY, Reason.NO_INVENTORY),
        (SkipKind.COOLDOWN, Reason.COOLDOWN),
        (SkipKind.UNPROFITABLE, Reason.UNPROFITABLE),
        (SkipKind.DUST, Reason.UNPROFITABLE),
        (SkipKind.GRACE_PERIOD, Reason.OTHER_SKIP),
    ],
)
def test_skip_kinds_map_to_reason_classes(kind, reason):
    """A skip's kind becomes a low-cardinality reason; its words play no part."""
    assert skip_reason(kind) is reason


def test_plans_refused_before_sending_map_by_status():
    """A failed simulation is one; a plan refused as unprofitable after gas is another."""
    assert refusal_reason(OutcomeStatus.SIMULATION_FAILED) is Reason.SIMULATION_FAILED
    assert refusal_reason(OutcomeStatus.NOT_SENT) is Reason.UNPROFITABLE


def test_signed_base_formats_losses_exactly():
    """Negative amounts keep their digits (divmod alone would print -1.5 for -0.5)."""
    assert signed_base(-50_000_000, 10**8) == "-0.50000000"
    assert signed_base(123_456_789, 10**8) == "1.23456789"


def test_the_ledger_keeps_rows_and_the_report_sums_them_in_integers(tmp_path):
    """Opportunities and unplanned rows round-trip through SQLite; the summary counts each
    verdict once and adds profits as integers; JSON, CSV and the table all show the winner;
    a new run marks what the previous one left undecided as unresolved.
    """
    ledger = ShadowLedger(tmp_path / "j.sqlite", chain_id=1)
    run = ledger.start_run()
    ours = {"transaction": {"to": "0xPool", "max_fee": 7, "max_tip": 2}, "ms_after_head": 41.5}
    won = ledger.open_opportunity(run, "0xA", 10, ours, 10**30)  # beyond 64 bits
    ledger.decide(won, Verdict.WOULD_WIN, Reason.HIGHER_BID, {"block": 11, "tx_hash": "0xT"}, -5)
    ledger.add_unplanned(
        run, Verdict.MISSED, Reason.NOT_A_CANDIDATE, {"account": "0xB", "block": 12}, 9
    )
    ledger.open_opportunity(run, "0xC", 13, ours, 1)
    ledger.start_run()
    rows = ledger.rows()
    assert [r.status for r in rows] == ["decided", "decided", "unresolved"]
    summary = summarize(rows)
    assert summary.would_win == 1 and summary.missed == {"not_a_candidate": 1}
    assert summary.profit_would_have_made_base == 10**30
    assert summary.rivals_profit_base == 4
    assert [r.row_id for r in ledger.rows(from_block=11, to_block=12)] == [rows[1].row_id]
    doc = json.loads(render_json(rows))
    assert doc["rows"][0]["winner_tx"] == "0xT" and doc["rows"][0]["real_block"] == 11
    assert render_csv(rows).splitlines()[1].split(",")[2:4] == ["would_win", "higher_bid"]
    assert "missed                       1" in render_table(rows)
    ledger.close()
