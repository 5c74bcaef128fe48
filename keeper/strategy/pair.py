"""The liquidation to send now: the protocol's choice within our limits, net of gas.

Pure: the pair and amount come from the Pool version's own rules
(:func:`keeper.protocols.aave_v3.choice.choose`, the same function the stress test and the
radar use); this module adds what only a live keeper has: its inventory, the reserves' cash
left by earlier plans of the block, the gas cost and the minimum profit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from keeper.protocols.aave_v3.choice import Choice, Limits, choose
from keeper.strategy.plan import LiquidationPlan, Skip

SELF_LIQUIDATION = "self-liquidation: the Pool refuses a liquidator liquidating itself"

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from keeper.protocols.aave_v3.pair_rules import EModeTerms, Holding, ReserveTerms
    from keeper.protocols.aave_v3.versions import PoolRules


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
) -> LiquidationPlan | Skip:
    """The pair and amount with the highest expected profit that we can pay for.

    Profit is the collateral's value minus the debt repaid, at oracle prices, minus
    ``gas_cost_base`` (the estimated gas, in the same base units); below ``min_profit_base``
    the account is skipped. ``inventory``: our tokens of each debt asset (None: flash-borrowed,
    no limit). ``liquidity``: the underlying each collateral reserve can pay out (the Pool
    sends the seized collateral from it; a liquidation asking more reverts): the amount is cut
    to fit. None: not checked. ``liquidator``: the address that calls the Pool (an account
    cannot liquidate itself: ``SelfLiquidation``).
    """
    if liquidator is not None and liquidator.lower() == account.lower():
        return Skip(account, SELF_LIQUIDATION)
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
        return Skip(account, found.value)
    net = found.gain_base - gas_cost_base
    if net < min_profit_base:
        return Skip(
            account,
            f"profit {found.gain_base} minus gas {gas_cost_base} below minimum {min_profit_base}",
        )
    return LiquidationPlan(
        account=account,
        collateral_asset=found.collateral_asset,
        debt_asset=found.debt_asset,
        debt_to_cover=found.debt_to_cover,
        expected_collateral=found.amounts.collateral_to_liquidator,
        expected_profit_base=net,
        health_factor=health_factor,
        block=block,
        collateral_limited=found.collateral_limited,
        gross_profit_base=found.gain_base,
        expected_debt_repaid=found.amounts.debt_to_repay,
    )
