"""The replacement rule: both fee caps up by at least 12.5%, within the operator's caps."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keeper.execution.fees import FeePolicy, Fees, GasCeilingError, bumped, is_valid_replacement

if TYPE_CHECKING:
    from keeper.chain.client import ChainClient

GWEI = 10**9


def test_bump_is_at_least_twelve_and_a_half_percent_rounded_up():
    """3 gwei / 1 gwei becomes 3.375 / 1.125 gwei; odd wei round up."""
    new = bumped(Fees(3 * GWEI, GWEI), Fees(0, 0), 500 * GWEI, 50 * GWEI)
    assert new == Fees(3_375_000_000, 1_125_000_000)
    odd = bumped(Fees(7, 3), Fees(0, 0), 10**18, 10**18)
    assert odd == Fees(8, 4)  # 7.875 -> 8, 3.375 -> 4


def test_a_higher_quote_wins_and_caps_hold():
    """When the market moved more than 12.5%, the quote is used; the caps bound both fields;
    a replacement the caps would hold under +12.5% is not attempted.
    """
    assert bumped(Fees(3 * GWEI, GWEI), Fees(100 * GWEI, 2 * GWEI), 500 * GWEI, 5 * GWEI) == Fees(
        100 * GWEI, 2 * GWEI
    )
    capped = bumped(Fees(3 * GWEI, GWEI), Fees(900 * GWEI, 2 * GWEI), 500 * GWEI, 5 * GWEI)
    assert capped == Fees(500 * GWEI, 2 * GWEI)
    assert bumped(Fees(480 * GWEI, GWEI), Fees(0, 0), 500 * GWEI, 5 * GWEI) is None
    assert bumped(Fees(3 * GWEI, 5 * GWEI // 1), Fees(0, 0), 500 * GWEI, 5 * GWEI) is None


def test_geth_rule():
    """Geth accepts a replacement only when both caps rise; +10% on one field is not enough."""
    old = Fees(100, 10)
    assert is_valid_replacement(old, Fees(113, 12))
    assert not is_valid_replacement(old, Fees(200, 11))
    assert not is_valid_replacement(old, Fees(112, 20))


@given(fee=st.integers(1, 10**12), tip=st.integers(0, 10**11), base=st.integers(0, 10**12))
def test_every_bump_is_a_valid_replacement_within_caps(fee, tip, base):
    """Whatever the old fees and the quote, a bump is valid and within the caps, or None."""
    tip = min(tip, fee)
    cap_fee, cap_tip = 10**12, 10**11
    new = bumped(Fees(fee, tip), Fees(2 * base + tip, tip), cap_fee, cap_tip)
    if new is not None:
        assert is_valid_replacement(Fees(fee, tip), new)
        assert new.max_fee_per_gas <= cap_fee and new.max_priority_fee_per_gas <= cap_tip
        assert new.max_priority_fee_per_gas <= new.max_fee_per_gas


class _Node:
    async def get_block(self, block):
        return {"baseFeePerGas": hex(10 * GWEI)}

    async def max_priority_fee(self):
        return 7 * GWEI


@pytest.mark.asyncio
async def test_tip_from_settings_or_node_within_caps():
    """The tip is the fixed setting when given, else the node's suggestion; both capped;
    max fee = 2 x base fee + tip, capped; a base fee above the cap refuses to quote.
    """
    node = cast("ChainClient", _Node())
    assert await FeePolicy(Decimal(500), Decimal(5)).quote(node) == Fees(25 * GWEI, 5 * GWEI)
    fixed = FeePolicy(Decimal(500), Decimal(5), Decimal(2))
    assert await fixed.quote(node) == Fees(22 * GWEI, 2 * GWEI)
    assert await FeePolicy(Decimal(21), Decimal(5)).quote(node) == Fees(21 * GWEI, 5 * GWEI)
    with pytest.raises(GasCeilingError):
        await FeePolicy(Decimal(12), Decimal(5)).quote(node)
