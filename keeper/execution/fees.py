"""EIP-1559 fees: tip from the node within a cap, max fee = 2 x base fee + tip, capped."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from keeper.errors import TransactionError

if TYPE_CHECKING:
    from decimal import Decimal

    from keeper.chain.client import ChainClient

GWEI = 10**9


@dataclass(frozen=True)
class Fees:
    """The two EIP-1559 fee fields, in wei."""

    max_fee_per_gas: int
    max_priority_fee_per_gas: int


class GasCeilingError(TransactionError):
    """The base fee is above what the operator allows; nothing is sent."""


def gwei_to_wei(value: Decimal) -> int:
    """Gwei (as configured) to wei, rounded down."""
    return int(value * GWEI)


class FeePolicy:
    """Quotes fees from the latest block and the node's suggested tip."""

    def __init__(self, max_fee_gwei: Decimal, max_priority_fee_gwei: Decimal) -> None:
        self.max_fee = gwei_to_wei(max_fee_gwei)
        self.max_tip = gwei_to_wei(max_priority_fee_gwei)

    async def quote(self, client: ChainClient) -> Fees:
        """Fees for a transaction to be included in the next block or two."""
        block = await client.get_block("latest")
        base_fee = int(block.get("baseFeePerGas", "0x0"), 16)
        tip = min(await client.max_priority_fee(), self.max_tip)
        if base_fee + tip > self.max_fee:
            raise GasCeilingError(
                f"base fee {base_fee} wei + tip exceeds max_fee_gwei ({self.max_fee} wei)"
            )
        return Fees(min(2 * base_fee + tip, self.max_fee), tip)
