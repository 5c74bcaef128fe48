"""``getUserAccountData`` of Pool 3.5 and later (aave-v3-origin GenericLogic), to the wei.

What differs from v3.0 to v3.4 (see ../shared/AAVE_V3_NOTES.md and the 3.5/3.6 sources):
- each collateral balance rounds down (``scaled.rayMulFloor(income)``), then ``* price / unit``
  rounds down; each debt balance rounds up (``scaled.rayMulCeil(debtIndex)``), then
  ``mulDivCeil(debt, price, unit)``;
- the health factor is ``sum(collateral_i * LT_i).wadDiv(totalDebt) / 1e4`` (the old one took
  ``percentMul`` of the total collateral by the averaged threshold);
- available borrows use ``percentMulFloor``;
- 3.6: enabled collateral counts in the total even with LT 0 (it was skipped before); the LTV
  of an eMode member is the category's unless the category's ``ltvzeroBitmap`` zeroes it.
eMode terms apply to the reserves in the category's collateral bitmap; there is no stable debt
and no eMode price source any more.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from keeper.protocols.aave_v3.math import MAX_UINT256, PERCENTAGE_FACTOR, RAY, WAD
from keeper.protocols.aave_v3.reads import AccountData

if TYPE_CHECKING:
    from keeper.protocols.aave_v3.health import EModeView, MarketView
    from keeper.protocols.aave_v3.state import AccountState


def _overflow() -> OverflowError:
    return OverflowError("uint256 overflow")


def account_data_v35(account: AccountState, view: MarketView) -> AccountData:  # noqa: C901, PLR0912, PLR0915 - one loop over the bitmap, as the Pool's
    """``getUserAccountData(account)`` at ``view.timestamp`` on a 3.5+ Pool."""
    config = account.user_config
    if config == 0:
        return AccountData(account.address, 0, 0, 0, 0, 0, MAX_UINT256)
    category = account.emode
    emode: EModeView | None = view.emodes.get(category) if category != 0 else None
    bitmap = (emode.collateral_bitmap or 0) if emode is not None else 0
    ltvzero = emode.ltvzero_bitmap if emode is not None else 0
    lt_zero_counts = view.zero_lt_collateral_counts
    total_collateral = total_debt = avg_ltv = weighted_lt = 0
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
        if pair & 0b10:
            in_emode = emode is not None and (bitmap >> index) & 1 == 1
            lt = (
                emode.liquidation_threshold if in_emode and emode else reserve.liquidation_threshold
            )
            # Before 3.6 a reserve whose own LT is 0 is skipped as collateral altogether.
            if lt_zero_counts or reserve.liquidation_threshold != 0:
                product = account.scaled_collateral.get(index, 0) * reserve.normalized_income
                if product > MAX_UINT256:
                    raise _overflow()
                balance = product // RAY * reserve.price // reserve.unit
                total_collateral += balance
                if lt_zero_counts:  # 3.6: ValidationLogic.getUserReserveLtv
                    if in_emode and emode is not None:
                        ltv = 0 if (ltvzero >> index) & 1 else emode.ltv
                    else:
                        ltv = reserve.ltv
                elif reserve.ltv == 0:  # 3.5: a reserve LTV of 0 stays 0, eMode or not
                    ltv = 0
                else:
                    ltv = emode.ltv if in_emode and emode is not None else reserve.ltv
                avg_ltv += balance * ltv
                weighted_lt += balance * lt
        if pair & 0b01:
            scaled = account.scaled_variable_debt.get(index, 0)
            product = scaled * reserve.normalized_debt
            if product > MAX_UINT256:
                raise _overflow()
            debt = -(-product // RAY)
            total_debt += -(-(debt * reserve.price) // reserve.unit)
    if total_debt == 0:
        health = MAX_UINT256
    else:
        if weighted_lt * WAD + total_debt // 2 > MAX_UINT256:
            raise _overflow()
        health = (weighted_lt * WAD + total_debt // 2) // total_debt // PERCENTAGE_FACTOR
    if total_collateral != 0:
        avg_ltv //= total_collateral
        avg_lt = weighted_lt // total_collateral
    else:
        avg_ltv = avg_lt = 0
    available = total_collateral * avg_ltv // PERCENTAGE_FACTOR
    available = 0 if available <= total_debt else available - total_debt
    return AccountData(
        account.address, total_collateral, total_debt, available, avg_lt, avg_ltv, health
    )
