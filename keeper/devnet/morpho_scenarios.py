"""Scenarios on a Morpho devnet: an asset's price moved in every market (and feed) holding it."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from keeper.devnet.artifacts import morpho_artifact, own_artifact
from keeper.devnet.deployer import Deployer, codec_of
from keeper.devnet.morpho_feeds import set_answer
from keeper.devnet.morpho_spec import OracleKind
from keeper.devnet.morpho_world import ADMIN
from keeper.errors import DevnetError

if TYPE_CHECKING:
    from keeper.chain.client import ChainClient
    from keeper.devnet.morpho_world import MorphoWorld


async def shock_asset(client: ChainClient, world: MorphoWorld, symbol: str, pct: Decimal) -> int:
    """Move ``symbol``'s USD price by ``pct`` percent in every market holding it.

    Its markets' ``OracleMock`` prices move as the oracle of a real market would: times the move
    where it is the collateral, divided by it where it is the loan token; the feeds pricing it
    (behind the feed-priced markets' oracles) move by it. Returns the last block written (0
    when no market holds it).
    """
    token = world.deployment.tokens.get(symbol)
    if token is None:
        known = ", ".join(sorted(world.deployment.tokens))
        raise DevnetError(f"{symbol}: not a token of the Morpho devnet ({known})")
    if pct <= -100:
        raise DevnetError("a price move must be above -100%")
    oracle = codec_of(morpho_artifact("OracleMock"))
    aggregator = codec_of(own_artifact("ManualAggregator"))
    dep, block = Deployer(client), 0
    factor = Decimal(100) + pct
    for feed in world.deployment.feeds.values():
        if feed.symbol == symbol:
            round_data = await dep.read(feed.address, aggregator, "latestRoundData")
            answer = int(Decimal(int(round_data[1])) * factor / 100)
            receipt = await set_answer(dep, ADMIN, feed, answer)
            block = int(receipt["blockNumber"], 16)
    for market in world.deployment.markets:
        if market.oracle is not OracleKind.MOCK:
            continue
        params = market.params
        (price,) = await dep.read(params.oracle, oracle, "price")
        if params.collateral_token == token.address:
            new = int(Decimal(int(price)) * factor / 100)
        elif params.loan_token == token.address:
            new = int(Decimal(int(price)) * 100 / factor)
        else:
            continue
        receipt = await dep.call_fn(ADMIN, params.oracle, oracle, "setPrice", new)
        block = int(receipt["blockNumber"], 16)
    return block
