"""The incremental health engine: every account's exact account data, kept current.

Accounts are indexed by the reserves they use (and their eMode category), so a price update
recomputes only the accounts exposed to that asset, with no RPC call at all. A new block's
timestamp re-accrues every reserve once, then every account with a position is recomputed.

The accounts under health factor 1.25 are kept in bands (under 1, 1 to 1.01, 1.01 to 1.02, ...
``BANDS``) as they are computed, so that finding those under a health factor near 1 (the
reaction path: who can be liquidated after this block's price moves) reads the few accounts of
the lowest bands instead of scanning every one.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from typing import TYPE_CHECKING

from keeper.protocols.aave_v3.config import used_reserve_indices
from keeper.protocols.aave_v3.health import MarketView, account_data, build_view
from keeper.protocols.aave_v3.math import WAD

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from keeper.protocols.aave_v3.reads import AccountData
    from keeper.protocols.aave_v3.state import AccountState, EModeCategory, ReserveState
    from keeper.protocols.aave_v3.versions import PoolRules


# Upper bounds of the health-factor bands kept (WAD); an account at or above the last is in none.
# Narrow enough that a shock's bound (1.01 x the move, e.g. 1.122 for -10%) reads little more
# than the accounts under it: the band holding the bound is read whole.
BANDS = tuple(
    n * 10**16 for n in (100, 101, 102, 103, 104, 105, 106, 108, 110, 112, 114, 117, 120, 125)
)
LOW_BAND = BANDS[-1]


def move_threshold(floor: int, before: Mapping[str, int], changed: Mapping[str, int]) -> int | None:
    """The health factor above which no account can fall under ``floor`` by these price moves.

    An account's health factor is collateral values (times thresholds) over debt values, each
    value proportional to one price: a move by ratio r scales it by at most min(r, 1/r) in the
    bad direction. So an account at ``h`` ends at or above h * prod(min(r, 1/r)), and only
    those under floor / prod(min(r, 1/r)) (rounded up) can end under ``floor``. None when a
    price was or became zero (no bound).
    """
    num, den = floor, 1
    for asset, new in changed.items():
        old = before.get(asset, 0)
        if old <= 0 or new <= 0:
            return None
        num *= max(old, new)
        den *= min(old, new)
    return -(-num // den)


class HealthEngine:
    """Account data for every tracked account, recomputed only where something moved."""

    def __init__(self) -> None:
        self.view: MarketView | None = None
        self.accounts: dict[str, AccountState] = {}
        self.data: dict[str, AccountData] = {}
        self._by_reserve: dict[int, set[str]] = defaultdict(set)
        self._by_emode: dict[int, set[str]] = defaultdict(set)
        self._positions: set[str] = set()
        self._bands: list[set[str]] = [set() for _ in BANDS]
        self._band_of: dict[str, int] = {}  # account -> its band (accounts under LOW_BAND)
        self.recomputed = 0  # accounts recomputed since start (for tests and metrics)

    def set_market(
        self,
        reserves: Iterable[ReserveState],
        emodes: Mapping[int, EModeCategory],
        prices: Mapping[str, int],
        timestamp: int,
        rules: PoolRules | None = None,
    ) -> None:
        """Accrue the market to ``timestamp`` with these prices (no account is recomputed)."""
        self.view = build_view(list(reserves), emodes, prices, timestamp, rules)

    def upsert(self, states: Iterable[AccountState]) -> None:
        """Take fresh account states, re-index them and recompute them."""
        for state in states:
            self._unindex(state.address)
            self.accounts[state.address] = state
            for i in used_reserve_indices(state.user_config):
                self._by_reserve[i].add(state.address)
            if state.emode:
                self._by_emode[state.emode].add(state.address)
            if state.user_config:
                self._positions.add(state.address)
            self._compute(state.address)

    def remove(self, accounts: Iterable[str]) -> None:
        """Forget accounts (a reorg orphaned them)."""
        for account in accounts:
            self._unindex(account)
            self.accounts.pop(account, None)
            self.data.pop(account, None)
            self._place(account, None)

    def _unindex(self, account: str) -> None:
        old = self.accounts.get(account)
        if old is None:
            return
        for i in used_reserve_indices(old.user_config):
            self._by_reserve[i].discard(account)
        if old.emode:
            self._by_emode[old.emode].discard(account)
        self._positions.discard(account)

    def _compute(self, account: str) -> None:
        if self.view is None:
            raise RuntimeError("set_market must come before accounts")
        data = self.data[account] = account_data(self.accounts[account], self.view)
        hf = data.health_factor
        self._place(account, bisect_right(BANDS, hf) if hf < LOW_BAND else None)
        self.recomputed += 1

    def _place(self, account: str, band: int | None) -> None:
        """Move ``account`` to ``band`` (None: in none)."""
        old = self._band_of.get(account)
        if old == band:
            return
        if old is not None:
            self._bands[old].discard(account)
        if band is None:
            self._band_of.pop(account, None)
        else:
            self._bands[band].add(account)
            self._band_of[account] = band

    def _compute_many(self, accounts: Iterable[str]) -> int:
        """Recompute ``accounts`` (the hot loop: locals instead of attribute lookups)."""
        view = self.view
        if view is None:
            raise RuntimeError("set_market must come before accounts")
        states, data, band_of, place = self.accounts, self.data, self._band_of, self._place
        count = 0
        for account in accounts:
            computed = data[account] = account_data(states[account], view)
            hf = computed.health_factor
            if hf < LOW_BAND:
                band = bisect_right(BANDS, hf)
                if band_of.get(account) != band:
                    place(account, band)
            elif account in band_of:
                place(account, None)
            count += 1
        self.recomputed += count
        return count

    def recompute(self, accounts: Iterable[str]) -> int:
        """Recompute these accounts (those with a position); how many."""
        return self._compute_many(self._positions.intersection(accounts))

    def recompute_all(self) -> int:
        """Recompute every account with a position (balances accrue with time, debt or not)."""
        return self._compute_many(self._positions)

    def exposed(self, asset: str) -> set[str]:
        """Accounts whose account data depends on ``asset``'s price."""
        if self.view is None:
            return set()
        out: set[str] = set()
        index = self.view.reserve_index(asset)
        if index is not None:
            out |= self._by_reserve.get(index, set())
        for cid, emode in self.view.emodes.items():
            if emode.price_source == asset:
                out |= self._by_emode.get(cid, set())
        return out

    def under_exposed(self, threshold: int, assets: Iterable[str]) -> set[str]:
        """Accounts under ``threshold`` whose account data depends on a price of ``assets``.

        The reaction path's set: membership tests against the exposure indexes for the few
        accounts of the low bands, never a copy of an index (tens of thousands of accounts).
        """
        if self.view is None:
            return set()
        view, indexes = self.view, list[set[str]]()
        for asset in assets:
            index = view.reserve_index(asset)
            if index is not None and index in self._by_reserve:
                indexes.append(self._by_reserve[index])
            indexes.extend(
                self._by_emode[cid]
                for cid, emode in view.emodes.items()
                if emode.price_source == asset and cid in self._by_emode
            )
        low, out = self.under(threshold), set[str]()
        for holders in indexes:
            out |= low & holders  # iterates the smaller set: the few low accounts
        return out

    def on_price(self, asset: str, price: int) -> set[str]:
        """Apply a new price: recompute only the exposed accounts. Touches no node."""
        if self.view is None:
            return set()
        self.view = self.view.with_price(asset, price)
        exposed = self.exposed(asset)
        self._compute_many(exposed)
        return exposed

    def at_price(self, asset: str, price: int) -> list[AccountData]:
        """What the exposed accounts' data would be at ``price``; the engine is not changed.

        For a price that is not on chain yet (a pending oracle update).
        """
        if self.view is None:
            return []
        view = self.view.with_price(asset, price)
        return [account_data(self.accounts[a], view) for a in self.exposed(asset)]

    def _candidates(self, threshold: int) -> Iterable[AccountData]:
        """Every account that can be under ``threshold``: the bands' up to it, or all beyond."""
        data = self.data
        if threshold > LOW_BAND:
            return data.values()
        last = bisect_left(BANDS, threshold)  # the band holding ``threshold``, and those under
        return [data[a] for band in self._bands[: last + 1] for a in band]

    def under(self, threshold: int) -> set[str]:
        """Accounts with health factor under ``threshold`` (unsorted).

        The bands wholly under ``threshold`` are taken as they are (set unions); only the band
        holding it is read account by account.
        """
        data = self.data
        if threshold > LOW_BAND:
            return {a for a, d in data.items() if d.health_factor < threshold}
        last = bisect_left(BANDS, threshold)  # every band before it lies under ``threshold``
        out = set[str]().union(*self._bands[:last])
        out.update(a for a in self._bands[last] if data[a].health_factor < threshold)
        return out

    def below(self, threshold: int = WAD) -> list[AccountData]:
        """Accounts with health factor under ``threshold``, lowest first."""
        return sorted(
            (d for d in self._candidates(threshold) if d.health_factor < threshold),
            key=lambda d: d.health_factor,
        )
