"""Decoding the Pool's configuration bitmaps (ReserveConfiguration, UserConfiguration)."""

from __future__ import annotations

from dataclasses import dataclass


def _bits(data: int, start: int, width: int) -> int:
    return (data >> start) & ((1 << width) - 1)


@dataclass(frozen=True, slots=True)
class ReserveConfig:
    """ReserveConfigurationMap of Pool v3.0.x, field by field (bps where a percentage)."""

    ltv: int
    liquidation_threshold: int
    liquidation_bonus: int
    decimals: int
    active: bool
    frozen: bool
    borrowing_enabled: bool
    stable_borrowing_enabled: bool
    paused: bool
    borrowable_in_isolation: bool
    siloed_borrowing: bool
    flashloan_enabled: bool
    reserve_factor: int
    borrow_cap: int  # whole tokens, 0 = none
    supply_cap: int  # whole tokens, 0 = none
    liquidation_protocol_fee: int
    emode_category: int
    unbacked_mint_cap: int
    debt_ceiling: int  # with 2 decimals, 0 = not isolated

    @classmethod
    def decode(cls, data: int) -> ReserveConfig:
        """Split the 256-bit word into its fields (bit positions from ReserveConfiguration)."""
        return cls(
            ltv=_bits(data, 0, 16),
            liquidation_threshold=_bits(data, 16, 16),
            liquidation_bonus=_bits(data, 32, 16),
            decimals=_bits(data, 48, 8),
            active=bool(_bits(data, 56, 1)),
            frozen=bool(_bits(data, 57, 1)),
            borrowing_enabled=bool(_bits(data, 58, 1)),
            stable_borrowing_enabled=bool(_bits(data, 59, 1)),
            paused=bool(_bits(data, 60, 1)),
            borrowable_in_isolation=bool(_bits(data, 61, 1)),
            siloed_borrowing=bool(_bits(data, 62, 1)),
            flashloan_enabled=bool(_bits(data, 63, 1)),
            reserve_factor=_bits(data, 64, 16),
            borrow_cap=_bits(data, 80, 36),
            supply_cap=_bits(data, 116, 36),
            liquidation_protocol_fee=_bits(data, 152, 16),
            emode_category=_bits(data, 168, 8),
            unbacked_mint_cap=_bits(data, 176, 36),
            debt_ceiling=_bits(data, 212, 40),
        )


def is_borrowing(user_config: int, reserve_index: int) -> bool:
    """UserConfiguration.isBorrowing: bit 2i."""
    return (user_config >> (reserve_index << 1)) & 1 != 0


def is_using_as_collateral(user_config: int, reserve_index: int) -> bool:
    """UserConfiguration.isUsingAsCollateral: bit 2i + 1."""
    return (user_config >> ((reserve_index << 1) + 1)) & 1 != 0


def used_reserve_indices(user_config: int) -> list[int]:
    """Indices of reserves the account borrows or uses as collateral, ascending."""
    out = []
    index = 0
    while user_config:
        if user_config & 0b11:
            out.append(index)
        user_config >>= 2
        index += 1
    return out
