"""Circuit breakers on the devnet: each pauses sending while its condition holds, is alerted,
and clears by itself; monitoring goes on throughout.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from keeper.chain.client import ChainClient
from keeper.core.outcome import Outcome, OutcomeStatus
from keeper.devnet.deployer import Deployer
from keeper.devnet.scenarios import FEED, shock_price
from keeper.execution.journal import DAY_S
from keeper.execution.journal_sqlite import SqliteJournal
from keeper.localnode.anvil import CHAIN_ID
from keeper.protocols.aave_v3.connect import connect
from tests.integration.conftest import KEEPER_ADDRESS
from tests.integration.helpers import keeper_for, keeper_settings, liquidation_events

pytestmark = pytest.mark.integration


async def _start(devnet, tmp_path, **overrides: Any):
    settings = keeper_settings(
        devnet,
        tmp_path,
        min_profit_usd=1,
        alert_webhooks=["slack:http://127.0.0.1:9/hook"],
        **overrides,
    )
    client, chain_id, market = await connect(settings)
    keeper = keeper_for(settings, client, chain_id, market)
    alerts: list[tuple[str, str]] = []
    keeper.alerts.alert = lambda kind, key, text: alerts.append((kind, key)) or True  # type: ignore[method-assign,func-returns-value]
    stop = asyncio.Event()
    task = asyncio.create_task(keeper.run(stop))
    deadline = time.monotonic() + 30
    while keeper.last_block < 0 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return client, keeper, alerts, stop, task


async def _until(predicate, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(0.1)
    return False


async def _finish(client, keeper, stop, task) -> None:
    stop.set()
    await asyncio.wait_for(task, 30)
    keeper.journal.close()
    await client.close()


@pytest.mark.asyncio
async def test_stale_feed_breaker(devnet, tmp_path):
    """Two hours without updates make the feeds stale: after a shock nothing is sent; once the
    feeds update again the breaker clears and the keeper liquidates.
    """
    client, keeper, alerts, stop, task = await _start(devnet, tmp_path, oracle_heartbeat_s=3600)
    async with ChainClient(devnet.url) as chain:
        await chain.request("evm_increaseTime", [7200])
        shock = await shock_price(chain, devnet.world.market.pool_addresses_provider, "WETH", -30)
        assert await _until(lambda: _is(keeper.guards.breakers.tripped.get("stale_feed")))
        await asyncio.sleep(0.5)
        assert await liquidation_events(chain, devnet.world.market.pool, shock.block) == []
        assert ("breaker_tripped", "stale_feed") in alerts
        dep = Deployer(chain)
        for sym in [s for s in devnet.world.market.assets if s != "WETH"]:
            feed = devnet.world.asset(sym).feed
            (answer,) = FEED.decode(
                "latestAnswer", await chain.call(feed, FEED.encode("latestAnswer"))
            )
            await dep.transact(devnet.world.admin, feed, FEED.encode("setAnswer", int(answer)))
        assert await _until(lambda: _liquidated(chain, devnet, shock.block))
        assert ("breaker_cleared", "stale_feed") in alerts
    await _finish(client, keeper, stop, task)


@pytest.mark.asyncio
async def test_gas_ceiling_breaker(devnet, tmp_path):
    """A base fee above max_fee_gwei pauses sending; as the base fee falls back under the cap
    the breaker clears and the keeper liquidates.
    """
    client, keeper, alerts, stop, task = await _start(devnet, tmp_path, max_fee_gwei=5)
    async with ChainClient(devnet.url) as chain:
        await chain.request("anvil_setNextBlockBaseFeePerGas", [hex(50 * 10**9)])
        shock = await shock_price(chain, devnet.world.market.pool_addresses_provider, "WETH", -30)
        assert await _until(lambda: _is(keeper.guards.breakers.tripped.get("gas_ceiling")))
        assert await liquidation_events(chain, devnet.world.market.pool, shock.block) == []
        for _ in range(40):  # empty blocks: the base fee falls 12.5% a block
            await chain.request("evm_mine", [])
            await asyncio.sleep(0.05)
        assert await _until(lambda: _liquidated(chain, devnet, shock.block))
        assert ("breaker_tripped", "gas_ceiling") in alerts
        assert ("breaker_cleared", "gas_ceiling") in alerts
    await _finish(client, keeper, stop, task)


@pytest.mark.asyncio
async def test_consecutive_failures_breaker(devnet, tmp_path):
    """Three failed liquidations in a row pause sending; after 20 quiet blocks the failures are
    forgotten, the breaker clears, and sending resumes.
    """
    client, keeper, alerts, stop, task = await _start(
        devnet, tmp_path, breaker_max_consecutive_failures=3
    )
    calls = {"n": 0}
    real = keeper.execution.executor.execute

    async def failing(plan, request):
        calls["n"] += 1
        return Outcome(OutcomeStatus.REVERTED, plan, tx_hash="0x" + "00" * 32, reason="injected")

    keeper.execution.executor.execute = failing
    async with ChainClient(devnet.url) as chain:
        shock = await shock_price(chain, devnet.world.market.pool_addresses_provider, "WETH", -30)
        assert await _until(lambda: _is(calls["n"] >= 3))
        await chain.request("evm_mine", [])
        assert await _until(lambda: _is(keeper.guards.breakers.tripped.get("failures")))
        attempts = calls["n"]
        await chain.request("evm_mine", [])
        await asyncio.sleep(0.5)
        assert calls["n"] == attempts, "no attempt while the breaker is tripped"
        keeper.execution.executor.execute = real
        for _ in range(22):
            await chain.request("evm_mine", [])
            await asyncio.sleep(0.05)
        assert await _until(lambda: _liquidated(chain, devnet, shock.block))
        assert ("breaker_tripped", "failures") in alerts and (
            "breaker_cleared",
            "failures",
        ) in alerts
    await _finish(client, keeper, stop, task)


@pytest.mark.asyncio
async def test_head_lag_breaker(devnet, tmp_path):
    """Blocks stamped seconds behind the wall clock (a node that lags) pause sending after a
    shock; a fresh block clears the breaker and the keeper liquidates.
    """
    async with ChainClient(devnet.url) as chain:
        head = await chain.get_block("latest")
        stamp = int(head["timestamp"], 16)
        while time.time() < stamp + 4:  # make the chain's time fall behind
            await asyncio.sleep(0.2)
        client, keeper, alerts, stop, task = await _start(
            devnet, tmp_path, breaker_max_head_lag_s=2
        )
        await chain.request("anvil_setTime", [hex(stamp + 1)])  # the chain's clock lags
        shock = await shock_price(chain, devnet.world.market.pool_addresses_provider, "WETH", -30)
        assert await _until(lambda: _is(keeper.last_block >= shock.block))
        assert "head block is" in keeper.guards.breakers.tripped["head_lag"]
        assert await liquidation_events(chain, devnet.world.market.pool, shock.block) == []
        await chain.request("anvil_setTime", [hex(int(time.time()))])
        await chain.request("evm_mine", [])
        assert await _until(lambda: _liquidated(chain, devnet, shock.block))
        assert ("breaker_tripped", "head_lag") in alerts
        assert ("breaker_cleared", "head_lag") in alerts
    await _finish(client, keeper, stop, task)


@pytest.mark.asyncio
async def test_loss_budget_breaker_survives_a_restart_and_clears_as_losses_age(devnet, tmp_path):
    """A loss of 1,000 USD recorded by an earlier run, almost 24 h ago, is over the 100 USD
    budget: after a shock nothing is sent; once the loss is older than 24 h the breaker clears
    and the keeper liquidates, recording the realised profit of each liquidation.
    """
    journal = SqliteJournal(tmp_path / "journal.sqlite", CHAIN_ID)
    journal.record_result(KEEPER_ADDRESS, "0x" + "ab" * 32, -1000 * 10**8, time.time() - DAY_S + 6)
    journal.close()
    client, keeper, alerts, stop, task = await _start(devnet, tmp_path, breaker_loss_budget_usd=100)
    assert await _until(lambda: _is(keeper.guards.breakers.tripped.get("loss_budget")))
    assert "1000.00" in keeper.guards.breakers.tripped["loss_budget"]
    async with ChainClient(devnet.url) as chain:
        shock = await shock_price(chain, devnet.world.market.pool_addresses_provider, "WETH", -30)
        assert await _until(lambda: _is(keeper.last_block >= shock.block))
        assert await liquidation_events(chain, devnet.world.market.pool, shock.block) == []
        assert "keeper_realised_loss_24h_usd 1000.0" in keeper.metrics.render().decode()

        async def cleared() -> bool:
            await chain.request("evm_mine", [])
            return await _liquidated(chain, devnet, shock.block)

        assert await _until(cleared, 30)
        assert ("breaker_tripped", "loss_budget") in alerts
        assert ("breaker_cleared", "loss_budget") in alerts
        await _until(lambda: _is(keeper.journal.losses_since(KEEPER_ADDRESS, 0) == 1000 * 10**8))

        def wins() -> list[int]:
            rows = keeper.journal._db.execute("SELECT pnl_base FROM results").fetchall()
            return [int(r[0]) for r in rows if int(r[0]) > 0]

        # The liquidation is on chain before the keeper has read its receipt: wait for it.
        assert await _until(lambda: _is(wins())), "each liquidation records its realised profit"
    await _finish(client, keeper, stop, task)


@pytest.mark.asyncio
async def test_dex_deviation_breaker(devnet, tmp_path):
    """The oracle moves 30% while the Uniswap V3 pools stay: the oracle and the DEX disagree,
    nothing is sent; when the feed comes back in line the breaker clears.
    """
    uniswap = devnet.world.uniswap
    assert uniswap is not None
    client, keeper, alerts, stop, task = await _start(
        devnet, tmp_path, uniswap_factory=uniswap.factory, breaker_max_dex_deviation_bps=1000
    )
    assert keeper.guards.breakers.tripped == {}
    async with ChainClient(devnet.url) as chain:
        small = await shock_price(chain, devnet.world.market.pool_addresses_provider, "WBTC", -5)
        assert await _until(lambda: _is(keeper.last_block >= small.block))
        assert "dex_deviation" not in keeper.guards.breakers.tripped  # 5% is within the 10% bound
        shock = await shock_price(chain, devnet.world.market.pool_addresses_provider, "WETH", -30)
        assert await _until(lambda: _is(keeper.guards.breakers.tripped.get("dex_deviation")))
        assert "WETH" not in keeper.guards.breakers.tripped["dex_deviation"]  # the reference asset
        # 1 - 0.7 against the pool's own price, rounded down: 29.99% or 30.00% by how the pool's
        # sqrt price rounds (the token order differs between the v3.0 and v3.6 worlds).
        reason = keeper.guards.breakers.tripped["dex_deviation"]
        assert "USDC 29.99%" in reason or "USDC 30.00%" in reason, reason
        await asyncio.sleep(0.3)
        assert await liquidation_events(chain, devnet.world.market.pool, shock.block) == []
        dep = Deployer(chain)
        await dep.transact(
            devnet.world.admin, shock.feed, FEED.encode("setAnswer", shock.old_answer)
        )
        assert await _until(lambda: _is("dex_deviation" not in keeper.guards.breakers.tripped))
        assert ("breaker_tripped", "dex_deviation") in alerts
        assert ("breaker_cleared", "dex_deviation") in alerts
    await _finish(client, keeper, stop, task)


async def _is(value: object) -> bool:
    return bool(value)


async def _liquidated(chain: ChainClient, devnet, since: int) -> bool:
    return bool(await liquidation_events(chain, devnet.world.market.pool, since))
