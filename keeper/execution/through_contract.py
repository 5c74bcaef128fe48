"""Liquidations paid from the keeper's own tokens, through our own contract.

The keeper approves each debt token to our contract once (a standing approval, sent the first
time a token is needed unless ``keeper deploy-liquidator`` already did it); the contract is
owner-only and pulls exactly the plan's spend from the keeper, approves the protocol exactly,
liquidates, resets the protocol's allowance to zero and sends the collateral and whatever the
protocol left back. Before any of that it checks cheaply that the plan still holds (Aave: the
borrower's scaled variable debt is not below the planned one) and reverts with a 4-byte
``PlanStale()`` when it does not: a race lost in the public mempool costs about 35k gas instead
of a revert deep in the protocol (130k-200k), and one transaction per plan instead of three
(approve, liquidate, revoke).

Per plan: simulate [the approval if not yet standing, the contract call] in a simulated next
block -> check the profit after the simulated gas and the coinbase bid -> send (the approval
first when it is needed) -> wait for the receipt -> read what the protocol moved from its
events. A stale plan fails simulation and costs nothing; the early stop is only ever paid by a
transaction that was good when sent and lost its race in the block.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from keeper.chain.erc20 import ERC20
from keeper.core.market import Call
from keeper.core.outcome import Outcome, OutcomeStatus, TxPurpose
from keeper.execution.flash import BACKRUN_NEEDS_SIMULATION
from keeper.execution.transactions import bid_meta
from keeper.execution.transactor import limit_of, ms_since

if TYPE_CHECKING:
    from keeper.chain.types import Receipt
    from keeper.core.plan import AnyPlan
    from keeper.execution.executor import ExecRequest
    from keeper.execution.transactions import Sent
    from keeper.execution.transactor import Transactor

APPROVE_GAS = 100_000
MAX_UINT256 = 2**256 - 1
# An allowance this large is standing: tokens that count a maximal allowance down never bring
# it below this in any realistic lifetime.
STANDING = 2**200


class ContractInventoryExecutor:
    """Executes plans with the keeper's tokens through our liquidator contract."""

    purpose = TxPurpose.LIQUIDATION
    sequential = False

    def __init__(self, transactor: Transactor, *, contract: str) -> None:
        self.tx = transactor
        self.market = transactor.market
        self.contract = contract
        self.liquidator = contract  # the contract calls the protocol
        self.holder = transactor.address  # whose tokens pay
        # Tokens whose standing approval to the contract is known on chain, and approvals sent
        # but not yet seen mined (a plan on such a token simulates the approval first).
        self._standing: set[str] = set()
        self._approving: dict[str, Sent] = {}
        self._lock = asyncio.Lock()

    async def _prefix(self, token: str, approve: Call) -> list[Call]:
        """The standing approval to send first, if ``token`` has none yet (nor one on its way)."""
        if token not in self._standing and token not in self._approving:
            await self._read_standing(token)
        return [] if token in self._standing else [approve]

    async def execute(self, plan: AnyPlan, request: ExecRequest) -> Outcome:
        """Run one plan to a final outcome; never raises for an on-chain failure."""
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        call = self.market.contract_call(plan, self.contract, request.coinbase_wei)
        if call is None:
            return Outcome(
                OutcomeStatus.NOT_SENT, plan, reason=f"{self.market.name} has no contract of ours"
            )
        token = plan.spend.asset.lower()
        approve = Call(plan.spend.asset, ERC20.encode("approve", self.contract, MAX_UINT256))
        prefix = await self._prefix(token, approve)
        simulation = await self.tx.simulate([*prefix, call], request.behind)
        refusal = _backrun_refusal(request, prefix, simulated=simulation is not None)
        if refusal is not None:
            return Outcome(OutcomeStatus.NOT_SENT, plan, reason=refusal)
        simulated = simulation is not None
        if simulation is None:  # no eth_simulateV1: the approval mined first, then eth_call
            if prefix:
                await self._approve_mined(approve, token)
            simulation = await self.tx.estimate_or_revert(call)
            prefix = []
        timings["simulate"] = ms_since(t0)
        checked = self.tx.guarded(plan, simulation, request, plan.gross_profit_base)
        if isinstance(checked, Outcome):
            checked.timings_ms = timings
            return checked
        before: list[Sent] = []
        # The padded simulation is the limit: eth_simulateV1 ran the exact call in the next
        # block, and the pad (x1.5 + 100k) covers refunds and the 63/64 rule, as when the
        # approval is not mined and the node's estimate would fail. No eth_estimateGas on the
        # way to the broadcast (a search over many executions: 3-4x the simulation's time).
        gas_limit = limit_of(checked[1], None)
        if prefix:
            async with self._lock:
                if token not in self._standing and token not in self._approving:
                    sent = await self.tx.sender.send(
                        approve.to,
                        approve.data,
                        APPROVE_GAS,
                        purpose=TxPurpose.APPROVE,
                        meta=bid_meta(request.bid),
                        tip_cap=request.tip_cap,
                    )
                    self._approving[token] = sent
                    before.append(sent)
        elif not simulated:  # no eth_simulateV1 (the approval mined first): the node's estimate
            gas_limit = await self.tx.gas_limit(call, checked[1])
        delivered = await self.tx.deliver(
            call,
            gas_limit,
            purpose=self.purpose,
            meta=request.journal_meta(plan),
            before=before,
            tip_cap=request.tip_cap,
            bid=request.auction(plan),
            route=request.route,
        )
        outcome = await self.tx.outcome(
            plan, delivered, self.liquidator, timings, bid_wei=request.coinbase_wei
        )
        if before:
            # The approval's nonce is below the liquidation's: settled by now, one way or the
            # other. Read it again rather than trust a receipt we did not wait on.
            self._approving.pop(token, None)
            await self._read_standing(token)
        return outcome

    async def prime(self, tokens: list[str]) -> None:
        """Read the standing approvals of ``tokens`` now (at start: not on a reaction path)."""
        for token in tokens:
            if token.lower() not in self._standing:
                await self._read_standing(token.lower())

    async def _read_standing(self, token: str) -> None:
        raw = await self.tx.client.call(
            token, ERC20.encode("allowance", self.holder, self.contract)
        )
        if int(ERC20.decode("allowance", raw)[0]) >= STANDING:
            self._standing.add(token)

    async def _approve_mined(self, approve: Call, token: str) -> None:
        async with self._lock:
            if token in self._standing:
                return
            delivered = await self.tx.deliver(approve, APPROVE_GAS, purpose=TxPurpose.APPROVE)
            if delivered.receipt is not None and delivered.receipt.ok:
                self._standing.add(token)

    async def outcome_of(self, plan: AnyPlan, receipt: Receipt) -> Outcome:
        """What a liquidation of ours settled elsewhere did, read as if this executor waited."""
        return await self.tx.read_receipt(plan, receipt, self.liquidator)

    async def after_block(self) -> None:
        """Nothing: the contract leaves no allowance to the protocol behind."""


def _backrun_refusal(request: ExecRequest, prefix: list[Call], *, simulated: bool) -> str | None:
    """Why a back-run (one transaction, simulated behind its update) cannot be sent, if so."""
    if request.route is None:
        return None
    if prefix:
        return "a back-run is one transaction: the standing approval is not in place yet"
    return None if simulated else BACKRUN_NEEDS_SIMULATION
