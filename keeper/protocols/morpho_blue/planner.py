"""Planning one Morpho liquidation: which argument, how much, and whether it pays.

The transaction lands a block or more after the state it is planned on, and interest keeps
growing each share's debt. Repaying every share seizes a little more collateral the later it
lands, so it is chosen only when the collateral still covers it ``LATE_S`` seconds later;
seizing all the collateral burns fewer shares the later it lands, so it is checked at the
block itself. In the narrow band where neither holds, the shares repaid are cut to the most
the collateral covers late (a bisection: seizure grows with the shares). The approval
(``spend``) covers the repayment up to ``SPEND_S`` later.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from keeper.core.money import to_base_down
from keeper.core.plan import Amount, Plan, Skip, SkipKind
from keeper.protocols.morpho_blue.interest import accrue
from keeper.protocols.morpho_blue.liquidation import (
    LiquidationRefusedError,
    incentive_factor,
    liquidate,
    repaid_shares_for,
    seized_for,
)
from keeper.protocols.morpho_blue.math import to_assets_up
from keeper.protocols.morpho_blue.types import MarketParams

if TYPE_CHECKING:
    from collections.abc import Mapping

    from keeper.core.plan import PlanPayload
    from keeper.protocols.morpho_blue.tracker import MarketView
    from keeper.protocols.morpho_blue.types import Position

NEXT_BLOCK_S = 12
LATE_S = 120
SPEND_S = 3_600


@dataclass(frozen=True)
class MorphoLiquidation:
    """The payload: the market, and exactly one of seized assets / repaid shares."""

    market_id: str
    params: MarketParams
    seized_assets: int
    repaid_shares: int
    bad_debt: bool  # the collateral runs out: the rest of the debt is written off

    def to_meta(self) -> dict[str, object]:
        """JSON-able fields for the journal."""
        p = self.params
        return {
            "market_id": self.market_id,
            "params": [p.loan_token, p.collateral_token, p.oracle, p.irm, p.lltv],
            "seized_assets": self.seized_assets,
            "repaid_shares": self.repaid_shares,
            "bad_debt": self.bad_debt,
        }


MorphoPlan = Plan[MorphoLiquidation]


def morpho_plan(plan: Plan[PlanPayload]) -> MorphoPlan:
    """``plan`` as a Morpho plan (TypeError for another protocol's)."""
    if not isinstance(plan.payload, MorphoLiquidation):
        raise TypeError(f"not a Morpho plan: {type(plan.payload).__name__}")
    return plan  # type: ignore[return-value]  # narrowed by the payload check above


def arguments(position: Position, view: MarketView) -> tuple[int, int]:
    """(seizedAssets, repaidShares) of the largest liquidation that still holds when late."""
    lif = incentive_factor(view.params.lltv)
    late = accrue(view.totals, view.rate, view.totals.last_update + LATE_S).totals
    shares, coll = position.borrow_shares, position.collateral
    if seized_for(shares, view.price, lif, late) <= coll:
        return 0, shares
    if repaid_shares_for(coll, view.price, lif, view.totals) <= shares:
        return coll, 0
    # The most shares whose seizure the collateral still covers late (seized grows with them).
    low, high = 0, shares
    while low < high:
        mid = (low + high + 1) // 2
        if seized_for(mid, view.price, lif, late) <= coll:
            low = mid
        else:
            high = mid - 1
    return 0, low


@dataclass(frozen=True)
class PlanInputs:
    """What the planner needs besides the position: prices, decimals, gas, the inventory."""

    usd: Mapping[str, int]
    decimals: Mapping[str, int]
    gas_estimate: int
    gas_cost_base: int
    min_profit_base: int
    inventory: int | None  # loan tokens the holder can spend (None: flash, no inventory)
    block: int
    health_factor: int


def plan_liquidation(
    account: str, position: Position, view: MarketView, inputs: PlanInputs
) -> MorphoPlan | Skip:
    """The plan for ``account``'s position in ``view``'s market, or why there is none."""
    loan, coll = view.params.loan_token, view.params.collateral_token
    if coll not in inputs.usd or loan not in inputs.usd:
        return Skip(account, "no USD price for the market's tokens", SkipKind.OTHER)
    seized, shares = arguments(position, view)
    nxt = accrue(view.totals, view.rate, view.totals.last_update + NEXT_BLOCK_S).totals
    try:
        result = liquidate(
            position, nxt, view.price, view.params.lltv, seized_assets=seized, repaid_shares=shares
        )
    except LiquidationRefusedError as exc:
        return Skip(account, f"Morpho would refuse: {exc}", SkipKind.HEALTHY)
    later = accrue(view.totals, view.rate, view.totals.last_update + SPEND_S).totals
    spend = max(
        result.repaid_assets,
        to_assets_up(result.repaid_shares, later.total_borrow_assets, later.total_borrow_shares),
    )
    if inputs.inventory is not None and inputs.inventory < spend:
        return Skip(
            account,
            f"holds {inputs.inventory} of the loan token, needs {spend}",
            SkipKind.NO_INVENTORY,
        )
    got = to_base_down(result.seized_assets, inputs.usd[coll], inputs.decimals[coll])
    paid = -to_base_down(-result.repaid_assets, inputs.usd[loan], inputs.decimals[loan])
    gross = got - paid
    net = gross - inputs.gas_cost_base
    if net < inputs.min_profit_base:
        return Skip(
            account, f"profit {net} below minimum {inputs.min_profit_base}", SkipKind.UNPROFITABLE
        )
    payload = MorphoLiquidation(view.id, view.params, seized, shares, result.bad_debt_shares > 0)
    return Plan(
        account=account,
        block=inputs.block,
        health_factor=inputs.health_factor,
        spend=Amount(loan, spend),
        receive=Amount(coll, result.seized_assets),
        expected_spent=result.repaid_assets,
        gross_profit_base=gross,
        expected_profit_base=net,
        gas_estimate=inputs.gas_estimate,
        payload=payload,
    )


def plan_from_meta(meta: Mapping[str, object]) -> MorphoPlan:
    """A journaled plan (``Plan.to_meta``) rebuilt."""
    p = meta["payload"]
    if not isinstance(p, dict):
        raise TypeError("journaled plan has no payload")
    loan, coll, oracle, irm, lltv = p["params"]
    payload = MorphoLiquidation(
        str(p["market_id"]),
        MarketParams(str(loan), str(coll), str(oracle), str(irm), int(lltv)),
        int(p["seized_assets"]),
        int(p["repaid_shares"]),
        bool(p["bad_debt"]),
    )
    return Plan(
        account=str(meta["account"]),
        block=_int(meta["block"]),
        health_factor=_int(meta["health_factor"]),
        spend=Amount(str(meta["spend_asset"]), _int(meta["spend_amount"])),
        receive=Amount(str(meta["receive_asset"]), _int(meta["receive_amount"])),
        expected_spent=_int(meta["expected_spent"]),
        gross_profit_base=_int(meta["gross_profit_base"]),
        expected_profit_base=_int(meta["expected_profit_base"]),
        gas_estimate=_int(meta["gas_estimate"]),
        payload=payload,
    )


def _int(value: object) -> int:
    if not isinstance(value, int | str):
        raise TypeError(f"not an integer: {value!r}")
    return int(value)
