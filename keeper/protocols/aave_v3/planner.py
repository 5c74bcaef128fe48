"""The liquidation to send now: the Pool version's choice within our limits, net of gas.

Pure: the pair and amount come from the Pool version's own rules
(:func:`keeper.protocols.aave_v3.choice.choose`, the same function the stress test and the
radar use); this module adds what only a live keeper has: its inventory, the reserves' cash
left by earlier plans of the block, the gas cost and the minimum profit, and turns the choice
into the neutral :class:`keeper.core.plan.Plan` with an Aave payload.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from keeper.core.plan import Amount, Plan, PlanPayload, Skip, SkipKind
from keeper.protocols.aave_v3.choice import Choice, Limits, NoChoice, choose

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from keeper.protocols.aave_v3.pair_rules import EModeTerms, Holding, ReserveTerms
    from keeper.protocols.aave_v3.versions import PoolRules

SELF_LIQUIDATION = "self-liquidation: the Pool refuses a liquidator liquidating itself"
SKIP_KINDS = {
    NoChoice.HEALTHY: SkipKind.HEALTHY,
    NoChoice.NO_DEBT: SkipKind.NO_DEBT,
    NoChoice.NO_COLLATERAL: SkipKind.NO_COLLATERAL,
    NoChoice.NO_INVENTORY: SkipKind.NO_INVENTORY,
    NoChoice.GRACE_PERIOD: SkipKind.GRACE_PERIOD,
    NoChoice.NO_LIQUIDITY: SkipKind.NO_LIQUIDITY,
    NoChoice.NOTHING_FITS: SkipKind.DUST,
}


@dataclass(frozen=True)
class AaveLiquidation:
    """One ``liquidationCall``: the pair, the amount passed, and how the amount is bounded.

    ``collateral_limited``: the account's collateral, not the close factor, bounds the amount;
    its balance accrues interest until inclusion, so the Pool then gives at least the expected
    collateral.
    """

    collateral_asset: str
    debt_asset: str
    debt_to_cover: int
    collateral_limited: bool = False

    def to_meta(self) -> dict[str, object]:
        """JSON-able fields (journaled with the transaction)."""
        return {
            "collateral_asset": self.collateral_asset,
            "debt_asset": self.debt_asset,
            "debt_to_cover": self.debt_to_cover,
            "collateral_limited": self.collateral_limited,
        }


AavePlan = Plan[AaveLiquidation]


def aave_payload(plan: Plan[PlanPayload]) -> AaveLiquidation:
    """The Aave payload of a plan (a plan of another protocol is a bug: TypeError)."""
    if not isinstance(plan.payload, AaveLiquidation):
        raise TypeError(f"not an Aave plan: {type(plan.payload).__name__}")
    return plan.payload


def choose_liquidation(
    *,
    account: str,
    health_factor: int,
    total_debt_base: int,
    block: int,
    holdings: Sequence[Holding],
    reserves: Mapping[str, ReserveTerms],
    rules: PoolRules,
    inventory: Mapping[str, int] | None,
    min_profit_base: int,
    gas_cost_base: int = 0,
    emode: EModeTerms | None = None,
    liquidity: Mapping[str, int] | None = None,
    liquidator: str | None = None,
    gas_estimate: int = 0,
    l1_fee_base: int = 0,
) -> AavePlan | Skip:
    """The pair and amount with the highest expected profit that we can pay for.

    Profit is the collateral's value minus the debt repaid, at oracle prices, minus
    ``gas_cost_base`` (``gas_estimate`` units of gas, in the same base units, the L1 data fee
    of an L2 included: ``l1_fee_base`` is that part); below ``min_profit_base`` the account is
    skipped, as ``unprofitable_l1_fee`` when only the L1 fee makes it so. ``inventory``: our
    tokens of each debt asset (None: flash-borrowed, no limit). ``liquidity``: the underlying
    each collateral reserve can pay out (the Pool sends the seized collateral from it; a
    liquidation asking more reverts): the amount is cut to fit. None: not checked.
    ``liquidator``: the address that calls the Pool (an account cannot liquidate itself:
    ``SelfLiquidation``).
    """
    if liquidator is not None and liquidator.lower() == account.lower():
        return Skip(account, SELF_LIQUIDATION, SkipKind.SELF)
    found = choose(
        health_factor=health_factor,
        total_debt_base=total_debt_base,
        holdings=holdings,
        reserves=reserves,
        emode=emode,
        rules=rules,
        limits=Limits(inventory, liquidity, seize_margin=True),
    )
    if not isinstance(found, Choice):
        return Skip(account, found.value, SKIP_KINDS[found])
    net = found.gain_base - gas_cost_base
    if net < min_profit_base:
        l1_only = l1_fee_base > 0 and net + l1_fee_base >= min_profit_base
        of_which = f" (L1 data fee {l1_fee_base} of it)" if l1_fee_base > 0 else ""
        return Skip(
            account,
            f"profit {found.gain_base} minus gas {gas_cost_base}{of_which} below minimum "
            f"{min_profit_base}",
            SkipKind.UNPROFITABLE_L1_FEE if l1_only else SkipKind.UNPROFITABLE,
        )
    return Plan(
        account=account,
        block=block,
        health_factor=health_factor,
        spend=Amount(found.debt_asset, found.debt_to_cover),
        receive=Amount(found.collateral_asset, found.amounts.collateral_to_liquidator),
        expected_spent=found.amounts.debt_to_repay,
        gross_profit_base=found.gain_base,
        expected_profit_base=net,
        gas_estimate=gas_estimate,
        payload=AaveLiquidation(
            found.collateral_asset,
            found.debt_asset,
            found.debt_to_cover,
            found.collateral_limited,
        ),
    )


def plan_from_meta(meta: Mapping[str, object]) -> AavePlan:
    """A plan as ``Plan.to_meta`` journaled it."""
    payload = meta["payload"]
    if not isinstance(payload, dict):
        raise TypeError("journaled plan without its Aave payload")

    def num(source: Mapping[str, object], key: str) -> int:
        value = source[key]
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise TypeError(f"journaled plan: {key} is not an integer")
        return int(value)

    return Plan(
        account=str(meta["account"]),
        block=num(meta, "block"),
        health_factor=num(meta, "health_factor"),
        spend=Amount(str(meta["spend_asset"]), num(meta, "spend_amount")),
        receive=Amount(str(meta["receive_asset"]), num(meta, "receive_amount")),
        expected_spent=num(meta, "expected_spent"),
        gross_profit_base=num(meta, "gross_profit_base"),
        expected_profit_base=num(meta, "expected_profit_base"),
        gas_estimate=num(meta, "gas_estimate"),
        payload=AaveLiquidation(
            str(payload["collateral_asset"]),
            str(payload["debt_asset"]),
            num(payload, "debt_to_cover"),
            bool(payload.get("collateral_limited", False)),
        ),
    )
