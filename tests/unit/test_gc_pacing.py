"""The keeper loop's garbage collection: off while it runs, done when the loop says it is idle."""

from __future__ import annotations

import gc
import weakref

from keeper.gc_pacing import IdleCollector


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class _Node:
    """Points at itself: only the cyclic collector can free it."""

    def __init__(self) -> None:
        self.me = self


def test_automatic_collection_is_off_inside_and_restored_after():
    assert gc.isenabled()
    with IdleCollector():
        assert not gc.isenabled()
        assert gc.get_freeze_count() > 0  # what was alive at the start is frozen
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0


def test_idle_collects_young_cycles_sweeps_and_does_a_full_collection_when_due():
    clock = _Clock()
    with IdleCollector(sweep_every_s=60, full_every_s=1_800, clock=clock) as collector:
        young = weakref.ref(_Node())
        assert young() is not None  # automatic collection is off
        collector.idle()  # the young generations only
        assert young() is None
        assert (collector.sweeps, collector.fulls) == (0, 1)

        kept = _Node()
        old = weakref.ref(kept)
        clock.now = 61
        collector.idle()  # a sweep: survivors are frozen
        assert collector.sweeps == 1
        del kept
        clock.now = 120
        collector.idle()
        assert old() is not None  # frozen while alive: young collections do not see it
        clock.now = 1_900
        collector.idle()  # the full collection unfreezes and frees it
        assert collector.fulls == 2
        assert old() is None
