"""Price sources: proxies resolved to their aggregator, re-pointed sources followed, staleness."""

from __future__ import annotations

import pytest

from keeper.chain.abi import Codec
from keeper.chain.client import ChainClient
from keeper.devnet.artifacts import own_artifact
from keeper.devnet.deployer import Deployer
from keeper.protocols.aave_v3.market import ORACLE, resolve_market
from keeper.protocols.aave_v3.monitor import MarketMonitor
from keeper.settings import load_settings

pytestmark = pytest.mark.integration
FEED = Codec.named("ManualAggregator")


@pytest.mark.asyncio
async def test_repointed_source_behind_a_proxy_is_followed(devnet):
    """The oracle re-points WETH to a proxy in front of a new aggregator (AssetSourceUpdated):
    the monitor reloads its sources, resolves the proxy's aggregator(), and an AnswerUpdated from
    that aggregator reaches the engine as a price update; the engine stays equal to the Pool.
    """
    async with ChainClient(devnet.url) as client:
        dep = Deployer(client)
        admin = devnet.world.admin
        market = await resolve_market(client, devnet.world.market.pool_addresses_provider)
        settings = load_settings(
            rpc_url=devnet.url, pool_addresses_provider=market.addresses_provider
        )
        monitor = MarketMonitor(client, market, settings)
        await monitor.start()
        weth = devnet.world.asset("WETH").address
        aggregator = await dep.deploy(
            admin, own_artifact("ManualAggregator"), [8, "WETH / USD v2", 3_000 * 10**8]
        )
        proxy = await dep.deploy(admin, own_artifact("FeedProxy"), [aggregator])
        await dep.transact(admin, market.oracle, ORACLE.encode("setAssetSources", [weth], [proxy]))
        step = await monitor.step()
        assert step is not None
        feed = monitor.tracker.feeds.by_asset[weth]
        assert feed.source == proxy
        assert feed.emitter == aggregator.lower()
        await dep.transact(admin, aggregator, FEED.encode("setAnswer", 2_400 * 10**8))
        step = await monitor.step()
        assert step is not None and step.price_updates == 1
        assert monitor.tracker.prices[weth] == 2_400 * 10**8
        onchain = await monitor.reconcile(sorted(monitor.engine.data))
        assert all(monitor.engine.data[a] == onchain[a] for a in onchain)
        assert monitor.mismatches == 0


@pytest.mark.asyncio
async def test_feed_staleness_against_the_heartbeat(devnet):
    """With no update for longer than the heartbeat every feed is reported stale; an update
    makes its asset fresh again.
    """
    async with ChainClient(devnet.url) as client:
        market = await resolve_market(client, devnet.world.market.pool_addresses_provider)
        settings = load_settings(
            rpc_url=devnet.url,
            pool_addresses_provider=market.addresses_provider,
            oracle_heartbeat_s=3_600,
        )
        monitor = MarketMonitor(client, market, settings)
        await monitor.start()
        assert monitor.stale_feeds() == {}
        await client.request("evm_increaseTime", [7_200])
        await client.request("evm_mine", [])
        await monitor.step()
        stale = monitor.stale_feeds()
        assert set(stale) == set(monitor.tracker.reserves)
        assert all(age > 3_600 for age in stale.values())
        usdc = devnet.world.asset("USDC")
        await Deployer(client).transact(
            devnet.world.admin, usdc.feed, FEED.encode("setAnswer", 10**8)
        )
        await monitor.step()
        assert usdc.address not in monitor.stale_feeds()
        assert len(monitor.stale_feeds()) == len(stale) - 1


@pytest.mark.asyncio
async def test_a_sample_checked_after_a_deferred_step_is_not_a_mismatch(devnet):
    """A deferred step (a WETH move: only the accounts it can push under 1 recomputed before
    acting) leaves the others with the block before's data; checking every account against
    getUserAccountData at that block compares them at the block, and none differs.
    """
    async with ChainClient(devnet.url) as client:
        dep = Deployer(client)
        market = await resolve_market(client, devnet.world.market.pool_addresses_provider)
        settings = load_settings(
            rpc_url=devnet.url, pool_addresses_provider=market.addresses_provider
        )
        monitor = MarketMonitor(client, market, settings)
        await monitor.start()
        weth = devnet.world.asset("WETH")
        (answer,) = FEED.decode(
            "latestAnswer", await client.call(weth.feed, FEED.encode("latestAnswer"))
        )
        (owner,) = FEED.decode("owner", await client.call(weth.feed, FEED.encode("owner")))
        await dep.impersonate_all()
        await dep.transact(owner, weth.feed, FEED.encode("setAnswer", int(answer) * 96 // 100))
        step = await monitor.step(defer=True)
        assert step is not None and step.recomputed < len(monitor.engine.data)
        await monitor.reconcile(sorted(monitor.engine.data))
        assert monitor.mismatches == 0
