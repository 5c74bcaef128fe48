"""The terms of a zero-capital Morpho liquidation (MorphoLiquidator), pure integers."""

from __future__ import annotations

from keeper.protocols.morpho_blue.flash import flash_terms

USDC = 10**6
USD = 10**8


def test_the_swap_pays_the_repayment_and_the_rest_is_profit() -> None:
    """The profit is the swap's output less the repayment (no premium: Morpho lends nothing);
    at the worst accepted swap it is the quote less the slippage bound, less the repayment.
    """
    terms = flash_terms(
        seized=10**18,
        repaid=1_700 * USDC,
        same_asset=False,
        quote_out=2_000 * USDC,
        slippage_bps=50,
        loan_price=USD,
        loan_decimals=6,
        min_profit_base=5 * USD,
        gas_cost_base=2 * USD,
    )
    assert terms.swap_out_quote == 2_000 * USDC
    assert terms.min_swap_out == 1_990 * USDC
    assert terms.profit_at_quote == 300 * USDC
    assert terms.profit_at_min == 290 * USDC
    assert terms.min_profit == 7 * USDC


def test_the_on_chain_floor_rounds_up_and_a_same_asset_market_swaps_nothing() -> None:
    """The contract's minProfit never falls below the keeper's minimum plus gas (rounded up to
    the next loan unit); with the collateral the loan token itself, the seized amount is the
    output and no slippage applies.
    """
    terms = flash_terms(
        seized=1_050,
        repaid=1_000,
        same_asset=True,
        quote_out=0,
        slippage_bps=100,
        loan_price=3 * USD,
        loan_decimals=0,
        min_profit_base=USD,
        gas_cost_base=0,
    )
    assert terms.min_swap_out == terms.swap_out_quote == 1_050
    assert terms.profit_at_min == 50
    assert terms.min_profit == 1  # 1/3 of a unit, rounded up


def test_a_coinbase_bids_worth_is_added_apart_rounded_up() -> None:
    """A coinbase bid's worth (base units) becomes ``bid_cost`` in loan units, rounded up, apart
    from the minimum profit plus gas (the contract adds the two); no bid costs nothing.
    """
    common = {
        "seized": 10**18,
        "repaid": 1_700 * USDC,
        "quote_out": 2_000 * USDC,
        "slippage_bps": 50,
        "loan_price": 3 * USD,
        "loan_decimals": 6,
        "min_profit_base": 6 * USD,
        "gas_cost_base": 3 * USD,
    }
    assert flash_terms(same_asset=False, **common).bid_cost == 0
    terms = flash_terms(same_asset=False, **common, bid_cost_base=USD)
    assert terms.min_profit == 3 * USDC
    assert terms.bid_cost == 333_334  # a third of a dollar's worth of a 3-dollar token, up
    assert terms.profit_at_min == 290 * USDC
