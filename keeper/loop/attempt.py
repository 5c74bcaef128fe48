"""One plan executed and booked: the block cycle and the back-run both go through here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import structlog

from keeper.errors import TransactionError
from keeper.execution.fees import gwei_to_wei
from keeper.strategy.bidding import BidPolicy, coinbase_bid, plan_limits

if TYPE_CHECKING:
    from collections.abc import Mapping

    from keeper.core.market import AssetInfo
    from keeper.core.outcome import Outcome, TxPurpose
    from keeper.core.plan import AnyPlan
    from keeper.execution.executor import ExecRequest, Executor
    from keeper.execution.sender import TxSender
    from keeper.loop.attempts import AttemptBook
    from keeper.loop.ledger import Ledger
    from keeper.settings import Settings
    from keeper.strategy.bidding import BidLimits
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
        if request.route is None:  # a back-run that could not be sent costs nothing: no cooldown
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


def bid_policy(settings: Settings) -> BidPolicy:
    """The operator's bidding terms; a fixed tip (``priority_fee_gwei``) never outbids."""
    fixed = settings.priority_fee_gwei
    floor = fixed if fixed is not None else settings.bid_floor_gwei
    return BidPolicy(
        share_bps=0 if fixed is not None else settings.bid_share_bps,
        max_tip=gwei_to_wei(settings.max_priority_fee_gwei),
        max_fee=gwei_to_wei(settings.max_fee_gwei),
        floor=None if floor is None else gwei_to_wei(floor),
    )


def bid_limits(
    plan: AnyPlan, minimum: int, pricing: GasPricing, policy: BidPolicy
) -> BidLimits | None:
    """What the plan's transactions may pay per gas (``keeper.strategy.bidding``).

    The margin is the plan's gross profit above ``minimum``, at its gas estimate; the floor is
    this cycle's tip (the node's suggestion when the policy sets none).
    """
    # The L1 data fee does not scale with the gas price: it comes off the margin first.
    return plan_limits(
        policy,
        margin_base=plan.gross_profit_base - minimum - pricing.l1_fee_base(),
        gas=plan.gas_estimate,
        native_price=pricing.native_price,
        base_fee=pricing.base_fee,
        suggested_tip=pricing.tip,
    )


def coinbase_wei(plan: AnyPlan, minimum: int, pricing: GasPricing, policy: BidPolicy) -> int:
    """The coinbase bid of ``plan`` (``coinbase_payment``): a share of its margin after gas."""
    return coinbase_bid(
        policy,
        margin_base=plan.gross_profit_base - minimum - pricing.l1_fee_base(),
        gas_cost_base=pricing.cost_base(plan.gas_estimate) - pricing.l1_fee_base(),
        native_price=pricing.native_price,
    )
