"""Pool versions: read from POOL_REVISION, and each version's health and liquidation rules."""

from __future__ import annotations

from typing import Any

import pytest

from keeper.errors import ConfigError
from keeper.protocols.aave_v3.choice import (
    Choice,
    EModeTerms,
    Holding,
    Limits,
    NoChoice,
    ReserveTerms,
    choose,
)
from keeper.protocols.aave_v3.config import ReserveConfig
from keeper.protocols.aave_v3.health import account_data, build_view
from keeper.protocols.aave_v3.liquidation import MIN_LEFTOVER_BASE, liquidation_amounts
from keeper.protocols.aave_v3.math import RAY, WAD, compounded_interest, compounded_interest_v34
from keeper.protocols.aave_v3.state import AccountState, EModeCategory, ReserveState
from keeper.protocols.aave_v3.versions import (
    AaveVersion,
    PoolRules,
    checked_version,
    version_of_revision,
)

A, B, C = "0x" + "aa" * 20, "0x" + "bb" * 20, "0x" + "cc" * 20
V30, V35, V36 = (PoolRules(v) for v in (AaveVersion.V3_0, AaveVersion.V3_5, AaveVersion.V3_6))
YEAR = 365 * 24 * 3600


def test_revisions_map_to_versions_and_unknown_ones_are_refused():
    """POOL_REVISION 1 is v3.0 (aave-v3-core 1.19), 10 is v3.6; 11 is refused with the list."""
    assert version_of_revision(1) is AaveVersion.V3_0
    assert version_of_revision(7) is AaveVersion.V3_3
    assert version_of_revision(10) is AaveVersion.V3_6
    with pytest.raises(ConfigError, match=r"POOL_REVISION 11.*10 \(3\.6\)"):
        version_of_revision(11)


def test_a_pool_version_override_must_agree_with_the_chain():
    """pool_version is a check: agreeing passes, disagreeing names the key and the fix."""
    assert checked_version(10, AaveVersion.V3_6) is AaveVersion.V3_6
    assert checked_version(10, None) is AaveVersion.V3_6
    with pytest.raises(ConfigError, match=r"pool_version: configured 3.0.*set it to 3.6"):
        checked_version(10, AaveVersion.V3_0)


def test_rules_switch_on_at_their_release():
    """Each rule is on from its release: grace 3.1, bitmaps 3.2, dust 3.3, LT-0 3.6, ..."""
    rules = {v: PoolRules(v) for v in AaveVersion}
    assert next(v for v, r in rules.items() if r.grace_period) is AaveVersion.V3_1
    assert next(v for v, r in rules.items() if r.emode_bitmaps) is AaveVersion.V3_2
    assert next(v for v, r in rules.items() if r.close_factor_on_total_debt) is AaveVersion.V3_3
    assert next(v for v, r in rules.items() if r.new_compounding) is AaveVersion.V3_4
    assert next(v for v, r in rules.items() if r.directed_rounding) is AaveVersion.V3_5
    assert [v for v, r in rules.items() if r.zero_lt_collateral_counts] == [AaveVersion.V3_6]
    assert rules[AaveVersion.V3_0].stable_debt and not rules[AaveVersion.V3_2].stable_debt


def test_new_compounding_differs_from_the_old_in_the_last_wei():
    """3.4's ``1 + x + x(x/2 + x.x/6)`` and v3.0's binomial agree closely, not exactly."""
    rate = 7 * RAY // 100
    old, new = compounded_interest(rate, 0, YEAR), compounded_interest_v34(rate, 0, YEAR)
    assert old != new
    assert abs(old - new) < RAY // 10**5  # 5e-6 of the index after a year at 7%
    assert compounded_interest_v34(rate, 5, 5) == RAY


def _reserve(asset, index, *, ltv, lt, decimals, li=RAY, vbi=RAY):
    word = ltv | lt << 16 | 10_500 << 32 | decimals << 48 | 1 << 56
    return ReserveState(
        asset, index, ReserveConfig.decode(word), li, 0, vbi, 0, 0, "0x01", "0x02", "0x03"
    )


# Indices not multiples of RAY, so that floor and ceil differ.
RESERVES = [
    _reserve(A, 0, ltv=8000, lt=8250, decimals=18, li=RAY + 3 * 10**20 + 7),
    _reserve(B, 1, ltv=7500, lt=8000, decimals=6, vbi=RAY + 10**25 + 11),
    _reserve(C, 2, ltv=0, lt=0, decimals=8),  # an LT-0 reserve
]
PRICES = {A: 2_000 * 10**8 + 3, B: 10**8 + 1, C: 50_000 * 10**8}


