"""The shadow journal's own tables: one row per opportunity or real liquidation, and its verdict.

They live in the dry-run journal file (``<journal_path>.dry-run``) beside the fork's
transactions, so ``keeper shadow-report`` reads one file, and a restart on the same path keeps
the history. Money is stored as decimal text (base units, any size), never as a float.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from keeper.errors import ConfigError
from keeper.shadow.verdict import Reason, Verdict

if TYPE_CHECKING:
    from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS shadow_runs (
    run_id      INTEGER PRIMARY KEY AUTOINCREMENT,
    chain_id    INTEGER NOT NULL,
    started_at  REAL NOT NULL,
    first_block INTEGER,
    last_block  INTEGER,
    stopped_at  REAL
);
-- status: open (planned, no verdict yet), decided, unresolved (its run ended undecided)
CREATE TABLE IF NOT EXISTS shadow_rows (
    row_id            INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id            INTEGER NOT NULL,
    chain_id          INTEGER NOT NULL,
    account           TEXT NOT NULL,
    plan_block        INTEGER,
    real_block        INTEGER,
    status            TEXT NOT NULL,
    verdict           TEXT,
    reason            TEXT,
    ours              TEXT,
    real              TEXT,
    our_profit_base   TEXT,
    their_profit_base TEXT,
    created_at        REAL NOT NULL,
    decided_at        REAL
);
CREATE INDEX IF NOT EXISTS shadow_rows_blocks ON shadow_rows (chain_id, plan_block, real_block);
"""


@dataclass(frozen=True)
class ShadowRow:
    """One line of the shadow report."""

    row_id: int
    run_id: int
    account: str
    plan_block: int | None
    real_block: int | None
    status: str
    verdict: Verdict | None
    reason: Reason | None
    ours: dict[str, Any] | None
    real: dict[str, Any] | None
    our_profit_base: int | None
    their_profit_base: int | None
    created_at: float
    decided_at: float | None

    @property
    def block(self) -> int:
        """The row's block for a period: our plan, else the real liquidation."""
        return self.plan_block if self.plan_block is not None else (self.real_block or 0)


def _num(value: int | None) -> str | None:
    return None if value is None else str(value)


