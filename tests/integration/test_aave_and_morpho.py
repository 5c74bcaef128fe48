"""Aave V3 and Morpho Blue side by side on one devnet: one keeper per protocol, one shock."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from eth_account import Account

from keeper.app import run_keeper
from keeper.chain.client import ChainClient
from keeper.devnet.morpho_scenarios import shock_asset
from keeper.devnet.morpho_world import build_morpho_world
from keeper.devnet.scenarios import shock_price
from keeper.localnode.anvil import DEV_ACCOUNTS
from keeper.protocols.morpho_blue.receipts import liquidate_logs
from keeper.settings import load_settings
from tests.integration.conftest import KEEPER_ADDRESS, KEEPER_KEY
from tests.integration.helpers import liquidation_events
from tests.integration.morpho_chain import ERC20, send

if TYPE_CHECKING:
    from pathlib import Path

    from keeper.loop.report import BlockReport
    from tests.integration.conftest import Devnet

pytestmark = pytest.mark.integration
MORPHO_KEY = "0x" + "44" * 32
ADMIN = DEV_ACCOUNTS[0]


@pytest.mark.asyncio
async def test_one_keeper_per_protocol_both_liquidate_after_one_shock(
    devnet: Devnet, tmp_path: Path
) -> None:
    """On one Anvil holding the Aave v3.6 market and a Morpho Blue deployment, an Aave keeper
    and a Morpho keeper (two keys, two journals) follow the same chain; WETH drops 25% on both
    protocols' oracles in consecutive blocks, and each keeper liquidates in its own protocol
    only, every Liquidate and LiquidationCall after the shock being its own.
    """
    morpho_owner = Account.from_key(MORPHO_KEY).address
    async with ChainClient(devnet.url) as client:
        morpho = await build_morpho_world(client, borrowers=24, seed=3, uniswap=False)
        await client.request("anvil_setBalance", [morpho_owner, hex(10 * 10**18)])
        for token in morpho.deployment.tokens.values():
            mint = ERC20.encode("mint(address,uint256)", morpho_owner, 10**9 * 10**token.decimals)
            await send(client, ADMIN, token.address, mint)
        common: dict[str, Any] = {"rpc_url": devnet.url, "poll_interval_s": 0.05, "ops_port": None}
        aave_settings = load_settings(
            **common,
            pool_addresses_provider=devnet.world.market.pool_addresses_provider,
            private_key=KEEPER_KEY,
            journal_path=str(tmp_path / "aave.sqlite"),
            min_profit_usd=1,
            inventory_direct=True,  # the devnet keeper's own contract is not deployed here
        )
        morpho_settings = load_settings(
            **common,
            protocol="morpho_blue",
            morpho=morpho.morpho,
            start_block=morpho.deployment.block,
            private_key=MORPHO_KEY,
            journal_path=str(tmp_path / "morpho.sqlite"),
            min_profit_usd=0,
        )
        aave_reports: list[BlockReport] = []
        morpho_reports: list[BlockReport] = []
        stop = asyncio.Event()
        tasks = [
            asyncio.create_task(run_keeper(aave_settings, stop, aave_reports.append)),
            asyncio.create_task(run_keeper(morpho_settings, stop, morpho_reports.append)),
        ]
        try:
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline and not (aave_reports and morpho_reports):
                await asyncio.sleep(0.05)
            assert aave_reports and morpho_reports, "a keeper never reported a block"
            pool = devnet.world.market.pool_addresses_provider
            shock = await shock_price(client, pool, "WETH", -25)
            last = await shock_asset(client, morpho, "WETH", Decimal(-25))

            def settled(reports: list[BlockReport], after: int) -> bool:
                return any(r.block > after and r.plans == 0 for r in reports)

            while time.monotonic() < deadline and not (
                settled(aave_reports, last) and settled(morpho_reports, last)
            ):
                await asyncio.sleep(0.1)
        finally:
            stop.set()
            await asyncio.wait_for(asyncio.gather(*tasks), 60)
        head = await client.block_number()
        aave_done = [o for r in aave_reports for o in r.outcomes if o.status == "liquidated"]
        morpho_done = [o for r in morpho_reports for o in r.outcomes if o.status == "liquidated"]
        assert aave_done and morpho_done
        aave_events = await liquidation_events(client, devnet.world.market.pool, shock.block)
        assert aave_events and {e["liquidator"] for e in aave_events} == {KEEPER_ADDRESS}
        morpho_events = await liquidate_logs(client, morpho.morpho, shock.block, head)
        assert morpho_events and {e.caller for e in morpho_events} == {morpho_owner}
        assert len(morpho_events) == len(morpho_done)
