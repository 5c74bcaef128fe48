"""Liquidations with zero capital through our own flash contract.

Per plan: quote the swap at this block -> the market builds the contract call with its terms
(premium, slippage bound, on-chain minimum profit) -> simulate the exact call -> check the
profit after the simulated gas -> send through the journaled sender -> read the protocol's
events and the contract's profit. The contract's own ``minProfit`` check is the real guard: if
prices or the pool move before inclusion, the transaction reverts instead of losing money.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from keeper.chain.abi import Codec
from keeper.core.market import FlashInputs
from keeper.core.outcome import Outcome, OutcomeStatus, TxPurpose
from keeper.execution.transactor import ms_since
from keeper.strategy.gas import wei_to_base

if TYPE_CHECKING:
    from keeper.chain.types import Receipt
    from keeper.core.plan import AnyPlan
    from keeper.execution.executor import ExecRequest
    from keeper.execution.transactor import Transactor

QUOTER = Codec.named("uniswap_v3/IQuoterV2")
BACKRUN_NEEDS_SIMULATION = (
    "a back-run is simulated behind its update: the node lacks eth_simulateV1"
)


class FlashExecutor:
    """Executes plans through the flash contract; the keeper needs only gas money."""

    purpose = TxPurpose.FLASH_LIQUIDATION
    # Flash liquidations swap in the same pools: a quote must see the swaps before it.
    sequential = True

    def __init__(
        self,
        transactor: Transactor,
        *,
        contract: str,
        quoter: str,
        swap_fee: int,
        slippage_bps: int,
    ) -> None:
        self.tx = transactor
        self.market = transactor.market
        self.contract = contract
        self.liquidator = contract  # the contract calls the protocol
        self.holder = None  # a flash loan pays
        self.quoter = quoter
        self.swap_fee = swap_fee
        self.slippage_bps = slippage_bps

    async def _quote(self, plan: AnyPlan) -> int:
        if plan.receive.asset == plan.spend.asset:
            return 0
        raw = await self.tx.client.call(
            self.quoter,
            QUOTER.encode(
                "quoteExactInputSingle",
                (plan.receive.asset, plan.spend.asset, plan.receive.amount, self.swap_fee, 0),
            ),
        )
        return int(QUOTER.decode("quoteExactInputSingle", raw)[0])

    async def execute(self, plan: AnyPlan, request: ExecRequest) -> Outcome:
        """Run one flash liquidation to a final outcome."""
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        flash = self.market.flash_call(
            plan,
            self.contract,
            self.swap_fee,
            FlashInputs(
                await self._quote(plan),
                self.slippage_bps,
                request.min_profit_base,
                request.pricing.cost_base(plan.gas_estimate),
                request.coinbase_wei,
                wei_to_base(request.coinbase_wei, request.pricing.native_price),
            ),
        )
        if flash.refusal is not None:
            return Outcome(OutcomeStatus.NOT_SENT, plan, reason=flash.refusal)
        simulation = await self.tx.simulate([flash.call], request.behind)
        if simulation is None and request.route is not None:
            return Outcome(OutcomeStatus.NOT_SENT, plan, reason=BACKRUN_NEEDS_SIMULATION)
        if simulation is None:
            simulation = await self.tx.estimate_or_revert(flash.call)
        timings["simulate"] = ms_since(t0)
        # The guaranteed profit (worst accepted swap) in base units, before gas.
        spend_price = self.market.prices().get(plan.spend.asset, 0)
        decimals = (await self.market.assets())[plan.spend.asset].decimals
        gross = flash.profit_at_min * spend_price // 10**decimals
        checked = self.tx.guarded(plan, simulation, request, gross)
        if isinstance(checked, Outcome):
            checked.timings_ms = timings
            return checked
        gas_limit = await self.tx.gas_limit(flash.call, checked[0])
        delivered = await self.tx.deliver(
            flash.call,
            gas_limit,
            purpose=self.purpose,
            meta=request.journal_meta(plan),
            tip_cap=request.tip_cap,
            bid=request.auction(plan),
            route=request.route,
        )
        outcome = await self.tx.outcome(
            plan, delivered, self.liquidator, timings, bid_wei=request.coinbase_wei
        )
        outcome.expected_profit = flash.profit_at_quote
        outcome.reason = outcome.reason or flash.note
        return outcome

    async def outcome_of(self, plan: AnyPlan, receipt: Receipt) -> Outcome:
        """What a flash liquidation of ours settled elsewhere did."""
        return await self.tx.read_receipt(plan, receipt, self.liquidator)

    async def after_block(self) -> None:
        """Nothing: a flash liquidation leaves no approval behind."""
