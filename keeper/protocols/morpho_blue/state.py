"""Morpho's state as the keeper holds it: markets and positions, moved by events exactly.

Each event changes the totals and the position exactly as the Morpho function that emitted it
did (the events carry the amounts after rounding, so nothing is recomputed): ``Repay`` floors
the total at zero as ``zeroFloorSub`` does, ``Liquidate`` writes its bad debt off the borrow
and supply totals and zeroes the borrower's shares. ``AccrueInterest`` and ``CreateMarket``
move ``last_update`` to their block's timestamp, which the caller supplies.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from keeper.protocols.morpho_blue.events import (
    AccrueInterest,
    BorrowChange,
    CollateralChange,
    CreateMarket,
    Liquidate,
    MorphoEvent,
    SetFee,
    SetFeeRecipient,
    SupplyChange,
)
from keeper.protocols.morpho_blue.math import sub, zero_floor_sub
from keeper.protocols.morpho_blue.types import MarketParams, MarketTotals, Position


@dataclass
class MarketState:
    """One market: what it is, its totals, and every position seen in it."""

    params: MarketParams
    totals: MarketTotals
    positions: dict[str, Position] = field(default_factory=dict)

    def position(self, account: str) -> Position:
        """The account's position (empty if never seen)."""
        return self.positions.get(account, Position())

    def borrowers(self) -> list[str]:
        """Accounts with borrow shares."""
        return [a for a, p in self.positions.items() if p.borrow_shares > 0]


class UnknownMarketError(LookupError):
    """An event of a market whose parameters the state does not hold yet."""


@dataclass
class MorphoState:
    """Every market of one Morpho contract."""

    markets: dict[str, MarketState] = field(default_factory=dict)
    fee_recipient: str | None = None

    def apply(self, event: MorphoEvent, timestamp: int) -> set[tuple[str, str]]:
        """Apply one event (``timestamp``: its block's); returns the (market, account) touched."""
        if isinstance(event, CreateMarket):
            self.markets[event.id] = MarketState(event.params, MarketTotals(last_update=timestamp))
            return set()
        if isinstance(event, SetFeeRecipient):
            self.fee_recipient = event.recipient
            return set()
        market = self.markets.get(event.id)
        if market is None:
            raise UnknownMarketError(event.id)
        t = market.totals
        if isinstance(event, SetFee):
            market.totals = t.with_(fee=event.fee)
            return set()
        if isinstance(event, AccrueInterest):
            market.totals = t.with_(
                total_borrow_assets=t.total_borrow_assets + event.interest,
                total_supply_assets=t.total_supply_assets + event.interest,
                total_supply_shares=t.total_supply_shares + event.fee_shares,
                last_update=timestamp,
            )
            if event.fee_shares and self.fee_recipient is not None:
                return {self._add_supply(market, self.fee_recipient, event.fee_shares)}
            return set()
        return {self._account_event(market, event)}

    @staticmethod
    def _add_supply(market: MarketState, account: str, shares: int) -> tuple[str, str]:
        p = market.position(account)
        market.positions[account] = p.with_(supply_shares=p.supply_shares + shares)
        return market.params.id, account

    def _account_event(
        self, market: MarketState, event: SupplyChange | BorrowChange | CollateralChange | Liquidate
    ) -> tuple[str, str]:
        t = market.totals
        if isinstance(event, SupplyChange):
            s = event.sign
            market.totals = t.with_(
                total_supply_assets=t.total_supply_assets + s * event.assets,
                total_supply_shares=t.total_supply_shares + s * event.shares,
            )
            return self._add_supply(market, event.account, s * event.shares)
        if isinstance(event, BorrowChange):
            p = market.position(event.account)
            if event.sign > 0:
                tba = t.total_borrow_assets + event.assets
                tbs = t.total_borrow_shares + event.shares
                shares = p.borrow_shares + event.shares
            else:
                tba = zero_floor_sub(t.total_borrow_assets, event.assets)
                tbs = sub(t.total_borrow_shares, event.shares)
                shares = sub(p.borrow_shares, event.shares)
            market.totals = t.with_(total_borrow_assets=tba, total_borrow_shares=tbs)
            market.positions[event.account] = p.with_(borrow_shares=shares)
            return market.params.id, event.account
        if isinstance(event, CollateralChange):
            p = market.position(event.account)
            collateral = (
                p.collateral + event.assets if event.sign > 0 else sub(p.collateral, event.assets)
            )
            market.positions[event.account] = p.with_(collateral=collateral)
            return market.params.id, event.account
        p = market.position(event.borrower)
        tba = zero_floor_sub(t.total_borrow_assets, event.repaid_assets) - event.bad_debt_assets
        market.totals = t.with_(
            total_borrow_assets=tba,
            total_borrow_shares=t.total_borrow_shares - event.repaid_shares - event.bad_debt_shares,
            total_supply_assets=t.total_supply_assets - event.bad_debt_assets,
        )
        market.positions[event.borrower] = p.with_(
            borrow_shares=sub(p.borrow_shares, event.repaid_shares + event.bad_debt_shares),
            collateral=sub(p.collateral, event.seized_assets),
        )
        return market.params.id, event.borrower
