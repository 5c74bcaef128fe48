"""The PostgreSQL journal and its lease, against a real server: one writer per key, fenced.

A server is started for the module (tests.conftest.postgres); each test gets a fresh database.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import psycopg
import pytest
from structlog.testing import capture_logs

from keeper.core.checkpoint import CheckpointWriteError, MarketCheckpoint, MarketIdentity
from keeper.errors import ConfigError, JournalUnavailableError, NotActiveError
from keeper.execution.journal_pg import PostgresJournal, lease_key
from keeper.execution.journal_sqlite import SqliteJournal
from keeper.execution.lease import Lease, LeaseTerms
from keeper.execution.pg_lease import PostgresLeaseStore
from keeper.loop.role import RoleKeeper, open_journal
from keeper.ops.checkpoint_pg import PostgresCheckpointStore
from keeper.ops.metrics import Metrics
from keeper.ops.server import Status
from keeper.settings import load_settings

if TYPE_CHECKING:
    from keeper.execution.journal import Journal

SENDER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
TERMS = LeaseTerms(ttl_s=10.0, renew_s=2.0)


class Clock:
    """A monotonic clock the test moves by hand (a test double of time.monotonic)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _lease(holder: str, clock: Clock | None = None) -> Lease:
    return Lease(lease_key(31337, SENDER), holder, TERMS, clock or Clock())


