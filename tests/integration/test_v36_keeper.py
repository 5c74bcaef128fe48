"""The keeper on Aave v3.6 bytecode: grace periods, scan --verify after a long warp, and a
Pool revision it does not know.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from keeper.app import BlockReport, run_keeper
from keeper.chain.client import ChainClient
from keeper.devnet.deployer import Deployer
from keeper.devnet.governance import set_liquidation_grace_period
from keeper.devnet.scenarios import shock_price
from keeper.protocols.aave_v3.choice import Choice, Limits, NoChoice, choose
from keeper.protocols.aave_v3.market import ERC20, resolve_market
from keeper.protocols.aave_v3.monitor import MarketMonitor
from keeper.protocols.aave_v3.positions import emode_terms, holdings, reserve_terms
from keeper.protocols.aave_v3.reverts import revert_error
from tests.integration.conftest import KEEPER_ADDRESS
from tests.integration.helpers import (
    account_data,
    balance_of,
    keeper_settings,
    liquidation_events,
)
from tests.integration.test_scan_and_cli import _keeper

pytestmark = pytest.mark.integration


async def _revert(chain: ChainClient, tx_hash: str | None) -> str | None:
    """The decoded revert of a mined transaction of ours (for the failure message)."""
    if tx_hash is None:
        return None
    trace = await chain.request("debug_traceTransaction", [tx_hash, {"tracer": "callTracer"}])
    return revert_error(trace.get("output") or "0x") or str(trace.get("error"))


WAD = 10**18


@pytest.mark.asyncio
async def test_a_grace_period_holds_the_keeper_back_then_it_acts(devnet_v36, tmp_path):
    """With WETH in a 10-minute liquidation grace period, a -30% WETH shock makes accounts
    liquidatable that the keeper only reports as waiting (nothing touching WETH is sent, no
    transaction reverts); once the period has passed it liquidates them.
    """
    devnet = devnet_v36
    weth = devnet.world.asset("WETH").address
    reports: list[BlockReport] = []
    stop = asyncio.Event()
    async with ChainClient(devnet.url) as chain:
        await Deployer(chain).impersonate_all()
        until = await set_liquidation_grace_period(chain, devnet.world.market, "WETH", 600)
        settings = keeper_settings(devnet, tmp_path)
        task = asyncio.create_task(run_keeper(settings, stop, reports.append))
        try:
            deadline = time.monotonic() + 60
            while not reports and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            shock = await shock_price(
                chain, devnet.world.market.pool_addresses_provider, "WETH", -30
            )
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and sum(r.block > shock.block for r in reports) < 2:
                await chain.request("evm_mine", [])  # blocks inside the grace period
                await asyncio.sleep(0.3)
            waiting = {
                s.account
                for r in reports
                if r.block >= shock.block
                for s in r.skips
                if s.reason == NoChoice.GRACE_PERIOD.value
            }
            assert waiting, [
                (r.block, r.candidates, [(s.account[:8], s.reason) for s in r.skips], r.outcomes)
                for r in reports
                if r.block >= shock.block
            ]
            early = await liquidation_events(chain, devnet.world.market.pool, shock.block)
            assert all(weth not in (e["collateralAsset"], e["debtAsset"]) for e in early)
            block = await chain.get_block("latest")
            assert int(block["timestamp"], 16) <= until
            await chain.request("evm_increaseTime", [700])
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                await chain.request("evm_mine", [])
                await asyncio.sleep(0.3)
                left = [
                    a
                    for a in waiting
                    if (await account_data(chain, devnet.world.market.pool, a)).health_factor < WAD
                ]
                if not left:
                    break
            assert not left, f"{len(left)} accounts still liquidatable after the grace period"
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)
        events = await liquidation_events(chain, devnet.world.market.pool, shock.block)
        assert any(weth in (e["collateralAsset"], e["debtAsset"]) for e in events)
        outcomes = [o for r in reports for o in r.outcomes]
        failed = [o for o in outcomes if o.status != "liquidated"]
        why = [(o.status, o.plan, o.block, await _revert(chain, o.tx_hash)) for o in failed]
        assert outcomes and not failed, why


@pytest.mark.asyncio
async def test_scan_verify_is_exact_after_a_90_day_warp(devnet_v36):
    """After 90 days of interest on v3.6 (new compounding, directed rounding), every account
    that `keeper scan --verify` prints matches getUserAccountData to the wei.
    """
    async with ChainClient(devnet_v36.url) as chain:
        await chain.request("evm_increaseTime", [90 * 86400])
        await chain.request("evm_mine", [])
    result = _keeper(
        "scan",
        "--rpc-url",
        devnet_v36.url,
        "--pool-addresses-provider",
        devnet_v36.world.market.pool_addresses_provider,
        "--below",
        "1000000",
        "--verify",
        "--log-format",
        "json",
    )
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) >= len(devnet_v36.world.borrowers)
    assert all(r["match"] for r in rows)


# EIP-1967 implementation slot of the Pool's proxy.
IMPLEMENTATION_SLOT = "0x360894a13ba1a3210667c828492db98dca3e2076cc3735a920a3ca505d382bbc"
# A test double, not a pool: code that answers 11 to any call (PUSH1 11, MSTORE, RETURN 32).
ANSWERS_ELEVEN = "0x600b60005260206000f3"


def _check_config(devnet, **env: str):
    return _keeper(
        "check-config",
        "--rpc-url",
        devnet.url,
        "--pool-addresses-provider",
        devnet.world.market.pool_addresses_provider,
        env=env,
    )


@pytest.mark.asyncio
async def test_an_unknown_pool_revision_exits_2_naming_it(devnet_v36):
    """A pool_version that disagrees with the chain's POOL_REVISION exits 2 naming pool_version;
    a Pool whose revision the keeper does not know (11, as v3.7 would be) exits 2 naming it and
    the supported ones, before anything runs.
    """
    result = _check_config(devnet_v36, KEEPER_POOL_VERSION="3.0")
    assert result.returncode == 2, result.stderr
    assert "pool_version: configured 3.0" in result.stderr
    assert "POOL_REVISION 10 (3.6)" in result.stderr
    async with ChainClient(devnet_v36.url) as chain:
        pool = devnet_v36.world.market.pool
        raw = await chain.request("eth_getStorageAt", [pool, IMPLEMENTATION_SLOT, "latest"])
        implementation = "0x" + raw[-40:]
        await chain.request("anvil_setCode", [implementation, ANSWERS_ELEVEN])
    result = _check_config(devnet_v36)
    assert result.returncode == 2, result.stderr
    assert "POOL_REVISION 11" in result.stderr and "10 (3.6)" in result.stderr


SINK = "0x" + "5e" * 20  # where the keeper's other tokens go (a keyless address)


@pytest.mark.asyncio
async def test_a_plan_at_the_dust_boundary_is_sent_and_succeeds(devnet_v36, tmp_path):
    """The keeper holds no token but USDC, and 500 USD less USDC than its first plan after a
    WETH shock would repay: what it can pay would leave dust behind (the Pool reverts with
    MustNotLeaveDust), so the plan leaves just over the 1,000 USD threshold instead; it is sent
    and mined, and nothing fails.
    """
    devnet = devnet_v36
    pool = devnet.world.market.pool
    usdc = devnet.world.asset("USDC")
    async with ChainClient(devnet.url) as chain:
        dep = Deployer(chain)
        await dep.impersonate_all()
        shock = await shock_price(chain, devnet.world.market.pool_addresses_provider, "WETH", -30)
        market = await resolve_market(chain, devnet.world.market.pool_addresses_provider)
        settings = keeper_settings(devnet, tmp_path)
        monitor = MarketMonitor(chain, market, settings)
        await monitor.start()
        engine, tracker = monitor.engine, monitor.tracker
        assert engine.view is not None
        target, need = None, 0
        for d in sorted(engine.below(), key=lambda d: d.total_debt_base, reverse=True):
            state = engine.accounts[d.account]
            rows = holdings(state, engine.view)
            if not any(h.asset == usdc.address and h.debt for h in rows):
                continue
            found = choose(
                health_factor=d.health_factor,
                total_debt_base=d.total_debt_base,
                holdings=[h for h in rows if h.asset != usdc.address or h.debt],
                reserves=reserve_terms(
                    tracker.reserves.values(), tracker.prices, engine.view.timestamp
                ),
                emode=emode_terms(state, tracker.emodes, tracker.reserves.values()),
                rules=market.rules,
                limits=Limits(inventory={usdc.address: 10**18}),
            )
            assert isinstance(found, Choice) and found.debt_asset == usdc.address
            target, need = d.account, found.amounts.debt_to_repay
            break
        assert target is not None, "the shock must make a USDC debt liquidatable"
        for info in devnet.world.market.assets.values():
            held = await balance_of(chain, info.address, KEEPER_ADDRESS)
            keep = need - 500 * 10**6 if info.address == usdc.address else 0
            await dep.transact(
                KEEPER_ADDRESS, info.address, ERC20.encode("transfer", SINK, held - keep)
            )
        reports: list[BlockReport] = []
        stop = asyncio.Event()
        task = asyncio.create_task(run_keeper(settings, stop, reports.append))
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not any(
                o.plan.account == target for r in reports for o in r.outcomes
            ):
                await asyncio.sleep(0.1)
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)
        outcomes = [o for r in reports for o in r.outcomes]
        mine = [o for o in outcomes if o.plan.account == target]
        assert mine and mine[0].status == "liquidated", [(o.status, o.reason) for o in mine]
        assert all(o.status == "liquidated" for o in outcomes), [
            (o.status, o.reason) for o in outcomes
        ]
        events = [
            e for e in await liquidation_events(chain, pool, shock.block) if e["user"] == target
        ]
        assert len(events) == 1 and events[0]["debtAsset"] == usdc.address
        usd = 10**8
        prices = tracker.prices
        left_debt = await balance_of(chain, usdc.variable_debt_token, target)
        coll = events[0]["collateralAsset"]
        info = next(a for a in devnet.world.market.assets.values() if a.address == coll)
        left_coll = await balance_of(chain, info.a_token, target)
        debt_usd = left_debt * prices[usdc.address] // 10**6
        coll_usd = left_coll * prices[coll] // 10**info.decimals
        assert debt_usd >= 1_000 * usd and coll_usd >= 1_000 * usd, (debt_usd, coll_usd)
        assert min(debt_usd, coll_usd) < 1_100 * usd, (debt_usd, coll_usd)  # at the boundary
