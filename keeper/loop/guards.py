"""The breakers, evaluated once per head, and the gas-money watch."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING

import structlog

from keeper.errors import RpcError
from keeper.execution.journal import DAY_S
from keeper.ops.breakers import BreakerInputs, Breakers

if TYPE_CHECKING:
    from collections.abc import Mapping

    from keeper.chain.client import ChainClient
    from keeper.core.market import AssetInfo, LendingMarket
    from keeper.execution.sender import TxSender
    from keeper.loop.ledger import Ledger
    from keeper.ops.alerts import Alerts
    from keeper.ops.metrics import Metrics
    from keeper.ops.server import Status
    from keeper.oracles.dex import DexPriceCheck
    from keeper.settings import Settings

log = structlog.get_logger(__name__)
BALANCE_CHECK_S = 60.0


class Guards:
    """Whether sending is paused at this head, and why (each trip and clear reported once)."""

    def __init__(
        self,
        settings: Settings,
        client: ChainClient,
        market: LendingMarket,
        ledger: Ledger,
        ops: tuple[Metrics, Alerts, Status],
        dex: DexPriceCheck | None,
    ) -> None:
        self.settings = settings
        self.client = client
        self.market = market
        self.ledger = ledger
        self.metrics, self.alerts, self.status = ops
        self.dex = dex
        self.breakers = Breakers(
            max_consecutive_failures=settings.breaker_max_consecutive_failures,
            max_head_lag_s=settings.breaker_max_head_lag_s,
            max_dex_deviation_bps=settings.breaker_max_dex_deviation_bps,
        )
        self._stale: set[str] = set()

    @property
    def tripped(self) -> dict[str, str]:
        """The breakers tripped now: name -> reason."""
        return self.breakers.tripped

    async def check(
        self,
        head: int,
        timestamp: int,
        sender: TxSender,
        assets: Mapping[str, AssetInfo],
        native: str,
    ) -> None:
        """Evaluate every breaker at this head."""
        self._report_stale(head)
        base_fee, tip = await sender.fees.base_and_tip(self.client)
        prices = self.market.prices()
        deviations: dict[str, int] = {}
        if self.dex is not None:
            by_address = await self.dex.deviations(
                native, prices, {a: i.decimals for a, i in assets.items()}, head
            )
            deviations = {assets[a].label: d for a, d in by_address.items()}
        loss = self.ledger.loss_24h(DAY_S)
        unit = self.market.base_unit
        self.metrics.loss_24h.set(loss / unit if unit else 0)
        changes = self.breakers.evaluate(
            BreakerInputs(
                stale_feeds=self.market.stale_feeds(),
                base_fee_wei=base_fee,
                tip_wei=tip,
                max_fee_wei=sender.fees.max_fee,
                consecutive_failures=self.ledger.failures_at(head),
                head_age_s=max(0.0, time.time() - timestamp),
                loss_24h_base=loss,
                loss_budget_base=int(self.settings.breaker_loss_budget_usd * unit),
                base_unit=unit or 1,
                dex_deviation_bps=deviations,
                unpriced=self.market.unpriced(),
            )
        )
        for change in changes:
            self.metrics.breakers.labels(change.name).set(1 if change.tripped else 0)
            word = "tripped" if change.tripped else "cleared"
            if change.tripped:
                log.warning(
                    "breaker_tripped", breaker=change.name, reason=change.reason, block=head
                )
            else:
                log.info("breaker_cleared", breaker=change.name, block=head)
            self.alerts.alert(
                f"breaker_{word}", change.name, f"breaker {change.name} {word}: {change.reason}"
            )
        self.status.breakers = self.breakers.tripped

    def _report_stale(self, head: int) -> None:
        """Log when the set of stale feeds changes (not every block)."""
        stale = self.market.stale_feeds()
        if set(stale) != self._stale:
            self._stale = set(stale)
            if stale:
                log.warning(
                    "stale_feeds",
                    block=head,
                    ages_s=stale,
                    heartbeat_s=self.settings.oracle_heartbeat_s,
                )
            else:
                log.info("feeds_fresh", block=head)

    async def watch_gas_money(self, stop: asyncio.Event, address: str) -> None:
        """Alert when the keeper's native balance runs low; checked every minute."""
        threshold = int(self.settings.low_gas_balance_eth * 10**18)
        while not stop.is_set():
            try:
                balance = await self.client.get_balance(address)
            except RpcError as exc:
                log.warning("balance_check_failed", error=str(exc))
            else:
                self.metrics.observe_gas_balance(address, balance, threshold)
                if balance < threshold:
                    self.alerts.alert(
                        "low_gas",
                        address,
                        f"low gas balance: {address} holds {balance / 10**18:.4f} "
                        f"(alert below {self.settings.low_gas_balance_eth})",
                    )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), BALANCE_CHECK_S)
