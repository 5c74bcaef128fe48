"""Morpho Blue's structs as frozen dataclasses: a market's parameters, totals, a position."""

from __future__ import annotations

from dataclasses import dataclass, replace

from eth_abi.abi import encode
from eth_utils.crypto import keccak

from keeper.protocols.morpho_blue.math import to_assets_up


@dataclass(frozen=True)
class MarketParams:
    """``MarketParams``: what a market is; its id is the hash of these five fields."""

    loan_token: str
    collateral_token: str
    oracle: str
    irm: str
    lltv: int  # WAD

    @property
    def id(self) -> str:
        """``keccak256(abi.encode(marketParams))`` as 0x-hex (MarketParamsLib.id)."""
        return (
            "0x"
            + keccak(encode(["(address,address,address,address,uint256)"], [self.as_tuple()])).hex()
        )

    def as_tuple(self) -> tuple[str, str, str, str, int]:
        """The ABI tuple, for calls that take a ``MarketParams``."""
        return (self.loan_token, self.collateral_token, self.oracle, self.irm, self.lltv)

    @property
    def has_irm(self) -> bool:
        """False for a market created with the zero IRM (it never accrues interest)."""
        return int(self.irm, 16) != 0


@dataclass(frozen=True)
class MarketTotals:
    """``Market``: the totals of one market, in loan-token units and shares."""

    total_supply_assets: int = 0
    total_supply_shares: int = 0
    total_borrow_assets: int = 0
    total_borrow_shares: int = 0
    last_update: int = 0  # timestamp of the last accrual (or of the market's creation)
    fee: int = 0  # WAD share of the interest minted to the fee recipient

    def as_tuple(self) -> tuple[int, int, int, int, int, int]:
        """The ABI tuple, for ``IIrm.borrowRateView(marketParams, market)``."""
        return (
            self.total_supply_assets,
            self.total_supply_shares,
            self.total_borrow_assets,
            self.total_borrow_shares,
            self.last_update,
            self.fee,
        )

    def with_(self, **changes: int) -> MarketTotals:
        """A copy with some fields changed."""
        return replace(self, **changes)


@dataclass(frozen=True)
class Position:
    """``Position``: one account in one market."""

    supply_shares: int = 0
    borrow_shares: int = 0
    collateral: int = 0

    def borrowed(self, totals: MarketTotals) -> int:
        """The debt in loan-token units, rounded up as Morpho's health check does."""
        return to_assets_up(
            self.borrow_shares, totals.total_borrow_assets, totals.total_borrow_shares
        )

    def with_(self, **changes: int) -> Position:
        """A copy with some fields changed."""
        return replace(self, **changes)
