"""Per-channel metrics, the journal's channel records, and the alert on a failing channel.

:class:`ChannelWatch` is the listener every submission channel reports to
(:class:`keeper.submission.events.ChannelListener`): each result is counted, journaled
(``Journal.record_channel``: which channels a transaction went through, and how it last went
on each) and logged; a channel that fails ``failures_to_alert`` deliveries in a row (no endpoint
took them) raises one alert until it delivers again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog
from prometheus_client import Counter, Gauge

from keeper.errors import JournalUnavailableError, NotActiveError
from keeper.execution.transactions import coinbase_of
from keeper.submission.events import ChannelResult

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from keeper.execution.journal import Journal
    from keeper.ops.alerts import Alerts
    from keeper.submission.events import ChannelEvent

log = structlog.get_logger(__name__)
# The results that are a delivery attempt (the others are what became of one).
_DELIVERIES = frozenset(
    {ChannelResult.SENT, ChannelResult.RESENT, ChannelResult.UNCONFIRMED, ChannelResult.REFUSED}
)


class ChannelMetrics:
    """The per-channel series of /metrics (labels: channel; lost also the rival, if known)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.sent = Counter(
            "keeper_channel_sent",
            "Deliveries some endpoint took, by channel",
            ["channel"],
            registry=r,
        )
        self.included = Counter(
            "keeper_channel_included",
            "Transactions seen included, by channel",
            ["channel"],
            registry=r,
        )
        self.lost = Counter(
            "keeper_channel_lost",
            "Transactions that missed their block to someone else's, by channel and rival",
            ["channel", "rival"],
            registry=r,
        )
        self.results = Counter(
            "keeper_channel_results", "Channel results by kind", ["channel", "result"], registry=r
        )
        self.bid_paid = Counter(
            "keeper_channel_bid_paid_wei",
            "Priority fees and coinbase bids paid to builders by included transactions, by channel",
            ["channel"],
            registry=r,
        )
        self.endpoint_errors = Counter(
            "keeper_channel_endpoint_errors",
            "Failed requests to one endpoint of a channel (URL redacted)",
            ["channel", "endpoint"],
            registry=r,
        )
        self.failing = Gauge(
            "keeper_channel_consecutive_failures",
            "Deliveries in a row that no endpoint of the channel took (0: it delivers)",
            ["channel"],
            registry=r,
        )

    def declare(self, channel: str) -> None:
        """Export a configured channel's series at 0 from the start."""
        self.sent.labels(channel)
        self.included.labels(channel)
        self.bid_paid.labels(channel)
        self.failing.labels(channel).set(0)


class ChannelWatch:
    """Counts, journals, logs and alerts on every channel result."""

    def __init__(
        self,
        metrics: ChannelMetrics,
        journal: Journal | None,
        alerts: Alerts | None,
        failures_to_alert: int = 5,
    ) -> None:
        self.metrics = metrics
        self.journal = journal
        self.alerts = alerts
        self.failures_to_alert = failures_to_alert
        self.consecutive: dict[str, int] = {}

    def on_channel_event(self, event: ChannelEvent) -> None:
        """One result (never raises: called from the channels' watch tasks too)."""
        m, channel = self.metrics, event.channel
        m.results.labels(channel, event.result.value).inc()
        for endpoint in event.failed_endpoints:
            m.endpoint_errors.labels(channel, endpoint).inc()
        if event.result in _DELIVERIES:
            self._delivery(event)
        elif event.result is ChannelResult.INCLUDED:
            m.included.labels(channel).inc()
            m.bid_paid.labels(channel).inc(event.bid_wei + self._coinbase_bid(event.tx_hash))
        elif event.result is ChannelResult.LOST:
            m.lost.labels(channel, event.rival or "unknown").inc()
            log.warning("channel_lost", channel=channel, tx_hash=event.tx_hash, rival=event.rival)
        self._journal(event)

    def _coinbase_bid(self, tx_hash: str) -> int:
        """The coinbase bid journaled with an included transaction (0: none, or unreadable).

        Private channels carry only transactions that succeed (builders drop reverting ones),
        and our contract pays the bid exactly when the liquidation succeeds.
        """
        if self.journal is None:
            return 0
        try:
            found = self.journal.find(tx_hash)
        except (JournalUnavailableError, NotActiveError):
            return 0
        return 0 if found is None else coinbase_of(found[0].meta)

    def _delivery(self, event: ChannelEvent) -> None:
        channel = event.channel
        if event.delivered:
            if event.result is not ChannelResult.REFUSED:
                self.metrics.sent.labels(channel).inc()
            self.consecutive[channel] = 0
            self.metrics.failing.labels(channel).set(0)
            return
        count = self.consecutive.get(channel, 0) + 1
        self.consecutive[channel] = count
        self.metrics.failing.labels(channel).set(count)
        if count == self.failures_to_alert and self.alerts is not None:
            failed = ", ".join(event.failed_endpoints) or "its endpoint"
            self.alerts.alert(
                "channel_failing",
                channel,
                f"submission channel {channel} failed {count} deliveries in a row ({failed}); "
                "other channels still send",
            )

    def _journal(self, event: ChannelEvent) -> None:
        if self.journal is None:
            return
        try:
            self.journal.record_channel(
                event.tx_hash, event.channel, event.result.value, detail=event.detail or None
            )
        except (JournalUnavailableError, NotActiveError) as exc:
            log.warning("channel_record_failed", tx_hash=event.tx_hash, error=str(exc))
