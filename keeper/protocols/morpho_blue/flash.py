"""The economics of a zero-capital Morpho liquidation through our MorphoLiquidator. Pure.

Morpho sends the seized collateral before it pulls the repayment, so nothing is borrowed and
there is no premium: the collateral is sold on Uniswap V3 for the loan token inside Morpho's
callback, the repayment is paid from the proceeds, and what is left is the profit, in
loan-token units. The quote comes from the chain (QuoterV2 at the block); the slippage bound
turns it into the swap's minimum output; the on-chain ``minProfit`` makes the contract itself
refuse a liquidation that would not pay the minimum profit plus the gas. A coinbase bid
(``coinbase_payment``) is paid by the contract from its ether when the liquidation succeeds;
its worth in loan units (``bidCost``) is added to the on-chain floor, so the bid is paid only
when the profit after it still reaches the minimum.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from keeper.chain.abi import Codec
from keeper.core.market import Call, FlashCall

if TYPE_CHECKING:
    from collections.abc import Mapping

    from keeper.core.market import AssetInfo, FlashInputs
    from keeper.protocols.morpho_blue.planner import MorphoPlan

BPS = 10_000
LIQUIDATOR = Codec.named("MorphoLiquidator")


@dataclass(frozen=True)
class MorphoFlashTerms:
    """What to pass to ``MorphoLiquidator.liquidate``, and what it should yield."""

    swap_out_quote: int  # loan units the swap returns at the quote
    min_swap_out: int  # the quote less the slippage bound
    profit_at_quote: int  # loan units, before gas
    profit_at_min: int  # loan units, before gas, at the worst accepted swap
    min_profit: int  # the contract's minProfit: the minimum profit plus gas, loan units
    bid_cost: int = 0  # the coinbase bid's worth, loan units (the contract adds it)


def flash_terms(
    *,
    seized: int,
    repaid: int,
    same_asset: bool,
    quote_out: int,
    slippage_bps: int,
    loan_price: int,
    loan_decimals: int,
    min_profit_base: int,
    gas_cost_base: int,
    bid_cost_base: int = 0,
) -> MorphoFlashTerms:
    """Terms of one liquidation seizing ``seized`` and repaying ``repaid`` (planned amounts).

    ``quote_out`` is ignored when the collateral is the loan token (nothing is swapped).
    ``bid_cost_base``: what a coinbase bid paid with the liquidation is worth (base units).
    """
    out = seized if same_asset else quote_out
    min_out = out if same_asset else out * (BPS - slippage_bps) // BPS
    floor_base = max(0, min_profit_base) + gas_cost_base
    # Rounded up: the on-chain floor must never be below what the keeper needs.
    return MorphoFlashTerms(
        swap_out_quote=out,
        min_swap_out=min_out,
        profit_at_quote=out - repaid,
        profit_at_min=min_out - repaid,
        min_profit=_units_up(floor_base, loan_price, loan_decimals),
        bid_cost=_units_up(max(0, bid_cost_base), loan_price, loan_decimals),
    )


def _units_up(base: int, price: int, decimals: int) -> int:
    """Base units to loan units, rounded up: an on-chain floor never below what is needed."""
    return -(-base * 10**decimals // price) if price > 0 else 0


def flash_call(
    plan: MorphoPlan,
    target: tuple[str, int],
    inputs: FlashInputs,
    loan: AssetInfo | None,
    usd: Mapping[str, int],
) -> FlashCall:
    """The call to our MorphoLiquidator at ``target`` = (contract, swap fee) for ``plan``.

    Refused (nothing is sent) when the loan token has no USD price or known decimals, or when
    the profit at the worst accepted swap does not reach the minimum profit plus gas plus the
    coinbase bid's worth (``inputs.bid_wei`` is paid to ``block.coinbase`` by the contract).
    """
    contract, swap_fee = target
    p = plan.payload
    price = usd.get(p.params.loan_token)
    if loan is None or price is None:
        return FlashCall(
            Call(contract, "0x"),
            0,
            0,
            "loan token unpriced",
            refusal=f"{plan.account}: no USD price or decimals for the loan token "
            f"{p.params.loan_token}",
        )
    terms = flash_terms(
        seized=plan.receive.amount,
        repaid=plan.expected_spent or plan.spend.amount,
        same_asset=p.params.collateral_token == p.params.loan_token,
        quote_out=inputs.quote_out,
        slippage_bps=inputs.slippage_bps,
        loan_price=price,
        loan_decimals=loan.decimals,
        min_profit_base=inputs.min_profit_base,
        gas_cost_base=inputs.gas_cost_base,
        bid_cost_base=inputs.bid_cost_base,
    )
    data = LIQUIDATOR.encode(
        "liquidate",
        p.params.as_tuple(),
        plan.account,
        p.seized_assets,
        p.repaid_shares,
        swap_fee,
        terms.min_swap_out,
        terms.min_profit,
        inputs.bid_wei,
        terms.bid_cost,
    )
    refusal = None
    if terms.profit_at_min < terms.min_profit + terms.bid_cost:
        refusal = (
            f"flash profit at the worst accepted swap ({terms.profit_at_min}) is below "
            f"minimum profit plus gas ({terms.min_profit}) plus the bid ({terms.bid_cost}), "
            "in units of the loan token"
        )
    return FlashCall(
        Call(contract, data),
        terms.profit_at_quote,
        terms.profit_at_min,
        f"quote {terms.swap_out_quote}, repaid {plan.expected_spent}",
        refusal,
    )
