"""The flash terms' coinbase bid: its worth in debt-asset units, rounded up, beside the floor."""

from __future__ import annotations

from keeper.protocols.aave_v3.flash_terms import flash_terms

USDC_PRICE = 10**8  # 1 USD in base units of 1e-8 USD


def _terms(bid_cost_base: int):
    return flash_terms(
        debt_to_cover=1_000 * 10**6,
        collateral_received=0,
        same_asset=False,
        quote_out=1_100 * 10**6,
        premium_bps=5,
        slippage_bps=50,
        debt_price=USDC_PRICE,
        debt_decimals=6,
        min_profit_base=10 * 10**8,
        gas_cost_base=2 * 10**8,
        bid_cost_base=bid_cost_base,
    )


def test_the_bid_cost_is_its_worth_in_debt_units_rounded_up_and_apart_from_the_floor():
    """A bid worth 20 USD + 1e-8 USD costs 20.000001 USDC (rounded up: never under-counted);
    the contract's minProfit (minimum + gas, 12 USDC) is unchanged; no bid costs nothing.
    """
    terms = _terms(20 * 10**8 + 1)
    assert terms.bid_cost == 20_000_001
    assert terms.min_profit == 12 * 10**6
    assert _terms(0).bid_cost == 0
