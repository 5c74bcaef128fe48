"""Liquidating an account to the end, as keepers would, on a copy of its state.

Each call follows Pool v3.0.x's LiquidationLogic with the pure rules of
keeper.protocols.aave_v3.liquidation (close factor, bonus, protocol fee, the collateral-limited
path); the pair is the one a profit-seeking liquidator takes: the largest bonus value at oracle
prices. The balances are then burned as the Pool burns them (scaled by the reserve's index,
variable debt before stable), the bitmap bits are cleared when a balance reaches zero, and the
next call is evaluated at the new health factor, until the account is healthy or nothing is
left to seize.

On a v3.3 Pool the close factor of v3.3 applies; its leftover-dust revert is approximated by
repaying the whole reserve debt when a partial repayment would leave dust.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from keeper.protocols.aave_v3.config import is_borrowing, is_using_as_collateral
from keeper.protocols.aave_v3.health import account_data
from keeper.protocols.aave_v3.liquidation import (
    LiquidationAmounts,
    is_liquidatable,
    leaves_dust_v33,
    liquidation_amounts,
    max_debt_to_cover,
    max_debt_to_cover_v33,
    protocol_fee_transferred,
    value_in_base,
)
from keeper.protocols.aave_v3.math import ray_div, ray_mul
from keeper.protocols.aave_v3.state import AccountState, StableDebt

if TYPE_CHECKING:
    from collections.abc import Mapping

    from keeper.protocols.aave_v3.health import MarketView, ReserveView
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

    @property
    def bad_debt_base(self) -> int:
        """Debt left without collateral to back it (0 when the collateral covers the debt)."""
        return max(0, self.after.total_debt_base - self.after.total_collateral_base)


def _debt_of(account: AccountState, index: int, view: MarketView) -> tuple[int, int]:
    """(variable, stable) debt of one reserve, in token units with interest."""
    reserve = view.reserves[index]
    if reserve is None or not is_borrowing(account.user_config, index):
        return 0, 0
    scaled = account.scaled_variable_debt.get(index, 0)
    variable = ray_mul(scaled, reserve.normalized_debt) if scaled else 0
    stable = account.stable_debt.get(index)
    return variable, stable.balance(view.timestamp) if stable is not None else 0


def _collateral_of(account: AccountState, index: int, view: MarketView) -> int:
    reserve = view.reserves[index]
    if reserve is None or not is_using_as_collateral(account.user_config, index):
        return 0
    return ray_mul(account.scaled_collateral.get(index, 0), reserve.normalized_income)


@dataclass(frozen=True)
class _Terms:
    bonus: int
    collateral_price: int
    debt_price: int


def _terms(
    account: AccountState,
    coll: ReserveView,
    debt: ReserveView,
    bonus: int,
    emodes: Mapping[int, EModeCategory],
    prices: Mapping[str, int],
) -> _Terms:
    """Bonus and prices as LiquidationLogic v3.0 takes them (eMode overrides applied)."""
    c_price, d_price = prices[coll.asset], prices[debt.asset]
    category = emodes.get(account.emode) if account.emode else None
    if category is not None:
        source = category.price_source
        if coll.emode_category == account.emode:
            bonus = category.liquidation_bonus
            if source is not None:
                c_price = prices.get(source, c_price)
        if source is not None:
            d_price = prices.get(source, d_price)
    return _Terms(bonus, c_price, d_price)


def _best_call(
    account: AccountState,
    health_factor: int,
    total_debt_base: int,
    view: MarketView,
    reserves: Mapping[str, ReserveState],
    emodes: Mapping[int, EModeCategory],
    pool_version: str,
) -> tuple[int, int, LiquidationAmounts] | None:
    """The (collateral index, debt index, amounts) with the largest bonus value, if any."""
    prices = {r.asset: r.price for r in view.reserves if r is not None}
    best: tuple[int, tuple[int, int, LiquidationAmounts]] | None = None
    indices = range(len(view.reserves))
    for d in indices:
        d_view = view.reserves[d]
        variable, stable = _debt_of(account, d, view)
        if d_view is None or variable + stable == 0 or not _usable(reserves[d_view.asset]):
            continue
        for c in indices:
            c_view = view.reserves[c]
            collateral = _collateral_of(account, c, view)
            if c_view is None or collateral == 0 or c_view.liquidation_threshold == 0:
                continue
            c_res = reserves[c_view.asset]
            if not _usable(c_res):
                continue
            terms = _terms(account, c_view, d_view, c_res.config.liquidation_bonus, emodes, prices)
            if terms.collateral_price <= 0 or terms.debt_price <= 0:
                continue
            amounts = _amounts(
                variable + stable,
                collateral,
                health_factor,
                total_debt_base,
                terms,
                c_res,
                reserves[d_view.asset],
                pool_version,
            )
            if amounts.debt_to_repay == 0 or amounts.collateral_to_liquidator == 0:
                continue
            gain = value_in_base(
                amounts.collateral_to_liquidator, c_view.price, c_res.config.decimals
            ) - value_in_base(
                amounts.debt_to_repay, d_view.price, reserves[d_view.asset].config.decimals
            )
            if best is None or gain > best[0]:
                best = (gain, (c, d, amounts))
    return None if best is None else best[1]


def _usable(reserve: ReserveState) -> bool:
    return reserve.config.active and not reserve.config.paused


def _amounts(
    user_debt: int,
    collateral: int,
    health_factor: int,
    total_debt_base: int,
    terms: _Terms,
    c_res: ReserveState,
    d_res: ReserveState,
    pool_version: str,
) -> LiquidationAmounts:
    c_dec, d_dec = c_res.config.decimals, d_res.config.decimals
    if pool_version == "3.3":
        max_debt = max_debt_to_cover_v33(
            user_reserve_debt=user_debt,
            health_factor=health_factor,
            reserve_debt_base=value_in_base(user_debt, terms.debt_price, d_dec),
            reserve_collateral_base=value_in_base(collateral, terms.collateral_price, c_dec),
            total_debt_base=total_debt_base,
            debt_price=terms.debt_price,
            debt_decimals=d_dec,
        )
    else:
        max_debt = max_debt_to_cover(user_debt, health_factor)

    def at(cap: int) -> LiquidationAmounts:
        return liquidation_amounts(
            debt_to_cover=cap,
            user_debt=user_debt,
            health_factor=health_factor,
            user_collateral=collateral,
            collateral_price=terms.collateral_price,
            debt_price=terms.debt_price,
            collateral_decimals=c_dec,
            debt_decimals=d_dec,
            liquidation_bonus=terms.bonus,
            liquidation_protocol_fee=c_res.config.liquidation_protocol_fee,
            max_debt=cap,
        )

    amounts = at(max_debt)
    if (
        pool_version == "3.3"
        and max_debt < user_debt
        and leaves_dust_v33(
            amounts=amounts,
            user_reserve_debt=user_debt,
            user_collateral=collateral,
            debt_price=terms.debt_price,
            debt_decimals=d_dec,
            collateral_price=terms.collateral_price,
            collateral_decimals=c_dec,
        )
    ):
        amounts = at(user_debt)
    return amounts


def _apply(
    account: AccountState,
    c: int,
    d: int,
    amounts: LiquidationAmounts,
    view: MarketView,
) -> AccountState:
    """The account's balances after the call, burned as the Pool burns them."""
    c_view, d_view = view.reserves[c], view.reserves[d]
    if c_view is None or d_view is None:
        raise ValueError("liquidation on an unlisted reserve")
    config = account.user_config
    variable_debt = dict(account.scaled_variable_debt)
    stable_debt = dict(account.stable_debt)
    collateral = dict(account.scaled_collateral)
    variable, stable = _debt_of(account, d, view)
    repaid = amounts.debt_to_repay
    if variable >= repaid:
        variable_debt[d] = variable_debt.get(d, 0) - ray_div(repaid, d_view.normalized_debt)
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
    )
    scaled -= ray_div(amounts.collateral_to_liquidator, income)
    if fee:
        scaled -= ray_div(fee, income)
    collateral[c] = max(0, scaled)
    if amounts.collateral_to_liquidator + amounts.protocol_fee == user_collateral:
        config &= ~(1 << (2 * c + 1))
    return replace(
        account,
        user_config=config,
        scaled_collateral=collateral,
        scaled_variable_debt=variable_debt,
        stable_debt=stable_debt,
    )


