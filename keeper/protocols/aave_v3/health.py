"""Account data exactly as ``Pool.getUserAccountData`` computes it (GenericLogic, v3.0.x).

Pure: a :class:`MarketView` fixes everything that is shared by all accounts at one timestamp
(prices, normalized income and debt per reserve, eMode terms); :func:`account_data` then
needs only the account's own scaled balances. Each step, and each rounding, follows the
on-chain code in the same order, so the result is equal to the wei.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from keeper.protocols.aave_v3.config import is_borrowing, is_using_as_collateral
from keeper.protocols.aave_v3.math import MAX_UINT256, percent_mul, ray_mul, wad_div
from keeper.protocols.aave_v3.reads import AccountData

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from keeper.protocols.aave_v3.state import AccountState, EModeCategory, ReserveState


@dataclass(frozen=True, slots=True)
class ReserveView:
    """One reserve at one timestamp: what an account's valuation needs."""

    asset: str
    price: int
    unit: int  # 10 ** decimals
    ltv: int
    liquidation_threshold: int
    emode_category: int
    normalized_income: int
    normalized_debt: int


@dataclass(frozen=True, slots=True)
class EModeView:
    """An eMode category's LTV, threshold and (if it has a price source) its price."""

    ltv: int
    liquidation_threshold: int
    price: int  # 0 when the category has no price source
    price_source: str | None = None


@dataclass(frozen=True, slots=True)
class MarketView:
    """Everything but the account's balances, at ``timestamp``; reserves by index."""

    timestamp: int
    reserves: tuple[ReserveView | None, ...]
    emodes: Mapping[int, EModeView]

    def with_price(self, asset: str, price: int) -> MarketView:
        """The same view with one asset's oracle price changed (an eMode price source too)."""
        reserves = tuple(
            r if r is None or r.asset != asset else _replace_price(r, price) for r in self.reserves
        )
        emodes = {
            cid: e
            if e.price_source != asset
            else EModeView(e.ltv, e.liquidation_threshold, price, e.price_source)
            for cid, e in self.emodes.items()
        }
        return MarketView(self.timestamp, reserves, emodes)

    def reserve_index(self, asset: str) -> int | None:
        """The index of the reserve of ``asset``, if listed."""
        for i, r in enumerate(self.reserves):
            if r is not None and r.asset == asset:
                return i
        return None


def _replace_price(view: ReserveView, price: int) -> ReserveView:
    return ReserveView(
        view.asset,
        price,
        view.unit,
        view.ltv,
        view.liquidation_threshold,
        view.emode_category,
        view.normalized_income,
        view.normalized_debt,
    )


def build_view(
    reserves: Sequence[ReserveState],
    emodes: Mapping[int, EModeCategory],
    prices: Mapping[str, int],
    timestamp: int,
) -> MarketView:
    """Accrue every reserve to ``timestamp`` once, for all accounts."""
    size = max((r.index for r in reserves), default=-1) + 1
    slots: list[ReserveView | None] = [None] * size
    for r in reserves:
        slots[r.index] = ReserveView(
            asset=r.asset,
            price=prices[r.asset],
            unit=10**r.config.decimals,
            ltv=r.config.ltv,
            liquidation_threshold=r.config.liquidation_threshold,
            emode_category=r.config.emode_category,
            normalized_income=r.normalized_income(timestamp),
            normalized_debt=r.normalized_debt(timestamp),
        )
    views = {
        cid: EModeView(
            c.ltv,
            c.liquidation_threshold,
            prices.get(c.price_source, 0) if c.price_source is not None else 0,
            c.price_source,
        )
        for cid, c in emodes.items()
    }
    return MarketView(timestamp, tuple(slots), views)


_NO_EMODE = EModeView(0, 0, 0)


def account_data(account: AccountState, view: MarketView) -> AccountData:
    """``getUserAccountData(account)`` at ``view.timestamp``, to the wei."""
    config = account.user_config
    if config == 0:
        return AccountData(account.address, 0, 0, 0, 0, 0, MAX_UINT256)
    category = account.emode
    emode = view.emodes.get(category, _NO_EMODE) if category != 0 else _NO_EMODE
    total_collateral = total_debt = avg_ltv = avg_lt = 0
    index = 0
    count = len(view.reserves)
    while config and index < count:
        pair = config & 0b11
        config >>= 2
        i = index
        index += 1
        reserve = view.reserves[i]
        if pair == 0 or reserve is None:
            continue
        price = (
            emode.price
            if emode.price != 0 and category == reserve.emode_category
            else reserve.price
        )
        if reserve.liquidation_threshold != 0 and is_using_as_collateral(account.user_config, i):
            scaled = account.scaled_collateral.get(i, 0)
            balance = ray_mul(scaled, reserve.normalized_income) * price // reserve.unit
            total_collateral += balance
            in_emode = category != 0 and reserve.emode_category == category
            if reserve.ltv != 0:
                avg_ltv += balance * (emode.ltv if in_emode else reserve.ltv)
            avg_lt += balance * (
                emode.liquidation_threshold if in_emode else reserve.liquidation_threshold
            )
        if is_borrowing(account.user_config, i):
            debt = account.scaled_variable_debt.get(i, 0)
            if debt != 0:
                debt = ray_mul(debt, reserve.normalized_debt)
            stable = account.stable_debt.get(i)
            if stable is not None:
                debt += stable.balance(view.timestamp)
            total_debt += price * debt // reserve.unit
    if total_collateral != 0:
        avg_ltv //= total_collateral
        avg_lt //= total_collateral
    else:
        avg_ltv = avg_lt = 0
    health = (
        MAX_UINT256
        if total_debt == 0
        else wad_div(percent_mul(total_collateral, avg_lt), total_debt)
    )
    available = percent_mul(total_collateral, avg_ltv)
    available = 0 if available < total_debt else available - total_debt
    return AccountData(
        account.address, total_collateral, total_debt, available, avg_lt, avg_ltv, health
    )
