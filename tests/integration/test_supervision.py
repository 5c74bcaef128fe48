"""A stage that fails is logged, restarted with backoff, and a crash loop is alerted."""

from __future__ import annotations

import asyncio
import time

import pytest
from structlog.testing import capture_logs

from keeper.chain.client import ChainClient
from keeper.daemon import RestartPolicy
from keeper.devnet.scenarios import shock_price
from keeper.protocols.aave_v3.connect import connect
from tests.integration.helpers import aave_keeper, keeper_settings

pytestmark = pytest.mark.integration


@pytest.mark.asyncio
async def test_a_crashing_stage_restarts_and_a_crash_loop_is_reported(devnet, tmp_path):
    """The loop's step raises an unexpected error six times: each is logged with its traceback,
    the loop restarts with growing backoff, the crash loop marks the keeper unhealthy and is
    alerted; afterwards the keeper still liquidates after a shock.
    """
    settings = keeper_settings(
        devnet, tmp_path, min_profit_usd=1, alert_webhooks=["slack:http://127.0.0.1:9/hook"]
    )
    client, chain_id, market = await connect(settings)
    keeper, aave = aave_keeper(settings, client, chain_id, market)
    keeper.restart_policy = RestartPolicy(backoff_s=0.01)
    real_step = aave.advance
    failures = {"left": 6}
    alerted: list[str] = []
    keeper.alerts.alert = lambda kind, key, text: alerted.append(kind) or True  # type: ignore[method-assign,func-returns-value]

    async def flaky_step(**kwargs):
        if failures["left"] > 0:
            failures["left"] -= 1
            raise RuntimeError("injected stage failure")
        return await real_step(**kwargs)

    aave.advance = flaky_step  # type: ignore[method-assign]
    stop = asyncio.Event()
    with capture_logs() as logs:
        task = asyncio.create_task(keeper.run(stop))
        deadline = time.monotonic() + 30
        while failures["left"] > 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert failures["left"] == 0
        assert keeper.status.stages.get("keeper_loop") is False
        assert keeper.status.healthy()[0] is False
        assert "crash_loop" in alerted
        async with ChainClient(devnet.url) as chain:
            shock = await shock_price(
                chain, devnet.world.market.pool_addresses_provider, "WETH", -30
            )
            while time.monotonic() < deadline and keeper.last_block <= shock.block:
                await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, 30)
    crashes = [e for e in logs if e["event"] == "stage_crashed"]
    assert len(crashes) == 6 and all(e.get("exc_info") for e in crashes)
    attempts = [
        e for e in logs if e["event"] == "liquidation_attempt" and e.get("outcome") == "liquidated"
    ]
    assert attempts, "the keeper must work again after the crashes"
    keeper.journal.close()
    await client.close()


@pytest.mark.asyncio
async def test_heads_that_arrive_during_a_slow_cycle_coalesce_to_the_newest(devnet, tmp_path):
    """While a cycle is slow (0.5 s), 20 blocks are mined: the keeper does not queue 20 cycles;
    its next cycle takes the newest head, whose state it has fully followed.
    """
    settings = keeper_settings(devnet, tmp_path)
    client, chain_id, market = await connect(settings)
    acted: list[int] = []
    keeper, aave = aave_keeper(settings, client, chain_id, market)
    keeper.follower.on_block.append(lambda r: acted.append(r.block))
    real_act = keeper.cycle.act

    async def slow_act(tick, stop):
        await asyncio.sleep(0.5)
        return await real_act(tick, stop)

    keeper.cycle.act = slow_act  # type: ignore[method-assign]
    stop = asyncio.Event()
    task = asyncio.create_task(keeper.run(stop))
    deadline = time.monotonic() + 30
    while not acted and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    first = acted[0]
    async with ChainClient(devnet.url) as chain:
        for _ in range(20):
            await chain.request("evm_mine", [])
        head = await chain.block_number()
    while (not acted or acted[-1] < head) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 30)
    after = [b for b in acted if b > first]
    assert after[-1] == head == first + 20
    assert len(after) <= 3, after  # not one cycle per block
    assert aave.block == head
    keeper.journal.close()
    await client.close()
