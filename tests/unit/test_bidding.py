"""The bidding policy (keeper.strategy.bidding): hand-computed integer cases, then properties.

The worked plan: a margin of 50 USD (base units of 1e-8 USD) over 500,000 gas with ETH at
2,000 USD is 50e8 x 1e18 / (500,000 x 2,000e8) = 50 gwei per gas (the break-even price);
at a base fee of 10 gwei the break-even tip is 40 gwei and half of it 20 gwei.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from keeper.strategy.bidding import (
    BidFloat,
    BidLimits,
    BidPolicy,
    Fees,
    break_even_price,
    coinbase_bid,
    effective_tip,
    is_valid_replacement,
    limits_from_meta,
    outbid,
    plan_limits,
    rival_ahead,
)

GWEI = 10**9
BASE = 10 * GWEI
ETH = 2_000 * 10**8


def _limits(share_bps=5_000, max_tip=3 * GWEI, floor=None, margin=50 * 10**8) -> BidLimits:
    limits = plan_limits(
        BidPolicy(share_bps, max_tip, 500 * GWEI, floor),
        margin_base=margin,
        gas=500_000,
        native_price=ETH,
        base_fee=BASE,
        suggested_tip=GWEI,
    )
    assert limits is not None
    return limits


def test_break_even_price_is_the_margin_per_gas_rounded_down():
    """50 USD over 500k gas at 2,000 USD/ETH is 50 gwei; odd figures round down; no price or
    no gas gives no break-even.
    """
    assert break_even_price(50 * 10**8, 500_000, ETH) == 50 * GWEI
    assert break_even_price(7, 3, 2) == 7 * 10**18 // 6 == 1_166_666_666_666_666_666
    assert break_even_price(-5, 3, 2) == 0
    assert break_even_price(5, 0, 2) is None
    assert break_even_price(5, 3, 0) is None


def test_no_rival_means_the_floor():
    """The opening bid is the node's suggested tip (1 gwei), max fee 2 x 10 + 1 = 21 gwei; a
    configured floor of 2 gwei replaces the suggestion; a floor is never above the cap.
    """
    assert _limits().opening(BASE) == Fees(21 * GWEI, GWEI)
    assert _limits(floor=2 * GWEI).opening(BASE) == Fees(22 * GWEI, 2 * GWEI)
    assert _limits(floor=9 * GWEI).opening(BASE) == Fees(23 * GWEI, 3 * GWEI)


def test_share_bound():
    """With a 100 gwei cap, the share (50% of the 40 gwei break-even tip = 20 gwei) bounds the
    bid: a rival at 19 gwei (legacy, price 29 gwei) is beaten by one wei of tip, max fee 2 x 10 +
    tip; a rival at 20 gwei is let go.
    """
    limits = _limits(max_tip=100 * GWEI)
    assert limits.tip_ceiling(BASE) == 20 * GWEI
    ours = limits.opening(BASE)
    assert outbid(ours, 19 * GWEI, 29 * GWEI, BASE, limits) == Fees(39 * GWEI + 1, 19 * GWEI + 1)
    assert outbid(ours, 20 * GWEI, 30 * GWEI, BASE, limits) is None


def test_break_even_bound():
    """Giving the whole margin (share 100%), the tip stops at the break-even tip (40 gwei) and
    the max fee at the break-even price (50 gwei, not 2 x 10 + 39): a rival at 39 gwei is beaten
    by one wei, one at 40 gwei is let go.
    """
    limits = _limits(share_bps=10_000, max_tip=100 * GWEI)
    assert (limits.tip_ceiling(BASE), limits.fee_ceiling) == (40 * GWEI, 50 * GWEI)
    ours = limits.opening(BASE)
    new = outbid(ours, 39 * GWEI, 49 * GWEI, BASE, limits)
    assert new == Fees(50 * GWEI, 39 * GWEI + 1)
    assert effective_tip(new, BASE) == 39 * GWEI + 1
    assert outbid(ours, 40 * GWEI, 50 * GWEI, BASE, limits) is None


def test_cap():
    """With the default 3 gwei cap under a 20 gwei share: a rival at 2 gwei with max fee 30
    gwei is beaten by one wei of tip and one wei of max fee; a rival at 3 gwei is let go.
    """
    limits = _limits()
    assert limits.tip_ceiling(BASE) == 3 * GWEI
    ours = limits.opening(BASE)
    assert outbid(ours, 2 * GWEI, 30 * GWEI, BASE, limits) == Fees(30 * GWEI + 1, 2 * GWEI + 1)
    assert outbid(ours, 3 * GWEI, 13 * GWEI, BASE, limits) is None


def test_outbid_increments_are_valid_replacements():
    """A rival matching our 1 gwei tip: the tip and max fee rise by 12.5% (1.125 / 23.625
    gwei), the least a node accepts at the same nonce; odd wei round up (7 -> 8, 3 -> 4); a
    rival below us is not answered.
    """
    limits = _limits()
    ours = limits.opening(BASE)
    assert rival_ahead(ours, GWEI, BASE)
    assert outbid(ours, GWEI, 21 * GWEI, BASE, limits) == Fees(23_625_000_000, 1_125_000_000)
    odd = BidLimits(0, 10**18, 10_000, 10**18, 10**18)
    assert outbid(Fees(7, 3), 0, 0, 0, odd) == Fees(8, 4)
    assert not rival_ahead(ours, GWEI - 1, BASE)


def test_a_rival_too_expensive_to_beat_is_let_go():
    """A rival at 50 gwei is above every bound; and when the share is below the floor (a thin
    margin: break-even 12 gwei, tip 2 gwei, half of it 1 gwei < the 1.5 gwei floor) we open at
    the floor and do not raise it at all.
    """
    limits = _limits()
    assert outbid(limits.opening(BASE), 50 * GWEI, 500 * GWEI, BASE, limits) is None
    thin = _limits(floor=1_500_000_000, margin=12 * 10**8)
    assert thin.break_even == 12 * GWEI
    assert thin.tip_ceiling(BASE) == 1_500_000_000
    ours = thin.opening(BASE)
    assert ours == Fees(12 * GWEI, 1_500_000_000)  # 2 x 10 + 1.5 = 21.5, held at 12
    assert outbid(ours, 1_500_000_000, 12 * GWEI, BASE, thin) is None


def test_ceiling_is_never_below_the_accepted_price():
    """A plan accepted at base fee + floor keeps that price payable even when its margin at the
    (higher) gas estimate says less: break-even = 10 + 1 gwei, the floor stays 1 gwei.
    """
    limits = _limits(margin=1)
    assert limits.break_even == BASE + GWEI
    assert limits.opening(BASE) == Fees(11 * GWEI, GWEI)
    assert limits.tip_ceiling(BASE) == GWEI


def test_limits_survive_the_journal():
    """The limits journaled beside a transaction come back the same; a transaction journaled
    before the policy (a break-even price only) is bounded by it and the caps alone.
    """
    limits = _limits()
    assert limits_from_meta(limits.to_meta(), 3 * GWEI, 500 * GWEI) == limits
    old = limits_from_meta({"fee_ceiling": 50 * GWEI}, 3 * GWEI, 500 * GWEI)
    assert old is not None
    assert (old.fee_ceiling, old.tip_ceiling(BASE)) == (50 * GWEI, 3 * GWEI)
    assert limits_from_meta({}, 3 * GWEI, 500 * GWEI) is None


@given(
    tip=st.integers(0, 10**11),
    extra=st.integers(0, 10**12),
    base=st.integers(0, 10**11),
    rival_tip=st.integers(0, 10**11),
    rival_fee=st.integers(0, 10**12),
    share=st.integers(0, 10_000),
    margin=st.integers(0, 10**11),
)
def test_every_outbid_beats_the_rival_within_the_ceilings(
    tip, extra, base, rival_tip, rival_fee, share, margin
):
    """Whatever the fees, a bid is a valid replacement, pays more tip than the rival at this
    base fee, and stays within the tip and fee ceilings, or the rival is let go.
    """
    limits = plan_limits(
        BidPolicy(share, 3 * GWEI, 500 * GWEI),
        margin_base=margin,
        gas=500_000,
        native_price=ETH,
        base_fee=base,
        suggested_tip=GWEI,
    )
    assert limits is not None
    ours = Fees(base + tip + extra, tip)
    new = outbid(ours, rival_tip, rival_fee, base, limits)
    if new is not None:
        assert is_valid_replacement(ours, new)
        assert effective_tip(new, base) > rival_tip
        assert new.max_priority_fee_per_gas <= limits.tip_ceiling(base)
        assert new.max_priority_fee_per_gas <= new.max_fee_per_gas <= limits.fee_ceiling


def test_coinbase_bid_is_the_share_of_the_margin_after_gas_in_wei():
    """A bundle's coinbase bid: 50% of (50 USD margin - 10 USD gas) = 20 USD, at 2,000 USD per
    ETH 0.01 ETH; nothing when gas eats the margin or the native price is unknown.
    """
    policy = BidPolicy(5_000, 3 * GWEI, 500 * GWEI)
    bid = coinbase_bid(policy, margin_base=50 * 10**8, gas_cost_base=10 * 10**8, native_price=ETH)
    assert bid == 10**16
    assert coinbase_bid(policy, margin_base=10**8, gas_cost_base=2 * 10**8, native_price=ETH) == 0
    assert coinbase_bid(policy, margin_base=50 * 10**8, gas_cost_base=0, native_price=0) == 0
    none = BidPolicy(0, 3 * GWEI, 500 * GWEI)
    assert coinbase_bid(none, margin_base=50 * 10**8, gas_cost_base=0, native_price=ETH) == 0


def test_a_heads_coinbase_bids_are_capped_to_the_contracts_ether():
    """The bid float pays each bid of a head from what the earlier ones left: a bid within it
    whole, the next one capped to the rest, then nothing; a negative bid takes nothing.
    """
    bid_float = BidFloat(1_000)
    assert bid_float.take(600) == 600
    assert bid_float.take(-5) == 0
    assert bid_float.take(600) == 400
    assert bid_float.take(1) == 0
    assert bid_float.left == 0
