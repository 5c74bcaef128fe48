"""Which feeds stand behind which Morpho oracles, and their answers at the tracked block.

Each oracle is probed once for the MorphoChainlinkOracleV2 shape (its parts are immutable;
``oracle_feeds.py``); a read that failed for a node reason is tried again at the next block. A
feed's emitter (where its updates are sent: a proxy's aggregator, or the feed itself) is
resolved when the feed is first seen, and again every ``EMITTER_RECHECK_BLOCKS`` (a proxy can
be pointed at a new aggregator, as Chainlink does when it upgrades a feed). Every block, the
feeds' answers and the vaults' assets are read in the same batch as the oracles' ``price()``;
the ``price()`` read stays the truth: a local price that differs from it is logged and counted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from keeper.chain.batch import Call, eth_call, run_calls
from keeper.errors import RpcError
from keeper.protocols.morpho_blue.oracle_feeds import (
    FEED,
    FeedOracle,
    OracleInputs,
    emitter_of,
    input_calls,
    local_price,
    parse_inputs,
    parse_shape,
    shape_calls,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from keeper.chain.client import ChainClient

log = structlog.get_logger(__name__)
EMITTER_RECHECK_BLOCKS = 64


class FeedBook:
    """The resolved oracles of one tracker."""

    def __init__(self) -> None:
        self.shapes: dict[str, FeedOracle | None] = {}  # oracle -> its parts (None: no shape)
        self.emitters: dict[str, str] = {}  # feed -> emitter (lower case)
        self.inputs = OracleInputs({}, {})
        self.mismatches = 0
        self._feeds: list[str] = []
        self._emitters_at = -1  # the block every emitter was last resolved at
        self._vaults: list[tuple[str, int]] = []

    def shape(self, oracle: str) -> FeedOracle | None:
        """The oracle's parts, None when it has no resolvable feeds."""
        return self.shapes.get(oracle)

    async def resolve(
        self, client: ChainClient, oracles: Sequence[str], block: int, batch_size: int
    ) -> None:
        """Probe the oracles not probed yet; resolve the emitters of feeds first seen."""
        todo = sorted(set(oracles) - set(self.shapes))
        if todo:
            calls = [c for o in todo for c in shape_calls(o, block)]
            results = await run_calls(client, calls, batch_size)
            per = len(calls) // len(todo)
            for k, oracle in enumerate(todo):
                got = parse_shape(oracle, results[k * per : (k + 1) * per])
                if isinstance(got, RpcError):
                    log.warning("oracle_shape_unread", oracle=oracle, error=str(got))
                    continue
                self.shapes[oracle] = got
        feeds = sorted({f for s in self.shapes.values() if s is not None for f in s.feeds()})
        recheck = self._emitters_at < 0 or block - self._emitters_at >= EMITTER_RECHECK_BLOCKS
        fresh = feeds if recheck else [f for f in feeds if f not in self.emitters]
        if recheck:
            self._emitters_at = block
        if fresh:
            calls = [eth_call(f, FEED.encode("aggregator"), block) for f in fresh]
            for feed, raw in zip(fresh, await run_calls(client, calls, batch_size), strict=True):
                self.emitters[feed] = emitter_of(feed, raw).lower()
        self._feeds = feeds
        self._vaults = sorted(
            {v for s in self.shapes.values() if s is not None for v in s.vaults()}
        )

    def calls(self, block: int) -> list[Call]:
        """The per-block reads of every resolved feed and vault."""
        return input_calls(self._feeds, self._vaults, block)

    def take(self, results: Sequence[bytes | RpcError]) -> None:
        """The answers of :meth:`calls`, in order."""
        self.inputs = parse_inputs(self._feeds, self._vaults, results)

    def local(self, oracle: str, override: Mapping[str, int] | None = None) -> int | None:
        """The oracle's price from the block's inputs (``override``: feeds' new answers)."""
        shape = self.shapes.get(oracle)
        return None if shape is None else local_price(shape, self.inputs, override)

    def stale(self, timestamp: int, heartbeat_s: int) -> dict[str, int]:
        """Feeds behind an oracle whose answer is older than ``heartbeat_s`` at ``timestamp``.

        Keyed ``feed 0x...`` (a feed can stand behind several markets): its age in seconds.
        """
        return {
            f"feed {feed}": timestamp - at
            for feed, at in sorted(self.inputs.updated_at.items())
            if timestamp - at > heartbeat_s
        }

    def feeds_of_emitter(self, emitter: str) -> list[str]:
        """The feeds whose answers ``emitter``'s updates set."""
        wanted = emitter.lower()
        return [f for f, e in self.emitters.items() if e == wanted]

    def check(self, prices: Mapping[str, int], oracles: Mapping[str, str], block: int) -> None:
        """Compare each resolved market's local price with its oracle's ``price()`` read.

        ``prices``: market id -> price read; ``oracles``: market id -> oracle. A difference
        is logged and counted; the read price is the one used.
        """
        for market_id, read in prices.items():
            oracle = oracles[market_id]
            if self.shapes.get(oracle) is None:
                continue
            local = self.local(oracle)
            if local != read:
                self.mismatches += 1
                log.error(
                    "morpho_oracle_price_mismatch",
                    market=market_id,
                    oracle=oracle,
                    block=block,
                    local=None if local is None else str(local),
                    read=str(read),
                )
