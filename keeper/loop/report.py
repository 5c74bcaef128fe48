"""What the loop did at one head (handed to ``on_block`` observers: the demo, tests)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from keeper.core.outcome import Outcome
    from keeper.core.plan import Skip


@dataclass
class BlockReport:
    """What the loop did at one head."""

    block: int
    accounts: int
    candidates: int
    plans: int
    outcomes: list[Outcome] = field(default_factory=list)
    skips: list[Skip] = field(default_factory=list)
