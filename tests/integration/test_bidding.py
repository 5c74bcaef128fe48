"""The bidding policy in a priority-gas auction on Anvil (automine off): our liquidation waits in
the pool at the floor; a competitor's liquidation of the same account appears; we outbid it
within our share of the margin, or let it go.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest

from keeper.core.plan import Skip
from keeper.devnet.scenarios import shock_price
from keeper.execution.executor import ExecRequest
from keeper.loop.attempt import bid_limits
from keeper.protocols.aave_v3.connect import connect
from tests.integration.conftest import KEEPER_ADDRESS
from tests.integration.helpers import (
    COMPETITOR,
    aave_keeper,
    candidate_of,
    competitor_liquidates,
    competitor_ready,
    keeper_settings,
)

if TYPE_CHECKING:
    from keeper.app import Keeper
    from keeper.chain.client import ChainClient
    from keeper.core.plan import AnyPlan
    from keeper.protocols.aave_v3.lending_market import AaveLendingMarket

pytestmark = pytest.mark.integration
GWEI = 10**9


async def _ours_pending(client: ChainClient) -> list[dict[str, Any]]:
    content = await client.request("txpool_content")
    for sender, by_nonce in content.get("pending", {}).items():
        if sender.lower() == KEEPER_ADDRESS.lower():
            return sorted(by_nonce.values(), key=lambda tx: int(tx["nonce"], 16))
    return []


def _tip(tx: dict[str, Any]) -> int:
    return int(tx["maxPriorityFeePerGas"], 16)


async def _until(predicate: Any, what: str, timeout_s: float = 20.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out: {what}")


async def _staged(devnet, tmp_path, **overrides: Any) -> tuple[Keeper, AaveLendingMarket, Any]:
    """A keeper with default bidding, a competitor ready, a deep account after a 40% shock."""
    settings = keeper_settings(devnet, tmp_path, **overrides)
    client, chain_id, market = await connect(settings)
    await competitor_ready(client, devnet)
    await shock_price(client, market.addresses_provider, "WETH", -40)
    keeper, aave = aave_keeper(settings, client, chain_id, market)
    await aave.start()
    return keeper, aave, market


async def _plan(keeper: Keeper, aave: AaveLendingMarket) -> tuple[AnyPlan, ExecRequest]:
    """The first deep account's plan and the request the block cycle would make for it."""
    deep = [d for d in aave.monitor.engine.below(95 * 10**16) if d.total_collateral_base > 10**11]
    assert deep, "a 40% drop must push some accounts below HF 0.95"
    pricing = await keeper.cycle.pricing(await aave.assets(), aave.block)
    plan = await aave.plan(candidate_of(deep[0]), keeper.cycle.context(aave.block, pricing))
    assert not isinstance(plan, Skip), plan
    bid = bid_limits(plan, 0, pricing, keeper.cycle.bid_policy)
    assert bid is not None
    return plan, ExecRequest(pricing, 0, bid=bid)


async def _watched(keeper: Keeper) -> None:
    """Until the keeper watches the node's pool (its first liquidation in flight opened it)."""
    rivals = keeper.execution.executor.tx.rivals  # type: ignore[attr-defined]
    assert rivals is not None

    async def active() -> bool:
        return bool(rivals.active)

    await _until(active, "the competition watch")


async def _base_fee(client: ChainClient) -> int:
    return int((await client.get_block("latest"))["baseFeePerGas"], 16)


