"""The feeds and feed-priced oracles of the Morpho devnet (``OracleKind.FEED`` markets).

Each feed is our ``ManualAggregator`` (Chainlink's read interface and ``AnswerUpdated``), one
behind our ``FeedProxy`` as most live feeds are; each such market's oracle is our
``DevnetChainlinkOracle``, with MorphoChainlinkOracleV2's constructor, interface and formula
(Morpho's own is not on npm; see the contract's header). No vaults: samples of 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from keeper.devnet.artifacts import own_artifact
from keeper.devnet.deployer import Deployer, codec_of
from keeper.devnet.morpho_spec import FEEDS, FeedSpec, MarketSpec, feed_answer

if TYPE_CHECKING:
    from collections.abc import Sequence

ZERO = "0x" + "00" * 20


@dataclass(frozen=True)
class DevFeed:
    """One devnet feed: what the oracle reads (``address``) and where updates go."""

    label: str
    symbol: str  # the token it prices
    decimals: int
    address: str  # the proxy when proxied, else the aggregator
    aggregator: str  # receives setAnswer and emits AnswerUpdated


async def deploy_feeds(
    dep: Deployer, admin: str, markets: Sequence[MarketSpec], usd: dict[str, int]
) -> dict[str, DevFeed]:
    """The feeds ``markets`` name, at the tokens' USD prices, by label."""
    wanted = {f for m in markets for f in (*m.base_feeds, *m.quote_feeds)}
    out: dict[str, DevFeed] = {}
    for spec in (f for f in FEEDS if f.label in wanted):
        out[spec.label] = await _deploy_feed(dep, admin, spec, usd)
    return out


async def _deploy_feed(dep: Deployer, admin: str, spec: FeedSpec, usd: dict[str, int]) -> DevFeed:
    answer = feed_answer(spec, usd)
    aggregator = await dep.deploy(
        admin, own_artifact("ManualAggregator"), [spec.decimals, spec.label, answer]
    )
    address = aggregator
    if spec.proxied:
        address = await dep.deploy(admin, own_artifact("FeedProxy"), [aggregator])
    return DevFeed(spec.label, spec.symbol, spec.decimals, address, aggregator)


async def deploy_feed_oracle(
    dep: Deployer,
    admin: str,
    market: MarketSpec,
    feeds: dict[str, DevFeed],
    decimals: tuple[int, int],
) -> str:
    """The market's ``DevnetChainlinkOracle``; ``decimals``: (collateral, loan) token decimals."""

    def two(labels: tuple[str, ...]) -> list[str]:
        got = [feeds[label].address for label in labels]
        return [*got, ZERO, ZERO][:2]

    b1, b2 = two(market.base_feeds)
    q1, q2 = two(market.quote_feeds)
    args: list[Any] = [ZERO, 1, b1, b2, decimals[0], ZERO, 1, q1, q2, decimals[1]]
    return await dep.deploy(admin, own_artifact("DevnetChainlinkOracle"), args)


async def set_answer(dep: Deployer, admin: str, feed: DevFeed, answer: int) -> dict[str, Any]:
    """A new round on the feed's aggregator (the receipt)."""
    codec = codec_of(own_artifact("ManualAggregator"))
    receipt: dict[str, Any] = await dep.call_fn(admin, feed.aggregator, codec, "setAnswer", answer)
    return receipt
