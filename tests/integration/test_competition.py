"""A competitor liquidates the account first: our transaction is recorded as lost, with the
winner's transaction, and nothing else breaks.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest

from keeper.devnet.anvil import DEV_ACCOUNTS
from keeper.devnet.deployer import Deployer
from keeper.devnet.scenarios import fund_keeper, shock_price
from keeper.protocols.aave_v3.market import ERC20, POOL
from keeper.protocols.aave_v3.reads import read_reserves
from keeper.runner import KeeperLoop, connect
from keeper.settings import load_settings
from keeper.strategy.gas import GasPricing, wei_to_base
from keeper.strategy.plan import Skip
from tests.integration.conftest import KEEPER_ADDRESS, KEEPER_KEY

if TYPE_CHECKING:
    from keeper.chain.client import ChainClient

pytestmark = pytest.mark.integration
COMPETITOR = DEV_ACCOUNTS[2]
MAX_UINT = 2**256 - 1


async def _pending(client: ChainClient) -> list[dict[str, Any]]:
    content = await client.request("txpool_content")
    return [tx for by_nonce in content.get("pending", {}).values() for tx in by_nonce.values()]


@pytest.mark.asyncio
async def test_beaten_liquidation_is_recorded_as_lost_with_the_winner(devnet, tmp_path):
    """Automine off; while our liquidation waits in the pool, a competitor paying a higher tip
    liquidates the same account in the same block: our outcome is "lost" with the competitor's
    transaction hash, our approval is revoked, and the keeper's nonces stay consistent.
    """
    settings = load_settings(
        rpc_url=devnet.url,
        pool_addresses_provider=devnet.world.market.pool_addresses_provider,
        private_key=KEEPER_KEY,
        journal_path=str(tmp_path / "j.sqlite"),
    )
    client, chain_id, market = await connect(settings)
    try:
        dep = Deployer(client)
        await dep.impersonate_all()
        await fund_keeper(client, devnet.world.market, COMPETITOR)
        for info in devnet.world.market.assets.values():
            await dep.transact(
                COMPETITOR, info.address, ERC20.encode("approve", market.pool, MAX_UINT)
            )
        shock = await shock_price(client, market.addresses_provider, "WETH", -40)
        keeper = KeeperLoop(settings, client, chain_id, market)
        await keeper.monitor.start()
        keeper._base_unit = 10**8
        head = keeper.monitor.block
        reserves = {r.asset: r for r in await read_reserves(client, market, head)}
        deep = [
            d for d in keeper.monitor.engine.below(95 * 10**16) if d.total_collateral_base > 10**11
        ]
        assert deep, "a 40% drop must push some accounts below HF 0.95"
        planned = await keeper._plan(
            deep[0], head, reserves, dict(keeper.monitor.tracker.prices), GasPricing(0, 0)
        )
        assert not isinstance(planned, Skip), planned
        plan, _allowance = planned
        await client.request("evm_setAutomine", [False])
        task = asyncio.create_task(keeper.executor.execute(plan))
        winner = None
        for _ in range(400):
            pending = await _pending(client)
            ours = [tx for tx in pending if tx["from"].lower() == KEEPER_ADDRESS.lower()]
            to_pool = [tx for tx in ours if tx["to"].lower() == market.pool.lower()]
            if to_pool and winner is None:
                winner = await client.request(
                    "eth_sendTransaction",
                    [
                        {
                            "from": COMPETITOR,
                            "to": market.pool,
                            "gas": hex(1_500_000),
                            "maxFeePerGas": hex(500 * 10**9),
                            "maxPriorityFeePerGas": hex(50 * 10**9),
                            "data": POOL.encode(
                                "liquidationCall",
                                plan.collateral_asset,
                                plan.debt_asset,
                                plan.account,
                                MAX_UINT,
                                False,
                            ),
                        }
                    ],
                )
                await client.request("evm_mine", [])
                break
            await asyncio.sleep(0.02)
        assert winner is not None, "our liquidation never reached the pool"
        await client.request("evm_setAutomine", [True])
        outcome = await asyncio.wait_for(task, 60)
        assert outcome.status == "lost", outcome.reason
        assert outcome.winner_tx == winner
        # Our reverted transaction paid gas: a realised loss (kept for the loss budget), and
        # the operator hears of the lost race.
        alerted: list[str] = []
        keeper.alerts.alert = lambda kind, key, text: alerted.append(kind) or True  # type: ignore[method-assign,func-returns-value]
        native_price = keeper.monitor.tracker.prices[devnet.world.asset("WETH").address]
        keeper._count(outcome, reserves, GasPricing(0, native_price))
        assert alerted == ["lost"]
        assert outcome.gas_cost_wei > 0  # mined after the winner's, and reverted
        loss = keeper.journal.losses_since(KEEPER_ADDRESS, 0)
        assert loss == wei_to_base(outcome.gas_cost_wei, native_price) > 0
        assert shock.block < plan.block + 10
        raw = await client.call(
            plan.debt_asset, ERC20.encode("allowance", KEEPER_ADDRESS, market.pool)
        )
        assert ERC20.decode("allowance", raw)[0] == 0
        nonce = await client.get_transaction_count(KEEPER_ADDRESS, "latest")
        assert nonce == await client.get_transaction_count(KEEPER_ADDRESS, "pending")
        entries = keeper.journal.entries(KEEPER_ADDRESS)
        assert [e.nonce for e in entries] == list(range(entries[0].nonce, nonce))
        keeper.journal.close()
    finally:
        await client.close()
