"""Bad or unusual input: each a clear error or exact, safe handling.

Config files and environment values, the keystore password and a node on another chain are
covered in tests/unit/test_bad_config.py and tests/integration/test_check_config_and_keys.py;
this file adds a market whose tokens have unusual decimals.
"""

from __future__ import annotations

import dataclasses

import pytest

from keeper.chain.client import ChainClient
from keeper.devnet.aave_market import deploy_market
from keeper.devnet.borrowers import MarketActions, plan_positions
from keeper.devnet.deployer import Deployer
from keeper.devnet.market_spec import DEFAULT_RESERVES, EModeSpec
from keeper.devnet.scenarios import fund_keeper
from keeper.devnet.world import ADMIN, LIQUIDITY_PROVIDER
from keeper.localnode.anvil import Anvil
from keeper.protocols.aave_v3.planner import aave_payload
from keeper.protocols.aave_v3.scan import scan
from keeper.settings import load_settings
from tests.integration.conftest import KEEPER_ADDRESS, KEEPER_KEY
from tests.integration.helpers import account_data, run_through_shock

pytestmark = [pytest.mark.integration, pytest.mark.reliability]
WAD = 10**18


@pytest.mark.asyncio
async def test_tokens_with_2_and_24_decimals(tmp_path):
    """A market of WETH (18), a 2-decimal stablecoin and a 24-decimal token: the engine equals
    getUserAccountData for every account, and after a WETH shock every liquidatable account
    is liquidated with amounts the Pool agrees with (no crash, no rounding drift).
    """
    weth, usdc, wbtc = DEFAULT_RESERVES
    specs = (
        weth,
        dataclasses.replace(usdc, symbol="GUSD", name="Two-decimal dollar", decimals=2),
        dataclasses.replace(wbtc, symbol="BIG", name="Twenty-four decimals", decimals=24),
    )
    emodes = (EModeSpec(1, 9000, 9300, 10300, "ETH-BIG", ("WETH", "BIG")),)
    with Anvil() as anvil:
        async with ChainClient(anvil.url) as client:
            dep = Deployer(client)
            await dep.impersonate_all()
            market = await deploy_market(dep, ADMIN, specs, emodes)
            actions = MarketActions(dep, market)
            for spec in specs:
                await actions.supply(
                    LIQUIDITY_PROVIDER, spec.symbol, spec.liquidity_whole_tokens * 10**spec.decimals
                )
            positions = plan_positions(60, 5, specs)
            for position in positions:
                await actions.open(position)
            await fund_keeper(
                client,
                market,
                KEEPER_ADDRESS,
                {"WETH": 5_000, "GUSD": 20_000_000, "BIG": 300},
            )
            settings = load_settings(
                rpc_url=anvil.url,
                pool_addresses_provider=market.pool_addresses_provider,
                private_key=KEEPER_KEY,
                journal_path=str(tmp_path / "journal.sqlite"),
                poll_interval_s=0.05,
                inventory_direct=True,  # no contract of ours on this chain
            )
            result = await scan(settings, 10**30, verify=True)
            assert result.accounts > 40 and result.mismatches == 0 and not result.unverified
            reports, shock = await run_through_shock(
                settings, anvil.url, market.pool_addresses_provider, "WETH", -30
            )
            outcomes = [o for r in reports for o in r.outcomes]
            assert outcomes and all(o.status == "liquidated" for o in outcomes)
            assert {o.plan.spend.asset for o in outcomes} & {
                market.assets["GUSD"].address,
                market.assets["BIG"].address,
            }, "the unusual tokens are in play"
            for o in outcomes:
                if not aave_payload(o.plan).collateral_limited:
                    assert o.spent == o.plan.spend.amount
                    assert o.received == o.plan.receive.amount
            borrowers = [p.address for p in positions if p.borrows]
            for account in borrowers:
                data = await account_data(client, market.pool, account)
                if data.health_factor < WAD:
                    # left below 1 only when nothing worth liquidating remains
                    assert data.total_collateral_base < 10**8 or data.total_debt_base < 10**8
            assert shock.block > 0
