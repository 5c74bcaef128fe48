"""Inventory liquidations through our own contract, on the v3.0 and v3.6 devnets: they pay from
the keeper's standing approval, leave no allowance to the Pool, stop for ~35k gas when another
liquidator got there first, and can pay a bid to ``block.coinbase``, all-or-nothing.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest
from eth_utils.crypto import keccak

from keeper.chain.abi import Codec
from keeper.core.outcome import OutcomeStatus
from keeper.core.plan import Skip
from keeper.devnet.liquidator import deploy_keeper_liquidator
from keeper.devnet.scenarios import shock_price
from keeper.errors import ContractRevertError
from keeper.execution.executor import ExecRequest
from keeper.execution.through_contract import ContractInventoryExecutor
from keeper.protocols.aave_v3.connect import connect
from keeper.protocols.aave_v3.market import ERC20, POOL
from keeper.strategy.gas import GasPricing
from tests.integration.conftest import KEEPER_ADDRESS
from tests.integration.helpers import (
    COMPETITOR,
    MAX_UINT,
    aave_keeper,
    balance_of,
    candidate_of,
    competitor_liquidates,
    competitor_ready,
    keeper_settings,
)

if TYPE_CHECKING:
    from keeper.chain.client import ChainClient
    from keeper.core.plan import AnyPlan

pytestmark = pytest.mark.integration
LIQUIDATOR = Codec.named("FlashLiquidator")
LOST_RACE_GAS = 60_000
BID = 10**16  # 0.01 ETH
COINBASE = "0x" + "c0" * 20


def _selector(signature: str) -> str:
    return "0x" + keccak(text=signature)[:4].hex()


async def _world(devnet: Any, tmp_path: Any, **overrides: Any) -> tuple[Any, ...]:
    """Our contract (standing approvals, 1 ETH for bids), a -40% WETH shock, the keeper wired
    with the contract, and the plan for the deepest account with collateral worth liquidating.
    """
    client, chain_id, market = await connect(keeper_settings(devnet, tmp_path))
    contract = await deploy_keeper_liquidator(client, devnet.world, KEEPER_ADDRESS, fund_wei=10**18)
    settings = keeper_settings(devnet, tmp_path, flash_liquidator=contract, **overrides)
    await shock_price(client, market.addresses_provider, "WETH", -40)
    keeper, aave = aave_keeper(settings, client, chain_id, market)
    await aave.start()
    deep = [d for d in aave.monitor.engine.below(95 * 10**16) if d.total_collateral_base > 10**11]
    assert deep, "a 40% drop must push some accounts below HF 0.95"
    ctx = keeper.cycle.context(aave.block, GasPricing(0, 0))
    assert (ctx.liquidator, ctx.holder) == (contract, KEEPER_ADDRESS)
    plan = await aave.plan(candidate_of(deep[0]), ctx)
    assert not isinstance(plan, Skip), plan
    return client, keeper, aave, contract, plan


async def _no_tokens_or_allowances(client: ChainClient, contract: str, plan: AnyPlan, pool: str):
    for token in {plan.spend.asset, plan.receive.asset}:
        assert await balance_of(client, token, contract) == 0
        raw = await client.call(token, ERC20.encode("allowance", contract, pool))
        assert ERC20.decode("allowance", raw)[0] == 0


async def _send(client: ChainClient, sender: str, to: str, data: str) -> dict[str, Any]:
    """A transaction with a fixed gas limit (no estimate, which would refuse a revert) and no
    tip (the coinbase gains only bids).
    """
    tx = {"from": sender, "to": to, "data": data, "gas": hex(1_500_000)}
    tx_hash = await client.request("eth_sendTransaction", [{**tx, "maxPriorityFeePerGas": "0x0"}])
    for _ in range(600):
        receipt: dict[str, Any] | None = await client.request(
            "eth_getTransactionReceipt", [tx_hash]
        )
        if receipt is not None:
            return receipt
        await asyncio.sleep(0.05)
    raise AssertionError(f"no receipt for {tx_hash}")


@pytest.mark.asyncio
async def test_the_executor_liquidates_through_the_contract_from_the_standing_approval(
    devnet_any, tmp_path
):
    """The keeper's executor sends one transaction (no approval: it stands): the Pool sees our
    contract as liquidator, the keeper receives the seized collateral and keeps what the Pool
    did not take, the contract keeps no tokens and leaves no allowance to the Pool, and a
    stranger cannot use it (NotOwner).
    """
    client, keeper, aave, contract, plan = await _world(devnet_any, tmp_path)
    try:
        executor = keeper.execution.executor
        assert isinstance(executor, ContractInventoryExecutor)
        collateral_before = await balance_of(client, plan.receive.asset, KEEPER_ADDRESS)
        debt_before = await balance_of(client, plan.spend.asset, KEEPER_ADDRESS)
        outcome = await executor.execute(plan, ExecRequest(GasPricing(0, 0), 0))
        assert outcome.status is OutcomeStatus.LIQUIDATED, outcome.reason
        assert outcome.received > 0
        gained = await balance_of(client, plan.receive.asset, KEEPER_ADDRESS) - collateral_before
        spent = debt_before - await balance_of(client, plan.spend.asset, KEEPER_ADDRESS)
        if plan.receive.asset != plan.spend.asset:
            assert (gained, spent) == (outcome.received, outcome.spent)
        await _no_tokens_or_allowances(client, contract, plan, aave.market.pool)
        entries = keeper.journal.entries(KEEPER_ADDRESS)
        assert [e.purpose for e in entries] == ["liquidation"]
        call = aave.contract_call(plan, contract)
        with pytest.raises(ContractRevertError) as err:
            await client.call(call.to, call.data, "latest", sender=COMPETITOR)
        assert (err.value.data or "").startswith(_selector("NotOwner()"))
        keeper.journal.close()
    finally:
        await client.close()


@pytest.mark.asyncio
async def test_a_lost_race_stops_early_for_under_60k_gas(devnet_any, tmp_path):
    """Another liquidator takes the account first: our planned call, still sent, reverts with
    PlanStale() for under 60,000 gas, where the direct liquidationCall costs far more; the
    keeper's simulation refuses the stale plan before signing anything (it names PlanStale).
    """
    client, keeper, aave, contract, plan = await _world(devnet_any, tmp_path)
    try:
        await competitor_ready(client, devnet_any)
        taken = await competitor_liquidates(
            client, aave.market.pool, plan.receive.asset, plan.spend.asset, plan.account
        )
        # On a loaded machine the answer can come before the block is mined: wait for it.
        receipt = await client.wait_receipt(taken, timeout_s=60)
        assert receipt is not None and receipt.ok, "the competitor liquidates first"
        call = aave.contract_call(plan, contract)
        with pytest.raises(ContractRevertError) as err:
            await client.call(call.to, call.data, "latest", sender=KEEPER_ADDRESS)
        assert (err.value.data or "") == _selector("PlanStale()")
        lost = await _send(client, KEEPER_ADDRESS, call.to, call.data)
        assert int(lost["status"], 16) == 0
        early = int(lost["gasUsed"], 16)
        assert early < LOST_RACE_GAS, early
        # The old path for comparison: approve, then liquidationCall to the Pool, reverting.
        await _send(
            client,
            KEEPER_ADDRESS,
            plan.spend.asset,
            ERC20.encode("approve", aave.market.pool, MAX_UINT),
        )
        direct = await _send(client, KEEPER_ADDRESS, *_direct(aave, plan))
        direct_gas = int(direct["gasUsed"], 16)
        print(f"lost race: {early} gas through our contract, {direct_gas} direct to the Pool")  # noqa: T201
        assert direct_gas > 2 * early
        outcome = await keeper.execution.executor.execute(plan, ExecRequest(GasPricing(0, 0), 0))
        assert outcome.status is OutcomeStatus.SIMULATION_FAILED
        assert outcome.error == "PlanStale", outcome.reason
        keeper.journal.close()
    finally:
        await client.close()


def _direct(aave: Any, plan: AnyPlan) -> tuple[str, str]:
    call = aave.inventory_call(plan)
    return call.to, call.data


@pytest.mark.asyncio
async def test_a_coinbase_bid_is_paid_exactly_and_only_with_the_liquidation(devnet_any, tmp_path):
    """With a coinbase bid in the request and a zero tip, the block's coinbase gains exactly
    the bid from the contract's ether, and the profit check counts it; a stale plan pays no bid;
    a bid beyond the contract's ether reverts the whole liquidation (BidUnpaid).
    """
    client, keeper, aave, contract, plan = await _world(devnet_any, tmp_path, priority_fee_gwei=0)
    try:
        await client.request("anvil_setCoinbase", [COINBASE])
        call = aave.contract_call(plan, contract, 2 * 10**18)
        with pytest.raises(ContractRevertError) as err:
            await client.call(call.to, call.data, "latest", sender=KEEPER_ADDRESS)
        assert (err.value.data or "").startswith(_selector("BidUnpaid(uint256,uint256)"))
        native = aave.prices()[devnet_any.world.asset("WETH").address]
        too_dear = ExecRequest(GasPricing(0, native), plan.gross_profit_base, coinbase_wei=BID)
        refused = await keeper.execution.executor.execute(plan, too_dear)
        assert refused.status is OutcomeStatus.NOT_SENT
        assert "coinbase bid" in (refused.reason or "")
        before = await client.get_balance(COINBASE)
        float_before = await client.get_balance(contract)
        request = ExecRequest(GasPricing(0, native), 0, coinbase_wei=BID)
        outcome = await keeper.execution.executor.execute(plan, request)
        assert outcome.status is OutcomeStatus.LIQUIDATED, outcome.reason
        assert await client.get_balance(COINBASE) - before == BID
        assert float_before - await client.get_balance(contract) == BID
        await _no_tokens_or_allowances(client, contract, plan, aave.market.pool)
        # The same call again: the plan no longer holds, nothing goes to the coinbase.
        before = await client.get_balance(COINBASE)
        stale = await _send(client, KEEPER_ADDRESS, *_call(aave.contract_call(plan, contract, BID)))
        assert int(stale["status"], 16) == 0
        assert await client.get_balance(COINBASE) == before
        keeper.journal.close()
    finally:
        await client.close()


def _call(call: Any) -> tuple[str, str]:
    return call.to, call.data


@pytest.mark.asyncio
async def test_pool_sees_our_contract_as_liquidator(devnet, tmp_path):
    """The Pool's LiquidationCall names our contract as liquidator, and the realised amounts the
    keeper books are that event's.
    """
    client, keeper, aave, contract, plan = await _world(devnet, tmp_path)
    try:
        head = await client.block_number()
        outcome = await keeper.execution.executor.execute(plan, ExecRequest(GasPricing(0, 0), 0))
        assert outcome.status is OutcomeStatus.LIQUIDATED, outcome.reason
        logs = await client.get_logs(
            address=aave.market.pool,
            topics=[POOL.topic("LiquidationCall")],
            from_block=head + 1,
            to_block=await client.block_number(),
        )
        decoded = [POOL.decode_log(e) for e in logs]
        (event,) = [d[1] for d in decoded if d is not None]
        assert event["liquidator"] == contract
        assert (event["debtToCover"], event["liquidatedCollateralAmount"]) == (
            outcome.spent,
            outcome.received,
        )
        keeper.journal.close()
    finally:
        await client.close()
