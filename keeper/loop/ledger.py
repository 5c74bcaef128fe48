"""The ledger: outcomes become P&L (journal), metrics, alerts, attempt logs and failure counts."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import structlog

from keeper.core.display import format_base, format_wad
from keeper.core.money import to_base_down
from keeper.core.outcome import OutcomeStatus, TxPurpose
from keeper.errors import TransactionError
from keeper.execution.transactions import coinbase_of
from keeper.strategy.gas import GasPricing, wei_to_base

if TYPE_CHECKING:
    from collections.abc import Mapping

    from keeper.core.market import AssetInfo, LendingMarket
    from keeper.core.outcome import Outcome
    from keeper.execution.executor import Executor
    from keeper.execution.journal import Journal
    from keeper.execution.transactions import Settled
    from keeper.ops.alerts import Alerts
    from keeper.ops.metrics import Metrics

log = structlog.get_logger(__name__)
FAILURE_MEMORY_BLOCKS = 20  # the failures breaker forgets failures this many blocks old


class Ledger:
    """Books every attempt's end once."""

    def __init__(
        self,
        market: LendingMarket,
        journal: Journal,
        sender: str,
        metrics: Metrics,
        alerts: Alerts,
    ) -> None:
        self.market = market
        self.journal = journal
        self.sender = sender
        self.metrics = metrics
        self.alerts = alerts
        self.consecutive_failures = 0
        self._last_failure_block = -FAILURE_MEMORY_BLOCKS

    def failures_at(self, head: int) -> int:
        """Consecutive failed attempts, forgotten after FAILURE_MEMORY_BLOCKS quiet blocks."""
        if head - self._last_failure_block >= FAILURE_MEMORY_BLOCKS:
            self.consecutive_failures = 0
        return self.consecutive_failures

    def count(
        self,
        outcome: Outcome,
        assets: Mapping[str, AssetInfo],
        pricing: GasPricing,
        *,
        cycle_started: float | None,
        phases: Mapping[str, float],
        dry_run_fork: bool,
    ) -> None:
        """Metrics, alerts, P&L and the attempt's log line.

        ``cycle_started`` (``perf_counter``) is when the head or update that led to the plan was
        seen: the reaction metric is this attempt's own broadcast minus it.
        """
        metrics, plan = self.metrics, outcome.plan
        metrics.attempts.labels(outcome.status.value).inc()
        if outcome.error is not None:
            metrics.revert_errors.labels(outcome.error).inc()
        if outcome.status.failed:
            self.consecutive_failures += 1
            self._last_failure_block = plan.block
        elif outcome.status is OutcomeStatus.LIQUIDATED:
            self.consecutive_failures = 0
        spend, receive = assets[plan.spend.asset], assets[plan.receive.asset]
        if outcome.status is OutcomeStatus.LIQUIDATED:
            self.alerts.alert(
                "won",
                outcome.tx_hash or plan.account,
                f"liquidated {plan.account}: repaid {outcome.spent} of {spend.label}, "
                f"received {outcome.received} of {receive.label} (tx {outcome.tx_hash})",
            )
        elif outcome.status in (OutcomeStatus.LOST, OutcomeStatus.REVERTED):
            self.alerts.alert(
                "lost",
                plan.account,
                f"liquidation of {plan.account} {outcome.status}: {outcome.reason}",
            )
        metrics.gas_spent.inc(outcome.gas_cost_wei)
        sent_at = outcome.sent_at
        if sent_at is not None and cycle_started is not None and sent_at > cycle_started:
            metrics.reaction.observe(sent_at - cycle_started)
        self.book(outcome, assets, pricing)
        log.info(
            "liquidation_attempt",
            outcome=outcome.status.value,
            dry_run_fork=dry_run_fork,
            realized_profit=outcome.realized_profit,
            bid_paid_wei=outcome.bid_paid_wei or None,
            block=plan.block,
            account=plan.account,
            health_factor=format_wad(plan.health_factor),
            collateral=receive.label,
            debt=spend.label,
            debt_to_cover=plan.spend.amount,
            debt_repaid=outcome.spent,
            collateral_received=outcome.received,
            expected_profit=format_base(plan.expected_profit_base, self.market.base_unit),
            gas_used=outcome.gas_used,
            tx_hash=outcome.tx_hash,
            reason=outcome.reason or None,
            winner_tx=outcome.winner_tx,
            timings_ms={**phases, **outcome.timings_ms},
        )

    def book(
        self, outcome: Outcome, assets: Mapping[str, AssetInfo], pricing: GasPricing
    ) -> int | None:
        """Record a mined attempt's realised P&L (journal ledger, profit metric); return it."""
        pnl = self.realised_pnl(outcome, assets, pricing)
        if pnl is not None and outcome.tx_hash is not None:
            self.journal.record_result(self.sender, outcome.tx_hash, pnl)
            if pnl > 0 and self.market.base_unit:
                self.metrics.profit.inc(pnl / self.market.base_unit)  # display only
        return pnl

    def realised_pnl(
        self, outcome: Outcome, assets: Mapping[str, AssetInfo], pricing: GasPricing
    ) -> int | None:
        """Base units gained (negative: lost) by a mined attempt, gas and coinbase bid included.

        None when nothing was mined.
        """
        gas = wei_to_base(outcome.gas_cost_wei + outcome.bid_paid_wei, pricing.native_price)
        if outcome.status is not OutcomeStatus.LIQUIDATED:
            return -gas if outcome.gas_cost_wei else None
        plan, prices = outcome.plan, self.market.prices()
        spend = assets[plan.spend.asset]
        if outcome.realized_profit is not None:  # flash: paid out in the spend asset
            return (
                to_base_down(outcome.realized_profit, prices[spend.address], spend.decimals) - gas
            )
        receive = assets[plan.receive.asset]
        got = to_base_down(outcome.received, prices[receive.address], receive.decimals)
        paid = to_base_down(outcome.spent, prices[spend.address], spend.decimals)
        return got - paid - gas

    async def record_late(
        self,
        settled: list[Settled],
        executors: Mapping[TxPurpose, Executor],
        native_price: int,
    ) -> None:
        """The realised P&L of our liquidations settled outside an executor.

        Those settled after a receipt timeout or at start from the journal: the loss budget
        counts them as well.
        """
        mined = [s for s in settled if s.receipt is not None and TxPurpose(s.purpose).liquidates]
        if not mined:
            return
        assets = await self.market.assets()
        for late in mined:
            executor = executors.get(TxPurpose(late.purpose))
            if executor is None or late.receipt is None:
                continue
            try:
                plan = self.market.plan_from_meta(late.meta)
                outcome = await executor.outcome_of(plan, late.receipt)
            except (TransactionError, KeyError, TypeError) as exc:
                log.warning("late_result_unread", tx_hash=late.tx_hash, error=str(exc))
                continue
            if outcome.status is OutcomeStatus.LIQUIDATED:
                self.consecutive_failures = 0  # it timed out, but it did not fail
                outcome.bid_paid_wei = coinbase_of(late.meta)  # paid with it, all or nothing
            pnl = self.book(outcome, assets, GasPricing(0, native_price))
            if pnl is not None:
                log.info(
                    "late_result",
                    tx_hash=outcome.tx_hash,
                    outcome=outcome.status.value,
                    account=plan.account,
                    realised_pnl=format_base(pnl, self.market.base_unit),
                )

    def loss_24h(self, day_s: float) -> int:
        """Losses booked in the last ``day_s`` seconds (base units)."""
        return self.journal.losses_since(self.sender, time.time() - day_s)
