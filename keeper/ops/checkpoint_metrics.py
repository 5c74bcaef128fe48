"""The checkpoint's Prometheus metrics (part of :class:`keeper.ops.metrics.Metrics`)."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

from prometheus_client import Counter, Gauge, Histogram

from keeper.core.checkpoint import DiscardReason

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry


class CheckpointMetrics:
    """Age and cost of the checkpoints, where a start resumed from, and why one was discarded."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.written_at = math.nan  # wall clock of the newest checkpoint (written or restored)
        self.age = Gauge(
            "keeper_checkpoint_age_seconds",
            "Seconds since the newest checkpoint was written (NaN: none yet)",
            registry=r,
        )
        self.age.set_function(lambda: time.time() - self.written_at)
        self.block = Gauge(
            "keeper_checkpoint_block", "Block of the newest checkpoint written", registry=r
        )
        self.bytes = Gauge(
            "keeper_checkpoint_bytes", "Size of the newest checkpoint written", registry=r
        )
        self.write_seconds = Histogram(
            "keeper_checkpoint_write_seconds",
            "Encoding and writing one checkpoint (off the event loop)",
            registry=r,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.write_failures = Counter(
            "keeper_checkpoint_write_failures", "Checkpoints that could not be stored", registry=r
        )
        self.restored_block = Gauge(
            "keeper_checkpoint_restored_block",
            "Block of the checkpoint this start resumed from (0: a cold start)",
            registry=r,
        )
        self.discarded = Counter(
            "keeper_checkpoint_discarded",
            "Checkpoints found at start and not used, by reason",
            ["reason"],
            registry=r,
        )
        for reason in DiscardReason:
            self.discarded.labels(reason.value)

    def written(self, block: int, size: int, seconds: float, at: float) -> None:
        """A checkpoint was stored."""
        self.written_at = at
        self.block.set(block)
        self.bytes.set(size)
        self.write_seconds.observe(seconds)
