"""What each recent block changed in the Morpho state, so that a reorg can be undone exactly.

Morpho's state moves event by event, and an accrual cannot be run backwards; so instead of
inverting events, a rollback re-reads at the common ancestor exactly what the orphaned blocks
touched (the markets' totals and the positions), drops the markets they created, and re-reads
the fee recipient if they changed it. Only blocks with Morpho events are recorded; ``since`` is
the first block whose changes are all known (the start, or as far back as ``depth`` allows).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from keeper.protocols.morpho_blue import events as ev

if TYPE_CHECKING:
    from collections.abc import Iterable

Pair = tuple[str, str]  # (market id, account)
DEPTH = 256  # as many blocks as the head tracker remembers hashes of


@dataclass
class BlockChanges:
    """The markets and positions some blocks changed."""

    pairs: set[Pair] = field(default_factory=set)
    markets: set[str] = field(default_factory=set)
    created: set[str] = field(default_factory=set)
    fee_recipient: bool = False

    def merge(self, other: BlockChanges) -> None:
        """Add ``other``'s changes to these."""
        self.pairs |= other.pairs
        self.markets |= other.markets
        self.created |= other.created
        self.fee_recipient |= other.fee_recipient


class RecentChanges:
    """The changes of the last ``depth`` blocks, by block."""

    def __init__(self, depth: int = DEPTH) -> None:
        self.depth = depth
        self.blocks: dict[int, BlockChanges] = {}
        self.since = 0

    def reset(self, block: int) -> None:
        """The state was read whole at ``block``: changes are known from the next one."""
        self.blocks.clear()
        self.since = block + 1

    def record(self, event: ev.MorphoEvent, touched: Iterable[Pair]) -> None:
        """One applied event and the positions it touched."""
        changes = self.blocks.setdefault(event.at.block, BlockChanges())
        changes.pairs.update(touched)
        if isinstance(event, ev.CreateMarket):
            changes.created.add(event.id)
        elif isinstance(event, ev.SetFeeRecipient):
            changes.fee_recipient = True
        market = ev.market_of(event)
        if market is not None:
            changes.markets.add(market)

    def prune(self, head: int) -> None:
        """Forget blocks more than ``depth`` below ``head``."""
        floor = head - self.depth + 1
        for block in [b for b in self.blocks if b < floor]:
            del self.blocks[block]
        self.since = max(self.since, floor)

    def covers(self, ancestor: int) -> bool:
        """True when every block above ``ancestor`` is known (a rollback there is exact)."""
        return ancestor + 1 >= self.since

    def after(self, ancestor: int) -> BlockChanges:
        """Everything the blocks above ``ancestor`` changed, merged."""
        merged = BlockChanges()
        for block, changes in self.blocks.items():
            if block > ancestor:
                merged.merge(changes)
        return merged

    def drop_after(self, ancestor: int) -> None:
        """Forget the blocks above ``ancestor`` (rolled back)."""
        for block in [b for b in self.blocks if b > ancestor]:
            del self.blocks[block]
