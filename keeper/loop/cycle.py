"""The block cycle: confirm the market's candidates, check the breakers, plan and execute."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import structlog

from keeper.core.display import format_wad
from keeper.core.market import ExecutionMode, PlanContext
from keeper.core.plan import Skip, SkipKind
from keeper.execution.executor import ExecRequest
from keeper.execution.lease import ALONE
from keeper.loop.attempt import attempt, bid_limits, bid_policy, coinbase_wei
from keeper.loop.pricing import native_asset
from keeper.loop.report import BlockReport
from keeper.strategy.bidding import BidFloat
from keeper.strategy.gas import GasPricing, calldata_bytes

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

    from keeper.chain.client import ChainClient
    from keeper.chain.l1_fee import L1FeeReader
    from keeper.chain.types import PendingTx
    from keeper.core.market import AssetInfo, LendingMarket, Tick
    from keeper.core.plan import AnyPlan, Candidate
    from keeper.execution.lease import WriterGate
    from keeper.loop.attempt import Execution
    from keeper.loop.attempts import AttemptBook
    from keeper.loop.guards import Guards
    from keeper.loop.ledger import Ledger
    from keeper.ops.server import Status
    from keeper.settings import Settings
    from keeper.submission.channel import BackrunRoute

log = structlog.get_logger(__name__)
Used = tuple[dict[str, int], dict[str, int]]  # spent, seized: asset -> amount


class BlockCycle:
    """What the keeper does at one head."""

    def __init__(
        self,
        settings: Settings,
        client: ChainClient,
        market: LendingMarket,
        execution: Execution,
        book: AttemptBook,
        ledger: Ledger,
        guards: Guards,
        status: Status,
    ) -> None:
        self.settings = settings
        self.client = client
        self.market = market
        self.execution = execution
        self.book = book
        self.ledger = ledger
        self.guards = guards
        self.status = status
        self.mode = ExecutionMode(settings.execution_mode)
        self.min_profit_base = 0
        self.seen_at = 0.0  # epoch seconds this cycle saw its head (logs)
        self.started = 0.0  # perf_counter() of the same moment (the reaction metric)
        # Run before the first plan of a head is executed (shadow mode resets its fork).
        self.before_sending: Callable[[int], Awaitable[None]] | None = None
        self.last_assets: Mapping[str, AssetInfo] = {}
        self.bid_policy = bid_policy(settings)
        # The chain's L1 data fee (set by the wiring on L2s; None: no L1 fee).
        self.l1_fee: L1FeeReader | None = None
        # Whether this keeper sends (HA: only the active, once it adopted the journal).
        self.gate: WriterGate = ALONE

    async def pricing(self, assets: Mapping[str, AssetInfo], head: int) -> GasPricing:
        """What a liquidation costs now, in wei and in base units (L1 data fee included)."""
        base_fee, tip = await self.execution.sender.fees.base_and_tip(self.client)
        native = native_asset(assets, self.settings.native_price_asset)
        l1_fee = await self.l1_fee_wei(head, base_fee + tip)
        return GasPricing(base_fee + tip, self.market.prices()[native], l1_fee, base_fee)

    async def l1_fee_wei(self, head: int, gas_price_wei: int) -> int:
        """The L1 data fee of one liquidation transaction at ``head`` (read once per head)."""
        if self.l1_fee is None:
            return 0
        return await self.l1_fee.fee_wei(
            calldata_bytes(self.mode), gas_price_wei, to=self.market.spender, block=head
        )

    async def bid_float(self, head: int) -> BidFloat | None:
        """The ether our contract holds for coinbase bids at ``head`` (None: no bids)."""
        contract = self.settings.flash_liquidator
        if not self.settings.coinbase_payment or contract is None:
            return None
        return BidFloat(await self.client.get_balance(contract, head))

    def coinbase(self, plan: AnyPlan, pricing: GasPricing, bid_float: BidFloat | None) -> int:
        """The coinbase bid of ``plan``, capped to what the contract can still pay."""
        if bid_float is None:
            return 0
        wanted = coinbase_wei(plan, self.min_profit_base, pricing, self.bid_policy)
        paid = bid_float.take(wanted)
        if paid < wanted:
            log.info("coinbase_bid_capped", wanted_wei=wanted, paid_wei=paid)
        return paid

    def request(
        self,
        plan: AnyPlan,
        pricing: GasPricing,
        bid_float: BidFloat | None,
        *,
        behind: PendingTx | None = None,
        route: BackrunRoute | None = None,
    ) -> ExecRequest:
        """How to execute ``plan`` under the bidding policy: its limits and coinbase bid."""
        return ExecRequest(
            pricing,
            self.min_profit_base,
            behind=behind,
            bid=bid_limits(plan, self.min_profit_base, pricing, self.bid_policy),
            coinbase_wei=self.coinbase(plan, pricing, bid_float),
            route=route,
        )

    async def plan_at(
        self,
        candidate: Candidate,
        ctx: PlanContext,
        prices: dict[str, int],
        in_flight: set[str],
        *,
        skipped: str,
    ) -> AnyPlan | None:
        """``candidate``'s plan at an update's ``prices`` (None: gated or skipped, logged).

        For the back-run paths: an account with a liquidation of ours open or cooling down is
        not planned; either reason, or the plan's skip, is logged as ``skipped``.
        """
        gated = self.book.gate(candidate.account, ctx.block, in_flight)
        if gated is not None:
            log.info(skipped, account=candidate.account, reason=gated.reason)
            return None
        planned = await self.market.plan(candidate, ctx, prices)
        if isinstance(planned, Skip):
            log.info(skipped, account=candidate.account, reason=planned.reason)
            return None
        return planned

    def context(self, head: int, pricing: GasPricing) -> PlanContext:
        """The planning context of this cycle."""
        executor = self.execution.executor
        return PlanContext(
            block=head,
            mode=self.mode,
            liquidator=executor.liquidator,
            holder=executor.holder,
            min_profit_base=self.min_profit_base,
            gas_cost_base=pricing.cost_base,
            l1_fee_base=pricing.l1_fee_base(),
        )

    async def act(self, tick: Tick, stop: asyncio.Event) -> BlockReport:
        """Confirm the local candidates on chain and liquidate them."""
        head = tick.block
        structlog.contextvars.bind_contextvars(block=head)
        sender = self.execution.sender
        if tick.base_fee is not None:
            sender.fees.pin(head, tick.base_fee, await sender.fees.tip(self.client, head))
        # Candidates from the exact local state (checked against the chain after acting, with
        # a rotating sample of the others).
        candidates = await self.market.confirm(self.market.below_one())
        if not candidates:  # none in the first wave of a deferred advance: all of them now
            candidates = await self.market.more_candidates()
        self.status.waiting = self.market.waiting(candidates)
        report = BlockReport(head, self.market.account_count(), len(candidates), 0)
        log.info(
            "block_checked",
            block=head,
            accounts=report.accounts,
            candidates=len(candidates),
            sync_ms=tick.ms,
            health_mismatches=self.market.mismatches,
            # When this cycle saw the head (epoch seconds): reaction time = a broadcast's
            # transaction_sent timestamp minus this.
            head_seen_at=round(self.seen_at, 6),
        )
        assets = await self.market.assets()
        self.last_assets = assets
        native = native_asset(assets, self.settings.native_price_asset)
        await self.guards.check(head, tick.timestamp, sender, assets, native)
        if not candidates:
            return report
        if self.guards.tripped or not self.gate.sending:  # nothing is sent: every candidate now
            more = await self.market.more_candidates()
            candidates += more
            report.candidates += len(more)
        if self.guards.tripped:
            names = ", ".join(sorted(self.guards.tripped))
            report.skips.extend(
                Skip(c.account, f"breaker tripped: {names}", SkipKind.BREAKER) for c in candidates
            )
            log.warning(
                "sending_paused",
                block=head,
                breakers=self.guards.tripped,
                candidates=len(candidates),
            )
            return report
        if not self.gate.sending:
            return await self.plan_only(candidates, head, assets, report, stop)
        if self.before_sending is not None:
            await self.before_sending(head)
        return await self.execute_all(candidates, head, tick.ms, assets, report, stop)

    async def plan_only(
        self,
        candidates: list[Candidate],
        head: int,
        assets: Mapping[str, AssetInfo],
        report: BlockReport,
        stop: asyncio.Event,
    ) -> BlockReport:
        """A standby plans like the active (its state and plans stay hot) and sends nothing."""
        pricing = await self.pricing(assets, head)
        async for plan, _ in self._plans(candidates, head, pricing, report, stop, ({}, {})):
            report.skips.append(Skip(plan.account, "standby: the active sends", SkipKind.STANDBY))
        structlog.contextvars.unbind_contextvars("account")
        log.info("standby_planned", block=head, plans=report.plans, role=self.gate.role)
        return report

    async def execute_all(
        self,
        candidates: list[Candidate],
        head: int,
        sync_ms: float,
        assets: Mapping[str, AssetInfo],
        report: BlockReport,
        stop: asyncio.Event,
    ) -> BlockReport:
        """Plan every candidate (the largest debt first) and execute the plans together.

        Plans are made one after the other, each with the inventory the earlier ones left; each
        is executed as soon as it is made, while the next is planned: the transactions go out
        back to back (one nonce writer, one plan's approval and liquidation kept adjacent) and
        are tracked in parallel, so that all of them land in the next block, not one per block.
        """
        # Read together: the contract's ether caps this head's coinbase bids.
        pricing, bid_float = await asyncio.gather(self.pricing(assets, head), self.bid_float(head))
        executor = self.execution.executor

        async def execute(plan: AnyPlan, plan_ms: float) -> None:
            structlog.contextvars.bind_contextvars(account=plan.account)
            outcome = await attempt(
                plan,
                self.request(plan, pricing, bid_float),
                execution=self.execution,
                book=self.book,
                ledger=self.ledger,
                assets=assets,
                phases={"detect": sync_ms, "plan": plan_ms},
                cycle_started=self.started,
                dry_run_fork=self.settings.dry_run,
            )
            if outcome is not None:
                report.outcomes.append(outcome)

        tasks: list[asyncio.Task[None]] = []
        used: Used = ({}, {})  # what the plans of this head spend and seize, over its waves
        wave = candidates
        try:
            while wave and not stop.is_set():
                async for plan, plan_ms in self._plans(wave, head, pricing, report, stop, used):
                    if executor.sequential:
                        await execute(plan, plan_ms)
                    else:  # sent while the next candidate is planned; tracked in parallel
                        tasks.append(asyncio.create_task(execute(plan, plan_ms)))
                        # Planning reads nothing: let the plan just made go out (up to its
                        # first request) before the next candidate is planned.
                        await asyncio.sleep(0)
                # The accounts the advance left to act sooner on the first: computed now.
                wave = await self.market.more_candidates()
                report.candidates += len(wave)
        finally:
            # Whatever happens to planning, what was sent is tracked to its end.
            done = await asyncio.gather(*tasks, return_exceptions=True)
            structlog.contextvars.unbind_contextvars("account")
        for failure in done:
            if isinstance(failure, BaseException):
                raise failure  # every plan has run its course; the first failure goes up
        await executor.after_block()
        return report

    async def _plans(
        self,
        candidates: list[Candidate],
        head: int,
        pricing: GasPricing,
        report: BlockReport,
        stop: asyncio.Event,
        used: Used,
    ) -> AsyncIterator[tuple[AnyPlan, float]]:
        """A plan per candidate that has one, each with what earlier plans already use.

        ``used``: spent and seized by asset over the head's waves, updated here.
        """
        in_flight = self.book.in_flight()
        self.book.prune(head)
        spent, seized = used
        base = self.context(head, pricing)
        for candidate in candidates:
            if stop.is_set():
                break
            # Lines about this attempt (the sender's included) name the account.
            structlog.contextvars.bind_contextvars(account=candidate.account)
            gated = self.book.gate(candidate.account, head, in_flight)
            if gated is not None:
                report.skips.append(gated)
                continue
            t_plan = time.perf_counter()
            ctx = PlanContext(**{**base.__dict__, "spent": dict(spent), "seized": dict(seized)})
            result = await self.market.plan(candidate, ctx)
            plan_ms = round((time.perf_counter() - t_plan) * 1000, 2)
            if isinstance(result, Skip):
                report.skips.append(result)
                log.info(
                    "liquidation_skipped",
                    block=head,
                    account=result.account,
                    reason=result.reason,
                    health_factor=format_wad(candidate.health_factor),
                )
                continue
            report.plans += 1
            spent[result.spend.asset] = spent.get(result.spend.asset, 0) + result.spend.amount
            seized[result.receive.asset] = (
                seized.get(result.receive.asset, 0) + result.receive.amount
            )
            yield result, plan_ms
