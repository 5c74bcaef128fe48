"""The keeper's Prometheus metrics, in a registry of its own (one per keeper, no globals).

The alert rules in deploy/prometheus/alerts.yml use these names; tests/unit/test_alert_rules.py
checks that every name they use is exported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, get_args

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

from keeper.ops.channel_watch import ChannelMetrics
from keeper.ops.checkpoint_metrics import CheckpointMetrics

if TYPE_CHECKING:
    from keeper.ops.server import Status

HF_BUCKETS = (
    ("lt_1", 10**18),
    ("1_1.05", 105 * 10**16),
    ("1.05_1.1", 11 * 10**17),
    ("1.1_1.25", 125 * 10**16),
    ("1.25_1.5", 15 * 10**17),
    ("1.5_2", 2 * 10**18),
)
# Attempt outcomes exported at 0 from the start, so that an alert on a counter's increase sees
# the first one (keeper.core.outcome.OutcomeStatus; a unit test keeps the two equal).
OUTCOMES = (
    "liquidated",
    "lost",
    "reverted",
    "simulation_failed",
    "not_sent",
    "timeout",
    "not_included",
)
# keeper_role: "single" for a keeper alone on its key; "active" or "standby" once the
# PostgreSQL lease (high availability, issue 15) sets them.
Role = Literal["single", "active", "standby"]


class Metrics:
    """Everything /metrics exposes."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.head_block = Gauge("keeper_head_block", "Newest block processed", registry=r)
        self.head_lag = Gauge(
            "keeper_head_lag_seconds", "Now minus the head block's timestamp", registry=r
        )
        self.blocks = Counter("keeper_blocks_processed", "Blocks processed", registry=r)
        self.accounts = Gauge("keeper_accounts_tracked", "Accounts with a position", registry=r)
        self.hf_bucket = Gauge(
            "keeper_accounts_by_health_factor",
            "Accounts with debt by health-factor bucket",
            ["bucket"],
            registry=r,
        )
        self.candidates = Gauge(
            "keeper_candidates", "Liquidatable accounts at the head", registry=r
        )
        self.attempts = Counter(
            "keeper_liquidation_attempts", "Attempts by outcome", ["outcome"], registry=r
        )
        for outcome in OUTCOMES:
            self.attempts.labels(outcome)
        self.skips = Counter("keeper_liquidation_skips", "Skips by reason", ["reason"], registry=r)
        self.revert_errors = Counter(
            "keeper_liquidation_revert_errors",
            "Simulated or mined liquidations that reverted, by the Pool's decoded error",
            ["error"],
            registry=r,
        )
        self.profit = Counter(
            "keeper_realised_profit_usd",
            "Realised profit of won liquidations (USD, after gas)",
            registry=r,
        )
        self.loss_24h = Gauge(
            "keeper_realised_loss_24h_usd",
            "Realised losses of the last 24 h (USD; the loss-budget breaker's input)",
            registry=r,
        )
        self.gas_spent = Counter("keeper_gas_spent_wei", "Gas paid by liquidations", registry=r)
        self.mismatches = Gauge(
            "keeper_health_mismatches", "Local vs getUserAccountData differences seen", registry=r
        )
        self.rpc_latency = Histogram(
            "keeper_rpc_latency_seconds",
            "RPC latency by method",
            ["method"],
            registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.rpc_failovers = Gauge(
            "keeper_rpc_failovers", "Times reads moved to another RPC endpoint", registry=r
        )
        self.rpc_errors = Counter(
            "keeper_rpc_errors", "RPC errors by method", ["method"], registry=r
        )
        self.reaction = Histogram(
            "keeper_reaction_latency_seconds",
            "Block seen to liquidation sent",
            registry=r,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2, 5),
        )
        self.breakers = Gauge(
            "keeper_breaker_tripped", "1 while a breaker is tripped", ["breaker"], registry=r
        )
        # Set at each scrape from /status (the supervisor's view): 0 while a stage is restarting
        # or in a crash loop.
        self.stage_up = Gauge(
            "keeper_stage_up",
            "1 while a stage runs (0: restarting or crash loop)",
            ["stage"],
            registry=r,
        )
        # Labelled by the key's address, so absent (not 0) until the balance has been read.
        self.gas_balance = Gauge(
            "keeper_gas_balance_wei",
            "The key's native balance (gas money)",
            ["account"],
            registry=r,
        )
        self.gas_balance_low = Gauge(
            "keeper_gas_balance_low_wei",
            "The balance below which gas money is low (low_gas_balance_eth)",
            ["account"],
            registry=r,
        )
        # High availability: set by the lease; a keeper alone on its key reports "single".
        self.role = Gauge("keeper_role", "1 for this keeper's current role", ["role"], registry=r)
        self.failovers = Counter(
            "keeper_failovers", "Times this keeper took over as the active one", registry=r
        )
        self.set_role("single")
        self.checkpoints = CheckpointMetrics(r)
        self.channels = ChannelMetrics(r)  # per submission channel
        # SVR back-running (exported only by a keeper configured for it: label set on start).
        self.svr_stream_connected = Gauge(
            "keeper_svr_stream_connected",
            "1 while the MEV-Share event stream is connected, 0 while it reconnects",
            ["stream"],
            registry=r,
        )
        self.svr_updates = Counter(
            "keeper_svr_updates_seen",
            "Private SVR updates of the market's feeds seen on the stream, by feed",
            ["feed"],
            registry=r,
        )
        # process_start_time_seconds and friends (Linux /proc): restarts show as its changes.
        ProcessCollector(registry=r)

    def set_role(self, role: Role) -> None:
        """The keeper's role: that one set to 1, the others to 0."""
        for name in get_args(Role):
            self.role.labels(name).set(1 if name == role else 0)

    def observe_gas_balance(self, account: str, balance_wei: int, low_wei: int) -> None:
        """The key's balance and the alert threshold, as read by the balance watch."""
        self.gas_balance.labels(account).set(balance_wei)
        self.gas_balance_low.labels(account).set(low_wei)

    def observe_status(self, status: Status) -> None:
        """Stage liveness from the supervisor's status (called at each scrape)."""
        for stage, up in status.stages.items():
            self.stage_up.labels(stage).set(1 if up else 0)

    def observe_rpc(self, method: str, seconds: float, ok: bool) -> None:
        """The client's per-request hook."""
        self.rpc_latency.labels(method).observe(seconds)
        if not ok:
            self.rpc_errors.labels(method).inc()

    def health_buckets(self, health_factors: list[int]) -> None:
        """Set the health-factor histogram of the accounts with debt."""
        counts = dict.fromkeys([name for name, _ in HF_BUCKETS] + ["ge_2"], 0)
        for hf in health_factors:
            for name, bound in HF_BUCKETS:
                if hf < bound:
                    counts[name] += 1
                    break
            else:
                counts["ge_2"] += 1
        for name, count in counts.items():
            self.hf_bucket.labels(name).set(count)

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
