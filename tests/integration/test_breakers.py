"""Circuit breakers on the devnet: each pauses sending while its condition holds, is alerted,
and clears by itself; monitoring goes on throughout.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from keeper.chain.client import ChainClient
from keeper.devnet.deployer import Deployer
from keeper.devnet.scenarios import FEED, shock_price
from keeper.execution.outcome import Outcome
from keeper.runner import KeeperLoop, connect
from keeper.settings import load_settings
from tests.integration.conftest import KEEPER_KEY
from tests.integration.helpers import liquidation_events

pytestmark = pytest.mark.integration


async def _start(devnet, tmp_path, **overrides: Any):
    settings = load_settings(
        rpc_url=devnet.url,
        pool_addresses_provider=devnet.world.market.pool_addresses_provider,
        private_key=KEEPER_KEY,
        journal_path=str(tmp_path / "j.sqlite"),
        poll_interval_s=0.05,
        min_profit_usd=1,
        alert_webhooks=["slack:http://127.0.0.1:9/hook"],
        **overrides,
    )
    client, chain_id, market = await connect(settings)
    keeper = KeeperLoop(settings, client, chain_id, market)
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
        assert await _until(lambda: _is(keeper.breakers.tripped.get("stale_feed")))
        await asyncio.sleep(0.5)
        assert await liquidation_events(chain, devnet.world.market.pool, shock.block) == []
        assert ("breaker_tripped", "stale_feed") in alerts
        dep = Deployer(chain)
        for sym in ("USDC", "WBTC"):
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
        assert await _until(lambda: _is(keeper.breakers.tripped.get("gas_ceiling")))
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
    real = keeper.executor.execute

    async def failing(plan, guard=None):
        calls["n"] += 1
        return Outcome("reverted", plan, tx_hash="0x" + "00" * 32, reason="injected")

    keeper.executor.execute = failing
    async with ChainClient(devnet.url) as chain:
        shock = await shock_price(chain, devnet.world.market.pool_addresses_provider, "WETH", -30)
        assert await _until(lambda: _is(calls["n"] >= 3))
        await chain.request("evm_mine", [])
        assert await _until(lambda: _is(keeper.breakers.tripped.get("failures")))
        attempts = calls["n"]
        await chain.request("evm_mine", [])
        await asyncio.sleep(0.5)
        assert calls["n"] == attempts, "no attempt while the breaker is tripped"
        keeper.executor.execute = real
        for _ in range(22):
            await chain.request("evm_mine", [])
            await asyncio.sleep(0.05)
        assert await _until(lambda: _liquidated(chain, devnet, shock.block))
        assert ("breaker_tripped", "failures") in alerts and (
            "breaker_cleared",
            "failures",
        ) in alerts
    await _finish(client, keeper, stop, task)


async def _is(value: object) -> bool:
    return bool(value)


async def _liquidated(chain: ChainClient, devnet, since: int) -> bool:
    return bool(await liquidation_events(chain, devnet.world.market.pool, since))
