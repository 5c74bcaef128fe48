"""Backfill progress is visible: periodic log lines when stderr is not a terminal."""

from __future__ import annotations

from structlog.testing import capture_logs

from keeper.protocols.aave_v3.progress import BackfillProgress


def test_progress_logs_when_not_a_tty():
    """Off a TTY the first and the last range are logged with the percentage done."""
    progress = BackfillProgress(every_s=3600)
    progress.tty = False
    with capture_logs() as logs:
        progress(0, 999, 9_999)
        progress(1_000, 4_999, 9_999)  # within the interval: quiet
        progress(5_000, 9_999, 9_999)
    lines = [e for e in logs if e["event"] == "backfill_progress"]
    assert [(e["block"], e["pct"]) for e in lines] == [(999, 10), (9_999, 100)]
