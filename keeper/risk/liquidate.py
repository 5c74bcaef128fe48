"""Liquidating an account to the end, as keepers would, on a copy of its state.

Each call is the protocol's own choice (keeper.protocols.aave_v3.choice.choose, the function
the live strategy uses, with no inventory limit): the pair with the largest bonus value at
oracle prices, the amount by the Pool version's rules (close factor, bonus, protocol fee, the
collateral-limited path, 3.3's leftover rule). The balances are then burned as the Pool burns
them (scaled by the reserve's index, with the version's rounding; 3.3+ burns the rest of the
debt as deficit when the collateral is gone), the bitmap bits are cleared when a balance
reaches zero, and the next call is evaluated at the new health factor, until the account is
healthy or nothing is left to seize.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from keeper.protocols.aave_v3.choice import Choice, choose
from keeper.protocols.aave_v3.config import is_borrowing, is_using_as_collateral
from keeper.protocols.aave_v3.health import account_data
from keeper.protocols.aave_v3.liquidation import (
    is_liquidatable,
    protocol_fee_transferred,
    value_in_base,
)
from keeper.protocols.aave_v3.math import (
    ray_div,
    ray_div_ceil,
    ray_div_floor,
    ray_mul,
    ray_mul_ceil,
    ray_mul_floor,
)
from keeper.protocols.aave_v3.positions import emode_terms, holdings, reserve_terms
from keeper.protocols.aave_v3.state import AccountState, StableDebt

if TYPE_CHECKING:
    from collections.abc import Mapping

    from keeper.protocols.aave_v3.health import MarketView
    from keeper.protocols.aave_v3.pair_rules import ReserveTerms
    from keeper.protocols.aave_v3.reads import AccountData
    from keeper.protocols.aave_v3.state import EModeCategory, ReserveState

MAX_CALLS_PER_ACCOUNT = 32  # a bound; real positions settle in a few calls


@dataclass(frozen=True)
class Liquidation:
    """One ``liquidationCall``: token units, and base-currency values at the prices used."""

    account: str
    collateral_asset: str
    debt_asset: str
    debt_repaid: int
    collateral_to_liquidator: int
    protocol_fee: int
    debt_repaid_base: int
    collateral_base: int  # the liquidator's share
    protocol_fee_base: int

    @property
    def bonus_base(self) -> int:
        """What the liquidator gains at oracle prices: collateral received minus debt repaid."""
        return self.collateral_base - self.debt_repaid_base


@dataclass(frozen=True)
class AccountLiquidation:
    """An account liquidated to the end: before, the calls, after."""

    before: AccountData
    calls: tuple[Liquidation, ...]
    after: AccountData
    state: AccountState  # the balances left
    deficit_base: int = 0  # 3.3+: debt the Pool burned as deficit once the collateral was gone

    @property
    def bad_debt_base(self) -> int:
        """Debt left without collateral to back it, or burned as deficit (3.3+)."""
        return max(0, self.after.total_debt_base - self.after.total_collateral_base) + (
            self.deficit_base
        )


def _debt_of(account: AccountState, index: int, view: MarketView) -> tuple[int, int]:
    """(variable, stable) debt of one reserve, in token units with interest."""
    reserve = view.reserves[index]
    if reserve is None or not is_borrowing(account.user_config, index):
        return 0, 0
    scaled = account.scaled_variable_debt.get(index, 0)
    to_units = ray_mul_ceil if view.rules.directed_rounding else ray_mul
    variable = to_units(scaled, reserve.normalized_debt) if scaled else 0
    stable = account.stable_debt.get(index)
    return variable, stable.balance(view.timestamp) if stable is not None else 0


def _collateral_of(account: AccountState, index: int, view: MarketView) -> int:
    reserve = view.reserves[index]
    if reserve is None or not is_using_as_collateral(account.user_config, index):
        return 0
    to_units = ray_mul_floor if view.rules.directed_rounding else ray_mul
    return to_units(account.scaled_collateral.get(index, 0), reserve.normalized_income)


def market_terms(view: MarketView, reserves: Mapping[str, ReserveState]) -> dict[str, ReserveTerms]:
    """Every reserve's liquidation terms at ``view``'s prices (the same for every account)."""
    prices = {r.asset: r.price for r in view.reserves if r is not None}
    return reserve_terms(reserves.values(), prices, view.timestamp)


def _best_call(
    account: AccountState,
    data: AccountData,
    view: MarketView,
    reserves: Mapping[str, ReserveState],
    emodes: Mapping[int, EModeCategory],
    terms: Mapping[str, ReserveTerms],
) -> Choice | None:
    """The protocol's choice for this account now, with no inventory limit."""
    found = choose(
        health_factor=data.health_factor,
        total_debt_base=data.total_debt_base,
        holdings=holdings(account, view),
        reserves=terms,
        emode=emode_terms(account, emodes, reserves.values()),
        rules=view.rules,
    )
    return found if isinstance(found, Choice) else None


