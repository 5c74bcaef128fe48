"""One plan executed and booked: the block cycle and the back-run both go through here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import structlog

from keeper.errors import TransactionError
from keeper.strategy.gas import WEI_PER_NATIVE

if TYPE_CHECKING:
    from collections.abc import Mapping

    from keeper.core.market import AssetInfo
    from keeper.core.outcome import Outcome, TxPurpose
    from keeper.core.plan import AnyPlan
    from keeper.execution.executor import ExecRequest, Executor
    from keeper.execution.sender import TxSender
    from keeper.loop.attempts import AttemptBook
    from keeper.loop.ledger import Ledger
    from keeper.strategy.gas import GasPricing

log = structlog.get_logger(__name__)


@dataclass
class Execution:
    """The sender and executors in use (rebuilt against the fork in a dry run)."""

    sender: TxSender
    executor: Executor
    by_purpose: dict[TxPurpose, Executor] = field(default_factory=dict)


async def attempt(
    plan: AnyPlan,
    request: ExecRequest,
    *,
    execution: Execution,
    book: AttemptBook,
    ledger: Ledger,
    assets: Mapping[str, AssetInfo],
    phases: Mapping[str, float],
    cycle_started: float | None,
    dry_run_fork: bool,
) -> Outcome | None:
    """Execute ``plan``; book its end (cooldown, mined-at, metrics, P&L, log). None: an error."""
    try:
        outcome = await execution.executor.execute(plan, request)
    except TransactionError as exc:
        book.settle(plan.account, plan.block, None)
        log.error(  # noqa: TRY400 - the attempt line, not a traceback
            "liquidation_attempt",
            outcome="error",
            account=plan.account,
            collateral=assets[plan.receive.asset].label,
            debt=assets[plan.spend.asset].label,
            debt_to_cover=plan.spend.amount,
            reason=str(exc),
            block=plan.block,
        )
        return None
    book.settle(plan.account, plan.block, outcome)
    ledger.count(
        outcome,
        assets,
        request.pricing,
        cycle_started=cycle_started,
        phases=phases,
        dry_run_fork=dry_run_fork,
    )
    return outcome


def break_even_fee(plan: AnyPlan, minimum: int, pricing: GasPricing) -> int | None:
    """The gas price (wei) above which the plan's profit falls below ``minimum``.

    At the plan's gas estimate; no transaction of the plan, replacements included, pays more.
    """
    if pricing.native_price <= 0 or plan.gas_estimate <= 0:
        return None
    # The L1 data fee does not scale with the gas price: it comes off the margin first.
    margin = max(0, plan.gross_profit_base - minimum - pricing.l1_fee_base())
    # The estimate is above the simulated gas: never below today's price, which the guard
    # accepted with the simulated gas.
    per_gas = margin * WEI_PER_NATIVE // (plan.gas_estimate * pricing.native_price)
    return max(pricing.gas_price_wei, per_gas)
