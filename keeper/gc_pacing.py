"""Python's cyclic garbage collector, run between blocks instead of in the middle of a reaction.

With 10,000 accounts in memory a full collection takes tens of milliseconds, and left to its
allocation counters it starts whenever a threshold is crossed: the race benchmark caught one of
62 ms between a price update and our broadcast. While the keeper loop runs, automatic
collection is off; the loop calls :meth:`IdleCollector.idle` after each cycle, which collects
the young generations (well under a millisecond), every ``sweep_every_s`` the old generation of
what is not frozen and then freezes the survivors (the market state is long-lived, later
collections skip it), and every ``full_every_s`` everything, frozen objects included, so that
cycles among objects frozen while alive and dropped later are reclaimed too.
"""

from __future__ import annotations

import gc
import time
from typing import TYPE_CHECKING, Self

if TYPE_CHECKING:
    from collections.abc import Callable

SWEEP_EVERY_S = 60.0
FULL_EVERY_S = 1_800.0


class IdleCollector:
    """Automatic collection off while in use; collections run when :meth:`idle` is called."""

    def __init__(
        self,
        sweep_every_s: float = SWEEP_EVERY_S,
        full_every_s: float = FULL_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sweep_every_s = sweep_every_s
        self.full_every_s = full_every_s
        self._clock = clock
        self._was_enabled = False
        self._last_sweep = self._last_full = 0.0
        self.sweeps = self.fulls = 0

    def __enter__(self) -> Self:
        self._was_enabled = gc.isenabled()
        gc.disable()
        self._full()
        return self

    def __exit__(self, *exc: object) -> None:
        gc.unfreeze()
        if self._was_enabled:
            gc.enable()

    def idle(self) -> None:
        """Collect what is due: call when no reaction is in progress."""
        now = self._clock()
        if now - self._last_full >= self.full_every_s:
            self._full()
        elif now - self._last_sweep >= self.sweep_every_s:
            gc.collect()  # frozen objects are not examined
            gc.freeze()
            self._last_sweep = now
            self.sweeps += 1
        else:
            gc.collect(1)

    def _full(self) -> None:
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        self._last_full = self._last_sweep = self._clock()
        self.fulls += 1
