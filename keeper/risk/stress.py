"""A stress round: every liquidatable account at some prices, liquidated to the end.

Pure and exact: each account's health comes from the engine's ``account_data``, each call from
the Pool's liquidation rules (keeper.risk.liquidate). Values are in the oracle's base units at
the round's prices.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from keeper.protocols.aave_v3.health import account_data
from keeper.protocols.aave_v3.liquidation import is_liquidatable
from keeper.risk.liquidate import AccountLiquidation, liquidate_fully

if TYPE_CHECKING:
    from collections.abc import Mapping

    from keeper.protocols.aave_v3.health import MarketView
    from keeper.protocols.aave_v3.state import AccountState, EModeCategory, ReserveState


@dataclass
class Round:
    """What one set of prices does to the market."""

    prices: dict[str, int]
    liquidatable: list[AccountLiquidation] = field(default_factory=list)  # HF < 1 at the prices

    @property
    def liquidated(self) -> list[AccountLiquidation]:
        """Accounts on which at least one liquidation call is possible."""
        return [a for a in self.liquidatable if a.calls]

    @property
    def liquidatable_debt_base(self) -> int:
        """Total debt of the liquidatable accounts at the round's prices."""
        return sum(a.before.total_debt_base for a in self.liquidatable)

    @property
    def debt_repaid_base(self) -> int:
        """Debt the liquidators repay (the debt to cover)."""
        return sum(c.debt_repaid_base for a in self.liquidatable for c in a.calls)

    @property
    def collateral_seized_base(self) -> int:
        """Collateral taken from the accounts: the liquidators' share plus the protocol fee."""
        return sum(
            c.collateral_base + c.protocol_fee_base for a in self.liquidatable for c in a.calls
        )

    @property
    def bonus_base(self) -> int:
        """Liquidators' gain: collateral received minus debt repaid."""
        return sum(c.bonus_base for a in self.liquidatable for c in a.calls)

    @property
    def protocol_fee_base(self) -> int:
        """The treasury's share of the bonus."""
        return sum(c.protocol_fee_base for a in self.liquidatable for c in a.calls)

    @property
    def calls(self) -> int:
        """Liquidation calls."""
        return sum(len(a.calls) for a in self.liquidatable)

    @property
    def bad_debt(self) -> list[AccountLiquidation]:
        """Accounts left with collateral worth less than their debt."""
        return [a for a in self.liquidatable if a.bad_debt_base > 0]

    @property
    def bad_debt_base(self) -> int:
        """Their debt beyond their collateral, in total."""
        return sum(a.bad_debt_base for a in self.liquidatable)

    def seized_tokens(self) -> dict[str, int]:
        """Collateral the liquidators received, per asset, in token units (what they sell)."""
        out: dict[str, int] = defaultdict(int)
        for a in self.liquidatable:
            for c in a.calls:
                out[c.collateral_asset] += c.collateral_to_liquidator
        return dict(out)


def stress_round(
    accounts: Mapping[str, AccountState],
    view: MarketView,
    reserves: Mapping[str, ReserveState],
    emodes: Mapping[int, EModeCategory],
) -> tuple[Round, dict[str, AccountState]]:
    """Liquidate every account below 1 at ``view``'s prices (by ``view.rules``' version).

    Returns the round and the balances after it (untouched accounts are the same objects). The
    reference: every account recomputed (keeper.risk.rounds.Rounds gives the same rounds,
    faster).
    """
    prices = {r.asset: r.price for r in view.reserves if r is not None}
    result = Round(prices)
    after = dict(accounts)
    for address in sorted(accounts):
        account = accounts[address]
        if not account.user_config:
            continue
        if not is_liquidatable(account_data(account, view).health_factor):
            continue
        outcome = liquidate_fully(account, view, reserves, emodes)
        if outcome is not None:
            result.liquidatable.append(outcome)
            after[address] = outcome.state
    return result, after
