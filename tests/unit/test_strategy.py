"""The strategy picks the most valuable pair it can pay for, or says why not."""

from __future__ import annotations

from keeper.core.plan import Plan, Skip, SkipKind
from keeper.protocols.aave_v3.choice import SEIZE_MARGIN, EModeTerms, Holding, ReserveTerms
from keeper.protocols.aave_v3.liquidation import liquidation_amounts
from keeper.protocols.aave_v3.planner import choose_liquidation
from keeper.protocols.aave_v3.versions import AaveVersion, PoolRules

WAD = 10**18
WETH, USDC, WBTC = "0x" + "11" * 20, "0x" + "22" * 20, "0x" + "33" * 20
PRICES = {WETH: 2000 * 10**8, USDC: 10**8, WBTC: 60_000 * 10**8}
RESERVES = {
    WETH: ReserveTerms(WETH, 18, PRICES[WETH], 8300, 10500, 1000, usable=True),
    USDC: ReserveTerms(USDC, 6, PRICES[USDC], 8000, 10450, 1000, usable=True),
    WBTC: ReserveTerms(WBTC, 8, PRICES[WBTC], 7800, 11000, 0, usable=True),
}
RICH = {WETH: 10**24, USDC: 10**14, WBTC: 10**12}
V30, V36 = PoolRules(AaveVersion.V3_0), PoolRules(AaveVersion.V3_6)


def UserReserve(asset, collateral, stable, variable, enabled):  # noqa: N802 - reads as a row
    """A holding as the tests write it: (asset, aToken, stable debt, variable debt, enabled)."""
    return Holding(asset, collateral, stable + variable, enabled)


def _choose(positions, **kw):
    args = {
        "account": "0xabc",
        "health_factor": 9 * WAD // 10,
        "total_debt_base": 0,
        "block": 1,
        "holdings": positions,
        "reserves": RESERVES,
        "rules": V30,
        "inventory": RICH,
        "min_profit_base": 0,
    }
    args.update(kw)
    return choose_liquidation(**args)


def test_picks_the_collateral_with_the_higher_bonus():
    """With equal collateral in WETH (5%) and WBTC (10%, no fee), WBTC yields more."""
    positions = [
        UserReserve(WETH, 5 * 10**18, 0, 0, True),
        UserReserve(WBTC, 10**7 * 166, 0, 0, True),
        UserReserve(USDC, 0, 0, 15_000 * 10**6, False),
    ]
    plan = _choose(positions)
    assert isinstance(plan, Plan)
    assert plan.receive.asset == WBTC and plan.spend.asset == USDC
    assert plan.spend.amount == 15_000 * 10**6  # HF 0.9 <= 0.95: close factor 100%
    assert plan.expected_profit_base > 0


