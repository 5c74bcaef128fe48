"""Which channels a transaction went through: journaled in SQLite and PostgreSQL, counted in
the per-channel metrics, and alerted on when a channel keeps failing.
"""

from __future__ import annotations

import sqlite3

import pytest

from keeper.execution.journal_pg import PostgresJournal, lease_key
from keeper.execution.journal_sqlite import SqliteJournal
from keeper.execution.lease import Lease, LeaseTerms
from keeper.execution.pg_lease import PostgresLeaseStore
from keeper.ops.alerts import Alerts, Webhook
from keeper.ops.channel_watch import ChannelWatch
from keeper.ops.metrics import Metrics
from keeper.submission.events import ChannelEvent, ChannelResult

TX = "0x" + "aa" * 32
SENDER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def _exercise(journal) -> None:
    journal.record_channel(TX, "public", "sent")
    journal.record_channel(TX, "bundle", "sent")
    first = {r.channel: r.first_sent_at for r in journal.channels_of(TX)}
    journal.record_channel(TX, "bundle", "resent")
    journal.record_channel(TX, "bundle", "included", detail="block 12")
    records = journal.channels_of(TX)
    assert [r.channel for r in records] == ["public", "bundle"]
    bundle = records[1]
    assert bundle.last_result == "included" and bundle.detail == "block 12"
    assert bundle.first_sent_at == first["bundle"] <= bundle.updated_at
    assert journal.channels_of("0x" + "bb" * 32) == []


def test_sqlite_journal_records_every_channel_and_its_last_result(tmp_path):
    """One record per (transaction, channel): the first send's time is kept, the last result
    replaces the previous one, and they read back in the order first sent.
    """
    journal = SqliteJournal(tmp_path / "j.sqlite", 31337)
    try:
        _exercise(journal)
    finally:
        journal.close()


def test_a_journal_file_from_before_gains_the_channel_table(tmp_path):
    """A journal file written before channel records existed (its txs and results tables
    only) opens, keeps its rows, and records channels.
    """
    path = tmp_path / "old.sqlite"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE txs (tx_hash TEXT PRIMARY KEY, chain_id INTEGER NOT NULL, sender TEXT NOT "
        "NULL, nonce INTEGER NOT NULL, raw BLOB NOT NULL, to_address TEXT NOT NULL, data TEXT "
        "NOT NULL, gas_limit INTEGER NOT NULL, max_fee INTEGER NOT NULL, tip INTEGER NOT NULL, "
        "purpose TEXT NOT NULL, meta TEXT NOT NULL, status TEXT NOT NULL, block INTEGER, note "
        "TEXT, created_at REAL NOT NULL, updated_at REAL NOT NULL)"
    )
    row = (TX, 31337, SENDER, 0, b"\x02", "0x", "0x", 21000, 1, 1, "approve", "{}", "mined")
    old.execute("INSERT INTO txs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,5,NULL,1.0,1.0)", row)
    old.commit()
    old.close()
    journal = SqliteJournal(path, 31337)
    try:
        assert journal.find(TX) is not None
        _exercise(journal)
    finally:
        journal.close()


@pytest.mark.asyncio
async def test_postgres_journal_records_channels_under_the_lease(pg_url):
    """The PostgreSQL journal keeps the same records, written under the key's lease."""
    lease = Lease(lease_key(31337, SENDER), "a", LeaseTerms(ttl_s=10.0, renew_s=2.0))
    journal = PostgresJournal(pg_url, 31337, lease)
    store = PostgresLeaseStore(pg_url, lease)
    try:
        assert await store.acquire() is not None
        _exercise(journal)
    finally:
        await store.close()
        journal.close()


def _value(metrics: Metrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def test_channel_watch_counts_journals_and_alerts_on_a_failing_channel(tmp_path):
    """Sent, included (with the bid paid), lost (with the rival) are counted per channel;
    endpoint errors per endpoint; three deliveries in a row that no endpoint took raise one
    alert (with failures_to_alert = 3) and a delivery resets the count. Each result is
    journaled as the channel's last one for the transaction.
    """
    metrics = Metrics()
    journal = SqliteJournal(tmp_path / "j.sqlite", 31337)
    alerts = Alerts([Webhook("slack", "http://127.0.0.1:9/hook")])
    watch = ChannelWatch(metrics.channels, journal, alerts, 3)
    try:
        watch.on_channel_event(ChannelEvent("bundle", TX, ChannelResult.SENT))
        watch.on_channel_event(
            ChannelEvent("bundle", TX, ChannelResult.INCLUDED, block=7, bid_wei=123)
        )
        watch.on_channel_event(ChannelEvent("bundle", "0x01", ChannelResult.LOST, rival="0xr"))
        assert _value(metrics, "keeper_channel_sent_total", channel="bundle") == 1
        assert _value(metrics, "keeper_channel_included_total", channel="bundle") == 1
        assert _value(metrics, "keeper_channel_bid_paid_wei_total", channel="bundle") == 123
        assert _value(metrics, "keeper_channel_lost_total", channel="bundle", rival="0xr") == 1
        assert journal.channels_of(TX)[0].last_result == "included"
        down = ChannelEvent(
            "bundle",
            "0x02",
            ChannelResult.UNCONFIRMED,
            failed_endpoints=["https://b"],
            delivered=False,
        )
        for _ in range(4):
            watch.on_channel_event(down)
        assert _value(metrics, "keeper_channel_consecutive_failures", channel="bundle") == 4
        assert (
            _value(
                metrics,
                "keeper_channel_endpoint_errors_total",
                channel="bundle",
                endpoint="https://b",
            )
            == 4
        )
        assert alerts._last.keys() == {("channel_failing", "bundle")}  # one alert, not four
        watch.on_channel_event(ChannelEvent("bundle", "0x02", ChannelResult.RESENT))
        assert _value(metrics, "keeper_channel_consecutive_failures", channel="bundle") == 0
    finally:
        journal.close()
