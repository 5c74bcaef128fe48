"""A cycle's fee quote comes from its head's header; replacements and stale pins read again."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, cast

import pytest

from keeper.execution.fees import PIN_MAX_AGE_S, FeePolicy, Fees

if TYPE_CHECKING:
    from keeper.chain.client import ChainClient

GWEI = 10**9


class _Node:
    """Counts the fee reads a policy makes."""

    def __init__(self, base_fee: int, tip: int) -> None:
        self.base_fee, self.tip, self.reads = base_fee, tip, 0

    async def get_block(self, _block: str) -> dict[str, str]:
        self.reads += 1
        return {"baseFeePerGas": hex(self.base_fee)}

    async def max_priority_fee(self) -> int:
        self.reads += 1
        return self.tip


@pytest.mark.asyncio
async def test_pinned_quote_serves_sends_until_it_is_stale():
    now = [100.0]
    policy = FeePolicy(Decimal(500), Decimal(3), clock=lambda: now[0])
    node = cast("ChainClient", _Node(base_fee=40 * GWEI, tip=2 * GWEI))
    counter = cast("_Node", node)
    policy.pin(1234, 10 * GWEI, 5 * GWEI)  # the tip is capped at max_priority_fee_gwei
    assert await policy.quote(node) == Fees(23 * GWEI, 3 * GWEI)
    assert policy.pinned_block() == 1234
    assert counter.reads == 0
    # A refused send is quoted again from the node, and so is a replacement.
    assert await policy.quote(node, fresh=True) == Fees(82 * GWEI, 2 * GWEI)
    assert await policy.quote_uncapped(node) == Fees(82 * GWEI, 2 * GWEI)
    assert counter.reads == 4
    now[0] += PIN_MAX_AGE_S  # the next block may be here: read again
    assert policy.pinned_block() is None
    assert await policy.quote(node) == Fees(82 * GWEI, 2 * GWEI)
    assert counter.reads == 6
