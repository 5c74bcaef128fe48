"""Aave's PriceOracleSentinel on the real v3.6 Pool: the keeper follows the Pool's L2 rule.

The sentinel is Aave's own ``PriceOracleSentinel`` reading Aave's ``SequencerOracle`` mock (both
compiled from aave-v3-origin 3.6.0), installed on the v3.6 devnet market through
``PoolAddressesProvider.setPriceOracleSentinel``.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest

from keeper.app import BlockReport, run_keeper
from keeper.chain.client import ChainClient
from keeper.core.plan import SkipKind
from keeper.devnet.deployer import Deployer
from keeper.devnet.l2 import install_sentinel, set_sequencer
from keeper.devnet.scenarios import shock_price
from keeper.protocols.aave_v3.market import resolve_market
from keeper.protocols.aave_v3.monitor import MarketMonitor
from keeper.protocols.aave_v3.sentinel import MINIMUM_HEALTH_FACTOR_LIQUIDATION_THRESHOLD
from tests.integration.helpers import account_data, keeper_settings, liquidation_events

pytestmark = pytest.mark.integration

WAD = 10**18
GRACE_S = 600
# The feeds do not update while the test moves the clock past the grace period: no stale-feed
# breaker in between.
HEARTBEAT_S = 86_400
WAIT_S = 90


async def _health(
    chain: ChainClient, pool: str, accounts: list[str], block: int | str = "latest"
) -> dict[str, int]:
    return {a: (await account_data(chain, pool, a, block)).health_factor for a in accounts}


async def _mine_until(chain: ChainClient, done, timeout_s: float = WAIT_S) -> bool:
    """Mine a block every 0.3 s until ``done()`` (an async predicate) holds or time runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await done():
            return True
        await chain.request("evm_mine", [])
        await asyncio.sleep(0.3)
    return bool(await done())


@pytest.mark.asyncio
async def test_sequencer_down_only_hf_under_095_is_liquidated_then_all_after_grace(
    devnet_v36, tmp_path
):
    """With the sequencer reported down, a WETH shock leaves accounts under HF 0.95 and others
    between 0.95 and 1: the keeper liquidates the first, skips the second with the typed
    ``sentinel`` reason and sends nothing the Pool would refuse; with the sequencer back up they
    stay held through the grace period, and once it has passed the keeper liquidates them too.
    """
    devnet = devnet_v36
    market = devnet.world.market
    pool = market.pool
    borrowers = list(devnet.world.borrowers)
    reports: list[BlockReport] = []
    stop = asyncio.Event()
    async with ChainClient(devnet.url) as chain:
        await Deployer(chain).impersonate_all()
        l2 = await install_sentinel(chain, market, GRACE_S)
        now = int((await chain.get_block("latest"))["timestamp"], 16)
        await set_sequencer(chain, l2.sequencer_oracle, down=True, since=now)
        settings = keeper_settings(devnet, tmp_path, oracle_heartbeat_s=HEARTBEAT_S)
        task = asyncio.create_task(run_keeper(settings, stop, reports.append))
        try:
            deadline = time.monotonic() + 60
            while not reports and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            shock = await shock_price(chain, market.pool_addresses_provider, "WETH", -25)
            # At the shock's block: the keeper may already have liquidated some (automine).
            after = await _health(chain, pool, borrowers, shock.block)
            deep = {
                a for a, hf in after.items() if hf < MINIMUM_HEALTH_FACTOR_LIQUIDATION_THRESHOLD
            }
            held = {
                a
                for a, hf in after.items()
                if MINIMUM_HEALTH_FACTOR_LIQUIDATION_THRESHOLD <= hf < WAD
            }
            assert deep, "the shock must leave accounts under HF 0.95"
            assert held, "the shock must leave accounts between HF 0.95 and 1"

            async def deep_done() -> bool:
                events = await liquidation_events(chain, pool, shock.block)
                liquidated = {e["user"] for e in events}
                skipped = {
                    s.account
                    for r in reports
                    if r.block >= shock.block
                    for s in r.skips
                    if s.kind is SkipKind.SENTINEL
                }
                return deep <= liquidated and held <= skipped

            assert await _mine_until(chain, deep_done), "deep accounts liquidated, others held"
            down_events = await liquidation_events(chain, pool, shock.block)
            assert not {e["user"] for e in down_events} & held

            # Up again: still held for the grace period (the chain's clock is not moved yet).
            now = int((await chain.get_block("latest"))["timestamp"], 16)
            await set_sequencer(chain, l2.sequencer_oracle, down=False, since=now)
            up_block = await chain.block_number()
            for _ in range(3):
                await chain.request("evm_mine", [])
                await asyncio.sleep(0.3)
            grace_events = await liquidation_events(chain, pool, up_block)
            assert not {e["user"] for e in grace_events} & held

            await chain.request("evm_increaseTime", [GRACE_S + 60])

            async def all_done() -> bool:
                left = await _health(chain, pool, sorted(held))
                return all(hf >= WAD for hf in left.values())

            assert await _mine_until(chain, all_done), "every held account liquidated after grace"
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)
    outcomes = [o for r in reports for o in r.outcomes]
    failed = [(o.status, o.reason) for o in outcomes if o.status != "liquidated"]
    assert outcomes, "the keeper liquidated"
    assert not failed, failed


@pytest.mark.asyncio
async def test_the_sentinel_costs_one_batch_item_per_block_and_no_round_trip(devnet_v36, tmp_path):
    """Following the market block by block, a market with a sentinel costs exactly one JSON-RPC
    item (and request) more per block than one without: isLiquidationAllowed, asked alone on a
    block whose prices need no read; the sentinel's address is read only when the provider
    names a new one.
    """
    devnet = devnet_v36
    settings = keeper_settings(devnet, tmp_path)
    async with ChainClient(devnet.url) as admin, ChainClient(devnet.url) as node:
        await Deployer(admin).impersonate_all()
        market = await resolve_market(node, devnet.world.market.pool_addresses_provider)
        monitor = MarketMonitor(node, market, settings)
        await monitor.start()
        trips: list[str] = []
        node.on_request = lambda method, _s, _ok: trips.append(method)

        async def one_block() -> tuple[int, int]:
            """(round trips, JSON-RPC items) of one monitor step over one new block."""
            await admin.request("evm_mine", [])
            before, trips[:] = Counter(node.calls), []
            assert await monitor.step() is not None
            spent = Counter(node.calls) - before
            spent.pop("<batch>", None)
            return len(trips), sum(spent.values())

        await one_block()
        without = await one_block()
        assert monitor.tracker.sentinel.address is None
        l2 = await install_sentinel(admin, devnet.world.market, GRACE_S)
        await monitor.step()  # the blocks of the installation: the address is read here
        assert monitor.tracker.sentinel.address == l2.sentinel
        assert monitor.tracker.sentinel.liquidation_allowed
        with_sentinel = await one_block()
        # A block whose prices need no read (no feed answered) asks the sentinel alone.
        assert with_sentinel == (without[0] + 1, without[1] + 1), (without, with_sentinel)
        now = int((await admin.get_block("latest"))["timestamp"], 16)
        await set_sequencer(admin, l2.sequencer_oracle, down=True, since=now)
        await monitor.step()
        assert not monitor.tracker.sentinel.liquidation_allowed