def liquidate_fully(
    account: AccountState,
    view: MarketView,
    reserves: Mapping[str, ReserveState],
    emodes: Mapping[int, EModeCategory],
    pool_version: str = "3.0",
) -> AccountLiquidation | None:
    """Liquidate ``account`` call after call while it stays below 1; None if it is healthy."""
    before = account_data(account, view)
    if not is_liquidatable(before.health_factor):
        return None
    data, state = before, account
    calls: list[Liquidation] = []
    while is_liquidatable(data.health_factor) and len(calls) < MAX_CALLS_PER_ACCOUNT:
        best = _best_call(
            state, data.health_factor, data.total_debt_base, view, reserves, emodes, pool_version
        )
        if best is None:
            break
        c, d, amounts = best
        c_view, d_view = view.reserves[c], view.reserves[d]
        if c_view is None or d_view is None:
            break
        c_dec = reserves[c_view.asset].config.decimals
        d_dec = reserves[d_view.asset].config.decimals
        calls.append(
            Liquidation(
                account=account.address,
                collateral_asset=c_view.asset,
                debt_asset=d_view.asset,
                debt_repaid=amounts.debt_to_repay,
                collateral_to_liquidator=amounts.collateral_to_liquidator,
                protocol_fee=amounts.protocol_fee,
                debt_repaid_base=value_in_base(amounts.debt_to_repay, d_view.price, d_dec),
                collateral_base=value_in_base(
                    amounts.collateral_to_liquidator, c_view.price, c_dec
                ),
                protocol_fee_base=value_in_base(amounts.protocol_fee, c_view.price, c_dec),
            )
        )
        state = _apply(state, c, d, amounts, view)
        data = account_data(state, view)
    return AccountLiquidation(before, tuple(calls), data, state)
