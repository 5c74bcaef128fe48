"""What the strategy hands to execution: a plan, or a reason not to act."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LiquidationPlan:
    """One ``liquidationCall`` to send, with what it is expected to yield (token units)."""

    account: str
    collateral_asset: str
    debt_asset: str
    debt_to_cover: int
    expected_collateral: int
    expected_profit_base: int  # oracle base units (USD x 1e8), after the estimated gas
    health_factor: int
    block: int
    # True when the account's collateral, not the close factor, bounds the amount: its balance
    # accrues interest until inclusion, so the Pool then gives at least expected_collateral.
    collateral_limited: bool = False
    gross_profit_base: int = 0  # collateral received minus debt repaid, before gas
    # What the Pool will pull: ``debt_to_cover`` or less when the collateral runs out first
    # (3.3+ pools are passed more than that, so that they take all of the collateral).
    expected_debt_repaid: int = 0


@dataclass(frozen=True)
class Skip:
    """Why an account below HF 1 gets no plan."""

    account: str
    reason: str
