"""The Aave market's hand-offs to the neutral types: a plan's payload, candidates, ticks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from keeper.core.market import Tick
from keeper.core.plan import Candidate
from keeper.protocols.aave_v3.planner import AaveLiquidation

if TYPE_CHECKING:
    from collections.abc import Mapping

    from keeper.core.plan import Plan, PlanPayload
    from keeper.protocols.aave_v3.planner import AavePlan
    from keeper.protocols.aave_v3.reads import AccountData
    from keeper.protocols.aave_v3.step import Step


def aave_plan(plan: Plan[PlanPayload]) -> AavePlan:
    """The plan with its Aave payload (a plan of another protocol is a bug)."""
    if not isinstance(plan.payload, AaveLiquidation):
        raise TypeError(f"not an Aave plan: {type(plan.payload).__name__}")
    return plan  # type: ignore[return-value]  # narrowed by the payload check above


def candidate_of(data: AccountData) -> Candidate:
    """A liquidation candidate from its account data."""
    return Candidate(
        data.account, data.health_factor, data.total_debt_base, data.total_collateral_base
    )


def tick_of(step: Step) -> Tick:
    """The neutral tick of one monitor step."""
    return Tick(
        step.block,
        step.timestamp,
        step.ms,
        step.base_fee,
        step.reorg_ancestor,
        step.deep_reorg,
        frozenset(step.removed),
    )


def less(amounts: Mapping[str, int], used: Mapping[str, int]) -> dict[str, int]:
    """``amounts`` minus what is already ``used`` (never below zero)."""
    out = dict(amounts)
    for asset, amount in used.items():
        out[asset] = max(0, out.get(asset, 0) - amount)
    return out
