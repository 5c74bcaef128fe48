"""The reaction path's first wave: act on the first liquidatable account, compute the rest after.

The engine's exposed set equals a scan; a deferred step recomputes the urgent accounts largest
debt first up to the first under 1, and the others are not acted on from local data until they
are recomputed; the block cycle sends the first wave's plans before asking for the rest, and
the rest is planned with what the first wave already spends.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest
from pydantic import SecretStr

from bench import synthetic
from keeper.app import Keeper
from keeper.core.market import Tick
from keeper.core.outcome import Outcome, OutcomeStatus, TxPurpose
from keeper.core.plan import Candidate
from keeper.execution.signer import Signer
from keeper.protocols.aave_v3.config import used_reserve_indices
from keeper.protocols.aave_v3.health import account_data
from keeper.protocols.aave_v3.market import Market
from keeper.protocols.aave_v3.monitor import URGENT_HF, MarketMonitor
from keeper.risk.engine import BANDS, HealthEngine, move_threshold
from tests.support.fake_market import FakeMarket, QuietNode, offline_settings

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from keeper.chain.types import Receipt
    from keeper.core.market import PlanContext
    from keeper.core.plan import AnyPlan, Skip
    from keeper.execution.executor import ExecRequest

KEY = "0x" + "59" * 32
WAD = 10**18


def _engine(n: int) -> tuple[HealthEngine, dict[str, int]]:
    reserves = synthetic.reserves()
    prices = synthetic.prices(reserves)
    engine = HealthEngine()
    engine.set_market(reserves, synthetic.emodes(), prices, 1_700_100_000)
    engine.upsert(synthetic.accounts(n, seed=3))
    engine.remove([a for a, d in engine.data.items() if d.health_factor < WAD])
    return engine, prices


def test_under_exposed_equals_a_scan_of_every_account() -> None:
    """The accounts under a bound that use the moved asset are exactly those a scan finds."""
    engine, prices = _engine(5_000)
    reserve = synthetic.reserves()[0]
    threshold = move_threshold(URGENT_HF, prices, {reserve.asset: prices[reserve.asset] * 9 // 10})
    assert threshold is not None
    scan = {
        a
        for a, d in engine.data.items()
        if d.health_factor < threshold
        and reserve.index in used_reserve_indices(engine.accounts[a].user_config)
    }
    assert scan  # the case is not empty
    assert engine.under_exposed(threshold, [reserve.asset]) == scan


def test_under_equals_a_scan_at_band_edges_and_between() -> None:
    """Accounts under a bound, from whole bands plus the band holding the bound, equal a scan
    of every account, at band edges, between them and above the last band.
    """
    engine, _ = _engine(5_000)
    for threshold in (*BANDS, 1_005 * 10**15, 1_122 * 10**15, 2 * WAD, BANDS[3] + 1):
        scan = {a for a, d in engine.data.items() if d.health_factor < threshold}
        assert engine.under(threshold) == scan, threshold


def test_a_first_wave_stops_at_the_first_account_under_one_and_the_rest_is_not_trusted(
    tmp_path: Path,
) -> None:
    """After a -10% move the first wave recomputes the urgent accounts largest debt first up
    to the first under 1; the others are not trusted until ``rest`` recomputes them, and then
    every account equals its exact account data at the new prices.
    """
    engine, prices = _engine(5_000)
    reserves = synthetic.reserves()
    address = "0x" + "11" * 20
    market = Market(address, address, address, address, address)
    monitor = MarketMonitor(QuietNode(), market, offline_settings(tmp_path, KEY))
    monitor.engine = engine
    asset = reserves[0].asset
    moved = {**prices, asset: prices[asset] * 9 // 10}
    threshold = move_threshold(URGENT_HF, prices, {asset: moved[asset]})
    assert threshold is not None
    urgent = engine.under(URGENT_HF) | engine.under_exposed(threshold, [asset])
    engine.set_market(reserves, synthetic.emodes(), moved, 1_700_100_012)
    first = monitor._first_wave(urgent)
    assert 1 <= first < len(urgent)
    computed = [a for a in urgent if monitor.trusted(a)]
    assert len(computed) == first
    assert any(engine.data[a].health_factor < WAD for a in computed)
    left = monitor.rest()
    assert len(left) == len(urgent) - first
    assert all(monitor.trusted(a) for a in urgent)
    view = engine.view
    assert view is not None
    assert all(engine.data[a] == account_data(engine.accounts[a], view) for a in urgent)


class _Executor:
    """An executor double: records when each plan started, returns a liquidation."""

    purpose = TxPurpose.LIQUIDATION
    sequential = False
    liquidator = Signer(SecretStr(KEY)).address
    holder = liquidator

    def __init__(self, log: list[str]) -> None:
        self.log = log

    async def execute(self, plan: AnyPlan, request: ExecRequest) -> Outcome:
        del request
        self.log.append(f"sent {plan.account}")
        await asyncio.sleep(0)
        return Outcome(OutcomeStatus.LIQUIDATED, plan, tx_hash="0x" + "00" * 32, block=101)

    async def outcome_of(self, plan: AnyPlan, receipt: Receipt) -> Outcome:
        raise NotImplementedError

    async def after_block(self) -> None:
        return None


class _Market(FakeMarket):
    """The fake market, logging when the rest is asked for and what each plan saw spent."""

    def __init__(self, log: list[str], **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.log = log
        self.spent_seen: dict[str, dict[str, int]] = {}

    async def more_candidates(self) -> list[Candidate]:
        self.log.append("rest")
        return await super().more_candidates()

    async def plan(
        self, candidate: Candidate, ctx: PlanContext, prices: Mapping[str, int] | None = None
    ) -> AnyPlan | Skip:
        self.spent_seen[candidate.account] = dict(ctx.spent)
        return await super().plan(candidate, ctx, prices)


@pytest.mark.asyncio
async def test_the_cycle_sends_the_first_wave_before_asking_for_the_rest(tmp_path: Path) -> None:
    """The first wave's plan has started executing before the cycle asks the market for the
    rest; the rest's plans are made with what the first wave spends, and all are reported.
    """
    first, second = "0x" + "a1" * 20, "0x" + "b2" * 20
    log: list[str] = []
    market = _Market(
        log,
        candidates=[Candidate(first, 9 * 10**17, 10**11, 10**11)],
        waves=[[Candidate(second, 9 * 10**17, 10**10, 10**10)]],
    )
    keeper = Keeper(
        offline_settings(tmp_path, KEY, breaker_max_head_lag_s=0), QuietNode(), 1, market
    )
    keeper.execution.executor = _Executor(log)
    try:
        report = await keeper.cycle.act(Tick(100, 1_700_000_000), asyncio.Event())
    finally:
        keeper.journal.close()
    assert log.index(f"sent {first}") < log.index("rest") < log.index(f"sent {second}")
    assert market.spent_seen[first] == {}
    assert sum(market.spent_seen[second].values()) > 0  # the first plan's spend counted
    assert report.candidates == 2 and report.plans == 2 and len(report.outcomes) == 2