def test_v35_rounds_collateral_down_debt_up_and_uses_the_new_health_formula():
    """3.5+: floor(scaled x index) x price / unit; ceil(scaled x index) valued with mulDivCeil;
    HF = sum(collateral x LT).wadDiv(debt) / 1e4.
    """
    account = AccountState(
        A, user_config=0b01_10, scaled_collateral={0: 7 * WAD + 1}, scaled_variable_debt={1: 9_001}
    )
    d = account_data(account, build_view(RESERVES, {}, PRICES, 0, V35))
    collateral = (7 * WAD + 1) * RESERVES[0].liquidity_index // RAY * PRICES[A] // WAD
    debt_units = -(-9_001 * RESERVES[1].variable_borrow_index // RAY)
    debt = -(-debt_units * PRICES[B] // 10**6)
    assert (d.total_collateral_base, d.total_debt_base) == (collateral, debt)
    assert d.health_factor == (collateral * 8250 * WAD + debt // 2) // debt // 10_000
    assert d.current_liquidation_threshold == 8250
    old = account_data(account, build_view(RESERVES, {}, PRICES, 0, V30))
    assert old.health_factor != d.health_factor  # the rounding differs: v3.0 is not exact here


def test_v36_counts_lt_zero_collateral_in_the_total_and_v35_does_not():
    """An enabled LT-0 collateral adds to total collateral on 3.6 (not to the weighted LT)."""
    account = AccountState(
        A,
        user_config=0b10_01_10,
        scaled_collateral={0: WAD, 2: 10**8},
        scaled_variable_debt={1: 1_000 * 10**6},
    )
    v35 = account_data(account, build_view(RESERVES, {}, PRICES, 0, V35))
    v36 = account_data(account, build_view(RESERVES, {}, PRICES, 0, V36))
    assert v36.total_collateral_base == v35.total_collateral_base + 50_000 * 10**8
    assert v36.health_factor == v35.health_factor  # LT 0 weighs nothing
    assert v36.current_liquidation_threshold < v35.current_liquidation_threshold


def test_emode_terms_apply_only_to_the_categorys_collateral_bitmap():
    """3.2+: an eMode account gets the category's LT on members of its collateral bitmap only,
    and 3.6's ltvzero bitmap zeroes a member's LTV.
    """
    account = AccountState(
        A,
        user_config=0b01_10,
        emode=1,
        scaled_collateral={0: WAD},
        scaled_variable_debt={1: 1_000 * 10**6},
    )
    member = {1: EModeCategory(1, 9000, 9300, 10300, None, collateral_bitmap=0b1)}
    other = {1: EModeCategory(1, 9000, 9300, 10300, None, collateral_bitmap=0b100)}
    zero = {1: EModeCategory(1, 9000, 9300, 10300, None, collateral_bitmap=0b1, ltvzero_bitmap=1)}
    assert account_data(account, build_view(RESERVES, member, PRICES, 0, V36)).ltv == 9000
    d = account_data(account, build_view(RESERVES, other, PRICES, 0, V36))
    assert (d.ltv, d.current_liquidation_threshold) == (8000, 8250)
    z = account_data(account, build_view(RESERVES, zero, PRICES, 0, V36))
    assert (z.ltv, z.current_liquidation_threshold) == (0, 9300)


USD = 10**8
TERMS = {
    A: ReserveTerms(A, 18, 2_000 * USD, 8250, 10500, 1000, usable=True),
    B: ReserveTerms(B, 6, USD, 8000, 10450, 1000, usable=True),
}


def _choose(holdings, rules, hf=97 * WAD // 100, total_debt=None, **kw):
    debt_base = sum(
        h.debt * TERMS[h.asset].price // 10 ** TERMS[h.asset].decimals for h in holdings
    )
    return choose(
        health_factor=hf,
        total_debt_base=debt_base if total_debt is None else total_debt,
        holdings=holdings,
        reserves=kw.pop("reserves", TERMS),
        emode=kw.pop("emode", None),
        rules=rules,
        limits=kw.pop("limits", Limits()),
    )


def test_v36_collateral_limited_choice_takes_all_collateral_and_passes_enough_debt():
    """When the collateral runs out first, a 3.3+ choice takes all of it (no margin: the rest
    would be dust) and passes at least the debt the Pool needs, so the Pool stays on its
    collateral-limited path.
    """
    holdings = [Holding(A, WAD, 0, True), Holding(B, 0, 5_000 * 10**6, False)]
    c = _choose(holdings, V36, hf=WAD // 2)
    assert isinstance(c, Choice) and c.collateral_limited
    assert c.amounts.collateral_to_liquidator + c.amounts.protocol_fee == WAD
    assert c.debt_to_cover >= c.amounts.debt_to_repay
    v30 = _choose(holdings, V30, hf=WAD // 2, limits=Limits(seize_margin=True))
    assert isinstance(v30, Choice)
    assert v30.amounts.collateral_to_liquidator + v30.amounts.protocol_fee < WAD
    assert v30.debt_to_cover == v30.amounts.debt_to_repay


def test_a_choice_never_leaves_dust_the_pool_refuses():
    """3,000 USD of debt at HF 0.97 against 10 WETH: half the total debt would leave 1,500
    (fine), but with 2,400 of debt half leaves 1,200 and with 2,100 it leaves 1,050: allowed;
    with only 1,800 of inventory the leftover of 600 is dust, so the choice leaves just over
    1,000 USD of debt instead.
    """
    holdings = [Holding(A, 10 * WAD, 0, True), Holding(B, 0, 2_800 * 10**6, False)]
    c = _choose(holdings, V36, limits=Limits(inventory={B: 2_000 * 10**6}))
    assert isinstance(c, Choice)
    left = 2_800 * 10**6 - c.amounts.debt_to_repay
    assert left * USD // 10**6 >= MIN_LEFTOVER_BASE
    # Without the rule (v3.0) the same inventory is spent in full.
    full = _choose(holdings, V30, limits=Limits(inventory={B: 2_000 * 10**6}))
    assert isinstance(full, Choice) and full.amounts.debt_to_repay == 1_400 * 10**6


def test_small_positions_are_repaid_in_full_on_v33_and_later():
    """Under 2,000 USD of debt: the whole reserve debt, even at HF 0.97 (v3.0: half)."""
    holdings = [Holding(A, WAD, 0, True), Holding(B, 0, 1_200 * 10**6, False)]
    c = _choose(holdings, V36)
    assert isinstance(c, Choice) and c.amounts.debt_to_repay == 1_200 * 10**6
    old = _choose(holdings, V30)
    assert isinstance(old, Choice) and old.amounts.debt_to_repay == 600 * 10**6


def test_grace_period_holds_liquidations_back_on_v31_and_later():
    """A reserve in its grace period: no choice on 3.1+ (the Pool reverts), v3.0 ignores it."""
    holdings = [Holding(A, 10 * WAD, 0, True), Holding(B, 0, 10_000 * 10**6, False)]
    graced = {**TERMS, A: ReserveTerms(A, 18, 2_000 * USD, 8250, 10500, 1000, True, True)}
    assert _choose(holdings, V36, reserves=graced) is NoChoice.GRACE_PERIOD
    assert isinstance(_choose(holdings, V30, reserves=graced), Choice)


def test_lt_zero_collateral_is_seizable_only_on_v36():
    """An enabled collateral whose LT is 0 can be liquidated on 3.6, not before."""
    zero = {**TERMS, A: ReserveTerms(A, 18, 2_000 * USD, 0, 10500, 1000, usable=True)}
    holdings = [Holding(A, 10 * WAD, 0, True), Holding(B, 0, 10_000 * 10**6, False)]
    assert _choose(holdings, V35, hf=WAD // 2, reserves=zero) is NoChoice.NO_COLLATERAL
    assert isinstance(_choose(holdings, V36, hf=WAD // 2, reserves=zero), Choice)


def test_a_zero_bonus_with_a_protocol_fee_is_never_chosen():
    """Bonus 0 and a protocol fee: the Pool divides by the bonus and reverts; no choice."""
    zero = {**TERMS, A: ReserveTerms(A, 18, 2_000 * USD, 0, 0, 1000, usable=True)}
    holdings = [Holding(A, 10 * WAD, 0, True), Holding(B, 0, 10_000 * 10**6, False)]
    assert isinstance(_choose(holdings, V36, hf=WAD // 2, reserves=zero), NoChoice)


def test_emode_bonus_follows_the_bitmap_members():
    """The category's bonus applies to a collateral it lists, the reserve's bonus otherwise."""
    holdings = [Holding(A, 10 * WAD, 0, True), Holding(B, 0, 10_000 * 10**6, False)]
    member = _choose(holdings, V36, emode=EModeTerms(1, 11_000, frozenset({A})))
    other = _choose(holdings, V36, emode=EModeTerms(1, 11_000, frozenset({C})))
    assert isinstance(member, Choice) and isinstance(other, Choice)
    assert member.amounts.collateral_to_liquidator > other.amounts.collateral_to_liquidator


def test_v35_collateral_limited_debt_is_rounded_up():
    """3.5+: the debt a collateral-limited call needs is percentDivCeil, not half-up."""
    kw: dict[str, Any] = {
        "debt_to_cover": 10**12,
        "user_debt": 10**12,
        "health_factor": WAD // 2,
        "user_collateral": 10**18 + 1,
        "collateral_price": 2_000 * USD + 7,
        "debt_price": USD,
        "collateral_decimals": 18,
        "debt_decimals": 6,
        "liquidation_bonus": 10_333,
        "liquidation_protocol_fee": 0,
    }
    up = liquidation_amounts(**kw, round_up_limited=True).debt_to_repay
    half = liquidation_amounts(**kw).debt_to_repay
    assert up in (half, half + 1)
    assert up * 10_333 >= (10**18 + 1) * (2_000 * USD + 7) * 10**6 // (USD * 10**18) * 10_000
