"""Flash mode end to end: a keeper holding no tokens deploys its liquidator and liquidates."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time

import pytest
from eth_account import Account

from keeper.app import BlockReport, run_keeper
from keeper.chain.client import ChainClient
from keeper.devnet.scenarios import shock_price
from keeper.protocols.aave_v3.planner import aave_payload
from keeper.settings import load_settings
from tests.integration.helpers import balance_of

pytestmark = pytest.mark.integration
FRESH_KEY = "0x" + "42" * 32


@pytest.mark.asyncio
async def test_zero_capital_keeper_liquidates_through_its_flash_liquidator(devnet, tmp_path):
    """A fresh key with only gas money deploys FlashLiquidator with `keeper deploy-liquidator`,
    then runs in flash mode: after a WETH shock it liquidates, every liquidation pays the owner
    its profit in the debt asset, and each profit is exactly the quote-based prediction when the
    close factor bounds the amount (at least the on-chain minimum otherwise).
    """
    owner = Account.from_key(FRESH_KEY).address
    journal = tmp_path / "journal.sqlite"
    async with ChainClient(devnet.url) as client:
        await client.request("anvil_setBalance", [owner, hex(10 * 10**18)])
        env = {k: v for k, v in os.environ.items() if not k.startswith("KEEPER_")}
        env.update(
            {
                "KEEPER_RPC_URL": devnet.url,
                "KEEPER_PRIVATE_KEY": FRESH_KEY,
                "KEEPER_POOL_ADDRESSES_PROVIDER": devnet.world.market.pool_addresses_provider,
                "KEEPER_JOURNAL_PATH": str(journal),
            }
        )
        deployed = subprocess.run(
            [
                sys.executable,
                "-m",
                "keeper",
                "deploy-liquidator",
                "--router",
                devnet.world.uniswap.router,
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert deployed.returncode == 0, deployed.stderr
        liquidator = json.loads(deployed.stdout)["flash_liquidator"]
        assert FRESH_KEY[2:] not in deployed.stdout + deployed.stderr

        tokens = {s: a.address for s, a in devnet.world.market.assets.items()}
        assert all([await balance_of(client, t, owner) == 0 for t in tokens.values()])
        settings = load_settings(
            rpc_url=devnet.url,
            pool_addresses_provider=devnet.world.market.pool_addresses_provider,
            private_key=FRESH_KEY,
            journal_path=str(journal),
            poll_interval_s=0.05,
            execution_mode="flash",
            flash_liquidator=liquidator,
            uniswap_quoter=devnet.world.uniswap.quoter,
            min_profit_usd=5,
        )
        reports: list[BlockReport] = []
        stop = asyncio.Event()
        task = asyncio.create_task(run_keeper(settings, stop, reports.append))
        while not reports:
            await asyncio.sleep(0.05)
        shock = await shock_price(client, devnet.world.market.pool_addresses_provider, "WETH", -25)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if any(r.block > shock.block and r.plans == 0 for r in reports):
                break
            await asyncio.sleep(0.1)
        stop.set()
        await asyncio.wait_for(task, 30)
        outcomes = [o for r in reports for o in r.outcomes]
        liquidated = [o for o in outcomes if o.status == "liquidated"]
        assert liquidated, [o.reason for o in outcomes]
        earned: dict[str, int] = {}
        for o in liquidated:
            assert o.realized_profit is not None and o.realized_profit > 0
            if o.plan.spend.amount > o.plan.expected_spent:
                # v3.3+: all of a debt that grew a few seconds until inclusion.
                assert o.expected_profit is not None
                assert abs(o.realized_profit - o.expected_profit) <= o.plan.spend.amount // 10**5
            elif not aave_payload(o.plan).collateral_limited:
                assert o.realized_profit == o.expected_profit
            earned[o.plan.spend.asset] = earned.get(o.plan.spend.asset, 0) + o.realized_profit
        for asset, amount in earned.items():
            assert await balance_of(client, asset, owner) == amount
        for o in outcomes:
            assert o.status in ("liquidated", "not_sent", "simulation_failed"), o.reason
