"""The keeper's Prometheus metrics, in a registry of its own (one per keeper, no globals)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

HF_BUCKETS = (
    ("lt_1", 10**18),
    ("1_1.05", 105 * 10**16),
    ("1.05_1.1", 11 * 10**17),
    ("1.1_1.25", 125 * 10**16),
    ("1.25_1.5", 15 * 10**17),
    ("1.5_2", 2 * 10**18),
)


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
