"""Finding borrowers from the Pool's Borrow events from ``start_block`` on, with no lookback."""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from keeper.errors import RpcError
from keeper.protocols.aave_v3.market import POOL

if TYPE_CHECKING:
    from keeper.chain.client import ChainClient

log = structlog.get_logger(__name__)
BORROW_TOPIC = POOL.topic("Borrow")


class BorrowerDiscovery:
    """Scans Borrow events block range by block range; remembers every ``onBehalfOf``.

    A range the node refuses (too many results, too wide) is split in two; the span grows back
    after successes. (The next issue replaces this with full position tracking and reorg care.)
    """

    def __init__(self, client: ChainClient, pool: str, start_block: int, span: int) -> None:
        self.client = client
        self.pool = pool
        self.next_block = start_block
        self.span = max(1, span)
        self._max_span = self.span
        self.borrowers: set[str] = set()

    async def advance(self, to_block: int) -> set[str]:
        """Scan up to ``to_block`` inclusive; return borrowers not seen before."""
        new: set[str] = set()
        while self.next_block <= to_block:
            end = min(to_block, self.next_block + self.span - 1)
            try:
                logs = await self.client.get_logs(
                    address=self.pool,
                    topics=[BORROW_TOPIC],
                    from_block=self.next_block,
                    to_block=end,
                )
            except RpcError as exc:
                if self.span == 1:
                    raise
                self.span = max(1, self.span // 2)
                log.info("log_range_split", span=self.span, error=str(exc))
                continue
            for entry in logs:
                decoded = POOL.decode_log(entry)
                if decoded is None:
                    continue
                who = decoded[1]["onBehalfOf"]
                if who not in self.borrowers:
                    self.borrowers.add(who)
                    new.add(who)
            self.next_block = end + 1
            self.span = min(self._max_span, self.span * 2)
        return new
