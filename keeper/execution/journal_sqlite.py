"""The journal in SQLite (WAL mode): the embedded default, for one keeper alone on its key.

See :class:`keeper.execution.journal.Journal` for what a journal guarantees. One process owns
the file, so there is no lease: :meth:`SqliteJournal.check_writer` always passes.
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import TYPE_CHECKING, Any

from keeper.execution.journal import ChannelRecord, Entry

if TYPE_CHECKING:
    from pathlib import Path

    from keeper.execution.journal import Status

_SCHEMA = """
CREATE TABLE IF NOT EXISTS txs (
    tx_hash     TEXT PRIMARY KEY,
    chain_id    INTEGER NOT NULL,
    sender      TEXT NOT NULL,
    nonce       INTEGER NOT NULL,
    raw         BLOB NOT NULL,
    to_address  TEXT NOT NULL,
    data        TEXT NOT NULL,
    gas_limit   INTEGER NOT NULL,
    max_fee     INTEGER NOT NULL,
    tip         INTEGER NOT NULL,
    purpose     TEXT NOT NULL,
    meta        TEXT NOT NULL,
    status      TEXT NOT NULL,
    block       INTEGER,
    note        TEXT,
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS txs_nonce ON txs (chain_id, sender, nonce);
-- Open and recently settled transactions are looked up before every liquidation.
CREATE INDEX IF NOT EXISTS txs_status ON txs (chain_id, sender, status, block);
-- Realised result of each settled liquidation, kept so that the loss budget survives restarts.
CREATE TABLE IF NOT EXISTS results (
    chain_id    INTEGER NOT NULL,
    sender      TEXT NOT NULL,
    at          REAL NOT NULL,
    tx_hash     TEXT,
    pnl_base    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS results_at ON results (chain_id, sender, at);
-- Every submission channel each transaction went through (issue 18). A table of its own, so a
-- journal file written before it gains it when opened (CREATE ... IF NOT EXISTS).
CREATE TABLE IF NOT EXISTS tx_channels (
    chain_id      INTEGER NOT NULL,
    tx_hash       TEXT NOT NULL,
    channel       TEXT NOT NULL,
    first_sent_at REAL NOT NULL,
    last_result   TEXT NOT NULL,
    detail        TEXT,
    updated_at    REAL NOT NULL,
    PRIMARY KEY (chain_id, tx_hash, channel)
);
"""


class SqliteJournal:
    """Durable record of signed transactions; every write is committed before it returns."""

    def __init__(self, path: Path | str, chain_id: int) -> None:
        self.path = str(path)
        self.chain_id = chain_id
        self._db = sqlite3.connect(self.path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # durable before broadcast, not just fast
        self._db.executescript(_SCHEMA)

    @property
    def location(self) -> str:
        """The file, for logs."""
        return self.path

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def check_writer(self) -> None:
        """Always passes: a file journal has one writer, the process that opened it."""

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
        """Write a signed transaction before it is broadcast.

        Signing the same fields again gives the same bytes and hash (a refused attempt sent
        again): the entry is reopened rather than duplicated.
        """
        now = time.time()
        self._db.execute(
            "INSERT INTO txs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
            "ON CONFLICT(tx_hash) DO UPDATE SET status='signed', note=NULL, "
            "updated_at=excluded.updated_at",
            (
                tx_hash,
                self.chain_id,
                sender,
                nonce,
                raw,
                to,
                data,
                gas_limit,
                max_fee,
                tip,
                purpose,
                json.dumps(meta, default=str),
                "signed",
                None,
                None,
                now,
                now,
            ),
        )

    def mark(
        self, tx_hash: str, status: Status, *, block: int | None = None, note: str | None = None
    ) -> None:
        """Record a transaction's new fate."""
        self._db.execute(
            "UPDATE txs SET status=?, block=COALESCE(?, block), note=COALESCE(?, note), "
            "updated_at=? WHERE tx_hash=?",
            (status, block, note, time.time(), tx_hash),
        )

    def record_result(
        self, sender: str, tx_hash: str | None, pnl_base: int, at: float | None = None
    ) -> None:
        """The realised profit (negative: loss) of one settled attempt, in base units."""
        self._db.execute(
            "INSERT INTO results VALUES (?,?,?,?,?)",
            (self.chain_id, sender, time.time() if at is None else at, tx_hash, str(pnl_base)),
        )

    def losses_since(self, sender: str, since: float) -> int:
        """Sum of realised losses (as a positive number) recorded at or after ``since``."""
        rows = self._db.execute(
            "SELECT pnl_base FROM results WHERE chain_id=? AND sender=? AND at>=?",
            (self.chain_id, sender, since),
        ).fetchall()
        # Stored as text: results are integers of any size (no 64-bit overflow).
        return sum(-int(v) for (v,) in rows if int(v) < 0)

    def settled_after(self, sender: str, block: int) -> list[Entry]:
        """Transactions recorded as mined or reverted in a block above ``block``."""
        rows = self._db.execute(
            "SELECT * FROM txs WHERE chain_id=? AND sender=? "
            "AND status IN ('mined','reverted') AND block>? ORDER BY nonce",
            (self.chain_id, sender, block),
        ).fetchall()
        return [_entry(r) for r in rows]

    def open_or_settled_after(self, sender: str, block: int) -> list[Entry]:
        """Transactions still open, or mined or reverted in a block above ``block``."""
        rows = self._db.execute(
            "SELECT * FROM txs WHERE chain_id=? AND sender=? AND (status IN ('signed','broadcast') "
            "OR (status IN ('mined','reverted') AND block>?)) ORDER BY nonce, created_at",
            (self.chain_id, sender, block),
        ).fetchall()
        return [_entry(r) for r in rows]

    def open_entries(self, sender: str) -> list[Entry]:
        """Transactions whose fate is not known yet, oldest nonce first."""
        rows = self._db.execute(
            "SELECT * FROM txs WHERE chain_id=? AND sender=? "
            "AND status IN ('signed','broadcast') ORDER BY nonce, created_at",
            (self.chain_id, sender),
        ).fetchall()
        return [_entry(r) for r in rows]

    def at_nonce(self, sender: str, nonce: int) -> list[Entry]:
        """Every attempt at one nonce, oldest first."""
        rows = self._db.execute(
            "SELECT * FROM txs WHERE chain_id=? AND sender=? AND nonce=? ORDER BY created_at",
            (self.chain_id, sender, nonce),
        ).fetchall()
        return [_entry(r) for r in rows]

    def highest_nonce(self, sender: str) -> int | None:
        """The highest nonce ever signed for ``sender``."""
        row = self._db.execute(
            "SELECT MAX(nonce) FROM txs WHERE chain_id=? AND sender=?", (self.chain_id, sender)
        ).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def find(self, tx_hash: str) -> tuple[Entry, float] | None:
        """One journaled transaction by hash, with the time it was signed (epoch seconds)."""
        row = self._db.execute(
            "SELECT * FROM txs WHERE chain_id=? AND tx_hash=?", (self.chain_id, tx_hash)
        ).fetchone()
        return None if row is None else (_entry(row), float(row[15]))

    def result_of(self, tx_hash: str) -> int | None:
        """The realised result recorded for one transaction (base units), if any."""
        row = self._db.execute(
            "SELECT pnl_base FROM results WHERE chain_id=? AND tx_hash=? ORDER BY at DESC",
            (self.chain_id, tx_hash),
        ).fetchone()
        return None if row is None else int(row[0])

    def entries(self, sender: str) -> list[Entry]:
        """Everything journaled for ``sender``, in signing order."""
        rows = self._db.execute(
            "SELECT * FROM txs WHERE chain_id=? AND sender=? ORDER BY nonce, created_at",
            (self.chain_id, sender),
        ).fetchall()
        return [_entry(r) for r in rows]

    def record_channel(
        self, tx_hash: str, channel: str, result: str, *, detail: str | None = None
    ) -> None:
        """A channel's latest result for a transaction (the first one's time is kept)."""
        now = time.time()
        self._db.execute(
            "INSERT INTO tx_channels VALUES (?,?,?,?,?,?,?) "
            "ON CONFLICT(chain_id, tx_hash, channel) DO UPDATE SET "
            "last_result=excluded.last_result, detail=excluded.detail, "
            "updated_at=excluded.updated_at",
            (self.chain_id, tx_hash, channel, now, result, detail, now),
        )

    def channels_of(self, tx_hash: str) -> list[ChannelRecord]:
        """Every channel ``tx_hash`` went through, first sent first."""
        rows = self._db.execute(
            "SELECT tx_hash, channel, first_sent_at, last_result, updated_at, detail "
            "FROM tx_channels WHERE chain_id=? AND tx_hash=? ORDER BY first_sent_at, channel",
            (self.chain_id, tx_hash),
        ).fetchall()
        return [ChannelRecord(*row) for row in rows]


def _entry(row: tuple[Any, ...]) -> Entry:
    (
        tx_hash,
        _chain_id,
        sender,
        nonce,
        raw,
        to,
        data,
        gas_limit,
        max_fee,
        tip,
        purpose,
        meta,
        status,
        block,
        note,
        _c,
        _u,
    ) = row
    return Entry(
        tx_hash,
        sender,
        nonce,
        bytes(raw),
        to,
        data,
        gas_limit,
        max_fee,
        tip,
        purpose,
        json.loads(meta),
        status,
        block,
        note,
    )
