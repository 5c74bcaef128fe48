"""The journal in PostgreSQL: several keepers on one key, one active, every write fenced.

The tables (created on first use, under an advisory lock so that two keepers starting together
do not race): ``keeper_txs`` (the journal, as in SQLite, plus the epoch each row was written
under), ``keeper_results`` (the P&L ledger), ``keeper_lease`` (one row per key, see
:mod:`keeper.execution.lease`) and ``keeper_checkpoints`` (the active's market checkpoint).

Every write is one transaction that first locks the key's lease row and checks that it still
names this keeper, at the epoch the write carries, unexpired by the database's clock
(``FENCE``); otherwise nothing is written and ``NotActiveError`` is raised. The row lock
orders a write against a takeover: a takeover that commits first makes the write fail; a write
that commits first is seen by the new active when it adopts the journal.

Synchronous (psycopg 3), like the SQLite journal: one local round trip per call, with short
client-side deadlines (connect, statement, TCP) so that a database out of reach fails a call
in seconds rather than hanging the loop; such a failure is ``JournalUnavailableError`` and the
connection is opened again on the next call.
"""

from __future__ import annotations

import contextlib
import json
import time
from typing import TYPE_CHECKING, Any

import psycopg

from keeper.chain.redact import redact_url
from keeper.errors import JournalUnavailableError, NotActiveError
from keeper.execution.journal import ChannelRecord, Entry

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from keeper.execution.journal import Status
    from keeper.execution.lease import Lease

SCHEMA_LOCK = 0x6B656570  # pg_advisory_xact_lock key of the schema creation ("keep")
SCHEMA = """
CREATE TABLE IF NOT EXISTS keeper_txs (
    tx_hash TEXT PRIMARY KEY, chain_id BIGINT NOT NULL, sender TEXT NOT NULL,
    nonce BIGINT NOT NULL, raw BYTEA NOT NULL, to_address TEXT NOT NULL, data TEXT NOT NULL,
    gas_limit BIGINT NOT NULL, max_fee NUMERIC NOT NULL, tip NUMERIC NOT NULL,
    purpose TEXT NOT NULL, meta TEXT NOT NULL, status TEXT NOT NULL, block BIGINT, note TEXT,
    created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL,
    epoch BIGINT NOT NULL, updated_epoch BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS keeper_txs_nonce ON keeper_txs (chain_id, sender, nonce);
CREATE INDEX IF NOT EXISTS keeper_txs_status ON keeper_txs (chain_id, sender, status, block);
CREATE TABLE IF NOT EXISTS keeper_results (
    chain_id BIGINT NOT NULL, sender TEXT NOT NULL, at DOUBLE PRECISION NOT NULL,
    tx_hash TEXT, pnl_base NUMERIC NOT NULL, epoch BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS keeper_results_at ON keeper_results (chain_id, sender, at);
CREATE TABLE IF NOT EXISTS keeper_tx_channels (
    chain_id BIGINT NOT NULL, tx_hash TEXT NOT NULL, channel TEXT NOT NULL,
    first_sent_at DOUBLE PRECISION NOT NULL, last_result TEXT NOT NULL, detail TEXT,
    updated_at DOUBLE PRECISION NOT NULL, epoch BIGINT NOT NULL,
    PRIMARY KEY (chain_id, tx_hash, channel)
);
CREATE TABLE IF NOT EXISTS keeper_lease (
    key TEXT PRIMARY KEY, holder TEXT NOT NULL, epoch BIGINT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL, acquired_at TIMESTAMPTZ NOT NULL,
    renewed_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS keeper_checkpoints (
    key TEXT PRIMARY KEY, data BYTEA NOT NULL, block BIGINT NOT NULL,
    written_at TIMESTAMPTZ NOT NULL, epoch BIGINT NOT NULL
);
"""
# Locks the key's lease row for the rest of the transaction, if it is still ours.
FENCE = (
    "SELECT 1 FROM keeper_lease WHERE key = %s AND holder = %s AND epoch = %s "
    "AND expires_at > now() FOR UPDATE"
)
_INSERT_TX = (
    "INSERT INTO keeper_txs VALUES "
    "(%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,'signed',NULL,NULL,%s,%s,%s,%s) "
    "ON CONFLICT (tx_hash) DO UPDATE SET status='signed', note=NULL, "
    "updated_at=EXCLUDED.updated_at, updated_epoch=EXCLUDED.updated_epoch"
)
_MARK = (
    "UPDATE keeper_txs SET status=%s, block=COALESCE(%s, block), "
    "note=COALESCE(%s, note), updated_at=%s, updated_epoch=%s WHERE tx_hash=%s"
)
COLUMNS = (
    "tx_hash, sender, nonce, raw, to_address, data, gas_limit, max_fee, tip, purpose, meta, "
    "status, block, note"
)
_CHANNEL = (
    "INSERT INTO keeper_tx_channels VALUES (%s,%s,%s,%s,%s,%s,%s,%s) "
    "ON CONFLICT (chain_id, tx_hash, channel) DO UPDATE SET last_result=EXCLUDED.last_result, "
    "detail=EXCLUDED.detail, updated_at=EXCLUDED.updated_at, epoch=EXCLUDED.epoch"
)
CONNECT_TIMEOUT_S = 3
STATEMENT_TIMEOUT_MS = 5000


