"""A competitor liquidates the account first: our transaction is recorded as lost, with the
winner's transaction, and nothing else breaks.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest

from keeper.core.plan import Skip
from keeper.devnet.scenarios import shock_price
from keeper.execution.executor import ExecRequest
from keeper.protocols.aave_v3.connect import connect
from keeper.protocols.aave_v3.market import ERC20
from keeper.strategy.gas import GasPricing, wei_to_base
from tests.integration.conftest import KEEPER_ADDRESS
from tests.integration.helpers import (
    aave_keeper,
    candidate_of,
    competitor_liquidates,
    competitor_ready,
    keeper_settings,
)

if TYPE_CHECKING:
    from keeper.chain.client import ChainClient
    from keeper.core.plan import AnyPlan
    from keeper.execution.transactions import Sent

pytestmark = pytest.mark.integration


async def _pending(client: ChainClient) -> list[dict[str, Any]]:
    content = await client.request("txpool_content")
    return [tx for by_nonce in content.get("pending", {}).values() for tx in by_nonce.values()]


async def _ours_to_pool_pending(client: ChainClient, pool: str) -> bool:
    ours = [tx for tx in await _pending(client) if tx["from"].lower() == KEEPER_ADDRESS.lower()]
    return any(tx["to"].lower() == pool.lower() for tx in ours)


@pytest.mark.asyncio
async def test_beaten_liquidation_is_recorded_as_lost_with_the_winner(devnet, tmp_path):
    """Automine off; while our liquidation waits in the pool, a competitor paying a higher tip
    liquidates the same account in the same block: our outcome is "lost" with the competitor's
    transaction hash, our approval is revoked, and the keeper's nonces stay consistent.
    """
    settings = keeper_settings(devnet, tmp_path)
    client, chain_id, market = await connect(settings)
    try:
        await competitor_ready(client, devnet)
        shock = await shock_price(client, market.addresses_provider, "WETH", -40)
        keeper, aave = aave_keeper(settings, client, chain_id, market)
        await aave.start()
        head = aave.block
        deep = [
            d for d in aave.monitor.engine.below(95 * 10**16) if d.total_collateral_base > 10**11
        ]
        assert deep, "a 40% drop must push some accounts below HF 0.95"
        ctx = keeper.cycle.context(head, GasPricing(0, 0))
        plan = await aave.plan(candidate_of(deep[0]), ctx)
        assert not isinstance(plan, Skip), plan
        await client.request("evm_setAutomine", [False])
        request = ExecRequest(GasPricing(0, 0), 0)
        task = asyncio.create_task(keeper.execution.executor.execute(plan, request))
        winner = None
        for _ in range(400):
            if await _ours_to_pool_pending(client, market.pool):
                winner = await competitor_liquidates(
                    client, market.pool, plan.receive.asset, plan.spend.asset, plan.account
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
        native_price = aave.prices()[devnet.world.asset("WETH").address]
        keeper.ledger.count(
            outcome,
            await aave.assets(),
            GasPricing(0, native_price),
            cycle_started=None,
            phases={},
            dry_run_fork=False,
        )
        assert alerted == ["lost"]
        assert outcome.gas_cost_wei > 0  # mined after the winner's, and reverted
        loss = keeper.journal.losses_since(KEEPER_ADDRESS, 0)
        assert loss == wei_to_base(outcome.gas_cost_wei, native_price) > 0
        assert shock.block < plan.block + 10
        raw = await client.call(
            plan.spend.asset, ERC20.encode("allowance", KEEPER_ADDRESS, market.pool)
        )
        assert ERC20.decode("allowance", raw)[0] == 0
        nonce = await client.get_transaction_count(KEEPER_ADDRESS, "latest")
        assert nonce == await client.get_transaction_count(KEEPER_ADDRESS, "pending")
        entries = keeper.journal.entries(KEEPER_ADDRESS)
        assert [e.nonce for e in entries] == list(range(entries[0].nonce, nonce))
        keeper.journal.close()
    finally:
        await client.close()


@pytest.mark.asyncio
async def test_a_lost_plans_revocation_never_comes_between_another_plans_approval_and_liquidation(
    devnet, tmp_path, monkeypatch
):
    """Two plans on one debt token; the first is beaten. Its approval is revoked while the second
    plan has sent its approval but not yet its liquidation: the revocation waits for that
    liquidation's nonce, so the second plan liquidates (before the fix the revocation took the
    nonce in between and the liquidation reverted: "transfer amount exceeds allowance").
    """
    settings = keeper_settings(devnet, tmp_path)
    client, chain_id, market = await connect(settings)
    try:
        await competitor_ready(client, devnet)
        await shock_price(client, market.addresses_provider, "WETH", -40)
        keeper, aave = aave_keeper(settings, client, chain_id, market)
        await aave.start()
        ctx = keeper.cycle.context(aave.block, GasPricing(0, 0))
        by_debt: dict[str, list[AnyPlan]] = {}
        for account in aave.monitor.engine.below(95 * 10**16):
            planned = await aave.plan(candidate_of(account), ctx)
            if not isinstance(planned, Skip):
                by_debt.setdefault(planned.spend.asset, []).append(planned)
        first, second = max(by_debt.values(), key=len)[:2]
        assert first.spend.amount != second.spend.amount

        executor = keeper.execution.executor
        sender = keeper.execution.sender
        send = sender.send
        paused, resume = asyncio.Event(), asyncio.Event()
        second_approval = ERC20.encode("approve", market.pool, second.spend.amount)

        async def send_then_pause(to: str, data: str, gas_limit: int, **kw: Any) -> Sent:
            sent = await send(to, data, gas_limit, **kw)
            if data == second_approval and not paused.is_set():
                paused.set()
                await resume.wait()
            return sent

        monkeypatch.setattr(sender, "send", send_then_pause)
        await client.request("evm_setAutomine", [False])
        request = ExecRequest(GasPricing(0, 0), 0)
        lost_task = asyncio.create_task(executor.execute(first, request))
        for _ in range(400):
            if await _ours_to_pool_pending(client, market.pool):
                break
            await asyncio.sleep(0.02)
        winner = await competitor_liquidates(
            client, market.pool, first.receive.asset, first.spend.asset, first.account
        )
        second_task = asyncio.create_task(executor.execute(second, request))
        await asyncio.wait_for(paused.wait(), 30)
        # The winner, our beaten liquidation and the second plan's approvals.
        await client.request("evm_mine", [])
        await asyncio.sleep(1.0)  # the beaten plan's executor reads its receipt and revokes
        resume.set()
        await client.request("evm_setAutomine", [True])
        await client.request("evm_mine", [])
        lost = await asyncio.wait_for(lost_task, 60)
        done = await asyncio.wait_for(second_task, 60)
        assert (lost.status, lost.winner_tx) == ("lost", winner)
        assert done.status == "liquidated", done.reason
        raw = await client.call(
            first.spend.asset, ERC20.encode("allowance", KEEPER_ADDRESS, market.pool)
        )
        assert ERC20.decode("allowance", raw)[0] == 0
        nonce = await client.get_transaction_count(KEEPER_ADDRESS, "latest")
        assert nonce == await client.get_transaction_count(KEEPER_ADDRESS, "pending")
        keeper.journal.close()
    finally:
        await client.request("evm_setAutomine", [True])
        await client.close()
