"""The block cycle's policy, with the market seam's test double (no Anvil).

Gating (in flight, cooldown), the market's typed skips, the breakers, concurrent execution of
a block's plans, and the work after the block.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest
from pydantic import SecretStr

from keeper.app import Keeper
from keeper.core.market import Tick
from keeper.core.outcome import Outcome, OutcomeStatus, TxPurpose
from keeper.core.plan import Candidate, Skip, SkipKind
from keeper.execution.signer import Signer
from tests.support.fake_market import FakeMarket, QuietNode, offline_settings

if TYPE_CHECKING:
    from pathlib import Path

    from keeper.chain.types import Receipt
    from keeper.core.plan import AnyPlan
    from keeper.execution.executor import ExecRequest

KEY = "0x" + "59" * 32
A, B, C = ("0x" + c * 20 for c in ("a1", "b2", "c3"))


class RecordingExecutor:
    """An executor double: records plans; each waits until all expected plans have started."""

    purpose = TxPurpose.LIQUIDATION
    sequential = False
    liquidator = Signer(SecretStr(KEY)).address
    holder = liquidator

    def __init__(self, together: int = 1) -> None:
        self.plans: list[str] = []
        self.after = 0
        self._together = together
        self._all_started = asyncio.Event()

    async def execute(self, plan: AnyPlan, request: ExecRequest) -> Outcome:
        del request
        self.plans.append(plan.account)
        if len(self.plans) >= self._together:
            self._all_started.set()
        await asyncio.wait_for(self._all_started.wait(), 5)  # only if executed concurrently
        return Outcome(OutcomeStatus.LIQUIDATED, plan, tx_hash="0x" + "00" * 32, block=101)

    async def outcome_of(self, plan: AnyPlan, receipt: Receipt) -> Outcome:
        raise NotImplementedError

    async def after_block(self) -> None:
        self.after += 1


def _keeper(tmp_path: Path, market: FakeMarket, executor: RecordingExecutor) -> Keeper:
    settings = offline_settings(tmp_path, KEY, breaker_max_head_lag_s=0)
    keeper = Keeper(settings, QuietNode(), 1, market)
    keeper.execution.executor = executor
    return keeper


def _candidates(*accounts: str) -> list[Candidate]:
    return [Candidate(a, 9 * 10**17, 10**11, 10**11) for a in accounts]


@pytest.mark.asyncio
async def test_gated_and_skipped_accounts_get_typed_skips_the_rest_run_together(tmp_path):
    """One candidate has a liquidation of ours in flight, one the market cannot plan (no
    inventory), two can be planned: those two are executed concurrently (each waits for the
    other to start), the skips carry their kinds, and the after-block work runs once.
    """
    market = FakeMarket(
        candidates=_candidates(A, B, C, "0x" + "d4" * 20),
        skips={B: Skip(B, "no inventory of any debt asset", SkipKind.NO_INVENTORY)},
    )
    executor = RecordingExecutor(together=2)
    keeper = _keeper(tmp_path, market, executor)
    keeper.journal.record_signed(
        tx_hash="0x" + "01" * 32,
        sender=executor.liquidator,
        nonce=0,
        raw=b"\x01",
        to=market.spender,
        data="0x",
        gas_limit=1,
        max_fee=1,
        tip=1,
        purpose=TxPurpose.LIQUIDATION,
        meta={"account": A},
    )
    report = await keeper.cycle.act(Tick(100, 1_700_000_000), asyncio.Event())
    assert sorted(executor.plans) == sorted([C, "0x" + "d4" * 20])
    assert {s.account: s.kind for s in report.skips} == {
        A: SkipKind.PENDING,
        B: SkipKind.NO_INVENTORY,
    }
    assert report.plans == 2 and len(report.outcomes) == 2
    assert executor.after == 1
    keeper.journal.close()


@pytest.mark.asyncio
async def test_a_tripped_breaker_skips_every_candidate_and_sends_nothing(tmp_path):
    """With a breaker tripped (here: the failure count), every candidate is skipped as a
    breaker skip and no plan reaches the executor.
    """
    market = FakeMarket(candidates=_candidates(A, B))
    executor = RecordingExecutor()
    keeper = _keeper(tmp_path, market, executor)
    keeper.ledger.consecutive_failures = 99
    keeper.ledger._last_failure_block = 100
    report = await keeper.cycle.act(Tick(100, 1_700_000_000), asyncio.Event())
    assert executor.plans == []
    assert [s.kind for s in report.skips] == [SkipKind.BREAKER, SkipKind.BREAKER]
    assert "failures" in keeper.guards.tripped
    keeper.journal.close()


@pytest.mark.asyncio
async def test_an_account_whose_attempt_failed_cools_down_then_is_tried_again(tmp_path):
    """A failed simulation cools the account down for ``failed_plan_cooldown_blocks``; at the
    first block after it, the account is planned again.
    """
    market = FakeMarket(candidates=_candidates(A))
    executor = RecordingExecutor()
    keeper = _keeper(tmp_path, market, executor)
    plan = await market.plan(market.candidates[0], keeper.cycle.context(100, _free()))
    assert not isinstance(plan, Skip)
    keeper.book.settle(A, 100, Outcome(OutcomeStatus.SIMULATION_FAILED, plan))
    cooldown = keeper.settings.failed_plan_cooldown_blocks
    for head in (101, 100 + cooldown):
        report = await keeper.cycle.act(Tick(head, 1_700_000_000), asyncio.Event())
        assert [s.kind for s in report.skips] == [SkipKind.COOLDOWN]
    await keeper.cycle.act(Tick(101 + cooldown, 1_700_000_000), asyncio.Event())
    assert executor.plans == [A]
    keeper.journal.close()


def _free():
    from keeper.strategy.gas import GasPricing

    return GasPricing(0, 0)
