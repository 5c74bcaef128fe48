"""Aave's ``PriceOracleSentinel`` (L2 markets): when the Pool lets a liquidation through.

Every Pool version the keeper knows (3.0 ... 3.6) reads ``PoolAddressesProvider
.getPriceOracleSentinel()`` in ``liquidationCall``; the zero address means none (L1 markets).
``ValidationLogic.validateLiquidationCall`` (aave-v3-origin 3.6.0, the same in aave-v3-core 1.19):

    require(sentinel == address(0)
        || healthFactor < MINIMUM_HEALTH_FACTOR_LIQUIDATION_THRESHOLD      // 0.95e18, strict
        || IPriceOracleSentinel(sentinel).isLiquidationAllowed(),
        PriceOracleSentinelCheckFailed())

and ``isLiquidationAllowed()`` is true when the sequencer uptime feed answers 0 (up) and
``block.timestamp - startedAt > gracePeriod``. So while the sequencer is down, and for the grace
period after it comes back, only accounts under HF 0.95 can be liquidated; the others revert.
(v3.7 removes the sentinel; the keeper does not run on 3.7 yet.)

The flag is read at every block in the same batch as the oracle's prices (one more batch item
on markets that have a sentinel, none on the others); the sentinel's address is read when the
market is loaded and again when the provider emits ``PriceOracleSentinelUpdated``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from keeper.chain.abi import Codec
from keeper.chain.batch import eth_call
from keeper.errors import ContractRevertError, RpcError
from keeper.protocols.aave_v3.market import PROVIDER

if TYPE_CHECKING:
    from keeper.chain.batch import Call
    from keeper.chain.client import ChainClient

SENTINEL = Codec.named("aave_v3_6/IPriceOracleSentinel")
# ValidationLogic.MINIMUM_HEALTH_FACTOR_LIQUIDATION_THRESHOLD (every version that has the
# sentinel): below it (strictly) the sentinel is not asked.
MINIMUM_HEALTH_FACTOR_LIQUIDATION_THRESHOLD = 95 * 10**16
_ZERO = "0x" + "00" * 20


@dataclass(frozen=True)
class SentinelView:
    """The market's sentinel as read at ``block``: its address (None: none) and its answer."""

    address: str | None = None
    liquidation_allowed: bool = True
    block: int = 0

    def allows(self, health_factor: int) -> bool:
        """Whether the Pool would let an account of ``health_factor`` (1e18) be liquidated."""
        return (
            self.address is None
            or health_factor < MINIMUM_HEALTH_FACTOR_LIQUIDATION_THRESHOLD
            or self.liquidation_allowed
        )

    def held_reason(self) -> str:
        """The operator's sentence for an account this sentinel holds back."""
        return (
            f"PriceOracleSentinel {self.address} refuses liquidations at block {self.block} "
            "(sequencer down or in its grace period): only health factors under 0.95 may be "
            "liquidated until it allows them"
        )


NO_SENTINEL = SentinelView()


async def read_sentinel_address(client: ChainClient, provider: str, block: int) -> str | None:
    """``getPriceOracleSentinel()`` of the provider at ``block`` (None: the zero address)."""
    raw = await client.call(provider, PROVIDER.encode("getPriceOracleSentinel"), block)
    (address,) = PROVIDER.decode("getPriceOracleSentinel", raw)
    return None if str(address).lower() == _ZERO else str(address)


def allowed_call(sentinel: str, block: int) -> Call:
    """The batch item of ``isLiquidationAllowed()`` at ``block``."""
    return eth_call(sentinel, SENTINEL.encode("isLiquidationAllowed"), block)


def decode_allowed(raw: bytes | RpcError) -> bool:
    """The answer of :func:`allowed_call`; a revert holds liquidations (so would the Pool's call).

    A transient failure raises: the block's reads are retried whole.
    """
    if isinstance(raw, ContractRevertError):
        return False
    if isinstance(raw, RpcError):
        raise raw
    return bool(SENTINEL.decode("isLiquidationAllowed", raw)[0])