def _expire(url: str) -> None:
    """Let the key's lease lapse in the database (as if ``ttl`` passed without renewal)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE keeper_lease SET expires_at = now() - interval '1 second'")


def _sign(journal: Journal, tx_hash: str, nonce: int, **meta: object) -> None:
    journal.record_signed(
        tx_hash=tx_hash,
        sender=SENDER,
        nonce=nonce,
        raw=b"\x02raw" + bytes([nonce]),
        to="0x" + "11" * 20,
        data="0xabcd",
        gas_limit=500_000,
        max_fee=500 * 10**9,
        tip=10**9,
        purpose="liquidation",
        meta=dict(meta),
    )


def _rows(url: str, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


def test_the_lease_local_deadline_is_ttl_minus_a_quarter_after_the_request():
    """A grant asked at t holds until t + ttl - ttl/4 by the keeper's own clock; past it,
    writes are refused before the database is asked (no epoch), and ``sending`` needs the
    journal adopted too.
    """
    clock = Clock()
    lease = _lease("a", clock)
    with pytest.raises(NotActiveError, match="standby"):
        lease.writable_epoch()
    lease.granted(3, asked_at=clock.now)
    assert lease.valid_until == clock.now + 7.5 and lease.role == "active"
    assert lease.writable_epoch() == 3 and not lease.sending  # not adopted yet
    lease.ready = True
    clock.now += 7.49
    assert lease.sending
    clock.now += 0.02
    assert not lease.held and not lease.sending and lease.role == "standby"
    with pytest.raises(NotActiveError):
        lease.writable_epoch()


@pytest.mark.asyncio
async def test_one_holder_at_a_time_and_epochs_only_grow(pg_url):
    """The first keeper gets epoch 1; another cannot take it while it is live; once it lapses
    the other takes epoch 2 (naming the previous holder), and the first cannot renew; after
    a release the first takes it back at once with epoch 3.
    """
    a, b = _lease("a"), _lease("b")
    PostgresJournal(pg_url, 31337, a).close()  # the schema
    store_a, store_b = PostgresLeaseStore(pg_url, a), PostgresLeaseStore(pg_url, b)
    try:
        got = await store_a.acquire()
        assert got is not None and (got.epoch, got.previous) == (1, None) and a.epoch == 1
        assert await store_b.acquire() is None and b.epoch is None
        assert await store_a.renew()
        _expire(pg_url)
        assert not await store_a.renew()
        got = await store_b.acquire()
        assert got is not None and (got.epoch, got.previous) == (2, "a")
        await store_b.release()
        assert b.epoch is None
        got = await store_a.acquire()
        assert got is not None and (got.epoch, got.previous) == (3, "b")
        holder = await store_a.holder()
        assert holder is not None and (holder.holder, holder.epoch, holder.live) == ("a", 3, True)
    finally:
        await store_a.close()
        await store_b.close()


@pytest.mark.asyncio
async def test_a_stale_epoch_write_is_refused_and_nothing_is_written(pg_url):
    """Keeper A holds epoch 1 and journals a transaction. Its lease lapses and B takes
    epoch 2. A still believes it holds the lease (its own clock says so): its next write, a
    fate mark, a result and the decision to broadcast are all refused by the database, A
    learns it lost the lease, and the journal is as B found it. B writes under epoch 2.
    """
    a, b = _lease("a"), _lease("b")
    journal_a, journal_b = PostgresJournal(pg_url, 31337, a), PostgresJournal(pg_url, 31337, b)
    store_a, store_b = PostgresLeaseStore(pg_url, a), PostgresLeaseStore(pg_url, b)
    try:
        await store_a.acquire()
        _sign(journal_a, "0x01", 0, account="0xA", block=5)
        journal_a.check_writer()
        _expire(pg_url)
        assert await store_b.acquire() is not None
        assert a.held  # A's clock has not run out: only the database knows
        with pytest.raises(NotActiveError, match="epoch 1"):
            _sign(journal_a, "0x02", 1)
        assert not a.held and a.epoch is None
        a.granted(1, a.clock())  # as if A had not noticed: every kind of write is refused
        for write in (
            lambda: journal_a.mark("0x01", "mined", block=9),
            lambda: journal_a.record_result(SENDER, "0x01", -5),
            journal_a.check_writer,
        ):
            a.granted(1, a.clock())
            with pytest.raises(NotActiveError):
                write()
        assert [e.tx_hash for e in journal_b.entries(SENDER)] == ["0x01"]
        assert journal_b.open_entries(SENDER)[0].status == "signed"
        assert journal_b.losses_since(SENDER, 0) == 0
        journal_b.mark("0x01", "mined", block=9)
        _sign(journal_b, "0x03", 1)
        assert _rows(pg_url, "SELECT tx_hash, epoch, updated_epoch FROM keeper_txs ORDER BY 1") == [
            ("0x01", 1, 2),
            ("0x03", 2, 2),
        ]
    finally:
        for closing in (store_a, store_b):
            await closing.close()
        journal_a.close()
        journal_b.close()


@pytest.mark.asyncio
async def test_a_lapsed_lease_refuses_writes_even_with_no_new_holder(pg_url):
    """Nobody took over, but the lease expired by the database's clock: the holder's writes
    are refused all the same (a keeper paused past its ttl never writes on waking).
    """
    a = _lease("a")
    journal = PostgresJournal(pg_url, 31337, a)
    store = PostgresLeaseStore(pg_url, a)
    try:
        await store.acquire()
        _expire(pg_url)
        with pytest.raises(NotActiveError):
            _sign(journal, "0x01", 0)
        assert journal.entries(SENDER) == []
    finally:
        await store.close()
        journal.close()


@pytest.mark.asyncio
async def test_postgres_and_sqlite_journals_answer_alike(pg_url, tmp_path):
    """The same writes give the same answers from both implementations of the interface."""
    lease = _lease("a")
    pg = PostgresJournal(pg_url, 31337, lease)
    store = PostgresLeaseStore(pg_url, lease)
    lite = SqliteJournal(tmp_path / "j.sqlite", 31337)
    try:
        await store.acquire()
        for journal in (pg, lite):
            _sign(journal, "0x01", 0, account="0xA")
            _sign(journal, "0x02", 0, account="0xA")
            _sign(journal, "0x03", 1)
            journal.mark("0x01", "replaced", note="nonce settled by 0x02")
            journal.mark("0x02", "mined", block=7)
            journal.record_result(SENDER, "0x02", -(10**30), at=100.0)
            journal.record_result(SENDER, "0x02", 12, at=200.0)
        for method, args in (
            ("entries", (SENDER,)),
            ("open_entries", (SENDER,)),
            ("at_nonce", (SENDER, 0)),
            ("settled_after", (SENDER, 6)),
            ("open_or_settled_after", (SENDER, 7)),
            ("highest_nonce", (SENDER,)),
            ("losses_since", (SENDER, 0)),
            ("losses_since", (SENDER, 150)),
            ("result_of", ("0x02",)),
        ):
            assert getattr(pg, method)(*args) == getattr(lite, method)(*args), method
        found_pg, found_lite = pg.find("0x03"), lite.find("0x03")
        assert found_pg is not None and found_lite is not None
        assert found_pg[0] == found_lite[0]
        assert pg.find("0x99") is None
    finally:
        await store.close()
        pg.close()
        lite.close()


@pytest.mark.asyncio
async def test_a_database_restart_fails_calls_then_they_work_again(postgres, pg_url):
    """With the server stopped a write is JournalUnavailableError (nothing may be sent) and a
    renewal fails the same way; once it is back, the same objects reconnect by themselves.
    """
    lease = _lease("a")
    journal = PostgresJournal(pg_url, 31337, lease)
    store = PostgresLeaseStore(pg_url, lease)
    try:
        await store.acquire()
        postgres.stop()
        with pytest.raises(JournalUnavailableError):
            _sign(journal, "0x01", 0)
        with pytest.raises(JournalUnavailableError):
            await store.renew()
        postgres.start()
        assert await store.renew()
        _sign(journal, "0x01", 0)
        assert [e.tx_hash for e in journal.entries(SENDER)] == ["0x01"]
    finally:
        if not postgres.running:
            postgres.start()
        await store.close()
        journal.close()


@pytest.mark.asyncio
async def test_role_keepers_log_and_count_a_failover(pg_url):
    """Two role keepers on one key: the first acquires (no failover: nobody held it), the
    second stays standby; the first stops and releases; the second acquires at once, counts
    a failover, adopts the journal, and /status and keeper_role say so.
    """
    adopted: list[str] = []

    def role(holder: str) -> tuple[RoleKeeper, Metrics, Status]:
        lease = _lease(holder)
        PostgresJournal(pg_url, 31337, lease).close()
        metrics, status = Metrics(), Status()

        async def adopt() -> None:
            adopted.append(holder)

        return (
            RoleKeeper(lease, PostgresLeaseStore(pg_url, lease), (metrics, status), adopt),
            (metrics),
            status,
        )

    first, _, status_a = role("a")
    second, metrics_b, status_b = role("b")
    try:
        with capture_logs() as logs:
            await first.step()
            await second.step()
            assert first.lease.epoch == 1 and second.lease.epoch is None
            assert first._adopting is not None
            await first._adopting
            first.publish()
            second.publish()
            assert status_a.role == "active" and status_a.lease is not None
            assert status_a.lease["sending"] is True and status_b.role == "standby"
            await first.stop()
            await second.step()
            assert second._adopting is not None
            await second._adopting
        acquired = [e for e in logs if e["event"] == "lease_acquired"]
        assert [(e["holder"], e["epoch"], e["failover"]) for e in acquired] == [
            ("a", 1, False),
            ("b", 2, True),
        ]
        assert adopted == ["a", "b"]
        assert any(e["event"] == "takeover_done" and e["epoch"] == 2 for e in logs)
        metrics = metrics_b.render().decode()
        assert "keeper_failovers_total 1.0" in metrics
        assert 'keeper_role{role="active"} 1.0' in metrics
        assert status_b.as_json()["role"] == "active"
    finally:
        await second.stop()


@pytest.mark.asyncio
async def test_the_active_writes_the_checkpoint_a_standby_reads_it_a_stale_one_cannot(pg_url):
    """The active's checkpoint lands in PostgreSQL and a standby (no lease) loads the same
    one; the standby cannot write; once the lease moved on, the former active's write is
    refused and the stored checkpoint stays the new active's.
    """
    identity = MarketIdentity(31337, "aave_v3", "0x" + "ab" * 20)
    a, b = _lease("a"), _lease("b")
    PostgresJournal(pg_url, 31337, a).close()
    lease_a, lease_b = PostgresLeaseStore(pg_url, a), PostgresLeaseStore(pg_url, b)
    store_a = PostgresCheckpointStore(pg_url, identity, a)
    store_b = PostgresCheckpointStore(pg_url, identity, b)
    try:
        assert await store_b.load() is None
        await lease_a.acquire()
        first = MarketCheckpoint(identity, 7, "0x" + "11" * 32, 1_700_000_000, 1, b"state\n", 1.5)
        assert await store_a.save(first) > len(first.payload)
        assert await store_b.load() == first
        with pytest.raises(CheckpointWriteError):
            await store_b.save(first)
        _expire(pg_url)
        await lease_b.acquire()
        second = MarketCheckpoint(identity, 9, "0x" + "22" * 32, 1_700_000_024, 1, b"later\n", 2.5)
        await store_b.save(second)
        a.granted(1, a.clock())  # A has not noticed yet: the database refuses it all the same
        with pytest.raises(CheckpointWriteError, match="no longer ours"):
            await store_a.save(first)
        assert await store_a.load() == second
        assert "ab" * 20 in store_a.location and "@" not in store_a.location
    finally:
        await lease_a.close()
        await lease_b.close()


def test_an_unreachable_journal_url_is_exit_2_and_never_shows_its_password(tmp_path):
    """journal_url pointing nowhere: the keeper's journal cannot open; the error names
    journal_url and the fix, the location is redacted, and the password appears nowhere.
    """
    url = "postgresql://keeper:Passw0rdSECRET@127.0.0.1:1/keeper"
    settings = load_settings(
        rpc_url="http://127.0.0.1:9",
        pool_addresses_provider="0x5FbDB2315678afecb367f032d93F642f64180aa3",
        journal_url=url,
    )
    assert "Passw0rdSECRET" not in repr(settings)
    with pytest.raises(ConfigError, match="journal_url: journal database") as raised:
        open_journal(settings, 31337, SENDER, str(tmp_path / "unused.sqlite"))
    assert "Passw0rdSECRET" not in str(raised.value)
    assert "postgresql://127.0.0.1:1/***" in str(raised.value)
    assert not (tmp_path / "unused.sqlite").exists()


@pytest.mark.asyncio
async def test_an_active_blind_to_the_chain_hands_the_lease_over(pg_url):
    """The active renews fine but has processed no new head for longer than max_head_age_s
    (its node fails): it releases the lease (lease_lost: handed over) and does not ask for it
    again at once; the standby takes it at its next step.
    """

    async def adopt() -> None:
        return None

    def role(holder: str, status: Status) -> RoleKeeper:
        lease = _lease(holder)
        PostgresJournal(pg_url, 31337, lease).close()
        return RoleKeeper(lease, PostgresLeaseStore(pg_url, lease), (Metrics(), status), adopt)

    blind = Status(max_head_age_s=30.0)
    first, second = role("a", blind), role("b", Status())
    try:
        await first.step()
        assert first._adopting is not None
        await first._adopting
        blind.last_step_at = time.time() - 31
        with capture_logs() as logs:
            await first.step()
            await first.step()  # quiet: not asked for again
            await second.step()
        assert first.lease.epoch is None and second.lease.epoch == 2
        lost = [e for e in logs if e["event"] == "lease_lost"]
        assert len(lost) == 1 and "handed over: no new head" in lost[0]["reason"]
    finally:
        await first.stop()
        await second.stop()
