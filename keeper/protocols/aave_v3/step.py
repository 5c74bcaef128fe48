"""One advance of the market monitor: what it applied and how long it took."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Step:
    """One advance of the monitor."""

    block: int
    timestamp: int
    reorg_ancestor: int | None = None
    reread: int = 0
    price_updates: int = 0
    recomputed: int = 0
    ms: float = 0.0
    removed: set[str] = field(default_factory=set)
    base_fee: int | None = None  # of the head block, when its header had one
    # A reorg deeper than remembered: the state was rebuilt; ``reorg_ancestor`` is then the
    # block below the oldest one remembered (everything the keeper knew of may be replaced).
    deep_reorg: bool = False
