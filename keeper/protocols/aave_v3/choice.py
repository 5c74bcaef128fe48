"""The one choice of (collateral, debt, amount) for an Aave liquidation, per Pool version.

Pure. The live strategy (what to send now), the stress test and the radar (what keepers would
do) all call :func:`choose`; they differ only in their limits (our inventory, the reserves'
cash). Each candidate amount is evaluated with the Pool's own rules
(:mod:`keeper.protocols.aave_v3.liquidation`): close factor, bonus and protocol fee, eMode
terms, grace periods, and on 3.3+ the leftover rule, so that a choice never reverts with
``MustNotLeaveDust``. The best choice is the one with the largest bonus value at oracle prices.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from keeper.protocols.aave_v3.liquidation import (
    LiquidationAmounts,
    is_liquidatable,
    liquidation_amounts,
)
from keeper.protocols.aave_v3.math import PERCENTAGE_FACTOR
from keeper.protocols.aave_v3.pair_rules import (
    LEFTOVER_SLACK_BPS,
    EModeTerms,
    Holding,
    PairTerms,
    ReserveTerms,
    close_factor_cap,
    collateral_paid_for,
    gain,
    in_grace,
    leaves_dust,
    leftover_units,
    pair_terms,
    predict_call,
    takes_all,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from keeper.protocols.aave_v3.versions import PoolRules

# Collateral units (of the smallest denomination) a pre-3.3 liquidation leaves the account, so
# that its scaled burn never rounds past the balance; covers liquidity indexes up to ~9.
SEIZE_MARGIN = 10

__all__ = [
    "SEIZE_MARGIN",
    "Choice",
    "EModeTerms",
    "Holding",
    "Limits",
    "NoChoice",
    "ReserveTerms",
    "choose",
    "predict_call",
]


@dataclass(frozen=True, slots=True)
class Limits:
    """What bounds a real liquidation; None: not bounded (flash-borrowed, or a simulation)."""

    inventory: Mapping[str, int] | None = None  # our tokens of each debt asset
    liquidity: Mapping[str, int] | None = None  # each collateral reserve's cash
    # Before 3.3, leave SEIZE_MARGIN units of collateral (a transaction we send must not hit
    # the rounding revert; a projection of the Pool's rules takes it all).
    seize_margin: bool = False


@dataclass(frozen=True, slots=True)
class Choice:
    """One ``liquidationCall``: what to pass and what the Pool will do with it."""

    collateral_asset: str
    debt_asset: str
    debt_to_cover: int  # the argument (and our approval)
    amounts: LiquidationAmounts  # what the Pool repays and seizes
    gain_base: int  # collateral received minus debt repaid, at oracle prices
    collateral_limited: bool  # the collateral, not the close factor, bounds the amount


class NoChoice(StrEnum):
    """Why an account below health 1 has no liquidation."""

    HEALTHY = "healthy"
    NO_DEBT = "no debt in an active reserve"
    NO_COLLATERAL = "no seizable collateral"
    NO_INVENTORY = "no inventory of any debt asset"
    GRACE_PERIOD = "a liquidation grace period is running on its reserves"
    NO_LIQUIDITY = "no liquidity in its collateral reserves to pay the collateral"
    NOTHING_FITS = "collateral dust only: nothing to seize (bad debt)"


def choose(  # noqa: PLR0911 - one reason per way an account cannot be liquidated
    *,
    health_factor: int,
    total_debt_base: int,
    holdings: Sequence[Holding],
    reserves: Mapping[str, ReserveTerms],
    emode: EModeTerms | None,
    rules: PoolRules,
    limits: Limits = Limits(),
) -> Choice | NoChoice:
    """The most valuable liquidation of an account, or why there is none."""
    if not is_liquidatable(health_factor):
        return NoChoice.HEALTHY
    debts = [h for h in holdings if h.debt > 0 and _usable(reserves.get(h.asset))]
    colls = [h for h in holdings if _seizable(h, reserves.get(h.asset), rules)]
    inventory = limits.inventory
    payable = [d for d in debts if inventory is None or inventory.get(d.asset, 0) > 0]
    if not debts:
        return NoChoice.NO_DEBT
    if not colls:
        return NoChoice.NO_COLLATERAL
    if not payable:
        return NoChoice.NO_INVENTORY
    pairs = [pair_terms(d, c, reserves, emode) for d in payable for c in colls]
    open_pairs = [p for p in pairs if not (rules.grace_period and in_grace(p))]
    if not open_pairs:
        return NoChoice.GRACE_PERIOD
    choices = [
        c
        for p in open_pairs
        if (c := _best_forpair_terms(p, health_factor, total_debt_base, rules, limits)) is not None
    ]
    if not choices:
        liquidity = limits.liquidity
        if liquidity is not None and all(liquidity.get(c.asset, 0) <= 0 for c in colls):
            return NoChoice.NO_LIQUIDITY
        return NoChoice.NOTHING_FITS
    return max(choices, key=lambda c: c.gain_base)


def _usable(reserve: ReserveTerms | None) -> bool:
    return reserve is not None and reserve.usable


def _seizable(h: Holding, reserve: ReserveTerms | None, rules: PoolRules) -> bool:
    return (
        h.collateral > 0
        and h.collateral_enabled
        and reserve is not None
        and reserve.usable
        and (reserve.liquidation_threshold > 0 or rules.zero_lt_collateral_counts)
    )


def _best_forpair_terms(  # noqa: C901 - candidates, each checked against the Pool's rules
    p: PairTerms, health_factor: int, total_debt_base: int, rules: PoolRules, limits: Limits
) -> Choice | None:
    if p.c_price <= 0 or p.d_price <= 0:
        return None
    cap = close_factor_cap(p, health_factor, total_debt_base, rules)
    budget = None if limits.inventory is None else limits.inventory.get(p.debt.asset, 0)
    liquidity = None if limits.liquidity is None else limits.liquidity.get(p.coll.asset, 0)
    margin = SEIZE_MARGIN if rules.seize_margin and limits.seize_margin else 0
    seize_at_most = p.coll.collateral - margin

    def at(cover: int) -> LiquidationAmounts | None:
        try:
            return liquidation_amounts(
                debt_to_cover=cover,
                user_debt=p.debt.debt,
                health_factor=health_factor,
                user_collateral=p.coll.collateral,
                collateral_price=p.c_price,
                debt_price=p.d_price,
                collateral_decimals=p.c_res.decimals,
                debt_decimals=p.d_res.decimals,
                liquidation_bonus=p.bonus,
                liquidation_protocol_fee=p.c_res.protocol_fee,
                max_debt=cap,
                round_up_limited=rules.directed_rounding,
            )
        except ZeroDivisionError:  # a zero bonus with a protocol fee: the Pool reverts too
            return None

    def fits(a: LiquidationAmounts) -> bool:
        """Within what can be seized, paid out and paid for (monotone in the amount)."""
        return (
            a.collateral_to_liquidator + a.protocol_fee <= seize_at_most
            and (liquidity is None or a.collateral_to_liquidator <= liquidity)
            and (budget is None or a.debt_to_repay <= budget)
        )

    def valid(a: LiquidationAmounts) -> bool:
        return (
            a.debt_to_repay > 0
            and a.collateral_to_liquidator > 0
            and fits(a)
            and not (rules.close_factor_on_total_debt and leaves_dust(p, a, rules))
        )

    def robust(cover: int, a: LiquidationAmounts) -> bool:
        """Valid now, and still valid when the state moves a little before inclusion.

        On 3.3+ the leftover rule makes every boundary a revert, and interest (and prices)
        move between the plan's block and the one that includes it:
        - a call that takes all of the collateral must stay on the Pool's collateral-limited
          path (the balance grows): the collateral ``cover`` pays for exceeds it by the slack;
        - a call that repays all of the debt must still do so once it has grown: ``cover``
          exceeds the debt by the slack (the Pool repays only the debt);
        - a partial call leaves both the debt and the collateral above the threshold plus
          the slack.
        """
        if not valid(a):
            return False
        if not rules.close_factor_on_total_debt:
            return True
        if takes_all(p, a):
            return collateral_paid_for(p, min(cover, cap)) * PERCENTAGE_FACTOR >= (
                p.coll.collateral * (PERCENTAGE_FACTOR + LEFTOVER_SLACK_BPS)
            )
        if a.debt_to_repay >= p.debt.debt:
            return cover * PERCENTAGE_FACTOR >= p.debt.debt * (
                PERCENTAGE_FACTOR + LEFTOVER_SLACK_BPS
            )
        taken = a.collateral_to_liquidator + a.protocol_fee
        return p.debt.debt - a.debt_to_repay >= leftover_units(
            p.d_price, p.d_res.decimals
        ) and p.coll.collateral - taken >= leftover_units(p.c_price, p.c_res.decimals)

    covers = _candidates(p, cap, budget, rules)
    found = [(c, a) for c in covers if (a := at(c)) is not None and robust(c, a)]
    if not found:
        # Cut to what fits (the collateral reserve's cash, the margin, or on 3.3+ enough
        # collateral left behind), then, if that leaves dust, leave enough debt behind.
        most = max(covers, default=0)
        bounds = [_largest_fitting(at, fits, most)]
        if rules.close_factor_on_total_debt:
            leave = leftover_units(p.c_price, p.c_res.decimals)
            bounds.append(
                _largest_fitting(
                    at,
                    lambda a: (
                        fits(a)
                        and a.collateral_to_liquidator + a.protocol_fee + leave <= p.coll.collateral
                    ),
                    most,
                )
            )
        for low in bounds:
            for cover in (low, *_candidates(p, low, budget, rules)):
                a = at(cover) if cover > 0 else None
                if a is not None and robust(cover, a):
                    found.append((cover, a))
        if not found:
            return None
    cover, amounts = max(found, key=lambda f: gain(p, f[1]))
    most = min(cap, budget) if budget is not None else cap
    unbounded = at(most)
    # Bounded by the account's collateral (not by the close factor, our inventory or the
    # reserve's cash): its balance accrues until inclusion, the Pool gives at least this.
    limited = unbounded is not None and unbounded.debt_to_repay < most
    if amounts.debt_to_repay < cover and not rules.close_factor_on_total_debt:
        # Before 3.3 we pass the smaller amount the Pool will take (our approval is exact).
        cover = amounts.debt_to_repay
        exact = at(cover)
        if exact is None or not valid(exact):
            return None
        amounts = exact
    return Choice(p.coll.asset, p.debt.asset, cover, amounts, gain(p, amounts), limited)


def _candidates(p: PairTerms, cap: int, budget: int | None, rules: PoolRules) -> Iterable[int]:
    """Amounts worth evaluating: the cap, all of the debt, and enough left to not be dust."""

    def within(amount: int) -> int:
        return min(amount, cap) if budget is None else min(amount, cap, budget)

    out = {within(cap), within(p.debt.debt)}
    if rules.close_factor_on_total_debt:
        # Leave the leftover threshold of this debt and a slack behind (rounded up).
        keep = leftover_units(p.d_price, p.d_res.decimals)
        if p.debt.debt > keep:
            out.add(within(p.debt.debt - keep))
        if cap >= p.debt.debt:
            # All of it, with room for the interest until inclusion (the Pool clamps to the
            # debt it finds then); only our inventory bounds it.
            slack = p.debt.debt * LEFTOVER_SLACK_BPS // PERCENTAGE_FACTOR + 1
            every = p.debt.debt + slack
            out.add(every if budget is None else min(every, budget))
    return sorted(c for c in out if c > 0)


def _largest_fitting(
    at: Callable[[int], LiquidationAmounts | None],
    fits: Callable[[LiquidationAmounts], bool],
    most: int,
) -> int:
    """The largest repayment up to ``most`` whose amounts fit; 0 when none does.

    The collateral grows with the repayment, so a bisection finds it exactly.
    """
    low, high = 0, most + 1  # at(low) fits (or low is 0); at(high) does not
    while high - low > 1:
        middle = (low + high) // 2
        a = at(middle)
        if a is not None and fits(a):
            low = middle
        else:
            high = middle
    return low
