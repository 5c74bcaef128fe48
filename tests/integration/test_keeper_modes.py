"""The keeper run beyond the plain shock: a dry run on a fork, heads over WebSocket, gas too
dear to liquidate at a profit, a node without eth_simulateV1, a head acted on again, token
symbols unreadable at start.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from keeper.app import BlockReport, run_keeper
from keeper.chain.client import ChainClient
from keeper.devnet.scenarios import shock_price
from keeper.protocols.aave_v3.planner import aave_payload
from tests.integration.conftest import KEEPER_ADDRESS
from tests.integration.helpers import (
    keeper_settings,
    liquidation_events,
    run_through_shock,
)
from tests.support.rpc_proxy import RpcProxy

pytestmark = pytest.mark.integration
WAD = 10**18


@pytest.mark.asyncio
async def test_dry_run_liquidates_on_a_fork_and_the_node_sees_reads_only(devnet, tmp_path):
    """With dry_run the keeper forks the configured node into its own Anvil and liquidates
    there: a recording proxy in front of the node sees no eth_sendRawTransaction (nor any other
    send), the real chain shows no liquidation and the keeper's nonce is unchanged, while the
    fork mined the liquidations and their profit is reported.
    """
    async with RpcProxy(devnet.url) as proxy, ChainClient(devnet.url) as client:
        settings = keeper_settings(
            devnet,
            tmp_path,
            rpc_url=proxy.url,
            dry_run=True,
            min_profit_usd=1,
        )
        reports: list[BlockReport] = []
        stop = asyncio.Event()
        task = asyncio.create_task(run_keeper(settings, stop, reports.append))
        nonce = await client.get_transaction_count(KEEPER_ADDRESS, "latest")
        while not reports:
            await asyncio.sleep(0.05)
        shock = await shock_price(client, devnet.world.market.pool_addresses_provider, "WETH", -30)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(
            r.block >= shock.block and r.outcomes for r in reports
        ):
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, 30)
        outcomes = [o for r in reports for o in r.outcomes]
        liquidated = [o for o in outcomes if o.status == "liquidated"]
        assert liquidated, [o.reason for o in outcomes]
        assert all(o.spent > 0 and o.received > 0 for o in liquidated)
        sends = {"eth_sendRawTransaction", "eth_sendTransaction"} & set(proxy.forwarded)
        assert not sends, f"the real node received {sends}"
        assert await client.get_transaction_count(KEEPER_ADDRESS, "latest") == nonce
        assert await liquidation_events(client, devnet.world.market.pool, shock.block) == []
        for o in liquidated:
            assert o.tx_hash is not None
            assert await client.get_receipt(o.tx_hash) is None


@pytest.mark.asyncio
async def test_keeper_over_websocket_reacts_to_new_heads(devnet, tmp_path):
    """With a ws:// URL every request goes over one WebSocket and new heads arrive by
    subscription: with a 30 s poll interval the keeper still liquidates right after a shock.
    """
    ws_url = devnet.url.replace("http://", "ws://")
    settings = keeper_settings(
        devnet,
        tmp_path,
        rpc_url=ws_url,
        poll_interval_s=30,
        min_profit_usd=1,
    )
    reports: list[BlockReport] = []
    stop = asyncio.Event()
    task = asyncio.create_task(run_keeper(settings, stop, reports.append))
    async with ChainClient(devnet.url) as client:
        deadline = time.monotonic() + 30
        while not reports and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert reports, "the keeper did not start"
        await asyncio.sleep(0.5)  # let it subscribe
        shock = await shock_price(client, devnet.world.market.pool_addresses_provider, "WETH", -30)
        started = time.monotonic()
        while time.monotonic() - started < 15:
            if await liquidation_events(client, devnet.world.market.pool, shock.block):
                break
            await asyncio.sleep(0.05)
        reacted = time.monotonic() - started
        stop.set()
        await asyncio.wait_for(task, 30)
        assert await liquidation_events(client, devnet.world.market.pool, shock.block)
        assert reacted < 10, "a new head must wake the keeper long before the 30 s poll"


@pytest.mark.asyncio
async def test_no_liquidation_is_sent_at_a_loss_when_gas_is_dear(devnet, tmp_path):
    """The shock lands in a block with a 5,000 gwei base fee: liquidations whose bonus does not
    pay for their gas are skipped, and every liquidation that is sent nets a profit after the
    gas it really paid; its gross profit is exactly what the plan predicted.
    """
    settings = keeper_settings(
        devnet,
        tmp_path,
        min_profit_usd=0,
        max_fee_gwei=50_000,
    )

    async def dear_gas(client: ChainClient) -> None:
        await client.request("anvil_setNextBlockBaseFeePerGas", [hex(5_000 * 10**9)])

    reports, shock = await run_through_shock(
        settings, devnet.url, devnet.world.market.pool_addresses_provider, "WETH", -30, dear_gas
    )
    async with ChainClient(devnet.url) as client:
        outcomes = [o for r in reports for o in r.outcomes if r.block >= shock.block]
        skips = [s for r in reports for s in r.skips if r.block >= shock.block]
        assert any("gas" in s.reason for s in skips), "dear gas must make some liquidations skip"
        assert any(o.status == "liquidated" for o in outcomes), "large ones still pay for gas"
        prices = await read_prices_at(client, devnet, await client.block_number())
        decimals = {a.address: a.decimals for a in devnet.world.market.assets.values()}
        native = prices[devnet.world.asset("WETH").address]
        for o in outcomes:
            if o.status != "liquidated":
                # Refused for gas, or (plans of one block run together) a simulation that no
                # longer passes once an earlier liquidation of the block is mined: nothing sent.
                assert o.status in ("not_sent", "simulation_failed"), (o.status, o.reason, o.plan)
                assert o.tx_hash is None and o.gas_cost_wei == 0
                continue
            gross = (
                o.received * prices[o.plan.receive.asset] // 10 ** decimals[o.plan.receive.asset]
                - o.spent * prices[o.plan.spend.asset] // 10 ** decimals[o.plan.spend.asset]
            )
            gas_cost = o.gas_cost_wei * native // 10**18
            assert gross - gas_cost >= 0, f"a liquidation lost money: {gross} - {gas_cost}"
            if (
                not aave_payload(o.plan).collateral_limited
                and o.plan.spend.amount == o.plan.expected_spent
            ):
                assert gross == o.plan.gross_profit_base


async def read_prices_at(client, devnet, block):
    from keeper.protocols.aave_v3.market import resolve_market
    from keeper.protocols.aave_v3.state_reader import read_prices

    market = await resolve_market(client, devnet.world.market.pool_addresses_provider)
    return await read_prices(
        client, market, [a.address for a in devnet.world.market.assets.values()], block
    )


@pytest.mark.asyncio
async def test_node_without_simulate_v1_falls_back_and_still_guards(devnet, tmp_path):
    """Behind a node that does not know eth_simulateV1 the keeper approves, checks the exact
    call with eth_call and eth_estimateGas, and liquidates; the amounts still match the plan.
    """
    async with RpcProxy(devnet.url, unsupported=frozenset({"eth_simulateV1"})) as proxy:
        settings = keeper_settings(
            devnet,
            tmp_path,
            rpc_url=proxy.url,
            min_profit_usd=1,
        )
        reports, _ = await run_through_shock(
            settings, devnet.url, devnet.world.market.pool_addresses_provider, "WETH", -30
        )
        liquidated = [o for r in reports for o in r.outcomes if o.status == "liquidated"]
        assert liquidated
        assert proxy.refused > 0 and "eth_simulateV1" not in proxy.forwarded
        for o in liquidated:
            assert o.spent <= o.plan.spend.amount
            if (
                not aave_payload(o.plan).collateral_limited
                and o.plan.spend.amount == o.plan.expected_spent
            ):
                assert o.received == o.plan.receive.amount


@pytest.mark.asyncio
async def test_a_head_acted_on_again_does_not_replan_accounts_liquidated_after_it(devnet, tmp_path):
    """A cycle acts again on a head it already acted on (as after a node fault mid-cycle): the
    accounts it liquidated in blocks after that head still look liquidatable at it, but nothing
    is planned or sent for them again; each is skipped naming the block of our liquidation.
    """
    from keeper.core.market import Tick
    from keeper.protocols.aave_v3.connect import connect
    from tests.integration.helpers import aave_keeper

    settings = keeper_settings(devnet, tmp_path, min_profit_usd=1)
    client, chain_id, market = await connect(settings)
    reports: list[BlockReport] = []
    keeper, aave = aave_keeper(settings, client, chain_id, market)
    keeper.follower.on_block.append(reports.append)
    stop = asyncio.Event()
    try:
        async with ChainClient(devnet.url) as chain:
            await shock_price(chain, market.addresses_provider, "WETH", -30)
        await keeper._prepare(stop)  # starts at the shock's head and acts on it
        (first,) = reports
        liquidated = {o.plan.account for o in first.outcomes if o.status == "liquidated"}
        assert liquidated
        tick = Tick(first.block, aave.monitor.tracker.timestamp)
        again = await keeper.cycle.act(tick, stop)
    finally:
        keeper.journal.close()
        await client.close()
    assert again.outcomes == []
    skipped = {s.account: s.reason for s in again.skips}
    assert set(skipped) >= liquidated
    assert all("was mined at block" in skipped[a] for a in liquidated)


@pytest.mark.asyncio
async def test_symbols_unreadable_at_start_do_not_stop_the_keeper(devnet, tmp_path):
    """Every reserve's first ``symbol()`` read fails (a node error): the keeper keeps running.

    It reads the symbols again and liquidates after the shock. It once stored the address as
    the symbol, found no wrapped-native reserve at the first candidate and stopped with a
    ConfigError.
    """
    symbol = "0x95d89b41"  # symbol()
    async with RpcProxy(devnet.url, fail_calls={symbol: 4}) as proxy:
        settings = keeper_settings(devnet, tmp_path, rpc_url=proxy.url, min_profit_usd=1)
        reports, _ = await run_through_shock(
            settings, devnet.url, devnet.world.market.pool_addresses_provider, "WETH", -30
        )
        assert proxy.refused == 4
        liquidated = [o for r in reports for o in r.outcomes if o.status == "liquidated"]
        assert liquidated
