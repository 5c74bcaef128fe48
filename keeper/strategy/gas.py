"""Gas in the oracle's base currency, and the profit check after simulation. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from keeper.core.market import ExecutionMode

WEI_PER_NATIVE = 10**18
# Used before simulation gives the real figure: a liquidation on Aave V3 uses 250k-450k gas,
# plus an approval when the allowance must change.
LIQUIDATION_GAS_ESTIMATE = 450_000
APPROVE_GAS_ESTIMATE = 60_000
# A flash liquidation adds the flash loan and a Uniswap V3 swap to the liquidation itself.
FLASH_GAS_ESTIMATE = 750_000
# Bounds on the calldata of one liquidation transaction, for its L1 data fee on L2s: Aave's
# liquidationCall is 4 + 5 x 32 bytes and Morpho Blue's liquidate (empty callback data)
# 4 + 10 x 32; our flash contracts' entry points take at most 12 words.
INVENTORY_CALLDATA_BYTES = 4 + 10 * 32
FLASH_CALLDATA_BYTES = 4 + 12 * 32


@dataclass(frozen=True)
class GasPricing:
    """What a liquidation transaction costs now, in wei and in base units.

    ``l1_fee_wei`` is the L1 data fee of one liquidation transaction on an L2 (0 elsewhere),
    charged on top of its L2 gas; an approval sent with it in inventory mode is not counted.
    """

    gas_price_wei: int  # base fee + tip: what a transaction included now pays per gas
    native_price: int  # the native token's oracle price (base units per 1e18 wei)
    l1_fee_wei: int = 0
    base_fee: int = 0  # the base fee part of ``gas_price_wei`` (the rest is the opening tip)

    @property
    def tip(self) -> int:
        """The tip part of ``gas_price_wei``."""
        return max(0, self.gas_price_wei - self.base_fee)

    def cost_base(self, gas: int) -> int:
        """A liquidation using ``gas`` units, L1 fee included, in base units, rounded up."""
        return wei_to_base(gas * self.gas_price_wei + self.l1_fee_wei, self.native_price)

    def l1_fee_base(self) -> int:
        """The L1 data fee alone in base units, rounded up."""
        return wei_to_base(self.l1_fee_wei, self.native_price)


def wei_to_base(wei: int, native_price: int) -> int:
    """Native wei to base units, rounded up (a cost is never under-counted)."""
    return -(-wei * native_price // WEI_PER_NATIVE)


def net_after_gas(gross_profit_base: int, gas: int, pricing: GasPricing) -> int:
    """Profit after paying ``gas`` units at ``pricing``."""
    return gross_profit_base - pricing.cost_base(gas)


def calldata_bytes(mode: ExecutionMode) -> int:
    """The calldata bound of a liquidation transaction in ``mode`` (its L1 fee's size)."""
    return FLASH_CALLDATA_BYTES if mode is ExecutionMode.FLASH else INVENTORY_CALLDATA_BYTES


def gas_estimate(mode: ExecutionMode) -> int:
    """The gas a plan is priced at before simulation gives the real figure."""
    if mode is ExecutionMode.FLASH:
        return FLASH_GAS_ESTIMATE
    return LIQUIDATION_GAS_ESTIMATE + APPROVE_GAS_ESTIMATE
