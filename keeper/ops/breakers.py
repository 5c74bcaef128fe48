"""Circuit breakers: conditions under which the keeper stops sending (monitoring goes on).

Each breaker is evaluated from plain inputs every processed head; it trips while its condition
holds and clears by itself when the condition clears. Tripping and clearing are reported once
each (log line, alert, metric), not every block.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class BreakerInputs:
    """What the breakers look at, gathered by the loop at one head."""

    stale_feeds: dict[str, int] = field(default_factory=dict)  # asset -> age (s)
    base_fee_wei: int = 0
    tip_wei: int = 0
    max_fee_wei: int = 0
    consecutive_failures: int = 0
    head_age_s: float = 0.0
    loss_24h_base: int = 0  # realised losses of the last 24 h, base-currency units
    loss_budget_base: int = 0
    base_unit: int = 1  # one unit of the base currency (USD), for messages
    dex_deviation_bps: dict[str, int] = field(default_factory=dict)  # asset -> |oracle - pool|
    unpriced: list[str] = field(default_factory=list)  # assets the oracle cannot price


@dataclass
class Change:
    """A breaker that tripped or cleared at this head."""

    name: str
    tripped: bool
    reason: str


class Breakers:
    """stale_feed, gas_ceiling, failures, head_lag, loss_budget, dex_deviation, bad_price."""

    def __init__(
        self,
        *,
        max_consecutive_failures: int,
        max_head_lag_s: float = 0.0,
        max_dex_deviation_bps: int = 10_000,
    ) -> None:
        self.max_consecutive_failures = max_consecutive_failures
        self.max_head_lag_s = max_head_lag_s  # 0: off
        self.max_dex_deviation_bps = max_dex_deviation_bps
        self.state: dict[str, str] = {}  # tripped breaker -> reason

    def _reasons(self, x: BreakerInputs) -> dict[str, str | None]:
        return {
            "stale_feed": (
                "stale feeds: "
                + ", ".join(f"{a} ({age}s)" for a, age in sorted(x.stale_feeds.items()))
                if x.stale_feeds
                else None
            ),
            "gas_ceiling": (
                f"base fee {x.base_fee_wei} + tip {x.tip_wei} wei above max fee {x.max_fee_wei}"
                if x.max_fee_wei and x.base_fee_wei + x.tip_wei > x.max_fee_wei
                else None
            ),
            "failures": (
                f"{x.consecutive_failures} failed or lost liquidations in a row"
                if x.consecutive_failures >= self.max_consecutive_failures
                else None
            ),
            "head_lag": (
                f"head block is {x.head_age_s:.0f}s old (limit {self.max_head_lag_s:.0f}s)"
                if self.max_head_lag_s and x.head_age_s > self.max_head_lag_s
                else None
            ),
            "loss_budget": (
                f"realised losses of the last 24 h {x.loss_24h_base / x.base_unit:.2f} above "
                f"the budget {x.loss_budget_base / x.base_unit:.2f}"
                if x.loss_24h_base > x.loss_budget_base
                else None
            ),
            "dex_deviation": self._deviation(x.dex_deviation_bps),
            "bad_price": (
                "the oracle has no valid price for "
                + ", ".join(sorted(x.unpriced))
                + " (its feed answers zero or less)"
                if x.unpriced
                else None
            ),
        }

    def _deviation(self, deviations: dict[str, int]) -> str | None:
        far = {a: d for a, d in deviations.items() if d > self.max_dex_deviation_bps}
        if not far:
            return None
        listed = ", ".join(f"{a} {d / 100:.2f}%" for a, d in sorted(far.items()))
        return f"oracle vs DEX price beyond {self.max_dex_deviation_bps / 100:.2f}%: {listed}"

    def evaluate(self, inputs: BreakerInputs) -> list[Change]:
        """Update every breaker; return those that changed."""
        changes = []
        for name, reason in self._reasons(inputs).items():
            if reason is not None and name not in self.state:
                changes.append(Change(name, tripped=True, reason=reason))
                self.state[name] = reason
            elif reason is None and name in self.state:
                changes.append(Change(name, tripped=False, reason="condition cleared"))
                del self.state[name]
            elif reason is not None:
                self.state[name] = reason
        return changes

    @property
    def tripped(self) -> dict[str, str]:
        """Breakers tripped now, with their reasons."""
        return dict(self.state)
