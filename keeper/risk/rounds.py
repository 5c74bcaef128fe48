"""The cascade's rounds, recomputing only the accounts a round's prices can have changed.

:func:`keeper.risk.stress.stress_round` (the reference) recomputes every account in every round.
:class:`Rounds` gives the very same rounds with far less work, from two exact facts:

1. An account's outcome in a round depends only on its balances and on the prices of the
   reserves it uses (and of its eMode category's price source); the view's time and the
   reserves' terms do not change between rounds. An account whose assets kept their prices
   since its data was computed, and whose balances did not change, keeps its outcome (healthy,
   or below 1 with nothing left to liquidate).
2. After the first round every price only falls or stays (a sale lowers its pool's price; the
   oracle follows a share of it, rounded down; pegged assets and the quote hold). A fall by at
   least a ratio ``m`` (every asset's new price over its price when the account's data was
   computed is >= m <= 1) cannot take an account under 1 if ``m >= theta`` with, from its exact
   totals (collateral ``T``, debt ``D``, average threshold ``k``, so ``W >= k * T`` for the
   threshold-weighted collateral ``W``; ``n_c`` and ``n_d`` its collateral and debt reserves):

   - 3.5+: each collateral value ``floor(b * p' / u) >= m * c - 1`` and each debt value
     ``ceil(d * p' / u) <= e + 1``, so ``W' >= m * W - 10_000 * n_c`` and ``D' <= D + n_d``;
     healthy when ``W' * WAD >= 1e22 * D'``: ``theta = 10_000 * (D + 2 * n_d + n_c) / (k * T)``;
   - v3.0-3.4: healthy when ``percentMul(T', W' // T') >= D'``, implied by
     ``W' - T' >= 10_000 * D'`` (``T' * (W' // T') > W' - T'``), with ``T' <= T + n_c``:
     ``theta = (10_000 * (D + 2 * n_d + n_c) + T + n_c) / (k * T)``.

   So each round looks only at accounts liquidated in the round before, and at those using an
   asset that moved whose ``theta`` the fall since their data may have crossed (accounts are
   kept sorted by ``theta``, scaled up to integers, per round of their data). Should a price
   rise after the first round, every account using it is recomputed.

Equal to :func:`stress_round` on every round (tests/unit/test_cascade_rules.py, on random
markets of several versions).
"""

from __future__ import annotations

from bisect import bisect_right
from typing import TYPE_CHECKING

from keeper.protocols.aave_v3.config import used_reserve_indices
from keeper.protocols.aave_v3.health import account_data
from keeper.protocols.aave_v3.math import PERCENTAGE_FACTOR, WAD
from keeper.risk.liquidate import liquidate_fully, market_terms
from keeper.risk.stress import Round

if TYPE_CHECKING:
    from collections.abc import Mapping

    from keeper.protocols.aave_v3.health import MarketView
    from keeper.protocols.aave_v3.reads import AccountData
    from keeper.protocols.aave_v3.state import AccountState, EModeCategory, ReserveState
    from keeper.risk.liquidate import AccountLiquidation

SCALE = 1 << 64  # theta and price ratios as integers: theta rounded up, ratios rounded down
_NEVER_SAFE = 1 << 256
_BORROWING = int("01" * 128, 2)
_COLLATERAL = _BORROWING << 1


