"""The cascade's price rules on a hand-computed market, the report that states them, and the
incremental rounds against the reference (every account recomputed every round).
"""

from __future__ import annotations

import json
from decimal import Decimal
from fractions import Fraction
from math import isqrt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keeper.protocols.aave_v3.state import AccountState
from keeper.risk.amm import V3Side, build_sides
from keeper.risk.cascade import run_cascade
from keeper.risk.market import MarketState, PoolState
from keeper.risk.pricing import PASS_THROUGH, PEG, QUOTE, parse_rule, price_rules
from keeper.risk.render_stress import stress_json, stress_table
from keeper.risk.shock import shocked_price
from tests.unit.risk_market import COL, USD, borrower, config, reserve
from tests.unit.risk_random import random_market

Q96 = 2**96
STB = "0x" + "5b" * 20  # below USD's address: token0 of the STB/USD pool
A, B, C = ("0x" + c * 20 for c in ("0a", "0b", "0c"))
# The STB/USD pool (fee 0.3%, tick spacing 200) at price 1 (sqrtP = 2^96, tick 0): a wide
# position of L1 and a narrow one [0, 2000) of L2 that the first unit sold leaves behind.
L1 = 9 * 889_822_500
L2 = 10**12
POOL = PoolState(
    "0x" + "77" * 20, STB, USD, 3000, Q96, L1 + L2, 0, 200, -51_200, 51_000, ((0, L2), (2000, -L2))
)


def _market() -> MarketState:
    accounts = [
        borrower(A, 10 * 10**18, 790 * 10**6),  # 10 COL, 790 USD debt
        borrower(B, 10 * 10**18, 640 * 10**6),  # 10 COL, 640 USD debt
        AccountState(C, 1 << 5 | 1 << 2, 0, {2: 1000 * 10**6}, {1: 850 * 10**6}),  # STB / USD
    ]
    return MarketState(
        block=7,
        timestamp=1_000,
        reserves={
            COL: reserve(COL, 0, config(18)),
            USD: reserve(USD, 1, config(6)),
            STB: reserve(STB, 2, config(6)),
        },
        emodes={},
        prices={COL: 100 * 10**8, USD: 10**8, STB: 10**8},
        accounts={a.address: a for a in accounts},
        symbols={COL: "COL", USD: "USD", STB: "STB"},
        pools=[POOL],
    )


