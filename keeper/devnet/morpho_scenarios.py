"""Scenarios on a Morpho devnet: an asset's price moved in every market (and feed) holding it."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from keeper.devnet.artifacts import morpho_artifact, own_artifact
from keeper.devnet.deployer import CALL_GAS, Deployer, codec_of
from keeper.devnet.morpho_spec import OracleKind
from keeper.devnet.morpho_world import ADMIN
from keeper.errors import DevnetError

if TYPE_CHECKING:
    from keeper.chain.client import ChainClient
    from keeper.devnet.morpho_world import MorphoWorld


async def shock_asset(client: ChainClient, world: MorphoWorld, symbol: str, pct: Decimal) -> int:
    """Move ``symbol``'s USD price by ``pct`` percent in every market holding it, in one block.

    Its markets' ``OracleMock`` prices move as the oracle of a real market would: times the move
    where it is the collateral, divided by it where it is the loan token; the feeds pricing it
    (behind the feed-priced markets' oracles) move by it. Every update is mined in the same
    block (automine is paused meanwhile), so no keeper sees half a shock. Returns that block
    (0 when nothing holds the token). For an automining devnet.
    """
    token = world.deployment.tokens.get(symbol)
    if token is None:
        known = ", ".join(sorted(world.deployment.tokens))
        raise DevnetError(f"{symbol}: not a token of the Morpho devnet ({known})")
    if pct <= -100:
        raise DevnetError("a price move must be above -100%")
    oracle = codec_of(morpho_artifact("OracleMock"))
    aggregator = codec_of(own_artifact("ManualAggregator"))
    dep = Deployer(client)
    factor = Decimal(100) + pct
    updates: list[tuple[str, str]] = []  # (to, calldata)
    for feed in world.deployment.feeds.values():
        if feed.symbol == symbol:
            round_data = await dep.read(feed.address, aggregator, "latestRoundData")
            answer = int(Decimal(int(round_data[1])) * factor / 100)
            updates.append((feed.aggregator, aggregator.encode("setAnswer", answer)))
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
        updates.append((params.oracle, oracle.encode("setPrice", new)))
    return await _in_one_block(client, updates) if updates else 0


async def _in_one_block(client: ChainClient, updates: list[tuple[str, str]]) -> int:
    """Send every update from the admin with automine paused, mine them together."""
    await client.request("evm_setAutomine", [False])
    try:
        hashes = [
            await client.request(
                "eth_sendTransaction",
                [{"from": ADMIN, "to": to, "data": data, "gas": hex(CALL_GAS)}],
                retry=False,
            )
            for to, data in updates
        ]
        await client.request("evm_mine", [])
    finally:
        await client.request("evm_setAutomine", [True])
    blocks = set()
    for tx_hash in hashes:
        receipt = await client.wait_for_receipt(tx_hash, timeout_s=30, poll_s=0.01)
        if receipt is None or int(receipt["status"], 16) != 1:
            raise DevnetError(f"price update {tx_hash} failed")
        blocks.add(int(receipt["blockNumber"], 16))
    if len(blocks) != 1:
        raise DevnetError(f"the price updates landed in several blocks: {sorted(blocks)}")
    return blocks.pop()
