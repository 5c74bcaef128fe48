"""``eth_getLogs`` over adaptive block ranges.

Start wide; when the node refuses a range (too many results, range too large, timeout), split it
in two and try again; after successes, grow back. Progress is reported through a callback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from keeper.chain.bloom import may_have_logs_of
from keeper.errors import RpcError, TransientRpcError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from keeper.chain.client import ChainClient

_RANGE_HINTS = (
    "range",
    "too many",
    "limit",
    "exceed",
    "timeout",
    "timed out",
    "response size",
    "results",
    "too large",
    "query returned more than",
)


def is_range_error(exc: RpcError) -> bool:
    """True for the ways nodes and providers say a log query was too big."""
    text = str(exc).lower()
    return isinstance(exc, TransientRpcError) or any(h in text for h in _RANGE_HINTS)


class LogFetcher:
    """Fetches logs for a set of addresses and topic0s over any block range."""

    def __init__(
        self,
        client: ChainClient,
        span: int,
        on_progress: Callable[[int, int, int], None] | None = None,
    ) -> None:
        self.client = client
        self.span = max(1, span)
        self.max_span = self.span
        self.on_progress = on_progress
        self.splits = 0
        self.skipped = 0  # blocks whose bloom spared the request

    async def fetch_block(
        self,
        addresses: Sequence[str],
        topics: Sequence[str],
        block_hash: str,
        bloom: int | None = None,
    ) -> list[dict[str, Any]]:
        """Every matching log of the one block ``block_hash``.

        ``bloom``: the block's logs bloom; when it proves that no log of ``addresses`` is in
        the block, nothing is asked.
        """
        if not may_have_logs_of(bloom, addresses):
            self.skipped += 1
            return []
        return await self.client.block_logs(
            address=list(addresses), topics=[list(topics)], block_hash=block_hash
        )

    async def fetch(
        self, addresses: Sequence[str], topics: Sequence[str], first: int, last: int
    ) -> list[dict[str, Any]]:
        """Every matching log in ``first..last`` (inclusive), in chain order."""
        out: list[dict[str, Any]] = []
        start = first
        while start <= last:
            end = min(last, start + self.span - 1)
            try:
                logs = await self.client.get_logs(
                    address=list(addresses), topics=[list(topics)], from_block=start, to_block=end
                )
            except RpcError as exc:
                if self.span == 1 or not is_range_error(exc):
                    raise
                self.span = max(1, (end - start + 1) // 2)
                self.splits += 1
                continue
            out.extend(logs)
            if self.on_progress is not None:
                self.on_progress(start, end, last)
            start = end + 1
            self.span = min(self.max_span, self.span * 2)
        return out