def test_pegged_asset_holds_and_a_volatile_one_passes_half_through():
    """COL -10% (to 90), COL passing 1/2 of its pool's move, STB pegged (detected: 1.00), USD
    the quote. All LT 80%, bonus 5%.

    Round 1 at COL 90: A (HF 720/790 = 0.911) repays 790 USD for 790 / 90 x 1.05 =
    9.216666666666666666 COL; C (HF 800/850 = 0.941) repays 850 USD for 892.5 STB; B (HF
    720/640 = 1.125) is healthy.

    COL, the $10,000-a-side constant-product stand-in: 100 COL at 100; the shock moves it to
    isqrt(1e40 x 10 // 9) = 105_409_255_338_945_977_733 wei (100 / sqrt(0.9) COL); the sale
    takes it to 114.625922005612644399 COL, a pool move of (105.409255.. / 114.625922..)^2 =
    0.8456522458537.. (-15.43%); half of it reaches the oracle: 1 + (0.84565.. - 1) / 2 =
    0.9228261229268.., so COL = floor(90e8 x 0.92282..) = 8_305_435_106 (83.05).

    STB, the V3 pool: the first step meets tick 0, initialized, and crosses it with nothing
    swapped (the narrow position is left behind: liquidity L1, not L1 + L2); 892.5 STB less
    the 0.3% fee are 889_822_500 units in, so sqrtP = ceil(L1 x 2^96 / (L1 + 889_822_500)) =
    ceil(0.9 x 2^96) = 71_305_346_262_837_903_834_189_555_303: the pool's price x 0.81 (-19%).
    The oracle holds STB at 1.00 and arbitrage brings the pool back to 2^96, crossing tick 0
    again (liquidity L1 + L2).

    Round 2 at COL 83.05: B's HF = 0.8 x 830.54 / 640 = 1.038, healthy: nothing to liquidate,
    a fixed point. With the whole move passed through, COL would be 76.10870212 and B (HF
    0.951) liquidated in round 2.
    """
    state = _market()
    rules = price_rules(state, USD, {COL: Fraction(1, 2)})
    assert (rules[COL].kind, rules[STB].kind, rules[USD].kind) == (PASS_THROUGH, PEG, QUOTE)
    sides = build_sides(state, USD, 10_000 * 10**8)
    cascade = run_cascade(state, {COL: 90 * 10**8}, sides, 20, rules)

    one, two = cascade.rounds
    assert [(a.before.account, a.calls[0].debt_repaid) for a in one.liquidated] == [
        (A, 790 * 10**6),
        (C, 850 * 10**6),
    ]
    assert cascade.sold[0] == {COL: 9_216_666_666_666_666_666, STB: 892_500_000}
    x1 = isqrt(10**40 * 10 // 9)
    assert x1 == 105_409_255_338_945_977_733
    col_move = Fraction(x1 * x1, (x1 + 9_216_666_666_666_666_666) ** 2)
    assert cascade.dex_moves[0][COL] == col_move
    assert two.prices[COL] == 8_305_435_106 == 90 * 10**8 * (1 + col_move) // 2
    stb_after = -(-9 * Q96 // 10)
    assert stb_after == 71_305_346_262_837_903_834_189_555_303
    assert cascade.dex_moves[0][STB] == Fraction(stb_after**2, Q96**2)
    assert two.prices[STB] == 10**8
    assert two.prices[USD] == 10**8
    stb = sides[STB]
    assert isinstance(stb, V3Side)
    assert (stb.curve.sqrt_price, stb.curve.liquidity, stb.curve.tick) == (Q96, L1 + L2, 0)
    assert two.liquidatable == []
    assert cascade.converged

    full = run_cascade(state, {COL: 90 * 10**8}, build_sides(state, USD, 10**12), 20)
    assert full.rounds[1].prices[COL] == 7_610_870_212
    assert [a.before.account for a in full.rounds[1].liquidated] == [B]


def test_the_report_states_each_assets_rule_and_pool():
    """JSON and text say, per asset, how its price behaves (peg, its share, the quote), why,
    and the pool it is sold into; each round gives the pool moves next to the oracle prices.
    """
    state = _market()
    rules = price_rules(state, USD, {COL: Fraction(1, 2)})
    sides = build_sides(state, USD, 10_000 * 10**8)
    cascade = run_cascade(state, {COL: 90 * 10**8}, sides, 20, rules)
    dex = {a: s.source for a, s in sides.items()}
    pcts = {COL: Decimal(-10)}
    body = json.loads(stress_json(state, {COL: 90 * 10**8}, pcts, cascade, USD, dex))["cascade"]
    assert body["price_rules"] == {
        "COL": {"rule": "pass-through", "share": "1/2", "why": "configured"},
        "USD": {"rule": "quote", "share": "0", "why": "the quote asset: the numeraire"},
        "STB": {"rule": "peg", "share": "0", "why": "oracle price 1.000000 within 1% of 1"},
    }
    assert body["dex"]["STB"].startswith("uniswap-v3 0x7777")
    assert body["dex"]["COL"] == "constant product, 10,000 per side, no fee"
    assert body["rounds"][0]["pool_move_pct"] == {"COL": "-15.4348", "STB": "-19.0000"}
    assert body["rounds"][1]["prices"] == {"COL": 8_305_435_106, "USD": 10**8, "STB": 10**8}
    text = stress_table(state, {COL: 90 * 10**8}, pcts, cascade, USD, dex)
    assert "COL: passes 50.00% of its pool's move to the oracle (configured)" in text
    assert "STB: pegged: holds its price" in text
    assert "USD: the quote: keeps its price" in text


def test_price_rule_options_parse_and_configured_rules_win():
    """`USDC=peg` holds, `WETH=0.5` and `WETH=1/3` are shares; outside [0, 1] is refused; a
    configured share overrides the peg of a stablecoin.
    """
    assert parse_rule("USDC=peg") == ("USDC", None)
    assert parse_rule(" WETH = 0.5 ") == ("WETH", Fraction(1, 2))
    assert parse_rule("WETH=1/3") == ("WETH", Fraction(1, 3))
    for bad in ("WETH", "=0.5", "WETH=1.5", "WETH=-0.1", "WETH=abc"):
        with pytest.raises(ValueError, match=r"."):
            parse_rule(bad)
    rules = price_rules(_market(), USD, {STB: Fraction(1)})
    assert rules[STB].kind == PASS_THROUGH
    assert rules[STB].share == 1


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32), version=st.sampled_from(("3.0", "3.3", "3.6")))
def test_incremental_rounds_are_the_reference_rounds(seed, version):
    """On random markets, the cascade that recomputes only liquidated or exposed accounts gives
    the very rounds (accounts, calls, amounts, prices), sales and final balances of the one
    that recomputes every account in every round.
    """
    state = random_market(seed, version, accounts=30)
    assets = state.assets()
    shocked = {assets[0]: shocked_price(state.prices[assets[0]], -30)}
    quote = assets[1]
    rules = price_rules(state, quote)

    def cascade(*, reference: bool):
        sides = build_sides(state, quote, 10**14)
        return run_cascade(state, shocked, sides, 8, rules, reference=reference)

    fast, slow = cascade(reference=False), cascade(reference=True)
    assert fast.rounds == slow.rounds
    assert fast.sold == slow.sold
    assert fast.final_prices == slow.final_prices
    assert fast.final_accounts == slow.final_accounts


def test_incremental_rounds_skip_accounts_a_fall_cannot_liquidate():
    """200 random accounts, a 30% fall and a thin pool: many rounds, the same rounds as the
    reference, with fewer account recomputations than every account in every round.
    """
    state = random_market(3, "3.6", accounts=200)
    assets = state.assets()
    shocked = {assets[0]: shocked_price(state.prices[assets[0]], -30)}
    rules = price_rules(state, assets[1])
    runs = [
        run_cascade(state, shocked, build_sides(state, assets[1], 10**13), 10, rules, reference=r)
        for r in (False, True)
    ]
    assert runs[0].rounds == runs[1].rounds
    assert len(runs[0].rounds) >= 3
    assert runs[0].recomputed < runs[1].recomputed