class ShadowLedger:
    """Read and write the shadow tables of one journal file."""

    def __init__(self, path: Path | str, chain_id: int | None = None) -> None:
        self.path = str(path)
        self.chain_id = chain_id
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=10)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise ConfigError(
                f"journal_path: cannot open the shadow journal {self.path} ({exc}); point "
                "journal_path at a writable location"
            ) from None

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def _chain(self) -> int:
        if self.chain_id is None:  # pragma: no cover - writers are built with a chain id
            raise ValueError("a chain id is needed to write")
        return self.chain_id

    def start_run(self) -> int:
        """A new shadow run; rows earlier runs left without a verdict become unresolved."""
        self._db.execute(
            "UPDATE shadow_rows SET status='unresolved' WHERE chain_id=? AND status='open'",
            (self._chain(),),
        )
        cur = self._db.execute(
            "INSERT INTO shadow_runs (chain_id, started_at) VALUES (?, ?)",
            (self._chain(), time.time()),
        )
        return int(cur.lastrowid or 0)

    def run_block(self, run_id: int, block: int) -> None:
        """The run has followed the chain up to ``block``."""
        self._db.execute(
            "UPDATE shadow_runs SET first_block=COALESCE(first_block, ?), last_block=? "
            "WHERE run_id=?",
            (block, block, run_id),
        )

    def stop_run(self, run_id: int) -> None:
        """The run ended."""
        self._db.execute(
            "UPDATE shadow_runs SET stopped_at=? WHERE run_id=?", (time.time(), run_id)
        )

    def open_opportunity(
        self,
        run_id: int,
        account: str,
        plan_block: int,
        ours: dict[str, Any],
        our_profit_base: int | None,
    ) -> int:
        """Record what the keeper would have sent; the verdict comes later."""
        cur = self._db.execute(
            "INSERT INTO shadow_rows (run_id, chain_id, account, plan_block, status, ours, "
            "our_profit_base, created_at) VALUES (?,?,?,?,?,?,?,?)",
            (
                run_id,
                self._chain(),
                account,
                plan_block,
                "open",
                json.dumps(ours),
                _num(our_profit_base),
                time.time(),
            ),
        )
        return int(cur.lastrowid or 0)

    def decide(
        self,
        row_id: int,
        verdict: Verdict,
        reason: Reason,
        real: dict[str, Any] | None = None,
        their_profit_base: int | None = None,
    ) -> None:
        """Give an opportunity its verdict (and the real liquidation it raced, if any)."""
        self._db.execute(
            "UPDATE shadow_rows SET status='decided', verdict=?, reason=?, "
            "real=COALESCE(?, real), real_block=COALESCE(?, real_block), "
            "their_profit_base=COALESCE(?, their_profit_base), decided_at=? WHERE row_id=?",
            (
                verdict.value,
                reason.value,
                None if real is None else json.dumps(real),
                None if real is None else real.get("block"),
                _num(their_profit_base),
                time.time(),
                row_id,
            ),
        )

    def add_unplanned(
        self,
        run_id: int,
        verdict: Verdict,
        reason: Reason,
        real: dict[str, Any],
        their_profit_base: int | None,
        seen: dict[str, Any] | None = None,
    ) -> int:
        """A real liquidation the keeper had no plan for (lost by a skip, or missed)."""
        cur = self._db.execute(
            "INSERT INTO shadow_rows (run_id, chain_id, account, real_block, status, verdict, "
            "reason, ours, real, their_profit_base, created_at, decided_at) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                run_id,
                self._chain(),
                str(real["account"]),
                int(real["block"]),
                "decided",
                verdict.value,
                reason.value,
                None if seen is None else json.dumps(seen),
                json.dumps(real),
                _num(their_profit_base),
                time.time(),
                time.time(),
            ),
        )
        return int(cur.lastrowid or 0)

    def rows(
        self,
        *,
        from_block: int | None = None,
        to_block: int | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> list[ShadowRow]:
        """Rows in a period (block bounds inclusive, times in epoch seconds), oldest first."""
        sql = "SELECT * FROM shadow_rows WHERE 1=1"
        args: list[Any] = []
        if self.chain_id is not None:
            sql += " AND chain_id=?"
            args.append(self.chain_id)
        if since is not None:
            sql += " AND created_at>=?"
            args.append(since)
        if until is not None:
            sql += " AND created_at<=?"
            args.append(until)
        out = [_row(r) for r in self._db.execute(sql + " ORDER BY row_id", args).fetchall()]
        return [
            r
            for r in out
            if (from_block is None or r.block >= from_block)
            and (to_block is None or r.block <= to_block)
        ]

    def runs(self) -> list[tuple[int, int | None, int | None, float, float | None]]:
        """(run id, first block, last block, started, stopped) of every run."""
        rows = self._db.execute(
            "SELECT run_id, first_block, last_block, started_at, stopped_at FROM shadow_runs "
            "ORDER BY run_id"
        ).fetchall()
        return [(int(a), b, c, float(d), e) for a, b, c, d, e in rows]


def _row(r: tuple[Any, ...]) -> ShadowRow:
    (row_id, run_id, _chain, account, plan_block, real_block, status, verdict, reason) = r[:9]
    ours, real, our_profit, their_profit, created_at, decided_at = r[9:]
    return ShadowRow(
        row_id=int(row_id),
        run_id=int(run_id),
        account=str(account),
        plan_block=plan_block,
        real_block=real_block,
        status=str(status),
        verdict=None if verdict is None else Verdict(verdict),
        reason=None if reason is None else Reason(reason),
        ours=None if ours is None else json.loads(ours),
        real=None if real is None else json.loads(real),
        our_profit_base=None if our_profit is None else int(our_profit),
        their_profit_base=None if their_profit is None else int(their_profit),
        created_at=float(created_at),
        decided_at=decided_at,
    )
