"""Account data exactly as ``Pool.getUserAccountData`` computes it (GenericLogic).

This module holds the shared view and the v3.0 to v3.4 computation (3.2 membership of eMode
by bitmap included); 3.5+ (directed rounding, the new health-factor formula, 3.6's LT-0
collateral) is in :mod:`keeper.protocols.aave_v3.health_v35`.

Pure: a :class:`MarketView` fixes everything that is shared by all accounts at one timestamp
(prices, normalized income and debt per reserve, eMode terms); :func:`account_data` then
needs only the account's own scaled balances. Each step, and each rounding, follows the
on-chain code in the same order, so the result is equal to the wei.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from keeper.protocols.aave_v3.health_v35 import account_data_v35
from keeper.protocols.aave_v3.math import HALF_RAY, MAX_UINT256, RAY, percent_mul, wad_div
from keeper.protocols.aave_v3.reads import AccountData
from keeper.protocols.aave_v3.versions import PoolRules

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
    collateral_bitmap: int | None = None  # 3.2+: members by reserve index (else by config)
    ltvzero_bitmap: int = 0  # 3.6+: members whose LTV is zero in the category

    def has_collateral(self, index: int, reserve_category: int, category: int) -> bool:
        """Whether the category's LT, LTV and bonus apply to reserve ``index``."""
        if self.collateral_bitmap is None:
            return reserve_category == category
        return (self.collateral_bitmap >> index) & 1 == 1


@dataclass(frozen=True, slots=True)
class MarketView:
    """Everything but the account's balances, at ``timestamp``; reserves by index."""

    timestamp: int
    reserves: tuple[ReserveView | None, ...]
    emodes: Mapping[int, EModeView]
    rules: PoolRules = field(default_factory=PoolRules)
    # The two rules the per-account loop asks, read once (the hot path: every account).
    directed_rounding: bool = field(init=False)
    zero_lt_collateral_counts: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "directed_rounding", self.rules.directed_rounding)
        object.__setattr__(self, "zero_lt_collateral_counts", self.rules.zero_lt_collateral_counts)

    def with_price(self, asset: str, price: int) -> MarketView:
        """The same view with one asset's oracle price changed (an eMode price source too)."""
        reserves = tuple(
            r if r is None or r.asset != asset else _replace_price(r, price) for r in self.reserves
        )
        emodes = {
            cid: e if e.price_source != asset else replace(e, price=price)
            for cid, e in self.emodes.items()
        }
        return MarketView(self.timestamp, reserves, emodes, self.rules)

    def reserve_index(self, asset: str) -> int | None:
        """The index of the reserve of ``asset``, if listed."""
        for i, r in enumerate(self.reserves):
            if r is not None and r.asset == asset:
                return i
        return None


def _replace_price(view: ReserveView, price: int) -> ReserveView:
    return replace(view, price=price)


def build_view(
    reserves: Sequence[ReserveState],
    emodes: Mapping[int, EModeCategory],
    prices: Mapping[str, int],
    timestamp: int,
    rules: PoolRules | None = None,
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
            c.collateral_bitmap,
            c.ltvzero_bitmap,
        )
        for cid, c in emodes.items()
    }
    return MarketView(timestamp, tuple(slots), views, rules or PoolRules())


_NO_EMODE = EModeView(0, 0, 0)


def account_data(account: AccountState, view: MarketView) -> AccountData:  # noqa: C901, PLR0912, PLR0915 - one loop, no call per reserve (the hot path)
    """``getUserAccountData(account)`` at ``view.timestamp``, to the wei.

    The hot path of the engine (every account, every block): ``rayMul`` is inlined with its
    overflow check, and the two configuration bits of each reserve are read from the pair
    already shifted out (``pair & 2``: collateral, ``pair & 1``: borrowing). Pools of 3.5+
    round each balance in a direction and compute the health factor otherwise: their own
    function (:func:`keeper.protocols.aave_v3.health_v35.account_data_v35`).
    """
    if view.directed_rounding:
        return account_data_v35(account, view)
    config = account.user_config
    if config == 0:
        return AccountData(account.address, 0, 0, 0, 0, 0, MAX_UINT256)
    category = account.emode
    emode = view.emodes.get(category, _NO_EMODE) if category != 0 else _NO_EMODE
    emode_price = emode.price
    total_collateral = total_debt = avg_ltv = avg_lt = 0
    reserves = view.reserves
    count = len(reserves)
    index = -1
    while config and index + 1 < count:
        pair = config & 0b11
        config >>= 2
        index += 1
        if pair == 0:
            continue
        reserve = reserves[index]
        if reserve is None:
            continue
        same_category = category != 0 and emode.has_collateral(
            index, reserve.emode_category, category
        )
        price = emode_price if emode_price != 0 and same_category else reserve.price
        if pair & 0b10 and reserve.liquidation_threshold != 0:
            product = account.scaled_collateral.get(index, 0) * reserve.normalized_income + HALF_RAY
            if not 0 <= product <= MAX_UINT256:
                raise OverflowError("uint256 overflow")
            balance = product // RAY * price // reserve.unit
            total_collateral += balance
            in_emode = same_category
            if reserve.ltv != 0:
                avg_ltv += balance * (emode.ltv if in_emode else reserve.ltv)
            avg_lt += balance * (
                emode.liquidation_threshold if in_emode else reserve.liquidation_threshold
            )
        if pair & 0b01:
            debt = account.scaled_variable_debt.get(index, 0)
            if debt != 0:
                product = debt * reserve.normalized_debt + HALF_RAY
                if not 0 <= product <= MAX_UINT256:
                    raise OverflowError("uint256 overflow")
                debt = product // RAY
            if account.stable_debt:
                stable = account.stable_debt.get(index)
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
