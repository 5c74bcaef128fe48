"""Liquidations with zero capital through our FlashLiquidator contract.

Per plan: simulate the exact ``liquidate`` call in a simulated next block -> check the profit
after the simulated gas -> send through the journaled sender -> read the LiquidationCall and the
contract's Liquidated event. The contract's own ``minProfit`` check is the real guard: if prices
or the pool move before inclusion, the transaction reverts instead of losing money.
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any

from keeper.chain.abi import Codec
from keeper.execution.inventory import InventoryExecutor
from keeper.execution.outcome import Outcome

if TYPE_CHECKING:
    from collections.abc import Callable

    from keeper.chain.client import ChainClient
    from keeper.execution.sender import TxSender
    from keeper.strategy.flash import FlashTerms
    from keeper.strategy.plan import LiquidationPlan

LIQUIDATOR = Codec.named("FlashLiquidator")


class FlashExecutor(InventoryExecutor):
    """Executes plans through the flash liquidator; the keeper needs only gas money."""

    def __init__(
        self,
        client: ChainClient,
        sender: TxSender,
        *,
        liquidator: str,
        pool: str,
        swap_fee: int,
        receipt_timeout_s: float,
    ) -> None:
        super().__init__(client, sender, pool=pool, receipt_timeout_s=receipt_timeout_s)
        self.contract = liquidator
        self.liquidator = liquidator
        self.swap_fee = swap_fee

    async def execute_flash(
        self,
        plan: LiquidationPlan,
        terms: FlashTerms,
        guard: Callable[[int], str | None] | None = None,
    ) -> Outcome:
        """Run one flash liquidation to a final outcome."""
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        calldata = LIQUIDATOR.encode(
            "liquidate",
            plan.collateral_asset,
            plan.debt_asset,
            plan.account,
            plan.debt_to_cover,
            self.swap_fee,
            terms.min_swap_out,
            terms.min_profit,
        )
        simulation = await self._simulate_bundle([(self.contract, calldata)])
        timings["simulate"] = _ms(t0)
        if simulation is None:
            reason = await self._eth_call_revert(self.contract, calldata)
            if reason is None:
                gas = await self.client.estimate_gas(
                    {"from": self.signer.address, "to": self.contract, "data": calldata}
                )
            simulation = reason if reason is not None else (gas, gas)
        checked = self._gas_or_refusal(plan, simulation, guard, timings)
        if isinstance(checked, Outcome):
            return checked
        total_gas, _ = checked
        gas_limit = await self.gas_limit(self.contract, calldata, total_gas)
        tx_hash, receipt = await self._send(
            self.contract,
            calldata,
            gas_limit,
            purpose="flash_liquidation",
            meta={
                **dataclasses.asdict(plan),
                "min_swap_out": terms.min_swap_out,
                "min_profit": terms.min_profit,
            },
        )
        timings["send"], timings["include"] = self.last_send_ms, self.last_include_ms
        if receipt is None:
            return Outcome(
                "timeout",
                plan,
                tx_hash=tx_hash,
                timings_ms=timings,
                reason=f"no receipt within {self.receipt_timeout_s}s",
            )
        return await self._outcome(plan, tx_hash, receipt, timings)

    async def _outcome(
        self,
        plan: LiquidationPlan,
        tx_hash: str,
        receipt: dict[str, Any],
        timings: dict[str, float],
    ) -> Outcome:
        outcome = await super()._outcome(plan, tx_hash, receipt, timings)
        if outcome.status == "liquidated":
            outcome.realized_profit = self._profit(receipt)
        return outcome

    def _profit(self, receipt: dict[str, Any]) -> int | None:
        for entry in receipt.get("logs", []):
            if str(entry.get("address", "")).lower() != self.contract.lower():
                continue
            decoded = LIQUIDATOR.decode_log(entry)
            if decoded is not None and decoded[0] == "Liquidated":
                return int(decoded[1]["profit"])
        return None


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 2)