@pytest.mark.asyncio
async def test_a_rival_within_our_share_is_outbid_on_the_approval_and_the_liquidation(
    devnet, tmp_path
):
    """Default settings. Our approval and liquidation wait at the floor (the node's 1 gwei);
    a competitor liquidates the same account tipping 2 gwei: the keeper replaces both of its
    transactions at their nonces just above that tip (within the 3 gwei budget), and when the
    block is mined ours comes first and liquidates; the outcome says it outbid a rival.
    """
    keeper, aave, market = await _staged(devnet, tmp_path)
    client = aave.client
    try:
        plan, request = await _plan(keeper, aave)
        floor = request.pricing.tip
        assert floor == GWEI  # Anvil's suggested tip
        await client.request("evm_setAutomine", [False])
        task = asyncio.create_task(keeper.execution.executor.execute(plan, request))
        opening = await _until(
            lambda: _ours_pending_to_pool(client, market.pool), "our liquidation in the pool"
        )
        assert len(opening) >= 2  # an approval, then the liquidation
        assert {_tip(tx) for tx in opening} == {floor}
        await _watched(keeper)
        base = await _base_fee(client)
        rival_tip = 2 * GWEI
        rival = await competitor_liquidates(
            client,
            market.pool,
            plan.receive.asset,
            plan.spend.asset,
            plan.account,
            tip=rival_tip,
            max_fee=2 * base + rival_tip,
        )

        async def outbid() -> list[dict[str, Any]] | None:
            pending = await _ours_pending(client)
            done = len(pending) == len(opening) and all(_tip(t) > rival_tip for t in pending)
            return pending if done else None

        replaced = await _until(outbid, "our transactions replaced above the rival")
        assert [tx["nonce"] for tx in replaced] == [tx["nonce"] for tx in opening]
        assert all(_tip(tx) <= 3 * GWEI for tx in replaced)  # within the budget
        await client.request("evm_mine", [])
        await client.request("evm_setAutomine", [True])
        outcome = await asyncio.wait_for(task, 60)
        assert outcome.status == "liquidated", outcome.reason
        assert "outbid" in outcome.reason
        ours = await client.receipt(outcome.tx_hash or "")
        theirs = await client.receipt(rival)
        assert ours is not None and theirs is not None
        assert ours.block_number == theirs.block_number
        assert ours.tx_index < theirs.tx_index
        assert ours.effective_gas_price > theirs.effective_gas_price
        # Every nonce: one attempt mined, the floor's attempt journaled as replaced.
        for tx in opening:
            statuses = {
                e.status for e in keeper.journal.at_nonce(KEEPER_ADDRESS, int(tx["nonce"], 16))
            }
            assert statuses == {"mined", "replaced"}, statuses
    finally:
        await client.request("evm_setAutomine", [True])
        keeper.journal.close()
        await client.close()


@pytest.mark.asyncio
async def test_a_rival_above_our_share_is_let_go_and_the_loss_recorded(devnet, tmp_path):
    """With a cap far above it, our share of the margin bounds the bid: a competitor tipping
    1 gwei more than that share is not answered (no replacement of ours), it wins the block, and
    our outcome is "lost" to its transaction, saying we let it go.
    """
    keeper, aave, market = await _staged(
        devnet, tmp_path, max_priority_fee_gwei=100_000, max_fee_gwei=1_000_000
    )
    client = aave.client
    try:
        plan, request = await _plan(keeper, aave)
        assert request.bid is not None
        base = await _base_fee(client)
        share = request.bid.tip_ceiling(base)
        break_even_tip = request.bid.break_even - base
        rival_tip = share + GWEI
        assert request.pricing.tip < share < rival_tip < break_even_tip
        await client.request("evm_setAutomine", [False])
        task = asyncio.create_task(keeper.execution.executor.execute(plan, request))
        opening = await _until(
            lambda: _ours_pending_to_pool(client, market.pool), "our liquidation in the pool"
        )
        await _watched(keeper)
        rival = await competitor_liquidates(
            client,
            market.pool,
            plan.receive.asset,
            plan.spend.asset,
            plan.account,
            tip=rival_tip,
            max_fee=2 * base + rival_tip,
        )
        await asyncio.sleep(1.0)  # the watch has seen it (it polls every 50 ms)
        assert await _ours_pending(client) == opening  # nothing replaced
        await client.request("evm_mine", [])
        await client.request("evm_setAutomine", [True])
        outcome = await asyncio.wait_for(task, 60)
        assert outcome.status == "lost", outcome.reason
        assert outcome.winner_tx == rival
        assert f"let go rival {rival}" in outcome.reason
        theirs = await client.receipt(rival)
        assert theirs is not None and theirs.ok
        nonce = int(opening[-1]["nonce"], 16)
        assert [e.status for e in keeper.journal.at_nonce(KEEPER_ADDRESS, nonce)] == ["reverted"]
        assert COMPETITOR.lower() != KEEPER_ADDRESS.lower()
    finally:
        await client.request("evm_setAutomine", [True])
        keeper.journal.close()
        await client.close()


async def _ours_pending_to_pool(client: ChainClient, pool: str) -> list[dict[str, Any]] | None:
    """Our pending transactions once the liquidation to ``pool`` is among them."""
    pending = await _ours_pending(client)
    if any((tx.get("to") or "").lower() == pool.lower() for tx in pending):
        return pending
    return None
