"""EIP-1559 fees: tip from the node within a cap, max fee = 2 x base fee + tip, capped.

The fee fields and the replacement rule are the bidding policy's (``keeper.strategy.bidding``).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from keeper.errors import TransactionError
from keeper.strategy.bidding import Fees, bump, is_valid_replacement

if TYPE_CHECKING:
    from collections.abc import Callable
    from decimal import Decimal

    from keeper.chain.client import ChainClient

GWEI = 10**9
# A quote pinned from the head a cycle acts on serves that cycle's first sends only: older than
# this, the next block may have come (its base fee up to 12.5% higher) and fees are read again.
PIN_MAX_AGE_S = 1.0
TIP_REFRESH_BLOCKS = 8


class GasCeilingError(TransactionError):
    """The base fee is above what the operator allows; nothing is sent."""


def gwei_to_wei(value: Decimal) -> int:
    """Gwei (as configured) to wei, rounded down."""
    return int(value * GWEI)


class FeePolicy:
    """Quotes fees from the latest block and the node's suggested tip."""

    def __init__(
        self,
        max_fee_gwei: Decimal,
        max_priority_fee_gwei: Decimal,
        priority_fee_gwei: Decimal | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_fee = gwei_to_wei(max_fee_gwei)
        self.max_tip = gwei_to_wei(max_priority_fee_gwei)
        self.fixed_tip = None if priority_fee_gwei is None else gwei_to_wei(priority_fee_gwei)
        self._clock = clock
        self._pinned: tuple[int, int, int, float] | None = None  # block, base fee, tip, when
        self._suggested: tuple[int, int] | None = None  # block, the node's suggested tip

    def pin(self, block: int, base_fee: int, tip: int) -> None:
        """Quote from this head (its base fee and the tip already read) for a short while.

        Saves the sends of a cycle the same reads again, on the path from a price update to
        our broadcast. Replacements always read fresh fees.
        """
        self._pinned = (block, base_fee, min(tip, self.max_tip), self._clock())

    def _fresh_pin(self) -> tuple[int, int, int, float] | None:
        pinned = self._pinned
        if pinned is not None and self._clock() - pinned[3] < PIN_MAX_AGE_S:
            return pinned
        return None

    def pinned_block(self) -> int | None:
        """The head of a fresh pinned quote (None when there is none)."""
        pinned = self._fresh_pin()
        return None if pinned is None else pinned[0]

    async def tip(self, client: ChainClient, block: int | None = None) -> int:
        """The tip we would pay: the configured one, or the node's suggestion, within the cap.

        With ``block`` (a cycle's head), a suggestion read within ``TIP_REFRESH_BLOCKS``
        blocks serves again: the node's suggestion moves slowly, and reading it each block
        would cost a request per block on the way to every send. Without, it is read now.
        """
        if self.fixed_tip is not None:
            return min(self.fixed_tip, self.max_tip)
        cached = self._suggested
        if block is not None and cached is not None and 0 <= block - cached[0] < TIP_REFRESH_BLOCKS:
            return min(cached[1], self.max_tip)
        suggested = await client.max_priority_fee()
        if block is not None:
            self._suggested = (block, suggested)
        return min(suggested, self.max_tip)

    async def quote(self, client: ChainClient, *, fresh: bool = False) -> Fees:
        """Fees for a transaction to be included in the next block or two, within the caps."""
        base_fee, tip = await self.base_and_tip(client, fresh=fresh)
        if base_fee + tip > self.max_fee:
            raise GasCeilingError(
                f"base fee {base_fee} wei + tip exceeds max_fee_gwei ({self.max_fee} wei)"
            )
        return Fees(min(2 * base_fee + tip, self.max_fee), tip)

    async def quote_uncapped(self, client: ChainClient) -> Fees:
        """2 x base fee + tip, before the max-fee cap (a replacement caps it itself)."""
        base_fee, tip = await self.base_and_tip(client, fresh=True)
        return Fees(2 * base_fee + tip, tip)

    async def base_and_tip(self, client: ChainClient, *, fresh: bool = False) -> tuple[int, int]:
        """The latest base fee and the tip we would pay (node's suggestion within the cap).

        From a fresh pinned quote unless ``fresh``.
        """
        pinned = None if fresh else self._fresh_pin()
        if pinned is not None:
            return pinned[1], pinned[2]
        block = await client.get_block("latest")
        return int(block.get("baseFeePerGas", "0x0"), 16), await self.tip(client)


def bumped(old: Fees, quote: Fees, cap_max_fee: int, cap_tip: int) -> Fees | None:
    """Fees for a replacement at the same nonce, or None if the caps forbid one.

    Each field is the larger of (old x 1.125, rounded up) and the current quote, then capped;
    a replacement that cannot raise both fields by the full 12.5% would be refused by the
    node, so None is returned instead of a doomed transaction.
    """
    tip = max(bump(old.max_priority_fee_per_gas), quote.max_priority_fee_per_gas)
    fee = max(bump(old.max_fee_per_gas), quote.max_fee_per_gas)
    tip, fee = min(tip, cap_tip), min(fee, cap_max_fee)
    tip = min(tip, fee)
    if not is_valid_replacement(old, Fees(fee, tip)):
        return None
    return Fees(fee, tip)


__all__ = [
    "FeePolicy",
    "Fees",
    "GasCeilingError",
    "bumped",
    "gwei_to_wei",
    "is_valid_replacement",
]
