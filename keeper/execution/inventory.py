"""Liquidations paid from the keeper's own token balance.

Per plan: simulate the exact bundle [approve exactly the amount passed, the liquidation] in a
simulated next block (``eth_simulateV1``) before anything is signed -> send the approval ->
send the liquidation with the simulated gas plus a pad -> wait for the receipt -> read what the
protocol really moved from its events (the market reads them). A plan that fails simulation
costs nothing. An approval that is not fully used is revoked, so no allowance is left behind.
Nodes without ``eth_simulateV1`` fall back to approve -> ``eth_call`` -> revoke on failure.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from keeper.chain.erc20 import ERC20
from keeper.core.market import Call
from keeper.core.outcome import Outcome, OutcomeStatus, TxPurpose
from keeper.errors import TransactionError
from keeper.execution.transactions import bid_meta
from keeper.execution.transactor import SIM_GAS_PAD_ADD, SIM_GAS_PAD_DEN, SIM_GAS_PAD_NUM, ms_since

if TYPE_CHECKING:
    from keeper.chain.types import Receipt
    from keeper.core.plan import AnyPlan
    from keeper.execution.executor import ExecRequest
    from keeper.execution.fees import Fees
    from keeper.execution.transactions import Sent
    from keeper.execution.transactor import Simulation, Transactor
    from keeper.strategy.bidding import BidLimits

APPROVE_GAS = 100_000


class InventoryExecutor:
    """Executes plans with the keeper's own tokens, approved to the market's spender."""

    purpose = TxPurpose.LIQUIDATION
    sequential = False

    def __init__(self, transactor: Transactor) -> None:
        self.tx = transactor
        self.market = transactor.market
        self.liquidator = transactor.address  # who the protocol sees as liquidator
        self.holder = transactor.address
        self.spender = transactor.market.spender
        self._bundle_lock = asyncio.Lock()
        # Tokens whose approval a liquidation did not use up (the protocol pulled less than
        # passed): revoked together once the block's plans are done (after_block).
        self._leftover: set[str] = set()

    def _approve(self, token: str, amount: int) -> Call:
        return Call(token, ERC20.encode("approve", self.spender, amount))

    async def execute(self, plan: AnyPlan, request: ExecRequest) -> Outcome:
        """Run one plan to a final outcome; never raises for an on-chain failure."""
        if request.route is not None:
            return Outcome(
                OutcomeStatus.NOT_SENT,
                plan,
                reason="a back-run is one transaction through our contract (flash_liquidator)",
            )
        if request.coinbase_wei:
            return Outcome(
                OutcomeStatus.NOT_SENT,
                plan,
                reason="a coinbase bid needs our contract (flash_liquidator, not inventory_direct)",
            )
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        liquidation = self.market.inventory_call(plan)
        allowance = await self.market.allowance(plan, self.liquidator)
        if allowance is None:
            allowance = await self._allowance(plan.spend.asset)
        approvals = self._approvals_needed(plan, allowance)
        bundle = [self._approve(plan.spend.asset, amount) for amount in approvals]
        simulation = await self.tx.simulate([*bundle, liquidation], request.behind)
        timings["simulate"] = ms_since(t0)
        if simulation is None:
            async with self._bundle_lock:  # approve, mine, then check: nobody else may approve
                return await self._approve_check_send(
                    plan, liquidation, allowance, request, timings
                )
        checked = self._checked(plan, simulation, request, timings)
        if isinstance(checked, Outcome):
            return checked
        t0 = time.perf_counter()
        sent: list[Sent] = []
        # One plan's approvals and liquidation take consecutive nonces: a concurrent plan on
        # the same token must not set the allowance in between.
        await self._bundle_lock.acquire()
        try:
            # A plan sent meanwhile on the same token makes the allowance read stale.
            now = self._approvals_needed(plan, allowance)
            if len(now) > len(approvals):
                extra = APPROVE_GAS * (len(now) - len(approvals))
                more = self._checked(plan, (checked[0] + extra, checked[1]), request, timings)
                if isinstance(more, Outcome):
                    self._bundle_lock.release()
                    return more
            gas_limit = await self._send_approvals(
                plan, liquidation, now, checked[1], sent, request.tip_cap, request.bid
            )
        except BaseException:
            self._bundle_lock.release()
            raise
        timings["approve"] = ms_since(t0)
        return await self._send_liquidation(
            plan, liquidation, gas_limit, timings, request, after=sent, release=self._bundle_lock
        )

    def _checked(
        self,
        plan: AnyPlan,
        simulation: Simulation,
        request: ExecRequest,
        timings: dict[str, float],
    ) -> tuple[int, int] | Outcome:
        checked = self.tx.guarded(plan, simulation, request, plan.gross_profit_base)
        if isinstance(checked, Outcome):
            checked.timings_ms = timings
        return checked

    def _approvals_needed(self, plan: AnyPlan, allowance: int) -> list[int]:
        """The approvals to send before ``plan``'s liquidation, given the allowance as read.

        The read is trusted only if no transaction of ours that sets or spends this allowance
        is still open or was mined after the plan's block. Otherwise the allowance is unknown:
        reset to 0 first (tokens like USDT refuse to change a non-zero allowance), then approve.
        """
        amount = plan.spend.amount
        if not self._allowance_settled(plan.spend.asset, plan.block):
            return [0, amount]
        if allowance == amount:
            return []
        return ([0] if allowance != 0 else []) + [amount]

    def _allowance_settled(self, token: str, block: int) -> bool:
        """No transaction of ours touching our allowance of ``token`` is open or after ``block``."""
        token = token.lower()
        journal = self.tx.sender.journal
        for entry in journal.open_or_settled_after(self.liquidator, block):
            if entry.to.lower() == token:
                return False  # an approval
            spent = str(entry.meta.get("spend_asset", "")).lower()
            if entry.purpose == TxPurpose.LIQUIDATION and spent == token:
                return False  # spends the allowance
        return True

    async def _send_approvals(
        self,
        plan: AnyPlan,
        liquidation: Call,
        amounts: list[int],
        liquidation_gas: int,
        sent: list[Sent],
        tip_cap: Fees | None,
        bid: BidLimits | None,
    ) -> int:
        """Send the approvals of ``amounts`` (into ``sent``); the liquidation's gas limit."""
        if not amounts:
            return await self.tx.gas_limit(liquidation, liquidation_gas)
        # Sent back to back with the liquidation (the next nonces), not waited for: the
        # simulation ran them in this order, so all of them land in the same block. The node's
        # gas estimate would fail before the approval is mined: the padded simulated gas is the
        # limit.
        for amount in amounts:
            call = self._approve(plan.spend.asset, amount)
            approval = await self.tx.sender.send(
                call.to,
                call.data,
                APPROVE_GAS,
                purpose=TxPurpose.APPROVE,
                meta=bid_meta(bid),
                tip_cap=tip_cap,
            )
            sent.append(approval)
        return liquidation_gas * SIM_GAS_PAD_NUM // SIM_GAS_PAD_DEN + SIM_GAS_PAD_ADD

    async def _approve_check_send(
        self,
        plan: AnyPlan,
        liquidation: Call,
        allowance: int,
        request: ExecRequest,
        timings: dict[str, float],
    ) -> Outcome:
        """For nodes without eth_simulateV1: approve first, then eth_call the liquidation."""
        t0 = time.perf_counter()
        for amount in self._approvals_needed(plan, allowance):
            await self._approve_mined(plan.spend.asset, amount)
        timings["approve"] = ms_since(t0)
        simulated = await self.tx.estimate_or_revert(liquidation)
        checked = self._checked(plan, simulated, request, timings)
        if isinstance(checked, Outcome):
            await self._approve_mined(plan.spend.asset, 0)
            return checked
        gas_limit = await self.tx.gas_limit(liquidation, checked[0])
        return await self._send_liquidation(plan, liquidation, gas_limit, timings, request)

    async def _send_liquidation(
        self,
        plan: AnyPlan,
        liquidation: Call,
        gas_limit: int,
        timings: dict[str, float],
        request: ExecRequest,
        *,
        after: list[Sent] | None = None,
        release: asyncio.Lock | None = None,
    ) -> Outcome:
        """Send the liquidation and read its outcome.

        ``release``: the bundle lock, held by the caller and let go once the liquidation is
        sent. Without it, the caller holds the bundle lock until this returns.
        """
        delivered = await self.tx.deliver(
            liquidation,
            gas_limit,
            purpose=self.purpose,
            meta=request.journal_meta(plan),
            before=after or [],
            tip_cap=request.tip_cap,
            release=release,
            bid=request.auction(plan),
        )
        outcome = await self.tx.outcome(plan, delivered, self.liquidator, timings)
        if outcome.status is OutcomeStatus.TIMEOUT:
            return outcome
        if outcome.status is not OutcomeStatus.LIQUIDATED:
            # Reverted or not seen mined: revoke the approval now, never between another
            # plan's approval and its liquidation.
            if release is not None:
                await release.acquire()
            await self._revoke(plan.spend.asset, release)
        elif outcome.spent < plan.spend.amount:
            # Less pulled than approved (all of a debt, 3.3+): revoked after the block's plans,
            # off their path; a plan on the token meanwhile resets the allowance itself.
            self._leftover.add(plan.spend.asset)
        return outcome

    async def after_block(self) -> None:
        """Revoke the approvals liquidations left partly unused, one ``approve(0)`` per token.

        Sent, not waited for: the journal settles them with every open transaction.
        """
        if not self._leftover:
            return
        async with self._bundle_lock:
            for token in sorted(self._leftover):
                call = self._approve(token, 0)
                await self.tx.sender.send(
                    call.to, call.data, APPROVE_GAS, purpose=TxPurpose.APPROVE
                )
                self._leftover.discard(token)

    async def _revoke(self, token: str, release: asyncio.Lock | None) -> None:
        """Send ``approve(0)``; a revocation still pending is journaled, not a failure.

        The liquidation's outcome stands whatever becomes of it: the journal settles the
        revocation later, and the next plan on the token reads the allowance anew.
        """
        delivered = await self.tx.deliver(
            self._approve(token, 0), APPROVE_GAS, purpose=TxPurpose.APPROVE, release=release
        )
        if delivered.receipt is not None and not delivered.receipt.ok:
            raise TransactionError(f"approve(0) on {token} reverted")

    async def _approve_mined(self, token: str, amount: int) -> None:
        """Approve and wait for the receipt."""
        delivered = await self.tx.deliver(
            self._approve(token, amount), APPROVE_GAS, purpose=TxPurpose.APPROVE
        )
        if delivered.receipt is None or not delivered.receipt.ok:
            raise TransactionError(f"approve({amount}) on {token} did not succeed")

    async def _allowance(self, token: str) -> int:
        raw = await self.tx.client.call(
            token, ERC20.encode("allowance", self.liquidator, self.spender)
        )
        return int(ERC20.decode("allowance", raw)[0])

    async def outcome_of(self, plan: AnyPlan, receipt: Receipt) -> Outcome:
        """What a liquidation of ours settled elsewhere did, read as if this executor waited."""
        return await self.tx.read_receipt(plan, receipt, self.liquidator)