def test_close_factor_half_above_095_and_inventory_cap():
    """At HF 0.97 only half the debt; with less inventory, only what the keeper holds."""
    positions = [
        UserReserve(WETH, 10 * 10**18, 0, 0, True),
        UserReserve(USDC, 0, 0, 10_000 * 10**6, False),
    ]
    plan = _choose(positions, health_factor=97 * WAD // 100)
    assert isinstance(plan, Plan) and plan.spend.amount == 5_000 * 10**6
    plan = _choose(positions, health_factor=97 * WAD // 100, inventory={USDC: 1_234 * 10**6})
    assert isinstance(plan, Plan) and plan.spend.amount == 1_234 * 10**6


def test_skips_with_reasons():
    """Healthy, no inventory, collateral disabled, no collateral, dust, below minimum profit:
    each a Skip with its own kind (the metric label), never classified from its text.
    """
    positions = [
        UserReserve(WETH, 10 * 10**18, 0, 0, True),
        UserReserve(USDC, 0, 0, 10_000 * 10**6, False),
    ]
    assert _choose(positions, health_factor=WAD) == Skip("0xabc", "healthy", SkipKind.HEALTHY)
    skip = _choose(positions, inventory={})
    assert isinstance(skip, Skip) and skip.kind is SkipKind.NO_INVENTORY
    skip = _choose([UserReserve(WETH, 10**18, 0, 0, False), positions[1]])
    assert isinstance(skip, Skip) and skip.kind is SkipKind.NO_COLLATERAL
    skip = _choose([UserReserve(WETH, 0, 0, 0, True), positions[1]])
    assert isinstance(skip, Skip) and skip.kind is SkipKind.NO_COLLATERAL
    # One wei of collateral against 10,000 USDC of debt: enabled and seizable, but no debt
    # amount buys a single unit of it: the dust path (bad debt), not "no collateral".
    skip = _choose([UserReserve(WETH, 1, 0, 0, True), positions[1]])
    assert isinstance(skip, Skip) and skip.kind is SkipKind.DUST and "dust" in skip.reason
    skip = _choose(positions, min_profit_base=10**15)
    assert isinstance(skip, Skip) and skip.kind is SkipKind.UNPROFITABLE


def test_collateral_limited_plan_is_what_the_pool_does_with_that_amount():
    """When collateral is short, the plan passes the reduced debt amount, and its expected
    collateral is computed for that explicit amount (never more than the balance).
    """
    positions = [
        UserReserve(WETH, 10**18, 0, 0, True),
        UserReserve(USDC, 0, 0, 5_000 * 10**6, False),
    ]
    plan = _choose(positions, health_factor=WAD // 2)
    assert isinstance(plan, Plan)
    assert plan.spend.amount < 5_000 * 10**6
    assert plan.receive.amount <= 10**18
    assert plan.payload.collateral_limited


def test_collateral_limited_v30_plan_leaves_a_few_units_and_is_the_largest_that_does():
    """Pool v3.0 can revert when the whole collateral balance is taken (two scaled amounts
    rounded up): the plan takes all but at least SEIZE_MARGIN units, ours and the treasury's fee
    together, and one more unit of debt would take more.
    """
    collateral = 10**18
    positions = [
        UserReserve(WETH, collateral, 0, 0, True),
        UserReserve(USDC, 0, 0, 5_000 * 10**6, False),
    ]
    plan = _choose(positions, health_factor=WAD // 2)
    assert isinstance(plan, Plan)

    def taken(debt: int) -> int:
        a = liquidation_amounts(
            debt_to_cover=debt,
            user_debt=5_000 * 10**6,
            health_factor=WAD // 2,
            user_collateral=collateral,
            collateral_price=PRICES[WETH],
            debt_price=PRICES[USDC],
            collateral_decimals=18,
            debt_decimals=6,
            liquidation_bonus=10_500,
            liquidation_protocol_fee=1_000,
        )
        return a.collateral_to_liquidator + a.protocol_fee

    assert taken(plan.spend.amount) <= collateral - SEIZE_MARGIN < taken(plan.spend.amount + 1)


def test_emode_bonus_applies_to_collateral_in_the_category():
    """An account in eMode gets the category's bonus on collateral of that category."""
    positions = [
        UserReserve(WETH, 10 * 10**18, 0, 0, True),
        UserReserve(USDC, 0, 0, 10_000 * 10**6, False),
    ]
    normal = _choose(positions)
    boosted = _choose(positions, emode=EModeTerms(1, 11_000, frozenset({WETH})))
    assert isinstance(normal, Plan) and isinstance(boosted, Plan)
    assert boosted.receive.amount > normal.receive.amount


def test_v33_rules_full_liquidation_of_small_positions_and_no_dust():
    """Under v3.3 a small position (< 2,000 USD) is repaid in full even at HF 0.97, and a
    large one is sized so the Pool's leftover-dust rule cannot revert it.
    """
    v33 = PoolRules(AaveVersion.V3_3)
    small = [UserReserve(WETH, 10**18, 0, 0, True), UserReserve(USDC, 0, 0, 1_200 * 10**6, False)]
    plan = _choose(small, health_factor=97 * WAD // 100, rules=v33, total_debt_base=1_200 * 10**8)
    assert isinstance(plan, Plan) and plan.expected_spent == 1_200 * 10**6
    # More than the debt is passed: the Pool repays the whole debt as it has grown by then.
    assert plan.spend.amount > plan.expected_spent
    legacy = _choose(small, health_factor=97 * WAD // 100)
    assert isinstance(legacy, Plan) and legacy.spend.amount == 600 * 10**6
    # 2,500 USD of debt, HF 0.97: v3.3 caps at half the total debt (1,250), which would leave
    # 1,250 USD: allowed. With 2,100 of debt the half would leave 1,050: allowed too.
    big = [
        UserReserve(WETH, 10 * 10**18, 0, 0, True),
        UserReserve(USDC, 0, 0, 2_100 * 10**6, False),
    ]
    plan = _choose(big, health_factor=97 * WAD // 100, rules=v33, total_debt_base=2_100 * 10**8)
    assert isinstance(plan, Plan)
    left = 2_100 * 10**6 - plan.expected_spent
    assert left == 0 or left * 10**8 // 10**6 >= 1_000 * 10**8


def test_seized_collateral_is_cut_to_the_reserves_liquidity():
    """The Pool pays the seized collateral out of the reserve's underlying: with less there than
    the plan would seize, the repayment is cut to the largest amount whose collateral fits (the
    next wei would not); with none there, the account is skipped with that reason.
    """
    positions = [
        UserReserve(WETH, 10 * 10**18, 0, 0, True),
        UserReserve(USDC, 0, 0, 10_000 * 10**6, False),
    ]
    full = _choose(positions)
    assert isinstance(full, Plan)
    liquidity = full.receive.amount // 3
    plan = _choose(positions, liquidity={WETH: liquidity})
    assert isinstance(plan, Plan)
    assert plan.receive.amount <= liquidity < full.receive.amount
    assert not plan.payload.collateral_limited  # an explicit amount: the Pool's exact path
    one_more = _choose(positions, inventory={USDC: plan.spend.amount + 1})
    assert isinstance(one_more, Plan) and one_more.receive.amount > liquidity
    assert _choose(positions, liquidity={WETH: full.receive.amount}) == full
    skip = _choose(positions, liquidity={WETH: 0})
    assert isinstance(skip, Skip) and "liquidity" in skip.reason


def test_the_keeper_never_plans_to_liquidate_itself():
    """The Pool refuses a liquidator liquidating its own account (SelfLiquidation): skipped."""
    positions = [
        UserReserve(WETH, 10 * 10**18, 0, 0, True),
        UserReserve(USDC, 0, 0, 10_000 * 10**6, False),
    ]
    skip = _choose(positions, liquidator="0xABC")
    assert isinstance(skip, Skip) and "self-liquidation" in skip.reason
    assert isinstance(_choose(positions, liquidator="0xdef"), Plan)
