"""The devnet carries a real, sane Aave V3 market and comes back intact from a snapshot."""

from __future__ import annotations

import pytest

from keeper.chain.abi import Codec
from keeper.chain.client import ChainClient
from keeper.cli import DEVNET_PROVIDER
from keeper.devnet.market_spec import DEFAULT_RESERVES
from keeper.devnet.scenarios import shock_price
from keeper.localnode.anvil import Anvil
from keeper.protocols.aave_v3.market import resolve_market
from keeper.protocols.aave_v3.reads import read_reserves
from tests.integration.helpers import account_data

pytestmark = pytest.mark.integration
WAD = 10**18
FEED = Codec.named("ManualAggregator")


@pytest.mark.asyncio
async def test_market_resolves_and_lists_its_reserves(devnet_any):
    """On both worlds the PoolAddressesProvider leads to the Pool, oracle and data provider, the
    version comes from POOL_REVISION, and the market lists WETH (18), USDC (6) and WBTC (8)
    with the configured risk parameters (v3.6 adds LINK, 18, an LT-0 reserve).
    """
    devnet = devnet_any
    async with ChainClient(devnet.url) as client:
        market = await resolve_market(client, devnet.world.market.pool_addresses_provider)
        assert market.pool == devnet.world.market.pool
        assert market.oracle == devnet.world.market.oracle
        assert market.rules.version == devnet.world.aave_version
        reserves = {
            r.symbol: r for r in await read_reserves(client, market, await client.block_number())
        }
    assert devnet.world.market.pool_addresses_provider == DEVNET_PROVIDER
    for spec in DEFAULT_RESERVES:
        r = reserves[spec.symbol]
        assert (r.decimals, r.ltv, r.liquidation_threshold, r.liquidation_bonus) == (
            spec.decimals,
            spec.ltv,
            spec.liquidation_threshold,
            spec.liquidation_bonus,
        )
        assert r.liquidation_protocol_fee == spec.liquidation_protocol_fee
        assert r.active and not r.frozen and not r.paused
    expected = [6, 8, 18] if devnet.world.aave_version == "3.0" else [6, 8, 18, 18]
    assert sorted(r.decimals for r in reserves.values()) == expected


@pytest.mark.asyncio
async def test_every_borrower_has_sane_account_data(devnet):
    """Each borrower has collateral, debt, and a health factor above 1 but some near it."""
    async with ChainClient(devnet.url) as client:
        rows = [
            await account_data(client, devnet.world.market.pool, b) for b in devnet.world.borrowers
        ]
    assert len(rows) >= 80
    for row in rows:
        assert row.total_collateral_base > 0
        assert 0 < row.total_debt_base <= row.total_collateral_base
        assert row.health_factor > WAD
        assert row.ltv > 0
        assert 0 < row.current_liquidation_threshold <= 10_000
    near = [r for r in rows if r.health_factor < 11 * WAD // 10]
    assert len(near) >= 10, "some borrowers must sit close to their liquidation threshold"
    assert any(r.health_factor > 2 * WAD for r in rows)


@pytest.mark.asyncio
async def test_feed_is_chainlink_style_and_shock_moves_the_oracle(devnet):
    """Our feed answers latestRoundData and emits AnswerUpdated(current, roundId, updatedAt)
    with indexed answer and round; a shock moves the AaveOracle price by the given percent.
    """
    weth = devnet.world.asset("WETH")
    async with ChainClient(devnet.url) as client:
        (round_id, answer, _started, updated, answered) = FEED.decode(
            "latestRoundData", await client.call(weth.feed, FEED.encode("latestRoundData"))
        )
        assert answer == 3000 * 10**8 and round_id == answered and updated > 0
        (decimals,) = FEED.decode("decimals", await client.call(weth.feed, FEED.encode("decimals")))
        assert decimals == 8
        shock = await shock_price(client, devnet.world.market.pool_addresses_provider, "weth", -30)
        assert shock.new_answer == 2100 * 10**8
        logs = await client.get_logs(
            address=weth.feed,
            topics=[FEED.topic("AnswerUpdated")],
            from_block=shock.block,
            to_block=shock.block,
        )
        assert len(logs) == 1
        assert int(logs[0]["topics"][1], 16) == 2100 * 10**8
        assert int(logs[0]["topics"][2], 16) == round_id + 1
        oracle = Codec.named("aave_v3/IAaveOracle")
        (price,) = oracle.decode(
            "getAssetPrice",
            await client.call(
                devnet.world.market.oracle, oracle.encode("getAssetPrice", weth.address)
            ),
        )
        assert price == 2100 * 10**8


def test_snapshot_reload_is_the_same_world(snapshot):
    """A world reloaded from its state dump has the same head and the same account data."""
    import asyncio

    async def read(url):
        async with ChainClient(url) as client:
            head = await client.block_number()
            first = snapshot.world.borrowers[0]
            return head, await account_data(client, snapshot.world.market.pool, first, head)

    from keeper.localnode.anvil import AnvilOptions

    with (
        Anvil(AnvilOptions(load_state=snapshot.state)) as a,
        Anvil(AnvilOptions(load_state=snapshot.state)) as b,
    ):
        ra, rb = asyncio.run(read(a.url)), asyncio.run(read(b.url))
    assert ra[0] == rb[0] >= snapshot.world.deploy_block
    assert ra[1].total_collateral_base == rb[1].total_collateral_base


def test_anvil_stops_on_error():
    """Anvil is stopped when the code using it raises."""
    anvil = Anvil()
    pids = []

    def use_and_fail() -> None:
        with anvil:
            pids.append(anvil.pid)
            assert anvil.running
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        use_and_fail()
    assert not anvil.running
    pid = pids[0]
    assert pid is not None
    import os

    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
