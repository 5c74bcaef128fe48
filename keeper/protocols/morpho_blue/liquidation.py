"""``Morpho.liquidate`` as pure integer math: the incentive, seized <-> repaid, bad debt.

Exactly one of ``seized_assets`` and ``repaid_shares`` is given, as on chain. Given the seized
collateral, the repaid shares are rounded up (the liquidator pays at least the value); given
the shares, the seized collateral is rounded down; the assets pulled are the shares rounded up
either way. No close factor: up to all of the debt. When the borrower's collateral reaches
zero, the rest of its debt is written off against the lenders (bad debt).

:func:`liquidate` raises :class:`LiquidationRefusedError` wherever Morpho would revert, so "it
succeeds exactly when predicted" can be tested against the chain.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from keeper.errors import KeeperError
from keeper.protocols.morpho_blue.health import ORACLE_PRICE_SCALE, is_healthy
from keeper.protocols.morpho_blue.math import (
    WAD,
    mul_div_down,
    mul_div_up,
    sub,
    to_assets_down,
    to_assets_up,
    to_shares_up,
    to_uint128,
    w_div_down,
    w_div_up,
    w_mul_down,
    zero_floor_sub,
)

if TYPE_CHECKING:
    from keeper.protocols.morpho_blue.types import MarketTotals, Position

MAX_LIQUIDATION_INCENTIVE_FACTOR = 1_150_000_000_000_000_000  # 1.15 WAD
LIQUIDATION_CURSOR = 300_000_000_000_000_000  # 0.3 WAD


class RefusalKind(StrEnum):
    """Why Morpho would revert a liquidation."""

    INCONSISTENT_INPUT = "inconsistent input"  # not exactly one of seized / repaid is zero
    HEALTHY_POSITION = "healthy position"
    ARITHMETIC = "arithmetic"  # an underflow, overflow or division by zero (a panic)


class LiquidationRefusedError(KeeperError):
    """Morpho would revert this liquidation."""

    def __init__(self, kind: RefusalKind, detail: str = "") -> None:
        super().__init__(f"{kind.value}{': ' + detail if detail else ''}")
        self.kind = kind


def incentive_factor(lltv: int) -> int:
    """``min(1.15, 1 / (1 - 0.3 * (1 - LLTV)))`` in WAD, rounded down as on chain."""
    return min(
        MAX_LIQUIDATION_INCENTIVE_FACTOR,
        w_div_down(WAD, WAD - w_mul_down(LIQUIDATION_CURSOR, WAD - lltv)),
    )


def repaid_shares_for(seized: int, price: int, lif: int, totals: MarketTotals) -> int:
    """The borrow shares burned for ``seized`` collateral (every step rounded up)."""
    quoted = mul_div_up(seized, price, ORACLE_PRICE_SCALE)
    return to_shares_up(
        w_div_up(quoted, lif), totals.total_borrow_assets, totals.total_borrow_shares
    )


def seized_for(repaid_shares: int, price: int, lif: int, totals: MarketTotals) -> int:
    """The collateral seized for ``repaid_shares`` (every step rounded down)."""
    assets = to_assets_down(repaid_shares, totals.total_borrow_assets, totals.total_borrow_shares)
    return mul_div_down(w_mul_down(assets, lif), ORACLE_PRICE_SCALE, price)


@dataclass(frozen=True)
class LiquidationResult:
    """A liquidation's amounts (the ``Liquidate`` event's fields) and the state after it."""

    seized_assets: int
    repaid_shares: int
    repaid_assets: int
    bad_debt_assets: int
    bad_debt_shares: int
    position: Position
    totals: MarketTotals


def liquidate(
    position: Position,
    totals: MarketTotals,
    price: int,
    lltv: int,
    *,
    seized_assets: int = 0,
    repaid_shares: int = 0,
) -> LiquidationResult:
    """What ``liquidate(..., seizedAssets, repaidShares, ...)`` does on totals already accrued."""
    if (seized_assets == 0) == (repaid_shares == 0):
        raise LiquidationRefusedError(RefusalKind.INCONSISTENT_INPUT)
    if is_healthy(position, totals, price, lltv):
        raise LiquidationRefusedError(RefusalKind.HEALTHY_POSITION)
    lif = incentive_factor(lltv)
    try:
        if seized_assets > 0:
            repaid_shares = repaid_shares_for(seized_assets, price, lif, totals)
        else:
            seized_assets = seized_for(repaid_shares, price, lif, totals)
        return _settle(position, totals, seized_assets, repaid_shares)
    except (OverflowError, ZeroDivisionError) as exc:
        raise LiquidationRefusedError(RefusalKind.ARITHMETIC, str(exc)) from None


def _settle(
    position: Position, totals: MarketTotals, seized: int, repaid_shares: int
) -> LiquidationResult:
    tba, tbs = totals.total_borrow_assets, totals.total_borrow_shares
    repaid_assets = to_assets_up(repaid_shares, tba, tbs)
    borrow_shares = sub(position.borrow_shares, to_uint128(repaid_shares))
    tbs = sub(tbs, repaid_shares)
    tba = to_uint128(zero_floor_sub(tba, repaid_assets))
    collateral = sub(position.collateral, to_uint128(seized))
    tsa = totals.total_supply_assets
    bad_shares = bad_assets = 0
    if collateral == 0:
        bad_shares = borrow_shares
        bad_assets = min(tba, to_assets_up(bad_shares, tba, tbs))
        tba -= bad_assets
        tsa = sub(tsa, bad_assets)
        tbs = sub(tbs, bad_shares)
        borrow_shares = 0
    return LiquidationResult(
        seized_assets=seized,
        repaid_shares=repaid_shares,
        repaid_assets=repaid_assets,
        bad_debt_assets=bad_assets,
        bad_debt_shares=bad_shares,
        position=position.with_(borrow_shares=borrow_shares, collateral=collateral),
        totals=totals.with_(
            total_borrow_assets=tba, total_borrow_shares=tbs, total_supply_assets=tsa
        ),
    )


@dataclass(frozen=True)
class Choice:
    """Which input to give ``liquidate`` for the largest liquidation, and what it yields."""

    seized_assets: int  # the argument: non-zero when seizing all the collateral
    repaid_shares: int  # the argument: non-zero when repaying all the debt
    result: LiquidationResult


def largest(position: Position, totals: MarketTotals, price: int, lltv: int) -> Choice:
    """The whole position: repay every share if the collateral covers it, else seize it all.

    Repaying by shares burns the debt exactly (no dust shares left); when the collateral runs
    out first, seizing all of it realises the bad debt. Seizing all the collateral could round
    to one share more than the borrower holds; repaying every share is then the largest
    liquidation Morpho accepts. Raises LiquidationRefusedError when the position is healthy.
    """
    lif = incentive_factor(lltv)
    all_shares = position.borrow_shares
    try:
        covered = seized_for(all_shares, price, lif, totals) <= position.collateral
        if not covered and repaid_shares_for(position.collateral, price, lif, totals) <= all_shares:
            r = liquidate(position, totals, price, lltv, seized_assets=position.collateral)
            return Choice(position.collateral, 0, r)
    except ZeroDivisionError as exc:
        raise LiquidationRefusedError(RefusalKind.ARITHMETIC, str(exc)) from None
    r = liquidate(position, totals, price, lltv, repaid_shares=all_shares)
    return Choice(0, all_shares, r)
