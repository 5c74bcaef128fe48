"""Coinbase bids through our FlashLiquidator on Aave: capped to the contract's ether."""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING

import pytest
from eth_account import Account

from keeper.app import BlockReport, run_keeper
from keeper.chain.client import ChainClient
from keeper.devnet.scenarios import shock_price
from keeper.settings import load_settings
from tests.integration.helpers import keeper_cli_as

if TYPE_CHECKING:
    from pathlib import Path

    from tests.integration.conftest import Devnet

pytestmark = pytest.mark.integration
FRESH_KEY = "0x" + "44" * 32
FLOAT_WEI = 1_000


def _deploy(devnet: Devnet, journal: Path) -> str:
    """`keeper deploy-liquidator --fund-eth` from FRESH_KEY (1,000 wei of float); the address."""
    assert devnet.world.uniswap is not None
    args = ["deploy-liquidator", "--router", devnet.world.uniswap.router, "--fund-eth", "1e-15"]
    deployed = keeper_cli_as(devnet, FRESH_KEY, journal, *args)
    assert deployed.returncode == 0, deployed.stderr
    out = json.loads(deployed.stdout)
    assert out["funded_wei"] == FLOAT_WEI
    return str(out["flash_liquidator"])


@pytest.mark.asyncio
async def test_the_aave_keeper_caps_its_coinbase_bids_to_the_contracts_ether(
    devnet: Devnet, tmp_path: Path
) -> None:
    """A keeper in Aave flash mode with coinbase_payment on, whose FlashLiquidator holds far less
    ether than the bids the policy wants (1,000 wei against bids worth dollars): after a WETH
    shock it liquidates, no attempt fails on BidUnpaid (each head's bids are capped to what the
    contract holds), and the bids together paid exactly the contract's ether, no more, as the
    liquidations' outcomes book it.
    """
    owner = Account.from_key(FRESH_KEY).address
    journal = tmp_path / "journal.sqlite"
    uni = devnet.world.uniswap
    assert uni is not None
    async with ChainClient(devnet.url) as client:
        await client.request("anvil_setBalance", [owner, hex(10 * 10**18)])
        liquidator = await asyncio.to_thread(_deploy, devnet, journal)
        assert await client.get_balance(liquidator) == FLOAT_WEI
        settings = load_settings(
            rpc_url=devnet.url,
            pool_addresses_provider=devnet.world.market.pool_addresses_provider,
            private_key=FRESH_KEY,
            journal_path=str(journal),
            poll_interval_s=0.05,
            ops_port=None,
            execution_mode="flash",
            flash_liquidator=liquidator,
            uniswap_quoter=uni.quoter,
            min_profit_usd=5,
            coinbase_payment=True,
        )
        reports: list[BlockReport] = []
        stop = asyncio.Event()
        task = asyncio.create_task(run_keeper(settings, stop, reports.append))
        try:
            deadline = time.monotonic() + 120
            while not reports and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert reports, "the keeper never reported a block"
            pap = devnet.world.market.pool_addresses_provider
            shock = await shock_price(client, pap, "WETH", -25)
            while time.monotonic() < deadline and not any(
                r.block > shock.block and r.plans == 0 for r in reports
            ):
                await asyncio.sleep(0.1)
        finally:
            stop.set()
            await asyncio.wait_for(task, 60)
        outcomes = [o for r in reports for o in r.outcomes]
        assert any(o.status == "liquidated" for o in outcomes), [o.reason for o in outcomes]
        for o in outcomes:
            assert "BidUnpaid" not in (o.reason or ""), o.reason
            assert o.status in ("liquidated", "not_sent", "simulation_failed"), o.reason
        assert await client.get_balance(liquidator) == 0
        # Each liquidation's outcome carries the bid its contract paid (the ledger's cost
        # beside the gas): together, the contract's whole ether.
        paid = [o.bid_paid_wei for o in outcomes if o.status == "liquidated"]
        assert sum(paid) == FLOAT_WEI, paid
