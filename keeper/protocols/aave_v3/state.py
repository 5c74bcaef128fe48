"""The market's state as the Pool stores it: reserves, eMode categories, scaled balances.

Plain data; the chain readers fill it, the pure health code reads it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from keeper.protocols.aave_v3.math import (
    compounded_interest,
    compounded_interest_v34,
    linear_interest,
    ray_mul,
)

if TYPE_CHECKING:
    from keeper.protocols.aave_v3.config import ReserveConfig


@dataclass(slots=True)
class ReserveState:
    """``Pool.getReserveData`` of one reserve (indices and rates in ray)."""

    asset: str
    index: int  # the reserve's id: its position in the Pool's reserves list and user bitmaps
    config: ReserveConfig
    liquidity_index: int
    liquidity_rate: int
    variable_borrow_index: int
    variable_borrow_rate: int
    last_update: int
    a_token: str
    stable_debt_token: str
    variable_debt_token: str
    new_compounding: bool = False  # Pool 3.4+: MathUtils' new compounding formula
    grace_until: int = 0  # Pool 3.1+: no liquidation on this reserve until after this time
    deficit: int = 0  # Pool 3.3+: bad debt burned in this reserve, token units
    # The underlying its aToken holds (what a liquidation can seize), read with the state at
    # the same block: every operation that moves it re-reads the reserve. None: not read.
    cash: int | None = None

    def in_grace_period(self, now: int) -> bool:
        """True while liquidations touching this reserve revert (``until >= now``)."""
        return self.grace_until >= now and self.grace_until != 0

    def normalized_income(self, now: int) -> int:
        """ReserveLogic.getNormalizedIncome at timestamp ``now``."""
        if self.last_update == now:
            return self.liquidity_index
        return ray_mul(
            linear_interest(self.liquidity_rate, self.last_update, now), self.liquidity_index
        )

    def normalized_debt(self, now: int) -> int:
        """ReserveLogic.getNormalizedDebt at timestamp ``now``."""
        if self.last_update == now:
            return self.variable_borrow_index
        compound = compounded_interest_v34 if self.new_compounding else compounded_interest
        return ray_mul(
            compound(self.variable_borrow_rate, self.last_update, now), self.variable_borrow_index
        )


@dataclass(frozen=True, slots=True)
class EModeCategory:
    """``Pool.getEModeCategoryData``: risk parameters an account in the category gets."""

    id: int
    ltv: int
    liquidation_threshold: int
    liquidation_bonus: int
    price_source: str | None  # an oracle asset whose price replaces the members' prices
    # Pool 3.2+: the category's members by reserve index (None before 3.2: membership is the
    # reserve configuration's category field).
    collateral_bitmap: int | None = None
    borrowable_bitmap: int | None = None
    ltvzero_bitmap: int = 0  # Pool 3.6+: members whose LTV is zero in this category

    def has_collateral(self, reserve_index: int, reserve_category: int) -> bool:
        """Whether the category's terms apply to this reserve as collateral."""
        if self.collateral_bitmap is None:
            return reserve_category == self.id
        return (self.collateral_bitmap >> reserve_index) & 1 == 1


@dataclass(frozen=True, slots=True)
class StableDebt:
    """An account's stable debt in one reserve: principal, its rate and last update."""

    principal: int
    rate: int
    last_update: int

    def balance(self, now: int) -> int:
        """StableDebtToken.balanceOf at timestamp ``now``."""
        if self.principal == 0:
            return 0
        return ray_mul(self.principal, compounded_interest(self.rate, self.last_update, now))


@dataclass(slots=True)
class AccountState:
    """What the Pool holds for one account, keyed by reserve index."""

    address: str
    user_config: int = 0
    emode: int = 0
    scaled_collateral: dict[int, int] = field(default_factory=dict)
    scaled_variable_debt: dict[int, int] = field(default_factory=dict)
    stable_debt: dict[int, StableDebt] = field(default_factory=dict)
    block: int = -1  # the block these balances were read at

    @property
    def has_position(self) -> bool:
        """True when the account borrows or uses collateral anywhere."""
        return self.user_config != 0
