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


@dataclass(frozen=True)
class GasPricing:
    """What a unit of gas costs now, in wei and in base units."""

    gas_price_wei: int  # base fee + tip: what a transaction included now pays per gas
    native_price: int  # the native token's oracle price (base units per 1e18 wei)
    base_fee: int = 0  # the base fee part of ``gas_price_wei`` (the rest is the opening tip)

    @property
    def tip(self) -> int:
        """The tip part of ``gas_price_wei``."""
        return max(0, self.gas_price_wei - self.base_fee)

    def cost_base(self, gas: int) -> int:
        """The base-currency cost of ``gas`` units, rounded up (never under-count a cost)."""
        return -(-gas * self.gas_price_wei * self.native_price // WEI_PER_NATIVE)


def wei_to_base(wei: int, native_price: int) -> int:
    """Native wei to base units, rounded up (a cost is never under-counted)."""
    return -(-wei * native_price // WEI_PER_NATIVE)


def net_after_gas(gross_profit_base: int, gas: int, pricing: GasPricing) -> int:
    """Profit after paying ``gas`` units at ``pricing``."""
    return gross_profit_base - pricing.cost_base(gas)


def gas_estimate(mode: ExecutionMode) -> int:
    """The gas a plan is priced at before simulation gives the real figure."""
    if mode is ExecutionMode.FLASH:
        return FLASH_GAS_ESTIMATE
    return LIQUIDATION_GAS_ESTIMATE + APPROVE_GAS_ESTIMATE
