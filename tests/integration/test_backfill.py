"""Backfill splits log ranges the node refuses, and finds every account since start_block."""

from __future__ import annotations

import pytest

from keeper.chain.client import ChainClient
from keeper.chain.heads import HeadTracker
from keeper.protocols.aave_v3.market import resolve_market
from keeper.protocols.aave_v3.tracker import MarketTracker
from tests.support.rpc_proxy import RpcProxy

pytestmark = pytest.mark.integration


async def _bootstrap(url: str, provider: str, span: int) -> MarketTracker:
    async with ChainClient(url) as client:
        market = await resolve_market(client, provider)
        head = await HeadTracker(client).start(await client.block_number())
        tracker = MarketTracker(client, market, start_block=0, batch_size=200, log_span=span)
        await tracker.bootstrap(head)
        return tracker


@pytest.mark.asyncio
async def test_backfill_splits_refused_ranges_and_finds_every_account(devnet):
    """Through a proxy that refuses eth_getLogs over more than 64 blocks, a backfill that starts
    with 10,000-block ranges splits them, and finds the same accounts as a direct backfill,
    including every borrower from the first blocks (no lookback window).
    """
    provider = devnet.world.market.pool_addresses_provider
    direct = await _bootstrap(devnet.url, provider, 10_000)
    async with RpcProxy(devnet.url, max_log_range=64) as proxy:
        split = await _bootstrap(proxy.url, provider, 10_000)
    assert proxy.refused > 0
    assert split.logs.splits > 0
    assert set(split.accounts) == set(direct.accounts)
    assert set(devnet.world.borrowers) <= set(split.accounts)
    assert split.first_seen == direct.first_seen
