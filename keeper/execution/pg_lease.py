"""The lease row in PostgreSQL: acquire when lapsed, renew while ours, release at a clean stop.

One row per key (``keeper_lease``): holder, epoch, expiry, all by the database's clock
(``now()``), so that the keepers' own clocks never have to agree. Acquiring takes the next
epoch (the row is never deleted: epochs only grow); renewing extends the expiry only while the
row still names this holder at this epoch, unexpired. Asynchronous (its own connection), so
that a database out of reach never blocks the loop: each call is bounded by a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import psycopg

from keeper.errors import JournalUnavailableError
from keeper.execution.journal_pg import connect_args

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from keeper.execution.lease import Lease

T = TypeVar("T")
_ACQUIRE_LOOK = (
    "SELECT holder, epoch, expires_at > now() FROM keeper_lease WHERE key = %s FOR UPDATE"
)
_INSERT = (
    "INSERT INTO keeper_lease VALUES (%s, %s, 1, now() + make_interval(secs => %s), now(), "
    "now()) ON CONFLICT (key) DO NOTHING RETURNING epoch"
)
_TAKE = (
    "UPDATE keeper_lease SET holder = %s, epoch = epoch + 1, "
    "expires_at = now() + make_interval(secs => %s), acquired_at = now(), renewed_at = now() "
    "WHERE key = %s AND expires_at <= now() RETURNING epoch"
)
_RENEW = (
    "UPDATE keeper_lease SET expires_at = now() + make_interval(secs => %s), renewed_at = now() "
    "WHERE key = %s AND holder = %s AND epoch = %s AND expires_at > now() RETURNING epoch"
)
_RELEASE = (
    "UPDATE keeper_lease SET expires_at = now() "
    "WHERE key = %s AND holder = %s AND epoch = %s AND expires_at > now()"
)


@dataclass(frozen=True)
class Acquired:
    """The lease was taken: its epoch, and who held it before (None: nobody ever)."""

    epoch: int
    previous: str | None


@dataclass(frozen=True)
class Holder:
    """Who holds a key's lease by the database (``live``: unexpired)."""

    holder: str
    epoch: int
    live: bool


class PostgresLeaseStore:
    """The key's lease row, asked over a connection of its own."""

    def __init__(self, url: str, lease: Lease) -> None:
        self._url = url
        self.lease = lease
        self.timeout_s = min(lease.terms.renew_s, 5.0)
        self._conn: psycopg.AsyncConnection[Any] | None = None

    async def _run(self, work: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]]) -> T:
        try:
            async with asyncio.timeout(self.timeout_s):
                if self._conn is None or self._conn.closed:
                    self._conn = await psycopg.AsyncConnection.connect(**connect_args(self._url))
                return await work(self._conn)
        except (psycopg.OperationalError, psycopg.InterfaceError, TimeoutError) as exc:
            await self.close()
            raise JournalUnavailableError(f"lease: {type(exc).__name__}") from None

    async def close(self) -> None:
        """Drop the connection (a new one is opened on the next call)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(psycopg.Error, OSError):
                await conn.close()

    async def holder(self) -> Holder | None:
        """The key's row as the database has it now."""

        async def look(conn: psycopg.AsyncConnection[Any]) -> Holder | None:
            cur = await conn.execute(
                "SELECT holder, epoch, expires_at > now() FROM keeper_lease WHERE key = %s",
                (self.lease.key,),
            )
            row = await cur.fetchone()
            return None if row is None else Holder(str(row[0]), int(row[1]), bool(row[2]))

        return await self._run(look)

    async def acquire(self) -> Acquired | None:
        """Take the lease if it is free or lapsed (the next epoch); None while another holds it."""
        lease, ttl = self.lease, self.lease.terms.ttl_s

        async def take(conn: psycopg.AsyncConnection[Any]) -> Acquired | None:
            async with conn.transaction():
                row = await (await conn.execute(_ACQUIRE_LOOK, (lease.key,))).fetchone()
                if row is None:
                    cur = await conn.execute(_INSERT, (lease.key, lease.holder, ttl))
                    got, previous = await cur.fetchone(), None
                elif row[2]:
                    return None  # live: someone holds it (perhaps a former self)
                else:
                    cur = await conn.execute(_TAKE, (lease.holder, ttl, lease.key))
                    got, previous = await cur.fetchone(), str(row[0])
            return None if got is None else Acquired(int(got[0]), previous)

        asked_at = lease.clock()
        acquired = await self._run(take)
        if acquired is not None:
            lease.granted(acquired.epoch, asked_at)
        return acquired

    async def renew(self) -> bool:
        """Extend the lease; False when it is no longer ours (taken over, or lapsed)."""
        lease = self.lease
        epoch = lease.epoch
        if epoch is None:
            return False

        async def extend(conn: psycopg.AsyncConnection[Any]) -> bool:
            cur = await conn.execute(_RENEW, (lease.terms.ttl_s, lease.key, lease.holder, epoch))
            return await cur.fetchone() is not None

        asked_at = lease.clock()
        if not await self._run(extend):
            return False
        if lease.epoch == epoch:  # not lost meanwhile (a fenced write refused)
            lease.granted(epoch, asked_at)
        return True

    async def release(self) -> None:
        """Let the lease lapse now (a clean stop): a standby takes over without waiting."""
        lease = self.lease
        epoch = lease.epoch
        if epoch is None:
            return

        async def let_go(conn: psycopg.AsyncConnection[Any]) -> None:
            await conn.execute(_RELEASE, (lease.key, lease.holder, epoch))

        lease.lost("released at shutdown")
        await self._run(let_go)
