"""The cascade: liquidations sell collateral, the sale moves prices, more accounts fall.

Round 1 is the stress test at the shocked prices. The collateral the liquidators received in a
round is sold into the DEX model (keeper.risk.amm) for the quote asset; the price each sale
leaves becomes the next round's oracle price (the quote asset's price stays: it is the
numeraire), and the next round liquidates at those prices on the balances the previous rounds
left. It stops at a fixed point (a round with no liquidation call: prices no longer move) or at
the round cap.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from keeper.protocols.aave_v3.config import used_reserve_indices
from keeper.protocols.aave_v3.health import account_data
from keeper.protocols.aave_v3.math import MAX_UINT256, ray_mul
from keeper.risk.amm import apply_ratio
from keeper.risk.stress import Round, stress_round

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from keeper.protocols.aave_v3.state import AccountState
    from keeper.risk.amm import SellSide
    from keeper.risk.market import MarketState

DEFAULT_MAX_ROUNDS = 20


@dataclass
class Cascade:
    """Every round, and how it ended."""

    start_prices: dict[str, int]
    rounds: list[Round] = field(default_factory=list)
    sold: list[dict[str, int]] = field(default_factory=list)  # per round: asset -> tokens sold
    converged: bool = False  # a fixed point was reached (else the round cap stopped it)
    final_prices: dict[str, int] = field(default_factory=dict)
    final_accounts: dict[str, AccountState] = field(default_factory=dict)

    @property
    def first(self) -> Round:
        """The stress round at the shocked prices."""
        return self.rounds[0]


def bad_debt(
    state: MarketState, accounts: Mapping[str, AccountState], prices: Mapping[str, int]
) -> tuple[int, int]:
    """(accounts, total) of debt beyond collateral over all accounts at ``prices``."""
    view = state.view(prices)
    count = total = 0
    for account in accounts.values():
        if not account.user_config:
            continue
        data = account_data(account, view)
        if data.health_factor != MAX_UINT256 and data.total_debt_base > data.total_collateral_base:
            count += 1
            total += data.total_debt_base - data.total_collateral_base
    return count, total


def default_quote(state: MarketState, shocked: Iterable[str] = ()) -> str:
    """The most borrowed reserve (by value) that is not shocked: what liquidators buy to repay.

    A shocked asset is never the numeraire (its seized collateral must be sold); when every
    reserve is shocked, the most borrowed one.
    """
    view = state.view()
    debt: dict[str, int] = defaultdict(int)
    for account in state.accounts.values():
        for i in used_reserve_indices(account.user_config):
            reserve = view.reserves[i] if i < len(view.reserves) else None
            if reserve is None:
                continue
            scaled = account.scaled_variable_debt.get(i, 0)
            stable = account.stable_debt.get(i)
            amount = ray_mul(scaled, reserve.normalized_debt) if scaled else 0
            amount += stable.balance(view.timestamp) if stable is not None else 0
            debt[reserve.asset] += amount * reserve.price // reserve.unit
    assets = state.assets()
    moved = set(shocked)
    candidates = [a for a in assets if a not in moved] or assets
    return max(candidates, key=lambda a: (debt.get(a, 0), -assets.index(a)))


def run_cascade(
    state: MarketState,
    shocked: Mapping[str, int],
    sides: Mapping[str, SellSide],
    max_rounds: int = DEFAULT_MAX_ROUNDS,
) -> Cascade:
    """Rounds from the shocked prices (asset -> oracle price; others unchanged)."""
    prices = {**state.prices, **shocked}
    result = Cascade(start_prices=dict(state.prices))
    accounts: dict[str, AccountState] = dict(state.accounts)
    for _ in range(max(1, max_rounds)):
        round_, accounts = stress_round(accounts, state.view(prices), state.reserves, state.emodes)
        result.rounds.append(round_)
        sold: dict[str, int] = defaultdict(int)
        moved = dict(prices)
        for asset, amount in sorted(round_.seized_tokens().items()):
            side = sides.get(asset)
            if side is None or amount == 0:
                continue  # the quote asset itself: kept, not sold
            moved[asset] = apply_ratio(moved[asset], side.sell(amount))
            sold[asset] += amount
        result.sold.append(dict(sold))
        if round_.calls == 0:
            result.converged = True
            break
        prices = moved
    result.final_prices = prices
    result.final_accounts = accounts
    return result
