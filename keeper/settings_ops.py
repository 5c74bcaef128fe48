"""The operations settings of :class:`keeper.settings.Settings` (kept apart for size).

The ops endpoint, alerts, breakers, predictive mode and shutdown.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings

from keeper.settings_types import Address


class OpsSettings(BaseSettings):
    """How the keeper is watched, paused and stopped."""

    ops_host: str = Field(default="127.0.0.1", description="address of /healthz /status /metrics")
    ops_port: int | None = Field(
        default=9464,
        ge=0,
        le=65535,
        description="port of the ops endpoint (0: any free; unset: off)",
    )
    max_head_age_s: float = Field(
        default=120.0, gt=0, description="/healthz fails when no new head came for this long"
    )
    alert_webhooks: list[SecretStr] = Field(
        default_factory=list,
        description='chat webhooks as "format:url", format slack, discord or telegram',
    )
    alert_dedup_s: float = Field(default=600.0, ge=0, description="same alert at most once per")
    alert_per_minute: int = Field(default=20, ge=1, description="alerts sent per minute at most")
    low_gas_balance_eth: Decimal = Field(
        default=Decimal("0.05"), ge=0, description="alert when the keeper's gas money is below"
    )
    breaker_max_consecutive_failures: int = Field(
        default=3, ge=1, description="pause sending after this many failed or lost liquidations"
    )
    breaker_max_head_lag_s: float = Field(
        default=120.0,
        ge=0,
        description="pause sending while the head block is older than this (0: off)",
    )
    breaker_loss_budget_usd: Decimal = Field(
        default=Decimal(100),
        ge=0,
        description="pause sending while realised losses of the last 24 h exceed this",
    )
    uniswap_factory: Address | None = Field(
        default=None,
        description="Uniswap V3 factory whose pools are compared with the oracle (breaker)",
    )
    breaker_max_dex_deviation_bps: int = Field(
        default=1000,
        ge=1,
        le=10_000,
        description="pause sending while an oracle price and its DEX pool differ by more",
    )
    predictive: bool = Field(
        default=False,
        description="read ahead the accounts near liquidation each block and, over WebSocket, "
        "back-run pending oracle updates into the same block",
    )
    predictive_hf: Decimal = Field(
        default=Decimal("1.05"),
        gt=1,
        le=2,
        description="predictive mode: accounts below this health factor are prepared each block",
    )
    shutdown_timeout_s: float = Field(
        default=20.0,
        gt=0,
        le=600,
        description="on SIGTERM, time given to in-flight transactions before exiting",
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["auto", "json", "console"] = "auto"