class Rounds:
    """:func:`keeper.risk.stress.stress_round` round after round, on what can have moved."""

    def __init__(self, accounts: Mapping[str, AccountState], view: MarketView) -> None:
        self.accounts = {a: s for a, s in accounts.items() if s.user_config}
        self._assets = [r.asset for r in view.reserves if r is not None]
        position = {a: k for k, a in enumerate(self._assets)}
        self._mask: dict[str, int] = {}  # the assets whose prices the account's health uses
        masks: dict[tuple[int, int], int] = {}  # by (bitmap, category): few distinct ones
        for address, account in self.accounts.items():
            key = (account.user_config, account.emode)
            mask = masks.get(key)
            if mask is None:
                mask = 0
                for i in used_reserve_indices(account.user_config):
                    reserve = view.reserves[i] if i < len(view.reserves) else None
                    if reserve is not None:
                        mask |= 1 << position[reserve.asset]
                emode = view.emodes.get(account.emode) if account.emode else None
                if emode is not None and emode.price_source in position:
                    mask |= 1 << position[emode.price_source]
                masks[key] = mask
            self._mask[address] = mask
        self._directed = view.directed_rounding
        self._prices: list[dict[str, int]] = []  # each round's prices
        self._levels: list[list[tuple[int, str]]] = []  # per round: (theta, account), sorted
        self._round_of: dict[str, int] = {}  # the round whose prices the account's data has
        self._changed: set[str] = set()
        self._stuck: dict[str, AccountLiquidation] = {}  # below 1, nothing left to liquidate
        self.recomputed = 0  # accounts recomputed, over all rounds (for the benchmark)

    def _theta(self, account: AccountState, data: AccountData) -> int:
        """``theta`` (see the module) times SCALE, rounded up."""
        total, debt = data.total_collateral_base, data.total_debt_base
        if debt == 0:
            return 0  # no fall of a price creates debt
        weighted = data.current_liquidation_threshold * total
        if weighted == 0:
            return _NEVER_SAFE
        config = account.user_config
        n_debt, n_coll = (config & _BORROWING).bit_count(), (config & _COLLATERAL).bit_count()
        need = PERCENTAGE_FACTOR * (debt + 2 * n_debt + n_coll)
        if not self._directed:
            need += total + n_coll
        return -(-need * SCALE // weighted)

    def _todo(self, prices: Mapping[str, int]) -> set[str]:
        """The accounts whose outcome the new prices (or their own liquidation) can change."""
        todo = set(self._changed)
        for r, levels in enumerate(self._levels):
            before = self._prices[r]
            moved, fall = 0, SCALE
            for k, asset in enumerate(self._assets):
                new, old = prices[asset], before[asset]
                if new != old:
                    moved |= 1 << k
                    fall = min(fall, -1 if new > old or old == 0 else new * SCALE // old)
            if not moved:
                continue
            # (fall, "\uffff") sorts after every (fall, account): the tail has theta > fall
            start = bisect_right(levels, (fall, "\uffff")) if fall >= 0 else 0
            round_of, mask = self._round_of, self._mask
            kept = []
            for entry in levels[start:]:
                address = entry[1]
                if round_of[address] != r:
                    continue  # recomputed in a later round: its entry is there
                if mask[address] & moved:
                    todo.add(address)
                else:
                    kept.append(entry)
            del levels[start:]  # what is recomputed now gets an entry in this round's list
            levels.extend(kept)
        return todo

    def round(
        self,
        view: MarketView,
        reserves: Mapping[str, ReserveState],
        emodes: Mapping[int, EModeCategory],
    ) -> Round:
        """The next round at ``view``'s prices, on the balances the rounds before left."""
        prices = {r.asset: r.price for r in view.reserves if r is not None}
        todo = set(self.accounts) if not self._prices else self._todo(prices)
        number = len(self._prices)
        self._prices.append(prices)
        terms = market_terms(view, reserves)
        outcomes = {a: o for a, o in self._stuck.items() if a not in todo}
        self._changed = set()
        levels = []
        for address in todo:
            account = self.accounts[address]
            self._stuck.pop(address, None)
            data = account_data(account, view)
            self.recomputed += 1
            self._round_of[address] = number
            levels.append((self._theta(account, data), address))
            if data.health_factor >= WAD:
                continue
            outcome = liquidate_fully(account, view, reserves, emodes, terms, data)
            if outcome is None:
                continue
            outcomes[address] = outcome
            if outcome.calls:
                self.accounts[address] = outcome.state
                self._changed.add(address)
            else:
                self._stuck[address] = outcome
        levels.sort()
        self._levels.append(levels)
        return Round(prices, [outcomes[a] for a in sorted(outcomes)])


__all__ = ["SCALE", "Rounds"]
