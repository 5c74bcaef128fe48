"""The cascade: liquidations sell collateral, the sale moves prices, more accounts fall.

Round 1 is the stress test at the shocked prices; the shock reaches the pools first (each
shocked asset's pool is moved by the shock, as arbitrage would). The collateral the
liquidators received in a round is sold into its pool against the quote asset
(keeper.risk.amm: the real Uniswap V3 pool at the block, tick by tick, or a constant-product
stand-in); each asset's oracle price then answers the pool's move by its rule
(keeper.risk.pricing: pegged assets hold, volatile ones pass a share of it through, the quote
is the numeraire), the pool is arbitraged to the oracle's move, and the next round liquidates
at those prices on the balances the previous rounds left. It stops at a fixed point (a round
with no liquidation call: prices no longer move) or at the round cap.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING

from keeper.protocols.aave_v3.config import used_reserve_indices
from keeper.protocols.aave_v3.health import account_data
from keeper.protocols.aave_v3.math import MAX_UINT256, ray_mul
from keeper.risk.pricing import PASS_THROUGH, QUOTE, PriceRule
from keeper.risk.rounds import Rounds
from keeper.risk.stress import Round, stress_round

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from keeper.protocols.aave_v3.state import AccountState
    from keeper.risk.amm import SellSide
    from keeper.risk.market import MarketState

DEFAULT_MAX_ROUNDS = 20
_BORROWING = int("01" * 128, 2)  # the borrowing bit (2i) of every reserve of a user bitmap


@dataclass
class Cascade:
    """Every round, and how it ended."""

    start_prices: dict[str, int]
    rounds: list[Round] = field(default_factory=list)
    sold: list[dict[str, int]] = field(default_factory=list)  # per round: asset -> tokens sold
    unsold: list[dict[str, int]] = field(default_factory=list)  # beyond the known pool depth
    dex_moves: list[dict[str, Fraction]] = field(default_factory=list)  # pool price ratios
    converged: bool = False  # a fixed point was reached (else the round cap stopped it)
    final_prices: dict[str, int] = field(default_factory=dict)
    final_accounts: dict[str, AccountState] = field(default_factory=dict)
    rules: dict[str, PriceRule] = field(default_factory=dict)
    depth_2pct: dict[str, int] = field(default_factory=dict)  # tokens to move a pool -2%, at start
    recomputed: int = 0  # account data computed over the rounds (for the benchmark)

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
        if not account.user_config & _BORROWING:
            continue  # borrows nothing: no debt
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
    rules: Mapping[str, PriceRule] | None = None,
    *,
    reference: bool = False,
) -> Cascade:
    """Rounds from the shocked prices (asset -> oracle price; others unchanged).

    ``rules``: each asset's price behaviour (default: every sold asset passes its pool's move
    through in full). ``reference``: every round recomputes every account
    (:func:`keeper.risk.stress.stress_round`) instead of only what moved; the same result.
    """
    prices = {**state.prices, **shocked}
    rules = dict(rules) if rules is not None else _full_pass_through(state, sides)
    result = Cascade(start_prices=dict(state.prices), rules=dict(rules))
    result.depth_2pct = {a: side.depth(Fraction(98, 100)) for a, side in sides.items()}
    quote_move = _quote_move(state, shocked, sides)
    for asset, side in sides.items():
        if state.prices[asset]:  # the pool prices the asset in the quote
            side.move(Fraction(prices[asset], state.prices[asset]) / quote_move)
    accounts: dict[str, AccountState] = dict(state.accounts)
    rounds = None if reference else Rounds(accounts, state.view(prices))
    for _ in range(max(1, max_rounds)):
        view = state.view(prices)
        if rounds is None:
            round_, accounts = stress_round(accounts, view, state.reserves, state.emodes)
            result.recomputed += sum(1 for a in accounts.values() if a.user_config)
        else:
            round_ = rounds.round(view, state.reserves, state.emodes)
        result.rounds.append(round_)
        moved, sold, unsold, dex = _sell(round_, prices, sides, rules)
        result.sold.append(sold)
        result.unsold.append(unsold)
        result.dex_moves.append(dex)
        if round_.calls == 0:
            result.converged = True
            break
        prices = moved
    result.final_prices = prices
    if rounds is not None:
        accounts = {**accounts, **rounds.accounts}
        result.recomputed = rounds.recomputed
    result.final_accounts = accounts
    return result


def _sell(
    round_: Round,
    prices: Mapping[str, int],
    sides: Mapping[str, SellSide],
    rules: Mapping[str, PriceRule],
) -> tuple[dict[str, int], dict[str, int], dict[str, int], dict[str, Fraction]]:
    """The round's seized collateral sold: (next prices, sold, unsold, pool moves) per asset."""
    moved = dict(prices)
    sold: dict[str, int] = {}
    unsold: dict[str, int] = {}
    dex: dict[str, Fraction] = {}
    for asset, amount in sorted(round_.seized_tokens().items()):
        side = sides.get(asset)
        if side is None or amount == 0:
            continue  # the quote asset itself: kept, not sold
        sale = side.sell(amount)
        rule = rules.get(asset) or PriceRule(asset, PASS_THROUGH, Fraction(1), "full pass-through")
        moved[asset] = rule.moved(prices[asset], sale.ratio)
        effective = rule.effective(sale.ratio)
        if effective != sale.ratio:  # the rest of the market absorbs the difference
            side.move(effective / sale.ratio)
        sold[asset] = sale.sold
        dex[asset] = sale.ratio
        if sale.sold < amount:
            unsold[asset] = amount - sale.sold
    return moved, sold, unsold, dex


def _quote_move(
    state: MarketState, shocked: Mapping[str, int], sides: Mapping[str, SellSide]
) -> Fraction:
    """The quote asset's own shock (1 when it is not shocked): pools price assets in it."""
    quotes = [a for a in state.assets() if a not in sides]
    for asset in quotes:
        if asset in shocked and state.prices[asset]:
            return Fraction(shocked[asset], state.prices[asset])
    return Fraction(1)


def _full_pass_through(state: MarketState, sides: Mapping[str, SellSide]) -> dict[str, PriceRule]:
    return {
        a: PriceRule(a, PASS_THROUGH, Fraction(1), "full pass-through")
        if a in sides
        else PriceRule(a, QUOTE, Fraction(0), "the quote asset: the numeraire")
        for a in state.assets()
    }