def _apply(
    account: AccountState,
    choice: Choice,
    data: AccountData,
    view: MarketView,
) -> tuple[AccountState, int]:
    """The account's balances after the call, burned as the Pool burns them.

    Also returns the deficit the call creates, in base units: on 3.3+ pools, a call that takes
    all of the account's collateral (by value) burns the rest of every debt.
    """
    c = view.reserve_index(choice.collateral_asset)
    d = view.reserve_index(choice.debt_asset)
    c_view = None if c is None else view.reserves[c]
    d_view = None if d is None else view.reserves[d]
    if c is None or d is None or c_view is None or d_view is None:
        raise ValueError("liquidation on an unlisted reserve")
    directed = view.rules.directed_rounding
    amounts = choice.amounts
    config = account.user_config
    variable_debt = dict(account.scaled_variable_debt)
    stable_debt = dict(account.stable_debt)
    collateral = dict(account.scaled_collateral)
    variable, stable = _debt_of(account, d, view)
    repaid = amounts.debt_to_repay
    burn = ray_div_floor if directed else ray_div
    if variable >= repaid:
        variable_debt[d] = max(0, variable_debt.get(d, 0) - burn(repaid, d_view.normalized_debt))
    else:
        if variable:
            variable_debt[d] = 0
        rest = repaid - variable
        stable_debt[d] = StableDebt(
            stable - rest, stable_debt[d].rate if d in stable_debt else 0, view.timestamp
        )
    if repaid == variable + stable:
        config &= ~(1 << (2 * d))
        variable_debt.pop(d, None)
        stable_debt.pop(d, None)
    user_collateral = _collateral_of(account, c, view)
    scaled = collateral.get(c, 0)
    income = c_view.normalized_income
    fee = protocol_fee_transferred(
        protocol_fee=amounts.protocol_fee,
        collateral_to_liquidator=amounts.collateral_to_liquidator,
        user_scaled_collateral=scaled,
        liquidity_index=income,
        directed_rounding=directed,
    )
    scale = ray_div_ceil if directed else ray_div
    scaled -= scale(amounts.collateral_to_liquidator, income)
    if fee:
        scaled -= scale(fee, income)
    collateral[c] = max(0, scaled)
    taken = amounts.collateral_to_liquidator + amounts.protocol_fee
    if taken == user_collateral:
        config &= ~(1 << (2 * c + 1))
    deficit = 0
    taken_base = taken * c_view.price // c_view.unit
    if view.rules.close_factor_on_total_debt and data.total_collateral_base == taken_base:
        after = replace(account, user_config=config, scaled_variable_debt=variable_debt)
        for i in range(len(view.reserves)):
            left, _ = _debt_of(after, i, view)
            reserve = view.reserves[i]
            if left and reserve is not None:
                deficit += left * reserve.price // reserve.unit
                variable_debt.pop(i, None)
                config &= ~(1 << (2 * i))
    state = replace(
        account,
        user_config=config,
        scaled_collateral=collateral,
        scaled_variable_debt=variable_debt,
        stable_debt=stable_debt,
    )
    return state, deficit


def liquidate_fully(
    account: AccountState,
    view: MarketView,
    reserves: Mapping[str, ReserveState],
    emodes: Mapping[int, EModeCategory],
    terms: Mapping[str, ReserveTerms] | None = None,
    before: AccountData | None = None,
) -> AccountLiquidation | None:
    """Liquidate ``account`` call after call while it stays below 1; None if it is healthy.

    ``terms`` (:func:`market_terms` of the view) and ``before`` (the account's data at the
    view) may be given when already known: the same values, computed once.
    """
    if before is None:
        before = account_data(account, view)
    if not is_liquidatable(before.health_factor):
        return None
    if terms is None:
        terms = market_terms(view, reserves)
    data, state = before, account
    calls: list[Liquidation] = []
    deficit = 0
    while is_liquidatable(data.health_factor) and len(calls) < MAX_CALLS_PER_ACCOUNT:
        best = _best_call(state, data, view, reserves, emodes, terms)
        if best is None:
            break
        amounts = best.amounts
        c_res, d_res = reserves[best.collateral_asset], reserves[best.debt_asset]
        c_price, d_price = _price(view, best.collateral_asset), _price(view, best.debt_asset)
        c_dec, d_dec = c_res.config.decimals, d_res.config.decimals
        calls.append(
            Liquidation(
                account=account.address,
                collateral_asset=best.collateral_asset,
                debt_asset=best.debt_asset,
                debt_repaid=amounts.debt_to_repay,
                collateral_to_liquidator=amounts.collateral_to_liquidator,
                protocol_fee=amounts.protocol_fee,
                debt_repaid_base=value_in_base(amounts.debt_to_repay, d_price, d_dec),
                collateral_base=value_in_base(amounts.collateral_to_liquidator, c_price, c_dec),
                protocol_fee_base=value_in_base(amounts.protocol_fee, c_price, c_dec),
            )
        )
        state, burned = _apply(state, best, data, view)
        deficit += burned
        data = account_data(state, view)
    return AccountLiquidation(before, tuple(calls), data, state, deficit)


def _price(view: MarketView, asset: str) -> int:
    index = view.reserve_index(asset)
    reserve = None if index is None else view.reserves[index]
    return 0 if reserve is None else reserve.price