def connect_args(url: str) -> dict[str, Any]:
    """The libpq options bounding every wait on a database out of reach (client side too)."""
    return {
        "conninfo": url,
        "autocommit": True,
        "connect_timeout": CONNECT_TIMEOUT_S,
        "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
        # Unacknowledged bytes on a dead link: give up after this many ms (Linux).
        "tcp_user_timeout": STATEMENT_TIMEOUT_MS,
        "keepalives": 1,
        "keepalives_idle": 5,
        "keepalives_interval": 2,
        "keepalives_count": 2,
    }


def create_schema(conn: psycopg.Connection[Any]) -> None:
    """The tables, created once whoever starts first."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
        conn.execute(SCHEMA)


def _none(_epoch: int) -> tuple[()]:
    return ()


def lease_key(chain_id: int, sender: str) -> str:
    """The lease row of one key on one chain."""
    return f"{chain_id}:{sender.lower()}"


class PostgresJournal:
    """The journal of one chain's transactions in PostgreSQL, written under ``lease``."""

    def __init__(self, url: str, chain_id: int, lease: Lease) -> None:
        self._url = url
        self.chain_id = chain_id
        self.lease = lease
        self._conn: psycopg.Connection[Any] | None = None
        with self._connection() as conn:
            create_schema(conn)

    @property
    def location(self) -> str:
        """The server and database, without credentials."""
        return redact_url(self._url)

    @contextlib.contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        try:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(**connect_args(self._url))
            yield self._conn
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            self._drop()
            raise JournalUnavailableError(
                f"journal database {self.location}: {type(exc).__name__}"
            ) from None

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
        self._conn = None

    def close(self) -> None:
        """Close the connection."""
        self._drop()

    # -- fenced writes -------------------------------------------------------------------------

    def _fenced(self, sql: str = "", params: Callable[[int], Sequence[object]] = _none) -> None:
        """Run ``sql`` (its parameters made with the epoch) if the lease is still ours."""
        epoch = self.lease.writable_epoch()
        with self._connection() as conn, conn.transaction():
            if conn.execute(FENCE, (self.lease.key, self.lease.holder, epoch)).fetchone() is None:
                reason = f"the database no longer gives this keeper epoch {epoch}"
                self.lease.lost(reason)
                raise NotActiveError(f"not the active keeper of {self.lease.key}: {reason}")
            if sql:
                conn.execute(sql, params(epoch))

    def check_writer(self) -> None:
        """The decision to broadcast: the lease is still ours, in the database, now."""
        self._fenced()

    def record_signed(
        self,
        *,
        tx_hash: str,
        sender: str,
        nonce: int,
        raw: bytes,
        to: str,
        data: str,
        gas_limit: int,
        max_fee: int,
        tip: int,
        purpose: str,
        meta: dict[str, Any],
    ) -> None:
        """Write a signed transaction before it is broadcast (the same hash reopens it)."""
        now = time.time()
        row = (tx_hash, self.chain_id, sender, nonce, raw, to, data, gas_limit, max_fee, tip)
        encoded = json.dumps(meta, default=str)
        self._fenced(_INSERT_TX, lambda epoch: (*row, purpose, encoded, now, now, epoch, epoch))

    def mark(
        self, tx_hash: str, status: Status, *, block: int | None = None, note: str | None = None
    ) -> None:
        """Record a transaction's new fate."""
        now = time.time()
        self._fenced(_MARK, lambda epoch: (status, block, note, now, epoch, tx_hash))

    def record_result(
        self, sender: str, tx_hash: str | None, pnl_base: int, at: float | None = None
    ) -> None:
        """The realised profit (negative: loss) of one settled attempt, in base units."""
        when = time.time() if at is None else at
        self._fenced(
            "INSERT INTO keeper_results VALUES (%s,%s,%s,%s,%s,%s)",
            lambda epoch: (self.chain_id, sender, when, tx_hash, pnl_base, epoch),
        )

    # -- reads (no lease needed: a standby reads too) ------------------------------------------

    def _rows(self, sql: str, params: Sequence[object]) -> list[tuple[Any, ...]]:
        with self._connection() as conn:
            return conn.execute(sql, params).fetchall()

    def _entries(self, where: str, params: Sequence[object]) -> list[Entry]:
        rows = self._rows(
            f"SELECT {COLUMNS} FROM keeper_txs WHERE chain_id=%s AND {where}",  # noqa: S608 - our constants
            (self.chain_id, *params),
        )
        return [_entry(r) for r in rows]

    def losses_since(self, sender: str, since: float) -> int:
        """Sum of realised losses (as a positive number) recorded at or after ``since``."""
        rows = self._rows(
            "SELECT pnl_base FROM keeper_results WHERE chain_id=%s AND sender=%s AND at>=%s "
            "AND pnl_base < 0",
            (self.chain_id, sender, since),
        )
        return sum(-int(v) for (v,) in rows)

    def settled_after(self, sender: str, block: int) -> list[Entry]:
        """Transactions recorded as mined or reverted in a block above ``block``."""
        return self._entries(
            "sender=%s AND status IN ('mined','reverted') AND block>%s ORDER BY nonce",
            (sender, block),
        )

    def open_or_settled_after(self, sender: str, block: int) -> list[Entry]:
        """Transactions still open, or mined or reverted in a block above ``block``."""
        return self._entries(
            "sender=%s AND (status IN ('signed','broadcast') OR (status IN ('mined','reverted') "
            "AND block>%s)) ORDER BY nonce, created_at",
            (sender, block),
        )

    def open_entries(self, sender: str) -> list[Entry]:
        """Transactions whose fate is not known yet, oldest nonce first."""
        return self._entries(
            "sender=%s AND status IN ('signed','broadcast') ORDER BY nonce, created_at", (sender,)
        )

    def at_nonce(self, sender: str, nonce: int) -> list[Entry]:
        """Every attempt at one nonce, oldest first."""
        return self._entries("sender=%s AND nonce=%s ORDER BY created_at", (sender, nonce))

    def highest_nonce(self, sender: str) -> int | None:
        """The highest nonce ever signed for ``sender``."""
        rows = self._rows(
            "SELECT MAX(nonce) FROM keeper_txs WHERE chain_id=%s AND sender=%s",
            (self.chain_id, sender),
        )
        return None if not rows or rows[0][0] is None else int(rows[0][0])

    def find(self, tx_hash: str) -> tuple[Entry, float] | None:
        """One journaled transaction by hash, with the time it was signed (epoch seconds)."""
        rows = self._rows(
            f"SELECT {COLUMNS}, created_at FROM keeper_txs WHERE chain_id=%s AND tx_hash=%s",  # noqa: S608 - our constants
            (self.chain_id, tx_hash),
        )
        return None if not rows else (_entry(rows[0][:-1]), float(rows[0][-1]))

    def result_of(self, tx_hash: str) -> int | None:
        """The realised result recorded for one transaction (base units), if any."""
        rows = self._rows(
            "SELECT pnl_base FROM keeper_results WHERE chain_id=%s AND tx_hash=%s "
            "ORDER BY at DESC LIMIT 1",
            (self.chain_id, tx_hash),
        )
        return None if not rows else int(rows[0][0])

    def entries(self, sender: str) -> list[Entry]:
        """Everything journaled for ``sender``, in signing order."""
        return self._entries("sender=%s ORDER BY nonce, created_at", (sender,))

    def record_channel(
        self, tx_hash: str, channel: str, result: str, *, detail: str | None = None
    ) -> None:
        """A channel's latest result for a transaction (fenced like every write)."""
        now = time.time()
        row = (self.chain_id, tx_hash, channel, now, result, detail, now)
        self._fenced(_CHANNEL, lambda epoch: (*row, epoch))

    def channels_of(self, tx_hash: str) -> list[ChannelRecord]:
        """Every channel ``tx_hash`` went through, first sent first."""
        rows = self._rows(
            "SELECT tx_hash, channel, first_sent_at, last_result, updated_at, detail "
            "FROM keeper_tx_channels WHERE chain_id=%s AND tx_hash=%s "
            "ORDER BY first_sent_at, channel",
            (self.chain_id, tx_hash),
        )
        return [ChannelRecord(r[0], r[1], float(r[2]), r[3], float(r[4]), r[5]) for r in rows]


def _entry(row: Sequence[Any]) -> Entry:
    (
        tx_hash,
        sender,
        nonce,
        raw,
        to,
        data,
        gas,
        max_fee,
        tip,
        purpose,
        meta,
        status,
        block,
        note,
    ) = row
    return Entry(
        tx_hash,
        sender,
        int(nonce),
        bytes(raw),
        to,
        data,
        int(gas),
        int(max_fee),
        int(tip),
        purpose,
        json.loads(meta),
        status,
        None if block is None else int(block),
        note,
    )
