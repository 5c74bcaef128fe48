"""Connecting to an Aave V3 market: the client, the chain check, the Pool and its version."""

from __future__ import annotations

from typing import TYPE_CHECKING

from keeper.connect import checked_chain_id, open_client
from keeper.protocols.aave_v3.lending_market import AaveLendingMarket
from keeper.protocols.aave_v3.market import Market, resolve_market
from keeper.protocols.aave_v3.versions import AaveVersion

if TYPE_CHECKING:
    from keeper.chain.client import ChainClient
    from keeper.core.market import LendingMarket
    from keeper.settings import Settings


async def connect(settings: Settings) -> tuple[ChainClient, int, Market]:
    """Open the client, check the chain id, and resolve the market."""
    client = open_client(settings)
    try:
        chain_id = await checked_chain_id(settings, client)
        market = await resolve_market(
            client,
            settings.aave_provider,
            pool_version=None
            if settings.pool_version is None
            else AaveVersion(settings.pool_version),
        )
    except BaseException:
        await client.close()
        raise
    return client, chain_id, market


async def open_lending_market(
    settings: Settings,
) -> tuple[ChainClient, int, LendingMarket]:
    """The neutral market of ``protocol = "aave_v3"``."""
    client, chain_id, market = await connect(settings)
    lending: LendingMarket = AaveLendingMarket(client, market, settings)  # checked by mypy
    return client, chain_id, lending
