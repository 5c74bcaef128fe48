"""The market oracle's price sources: which feed prices which asset, and how fresh it is.

For each asset the AaveOracle names a source. A Chainlink-style source may be a proxy whose
``aggregator()`` emits the ``AnswerUpdated`` events; we watch that emitter. Per-feed ``updatedAt``
is kept so that staleness against a heartbeat can be reported (the breakers act on it).

A feed is *direct* when the oracle's price of its asset is the feed's answer itself (a plain
Chainlink feed, not an adapter that scales or caps it): its ``AnswerUpdated`` then says the new
price, and the tracker need not ask the oracle every block. Told at load by comparing the two;
the tracker's periodic check of every price demotes a feed that turns out not to be.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from eth_utils.address import to_checksum_address

from keeper.chain.abi import Codec
from keeper.chain.batch import eth_call, run_calls
from keeper.errors import RpcError
from keeper.protocols.aave_v3.market import ORACLE

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from keeper.chain.client import ChainClient
    from keeper.protocols.aave_v3.market import Market

FEED = Codec.named("IChainlinkAggregatorProxy")


@dataclass(slots=True)
class Feed:
    """One asset's price source."""

    asset: str
    source: str
    emitter: str | None  # where AnswerUpdated comes from; None if the source is not a feed
    updated_at: int = 0
    direct: bool = False  # the oracle's price is this feed's answer (see the module docstring)


class FeedRegistry:
    """Asset -> source, emitter -> assets, and the last update time of each feed."""

    def __init__(self) -> None:
        self.by_asset: dict[str, Feed] = {}
        self.assets_by_emitter: dict[str, list[str]] = {}

    async def load(
        self,
        client: ChainClient,
        market: Market,
        assets: Sequence[str],
        block: int,
        prices: Mapping[str, int],
    ) -> None:
        """(Re)read every asset's source, resolve proxies, read each feed's latest round.

        ``prices``: the oracle's prices at ``block``, to tell direct feeds.
        """
        calls = [
            eth_call(market.oracle, ORACLE.encode("getSourceOfAsset", a), block) for a in assets
        ]
        sources = await run_calls(client, calls, max(1, len(calls)))
        feeds: dict[str, Feed] = {}
        for asset, raw in zip(assets, sources, strict=True):
            if isinstance(raw, RpcError):
                raise raw
            (source,) = ORACLE.decode("getSourceOfAsset", raw)
            feeds[asset] = Feed(asset, str(source), None)
        # A proxy answers aggregator(); a plain aggregator reverts and is its own emitter.
        calls = [eth_call(f.source, FEED.encode("aggregator"), block) for f in feeds.values()]
        calls += [eth_call(f.source, FEED.encode("latestRoundData"), block) for f in feeds.values()]
        results = await run_calls(client, calls, max(1, len(calls)))
        n = len(feeds)
        for k, feed in enumerate(feeds.values()):
            agg, round_data = results[k], results[n + k]
            if isinstance(round_data, RpcError) or len(round_data) < 5 * 32:
                continue  # not a Chainlink-style feed: prices still come from the oracle read
            decoded = FEED.decode("latestRoundData", round_data)
            feed.updated_at = int(decoded[3])
            answer = int(decoded[1])
            feed.direct = answer > 0 and prices.get(feed.asset) == answer
            if isinstance(agg, RpcError) or len(agg) < 32:
                feed.emitter = feed.source.lower()
            else:
                feed.emitter = str(to_checksum_address(FEED.decode("aggregator", agg)[0])).lower()
        self.by_asset = feeds
        self.assets_by_emitter = {}
        for feed in feeds.values():
            if feed.emitter is not None:
                self.assets_by_emitter.setdefault(feed.emitter, []).append(feed.asset)

    def emitters(self) -> set[str]:
        """Addresses whose AnswerUpdated events move a price."""
        return set(self.assets_by_emitter)

    def on_answer(self, emitter: str, updated_at: int) -> list[str]:
        """Record an AnswerUpdated; return the assets it prices."""
        assets = self.assets_by_emitter.get(emitter.lower(), [])
        for asset in assets:
            self.by_asset[asset].updated_at = max(self.by_asset[asset].updated_at, updated_at)
        return assets

    def event_priced(self, asset: str) -> bool:
        """True when ``asset``'s price only moves with its feed's ``AnswerUpdated``."""
        feed = self.by_asset.get(asset)
        return feed is not None and feed.emitter is not None and feed.direct

    def demote(self, asset: str) -> None:
        """``asset``'s feed did not say its price: ask the oracle every block from now on."""
        feed = self.by_asset.get(asset)
        if feed is not None:
            feed.direct = False

    def stale(self, now: int, heartbeat_s: int) -> dict[str, int]:
        """Assets whose feed has not updated within ``heartbeat_s``: asset -> age in seconds."""
        return {
            a: now - f.updated_at
            for a, f in self.by_asset.items()
            if f.emitter is not None and now - f.updated_at > heartbeat_s
        }
