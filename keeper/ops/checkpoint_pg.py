"""Checkpoints in the journal's PostgreSQL: the active writes them, a standby starting cold reads.

One row per market (``keeper_checkpoints``, key: chain id, protocol, market address) holding
the same envelope as a file (``keeper.ops.checkpoint_store.encode_file``: size and checksum
checked on load). A write is fenced like a journal write: it runs in a transaction that locks
the key's lease row and checks it still names this keeper at its epoch, so a stale active
never replaces the checkpoint of the one that took over. Rare (every
``checkpoint_interval_blocks``) and large: each call opens its own connection, in a worker
thread.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import psycopg

from keeper.chain.redact import redact_url
from keeper.core.checkpoint import CheckpointRejectedError, CheckpointWriteError, DiscardReason
from keeper.errors import NotActiveError
from keeper.execution.journal_pg import FENCE, connect_args, create_schema
from keeper.ops.checkpoint_store import decode_file, encode_file

if TYPE_CHECKING:
    from keeper.core.checkpoint import MarketCheckpoint, MarketIdentity
    from keeper.execution.lease import Lease

_UPSERT = (
    "INSERT INTO keeper_checkpoints VALUES (%s, %s, %s, now(), %s) ON CONFLICT (key) DO UPDATE "
    "SET data = EXCLUDED.data, block = EXCLUDED.block, written_at = now(), "
    "epoch = EXCLUDED.epoch"
)


def checkpoint_key(identity: MarketIdentity) -> str:
    """The row of one market."""
    return f"{identity.chain_id}:{identity.protocol}:{identity.market.lower()}"


class PostgresCheckpointStore:
    """The market's checkpoint row, written only under this keeper's lease."""

    def __init__(self, url: str, identity: MarketIdentity, lease: Lease) -> None:
        self._url = url
        self.key = checkpoint_key(identity)
        self.lease = lease

    @property
    def location(self) -> str:
        """The server, database and row, without credentials."""
        return f"{redact_url(self._url)}#{self.key}"

    async def load(self) -> MarketCheckpoint | None:
        """The stored checkpoint, None when there is none yet."""
        return await asyncio.to_thread(self._load)

    def _load(self) -> MarketCheckpoint | None:
        try:
            with psycopg.connect(**connect_args(self._url)) as conn:
                create_schema(conn)
                row = conn.execute(
                    "SELECT data FROM keeper_checkpoints WHERE key = %s", (self.key,)
                ).fetchone()
        except psycopg.Error as exc:
            raise CheckpointRejectedError(
                DiscardReason.UNREADABLE, f"{self.location}: {type(exc).__name__}"
            ) from None
        return None if row is None else decode_file(bytes(row[0]))

    async def save(self, checkpoint: MarketCheckpoint) -> int:
        """Replace the row, if this keeper still holds the lease; the bytes written."""
        data = await asyncio.to_thread(encode_file, checkpoint)
        await asyncio.to_thread(self._save, data, checkpoint.block)
        return len(data)

    def _save(self, data: bytes, block: int) -> None:
        lease = self.lease
        try:
            epoch = lease.writable_epoch()
        except NotActiveError as exc:
            raise CheckpointWriteError(f"{self.location}: {exc}") from None
        try:
            with psycopg.connect(**connect_args(self._url)) as conn, conn.transaction():
                ours = conn.execute(FENCE, (lease.key, lease.holder, epoch)).fetchone()
                if ours is not None:
                    conn.execute(_UPSERT, (self.key, data, block, epoch))
        except psycopg.Error as exc:
            raise CheckpointWriteError(f"{self.location}: {type(exc).__name__}") from None
        if ours is None:
            raise CheckpointWriteError(f"{self.location}: epoch {epoch} is no longer ours")
