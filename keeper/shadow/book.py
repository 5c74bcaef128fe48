"""Shadow bookkeeping: what the keeper would have done, against what really happened.

The keeper loop hands over each processed head (``observe``, no waiting); a supervised stage
then, in head order, reads the real chain's liquidations since the previous head, judges them
against our opportunities (keeper.shadow.verdict), records the head's new opportunities and
skips, and closes opportunities nobody contested. Each verdict is one ``shadow_verdict`` log
line, a row in the shadow journal, a metric and part of the ``/status`` summary.

An opportunity is an account from the first head where the keeper planned it (and its fork
transaction ran) until a real liquidation of it, or until the keeper has not planned it for
``VERDICT_WINDOW_BLOCKS``: while it stays liquidatable the keeper plans it again on every head,
but only the first plan counts, as a live keeper would have sent then.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog
from prometheus_client import Counter

from keeper.core.money import to_base_down
from keeper.errors import RpcError
from keeper.shadow.reality import RealLiquidation, real_liquidations
from keeper.shadow.summary import ShadowCounts, log_verdict, signed_base
from keeper.shadow.verdict import (
    VERDICT_WINDOW_BLOCKS,
    Bid,
    OurAttempt,
    Reason,
    Rival,
    Verdict,
    judge_race,
    judge_unplanned,
    refusal_reason,
    skip_reason,
)
from keeper.strategy.gas import wei_to_base

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from keeper.chain.client import ChainClient
    from keeper.core.market import LendingMarket
    from keeper.core.outcome import Outcome
    from keeper.core.plan import Skip
    from keeper.execution.journal import Journal
    from keeper.ops.server import Status
    from keeper.shadow.ledger import ShadowLedger

log = structlog.get_logger(__name__)
SENT_STATUSES = ("liquidated", "reverted", "lost", "timeout")
PROCESSED_MEMORY = 256  # heads remembered for "was the block before a liquidation processed"


@dataclass(frozen=True)
class Observation:
    """One processed head, as the keeper loop saw it."""

    head: int
    seen_at: float  # epoch seconds when the loop saw the head
    outcomes: list[Outcome]
    skips: list[Skip]
    prices: dict[str, int]
    decimals: dict[str, int]
    native_price: int


@dataclass
class _Opportunity:
    row_id: int
    account: str
    attempt: OurAttempt
    our_profit_base: int | None
    last_planned: int
    verdict: Verdict | None = None


class ShadowBook:
    """Follows the processed heads; owns the verdicts, their metrics and status."""

    def __init__(
        self,
        client: ChainClient,
        market: LendingMarket,
        journal: Journal,
        ledger: ShadowLedger,
        registry: CollectorRegistry,
        status: Status,
    ) -> None:
        self.client, self.market, self.journal, self.ledger = client, market, journal, ledger
        self.status = status
        self.base_unit = 10**8
        self.queue: asyncio.Queue[Observation] = asyncio.Queue()
        self.counts = ShadowCounts()
        self._open: dict[str, _Opportunity] = {}
        self._skipped: dict[str, tuple[int, Reason]] = {}
        self._processed: list[int] = []
        self._previous: int | None = None
        self._run_id: int | None = None
        self.opportunities = Counter(
            "keeper_shadow_opportunities",
            "Shadow mode: opportunities the keeper would have sent a liquidation for",
            registry=registry,
        )
        self.verdicts = Counter(
            "keeper_shadow_verdicts",
            "Shadow mode: verdicts by verdict and reason",
            ["verdict", "reason"],
            registry=registry,
        )
        self.profit = Counter(
            "keeper_shadow_profit_usd",
            "Shadow mode: profit after gas the would-win opportunities would have made (USD)",
            registry=registry,
        )
        self._publish()

    # -- the stage -----------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Process observations in head order until ``stop``; a node fault retries the head."""
        if self._run_id is None:
            self._run_id = self.ledger.start_run()
        pending: Observation | None = None
        while not stop.is_set():
            if pending is None:
                pending = await self._next(stop)
                if pending is None:
                    return
            try:
                await self.process(pending)
            except RpcError as exc:
                log.warning("shadow_head_deferred", block=pending.head, error=str(exc))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)
                continue
            pending = None

    async def _next(self, stop: asyncio.Event) -> Observation | None:
        getter = asyncio.ensure_future(self.queue.get())
        stopper = asyncio.ensure_future(stop.wait())
        done, _ = await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        for task in (getter, stopper):
            if task not in done:
                task.cancel()
        return getter.result() if getter in done else None

    def finish(self) -> None:
        """The run ends: record it."""
        if self._run_id is not None:
            self.ledger.stop_run(self._run_id)

    # -- one head ------------------------------------------------------------------------------

    async def process(self, obs: Observation) -> None:
        """Judge the real liquidations up to ``obs.head``, then take in its plans and skips."""
        if self._run_id is None:
            self._run_id = self.ledger.start_run()
        if self._previous is not None and obs.head > self._previous:
            for real in await real_liquidations(
                self.client, self.market, self._previous + 1, obs.head
            ):
                self._judge_real(real, obs)
        if self._previous is None or obs.head > self._previous:
            self._previous = obs.head
        self._processed = [*self._processed[-PROCESSED_MEMORY:], obs.head]
        self.ledger.run_block(self._run_id, obs.head)
        for outcome in obs.outcomes:
            self._take_outcome(outcome, obs)
        for skip in obs.skips:
            self._take_skip(skip, obs.head)
        self._close_uncontested(obs.head)
        self._publish()

    def _take_outcome(self, outcome: Outcome, obs: Observation) -> None:
        account = outcome.plan.account
        if outcome.status not in SENT_STATUSES or outcome.tx_hash is None:
            # Planned but refused before sending (simulation, profit after simulated gas).
            reason = refusal_reason(outcome.status)
            if account in self._open:
                self._open[account].last_planned = obs.head
            else:
                self._skipped[account] = (obs.head, reason)
            return
        known = self._open.get(account)
        if known is not None:
            known.last_planned = obs.head  # still in play: only the first plan counts
            return
        found = self.journal.find(outcome.tx_hash)
        if found is None:  # pragma: no cover - every fork transaction is journaled first
            return
        entry, signed_at = found
        simulated = self.journal.result_of(outcome.tx_hash)
        profit = simulated if simulated is not None else outcome.plan.expected_profit_base
        plan = outcome.plan
        ours: dict[str, Any] = {
            "transaction": {
                "from": entry.sender,
                "to": entry.to,
                "nonce": entry.nonce,
                "data": entry.data,
                "gas_limit": entry.gas_limit,
                "max_fee": entry.max_fee,
                "max_tip": entry.tip,
                "raw": "0x" + entry.raw.hex(),
                "fork_tx_hash": entry.tx_hash,
            },
            "approvals": self._approvals_before(entry.sender, entry.nonce, plan.spend.asset),
            "plan_block": plan.block,
            "ms_after_head": round((signed_at - obs.seen_at) * 1000, 1),
            "health_factor": str(plan.health_factor),
            "collateral_asset": plan.receive.asset,
            "debt_asset": plan.spend.asset,
            "debt_to_cover": plan.spend.amount,
            "expected_profit_base": plan.expected_profit_base,
            "fork": {
                "status": outcome.status,
                "gas_used": outcome.gas_used,
                "debt_repaid": outcome.spent,
                "collateral_received": outcome.received,
                "profit_base": simulated,
                "reason": outcome.reason or None,
            },
        }
        if self._run_id is None:  # pragma: no cover - set by process()
            return
        row = self.ledger.open_opportunity(self._run_id, account, plan.block, ours, profit)
        self._open[account] = _Opportunity(
            row,
            account,
            OurAttempt(plan.block, Bid(entry.max_fee, entry.tip), outcome.status == "liquidated"),
            profit,
            obs.head,
        )
        self._skipped.pop(account, None)
        self.counts.opportunities += 1
        self.opportunities.inc()
        log.info(
            "shadow_opportunity",
            account=account,
            block=plan.block,
            ms_after_head=ours["ms_after_head"],
            fork_outcome=outcome.status,
            expected_profit=signed_base(plan.expected_profit_base, self.base_unit),
            simulated_profit=None if simulated is None else signed_base(simulated, self.base_unit),
        )

    def _approvals_before(self, sender: str, nonce: int, token: str) -> list[dict[str, Any]]:
        """The approvals sent right before a liquidation (its bundle), oldest first."""
        out: list[dict[str, Any]] = []
        for earlier in (nonce - 1, nonce - 2):
            entries = [
                e
                for e in self.journal.at_nonce(sender, earlier)
                if e.purpose == "approve" and e.to.lower() == token.lower()
            ]
            if not entries:
                break
            e = entries[-1]
            out.insert(0, {"to": e.to, "nonce": e.nonce, "data": e.data, "gas_limit": e.gas_limit})
        return out

    def _take_skip(self, skip: Skip, head: int) -> None:
        if skip.account in self._open:
            self._open[skip.account].last_planned = head
        else:
            self._skipped[skip.account] = (head, skip_reason(skip.kind))

    def _close_uncontested(self, head: int) -> None:
        for account, opp in list(self._open.items()):
            if opp.verdict is None and head - opp.attempt.plan_block >= VERDICT_WINDOW_BLOCKS:
                if not opp.attempt.fork_liquidated:
                    self._decide(opp, Verdict.WOULD_LOSE, Reason.FORK_REVERTED, None)
                else:
                    self._decide(opp, Verdict.WOULD_WIN, Reason.UNCONTESTED, None)
            if opp.verdict is not None and head - opp.last_planned > VERDICT_WINDOW_BLOCKS:
                del self._open[account]

    # -- verdicts ------------------------------------------------------------------------------

    def _judge_real(self, real: RealLiquidation, obs: Observation) -> None:
        their = self._their_profit(real, obs)
        opp = self._open.get(real.account)
        if opp is not None and opp.attempt.plan_block < real.block:
            verdict, reason = judge_race(
                opp.attempt, Rival(real.block, real.base_fee, real.effective_tip)
            )
            del self._open[real.account]
            self._decide(opp, verdict, reason, real, their)
            return
        seen = self._skipped.pop(real.account, None)
        skip = seen[1] if seen is not None and seen[0] < real.block else None
        verdict, reason = judge_unplanned(
            skip, head_before_processed=(real.block - 1) in self._processed
        )
        if self._run_id is None:  # pragma: no cover - set by process()
            return
        seen_json = None if seen is None else {"skipped_at": seen[0], "skip": seen[1].value}
        self.ledger.add_unplanned(
            self._run_id, verdict, reason, real.as_json(), their, seen=seen_json
        )
        self._count(verdict, reason, None, their)
        log_verdict(
            verdict,
            reason,
            real.account,
            None,
            real,
            None,
            their,
            unit=self.base_unit,
            revised=False,
        )

    def _decide(
        self,
        opp: _Opportunity,
        verdict: Verdict,
        reason: Reason,
        real: RealLiquidation | None,
        their: int | None = None,
    ) -> None:
        revised = opp.verdict is not None
        self.ledger.decide(
            opp.row_id, verdict, reason, None if real is None else real.as_json(), their
        )
        if not revised:
            self._count(verdict, reason, opp.our_profit_base, their)
        elif their is not None:
            self.counts.rival_profit_base += their
        opp.verdict = verdict
        log_verdict(
            verdict,
            reason,
            opp.account,
            opp.attempt,
            real,
            opp.our_profit_base,
            their,
            unit=self.base_unit,
            revised=revised,
        )

    def _count(self, verdict: Verdict, reason: Reason, ours: int | None, their: int | None) -> None:
        self.verdicts.labels(verdict.value, reason.value).inc()
        if verdict is Verdict.WOULD_WIN and ours is not None and ours > 0:
            self.profit.inc(ours / self.base_unit)  # display only, not money math
        self.counts.count(verdict, reason, ours, their)

    def _their_profit(self, real: RealLiquidation, obs: Observation) -> int | None:
        """Collateral seized minus debt repaid at the oracle's prices, minus its gas."""
        prices, decimals = obs.prices, obs.decimals
        coll, debt = real.collateral_asset, real.debt_asset
        if not (prices.get(coll) and prices.get(debt)) or coll not in decimals:
            return None
        if debt not in decimals:
            return None
        return (
            to_base_down(real.collateral_seized, prices[coll], decimals[coll])
            - to_base_down(real.debt_repaid, prices[debt], decimals[debt])
            - wei_to_base(real.gas_cost_wei, obs.native_price)
        )

    def _publish(self) -> None:
        open_count = sum(1 for o in self._open.values() if o.verdict is None)
        self.status.shadow = self.counts.as_status(open_count, self._previous, self.base_unit)
