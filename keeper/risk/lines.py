"""An account's health factor as a function of one asset's price, in the Pool's own integers.

``getUserAccountData`` sums one term per reserve the account uses, and each term depends on
that reserve's price only (for the eMode case see below): the collateral's base value
``balance * price / unit`` (rounded down) weighted by its liquidation threshold, and the
debt's base value ``debt * price / unit`` (rounded down before 3.5, up from 3.5). Moving one
asset's price moves the terms of its own reserve only, so the account's health at any price
``p`` of that asset is the fixed sums of its other reserves plus its own reserve's terms at
``p``, finished with the version's formula:

- v3.0 to v3.4: ``wadDiv(percentMul(T, W // T), D)`` with ``T`` the total collateral, ``W`` the
  threshold-weighted collateral and ``D`` the total debt, all in base units;
- 3.5+: ``(W * WAD + D // 2) // D // 10_000``.

:func:`decompose` makes the one pass per account (each reserve's token balance, threshold and
base values, in the order and with the roundings of
:func:`keeper.protocols.aave_v3.health.account_data` and ``account_data_v35``) and checks its
sums against the account's exact :class:`AccountData`; :meth:`PriceLine.health` is then
``account_data(account, view.with_price(asset, p)).health_factor`` for every ``p`` (property-
tested against it in tests/unit/test_price_lines.py, both formulas).

An account in a pre-3.2 eMode category with a price source is not decomposed (one price then
moves several reserves at once, and a zero price falls back to each reserve's own): None, and
the callers use the reference computation for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from keeper.protocols.aave_v3.health import EModeView
from keeper.protocols.aave_v3.math import (
    HALF_PERCENTAGE_FACTOR,
    HALF_RAY,
    MAX_UINT256,
    PERCENTAGE_FACTOR,
    RAY,
    WAD,
)

if TYPE_CHECKING:
    from keeper.protocols.aave_v3.health import MarketView
    from keeper.protocols.aave_v3.reads import AccountData
    from keeper.protocols.aave_v3.state import AccountState

_NO_EMODE = EModeView(0, 0, 0)


@dataclass(slots=True)
class PriceLine:
    """One account's health factor against one asset's price, all else fixed.

    ``collateral`` (token units) counts at ``threshold``; ``debt`` is in token units; the
    ``*_other`` sums are the account's other reserves, in base units (``weighted_other`` is the
    sum of base value times threshold, in bps).
    """

    directed: bool  # 3.5+ roundings and health-factor formula
    unit: int
    collateral: int
    threshold: int
    debt: int
    collateral_other: int
    weighted_other: int
    debt_other: int

    def debt_base(self, price: int) -> int:
        """The account's total debt in base units at ``price``."""
        if self.directed:
            return self.debt_other + -(-(self.debt * price) // self.unit)
        return self.debt_other + price * self.debt // self.unit

    def health(self, price: int) -> int:
        """The account's health factor (wad) with the asset at ``price``."""
        value = self.collateral * price // self.unit
        weighted = self.weighted_other + value * self.threshold
        debt = self.debt_base(price)
        if debt == 0:
            return MAX_UINT256
        if self.directed:
            return (weighted * WAD + debt // 2) // debt // PERCENTAGE_FACTOR
        total = self.collateral_other + value
        average = weighted // total if total else 0
        collateral = (total * average + HALF_PERCENTAGE_FACTOR) // PERCENTAGE_FACTOR
        return (collateral * WAD + debt // 2) // debt


# One used reserve of one account at the view: (collateral in token units, counted as
# collateral, else 0; the liquidation threshold that applies to it, eMode or reserve; the
# collateral's base value; debt in token units; the debt's base value).
ReserveTerm = tuple[int, int, int, int, int]


@dataclass(slots=True)
class Decomposition:
    """An account's account data split by reserve (by index), with its sums."""

    directed: bool
    terms: dict[int, ReserveTerm]
    total_collateral: int
    weighted: int
    total_debt: int

    def line(self, index: int, unit: int) -> PriceLine:
        """The account's health against the price of reserve ``index`` (unit 10**decimals)."""
        term = self.terms.get(index)
        if term is None:
            return PriceLine(
                self.directed, unit, 0, 0, 0, self.total_collateral, self.weighted, self.total_debt
            )
        collateral, threshold, value, debt, debt_value = term
        return PriceLine(
            self.directed,
            unit,
            collateral,
            threshold,
            debt,
            self.total_collateral - value,
            self.weighted - value * threshold,
            self.total_debt - debt_value,
        )


def decompose(  # noqa: C901, PLR0912 - one loop over the bitmap, as account_data's
    account: AccountState, view: MarketView, data: AccountData
) -> Decomposition | None:
    """Split ``account``'s account data by reserve; None when it cannot be (see the module).

    ``data`` is ``account_data(account, view)``: the sums must give its totals and its health
    factor exactly, else None (the caller then falls back to the reference computation).
    """
    directed = view.directed_rounding
    category = account.emode
    emode = view.emodes.get(category, _NO_EMODE) if category != 0 else _NO_EMODE
    if emode.price_source is not None or emode.price != 0:
        return None
    bitmap = emode.collateral_bitmap or 0
    lt_zero_counts = view.zero_lt_collateral_counts
    terms: dict[int, ReserveTerm] = {}
    total = weighted = total_debt = 0
    config = account.user_config
    reserves = view.reserves
    index = -1
    while config and index + 1 < len(reserves):
        pair = config & 0b11
        config >>= 2
        index += 1
        reserve = reserves[index]
        if pair == 0 or reserve is None:
            continue
        collateral = threshold = value = debt = debt_value = 0
        if directed:
            in_emode = category != 0 and (bitmap >> index) & 1 == 1
        else:
            in_emode = category != 0 and emode.has_collateral(
                index, reserve.emode_category, category
            )
        if pair & 0b10 and (reserve.liquidation_threshold != 0 or (directed and lt_zero_counts)):
            scaled = account.scaled_collateral.get(index, 0)
            if directed:
                collateral = scaled * reserve.normalized_income // RAY
            else:
                collateral = (scaled * reserve.normalized_income + HALF_RAY) // RAY
            threshold = emode.liquidation_threshold if in_emode else reserve.liquidation_threshold
            value = collateral * reserve.price // reserve.unit
        if pair & 0b01:
            scaled = account.scaled_variable_debt.get(index, 0)
            if directed:
                debt = -(-(scaled * reserve.normalized_debt) // RAY)
                debt_value = -(-(debt * reserve.price) // reserve.unit)
            else:
                debt = (scaled * reserve.normalized_debt + HALF_RAY) // RAY if scaled else 0
                stable = account.stable_debt.get(index)
                if stable is not None:
                    debt += stable.balance(view.timestamp)
                debt_value = reserve.price * debt // reserve.unit
        terms[index] = (collateral, threshold, value, debt, debt_value)
        total += value
        weighted += value * threshold
        total_debt += debt_value
    if total != data.total_collateral_base or total_debt != data.total_debt_base:
        return None
    found = Decomposition(directed, terms, total, weighted, total_debt)
    if PriceLine(directed, 1, 0, 0, 0, total, weighted, total_debt).health(0) != data.health_factor:
        return None
    return found


__all__ = ["Decomposition", "PriceLine", "ReserveTerm", "decompose"]
