"""The cascade on a hand-computed two-account market, and the DEX model it sells into."""

from __future__ import annotations

from fractions import Fraction

from keeper.risk.amm import ConstantProductSide, V3Side, build_sides
from keeper.risk.cascade import bad_debt, default_quote, run_cascade
from keeper.risk.market import PoolState
from tests.unit.risk_market import COL, USD, borrower, market

A, B = "0x" + "0a" * 20, "0x" + "0b" * 20


def test_cascade_hand_computed():
    """COL falls 10% to 90: A (10 COL, 790 USD debt, HF 720/790 < 0.95) is liquidated in full;
    the shock first reaches the $10,000-a-side pool (100 COL at 100 become 100 / sqrt(0.9) =
    105.409.. COL at 90), then A's 9.2166.. COL sold into it drop COL to 76.11, which
    liquidates B (10 COL, 700 USD, healthy at 90); B's COL drops it to 64.74; then nothing is
    left to liquidate: a fixed point in round 3.
    """
    state = market([borrower(A, 10 * 10**18, 790 * 10**6), borrower(B, 10 * 10**18, 700 * 10**6)])
    sides = build_sides(state, USD, 10_000 * 10**8)
    # The pool holds $10,000 of COL at the pre-shock $100: 100 COL.
    side = sides[COL]
    assert isinstance(side, ConstantProductSide)
    assert side.reserve == 100 * 10**18
    cascade = run_cascade(state, {COL: 90 * 10**8}, sides)

    assert [r.prices[COL] for r in cascade.rounds] == [9_000_000_000, 7_610_870_212, 6_474_040_503]
    assert cascade.converged
    assert len(cascade.rounds) == 3
    assert cascade.rules[COL].share == 1  # without rules: every pool move passed through
    one, two, three = cascade.rounds
    # Round 1: close factor 100% (HF 0.9114 <= 0.95); collateral = 790 / 90 COL x 1.05:
    # floor(1e8 * 790e6 * 1e18 / (90e8 * 1e6)) = 8_777_777_777_777_777_777,
    # percentMul(.., 10500) = 9_216_666_666_666_666_666 wei.
    assert [a.before.account for a in one.liquidatable] == [A]
    (call,) = one.liquidatable[0].calls
    assert call.debt_repaid == 790 * 10**6
    assert call.collateral_to_liquidator == 9_216_666_666_666_666_666
    assert call.protocol_fee == 0
    assert one.liquidatable_debt_base == 790 * 10**8
    assert one.debt_repaid_base == 790 * 10**8
    # 9.216666.. COL x 90 = 829.4999.. USD, floored to the base unit.
    assert one.collateral_seized_base == 82_949_999_999
    assert one.bonus_base == 82_949_999_999 - 79_000_000_000
    assert one.bad_debt_base == 0
    assert cascade.sold[0] == {COL: 9_216_666_666_666_666_666}
    # The shock moved the pool to x = isqrt(1e40 * 10 // 9) = 105_409_255_338_945_977_733 wei
    # (100 / sqrt(0.9) COL); selling 9.2166.. COL moves the price by
    # (105.409255.. / 114.625922..)^2 = 0.845652245.., so 90 x 0.845652.. = 76.10870212
    # (floored to the feed's 8 decimals).

    # Round 2 at 76.10870212: B's HF = 0.8 x 761.0870212 / 700 = 0.8698, liquidated in full.
    assert [a.before.account for a in two.liquidatable] == [B]
    (call,) = two.liquidatable[0].calls
    assert call.debt_repaid == 700 * 10**6
    # floor(1e8 * 700e6 * 1e18 / (7_610_870_212 * 1e6)) = 9_197_371_397_771_511_492, x 1.05:
    assert call.collateral_to_liquidator == 9_657_239_967_660_087_067
    # Sold into x = 114.625922.. COL: 76.10870212 x (114.625922.. / 124.283161..)^2 = 64.74040503.

    assert three.calls == 0
    assert three.liquidatable == []
    assert bad_debt(state, cascade.final_accounts, cascade.final_prices) == (0, 0)
    # A keeps what was not seized: 10 - 9.216666.. COL.
    assert cascade.final_accounts[A].scaled_collateral[0] == 783_333_333_333_333_334
    assert cascade.final_accounts[A].user_config == 0b0010  # debt repaid: borrowing bit cleared


def test_protocol_fee_is_the_treasury_share_of_the_bonus():
    """With a 10% liquidation protocol fee, the treasury gets 10% of the 5% bonus in COL and the
    liquidator the rest; the seized total is unchanged.
    """
    state = market([borrower(A, 10 * 10**18, 790 * 10**6)], col_fee=1000)
    cascade = run_cascade(state, {COL: 90 * 10**8}, build_sides(state, USD, 10**20), 1)
    (call,) = cascade.first.liquidatable[0].calls
    total = 9_216_666_666_666_666_666
    # bonus part = total - percentDiv(total, 10500) = total - 8_777_777_777_777_777_777
    bonus = total - 8_777_777_777_777_777_777
    assert call.protocol_fee == (bonus * 1000 + 5000) // 10_000
    assert call.collateral_to_liquidator + call.protocol_fee == total


def test_bad_debt_when_collateral_is_worth_less_than_debt():
    """At a 30% fall, 10 COL (700 USD) no longer cover 790 USD: everything is seized, and what
    cannot be repaid is bad debt.
    """
    state = market([borrower(A, 10 * 10**18, 790 * 10**6)])
    cascade = run_cascade(state, {COL: 70 * 10**8}, build_sides(state, USD, 10**20), 1)
    outcome = cascade.first.liquidatable[0]
    assert outcome.after.total_collateral_base == 0
    # All 10 COL repay 700 / 1.05 = 666.666666 USD (percentDiv, rounded half up to 6 decimals).
    assert outcome.calls[0].debt_repaid == 666_666_667
    assert outcome.bad_debt_base == (790_000_000 - 666_666_667) * 100
    assert cascade.first.bad_debt_base == outcome.bad_debt_base


def test_v3_full_range_trades_as_constant_product():
    """A pool whose ticks were not read (L = 1000 at price 4: sqrtP = 2 x 2^96) trades as the
    constant product on its virtual reserves x = L / sqrtP = 500, y = L x sqrtP = 2000: with no
    fee, selling 500 token0 takes the price to sqrtP = ceil(1000 x 2 x 2^96 / (1000 + 500 x 2))
    = 2^96, a price of 1: a ratio of exactly 1/4; selling token1 moves the other way.
    """
    pool = PoolState("0xpool", COL, USD, 0, 2 * 2**96, 1000)
    side = V3Side(pool, COL)
    sale = side.sell(500)
    assert (sale.sold, sale.ratio) == (500, Fraction(1, 4))
    assert side.curve.sqrt_price == 2**96
    # token1 side: y = 2000; selling 2000 doubles it: price of token1 x4, of token0 / 4... the
    # asset's own price (token1 in token0) falls to a quarter.
    other = V3Side(pool, USD)
    assert other.sell(2000).ratio == Fraction(1, 4)


def test_default_quote_is_the_most_borrowed_unshocked_reserve():
    """USD is the only asset borrowed; with USD shocked the quote falls back to it anyway."""
    state = market([borrower(A, 10 * 10**18, 790 * 10**6)])
    assert default_quote(state) == USD
    assert default_quote(state, [COL]) == USD
    assert default_quote(state, [COL, USD]) == USD
