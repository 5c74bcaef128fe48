"""The backfill's progress: a bar on a TTY, a log line every few seconds otherwise."""

from __future__ import annotations

import sys
import time

import structlog

log = structlog.get_logger(__name__)


class BackfillProgress:
    """A progress bar on a TTY, a log line every few seconds otherwise."""

    def __init__(self, every_s: float = 5.0) -> None:
        self.tty = sys.stderr.isatty()
        self.every_s = every_s
        self._last = float("-inf")  # the first range is always reported
        self._first: int | None = None
        self.finished = False  # set once the backfill is done: the live tail is not reported

    def __call__(self, start: int, end: int, last: int) -> None:
        """Called after each fetched range."""
        if self.finished:
            return
        if self._first is None:
            self._first = start
        total = max(1, last - self._first + 1)
        done = end - self._first + 1
        if self.tty:
            width = 30
            filled = width * done // total
            sys.stderr.write(
                f"\rbackfill [{'#' * filled}{'.' * (width - filled)}] {done}/{total} blocks"
            )
            if end >= last:
                sys.stderr.write("\n")
            sys.stderr.flush()
            return
        now = time.monotonic()
        if now - self._last >= self.every_s or end >= last:
            self._last = now
            log.info("backfill_progress", block=end, to_block=last, pct=100 * done // total)
