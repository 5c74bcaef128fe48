"""Where checkpoints live: a file on a volume, or another instance's ops endpoint (read only).

:class:`CheckpointStore` is the seam (a PostgreSQL store for an HA pair can implement it next
to the journal); :class:`FileCheckpointStore` writes atomically (a temporary file, fsync,
rename, fsync of the directory), so a crash mid-write leaves the previous checkpoint whole.
:class:`HttpCheckpointSource` reads a running keeper's ``/checkpoint``: a standby starting cold
points ``checkpoint_source`` at its active's and resumes from it.

The envelope (one JSON line, a newline, then the payload) is shared by every store::

    {"format": "keeper-checkpoint", "version": 1, "chain_id": ..., "protocol": ..., "market": ...,
     "block": ..., "block_hash": ..., "timestamp": ..., "payload_version": ...,
     "payload_bytes": ..., "payload_sha256": ..., "written_at": ...}

A truncated or garbled file fails its size or checksum and is rejected, never half-read.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Protocol

import aiohttp
from yarl import URL

from keeper.core.checkpoint import (
    FORMAT_VERSION,
    CheckpointRejectedError,
    CheckpointWriteError,
    DiscardReason,
    MarketCheckpoint,
    MarketIdentity,
)
from keeper.errors import ConfigError

MAGIC = "keeper-checkpoint"
MAX_HEADER = 4096
HTTP_TIMEOUT_S = 60.0


class CheckpointSource(Protocol):
    """Somewhere a checkpoint can be loaded from."""

    @property
    def location(self) -> str:
        """Where, for logs (no credentials)."""
        ...

    async def load(self) -> MarketCheckpoint | None:
        """The checkpoint, None if there is none; ``CheckpointRejectedError`` if unusable."""
        ...


class CheckpointStore(CheckpointSource, Protocol):
    """A source that this keeper also writes its checkpoints to."""

    async def save(self, checkpoint: MarketCheckpoint) -> int:
        """Replace the stored checkpoint, all or nothing; return the bytes written.

        Raises ``CheckpointWriteError`` when it cannot (the previous checkpoint stays).
        """
        ...


def encode_file(checkpoint: MarketCheckpoint) -> bytes:
    """The envelope and the payload, as stored."""
    c = checkpoint
    header = {
        "format": MAGIC,
        "version": FORMAT_VERSION,
        "chain_id": c.identity.chain_id,
        "protocol": c.identity.protocol,
        "market": c.identity.market,
        "block": c.block,
        "block_hash": c.block_hash,
        "timestamp": c.timestamp,
        "payload_version": c.payload_version,
        "payload_bytes": len(c.payload),
        "payload_sha256": hashlib.sha256(c.payload).hexdigest(),
        "written_at": c.written_at,
    }
    return json.dumps(header, separators=(",", ":")).encode() + b"\n" + c.payload


def decode_file(data: bytes) -> MarketCheckpoint:
    """A stored checkpoint; ``CheckpointRejectedError`` for a flawed or unknown one."""
    end = data.find(b"\n", 0, MAX_HEADER)
    if end < 0:
        raise CheckpointRejectedError(DiscardReason.CORRUPT, "no checkpoint header")
    try:
        header: dict[str, Any] = json.loads(data[:end])
        if not isinstance(header, dict) or header.get("format") != MAGIC:
            raise CheckpointRejectedError(DiscardReason.CORRUPT, "not a keeper checkpoint")
        if header.get("version") != FORMAT_VERSION:
            raise CheckpointRejectedError(
                DiscardReason.FORMAT_VERSION,
                f"format version {header.get('version')!r}, this keeper reads {FORMAT_VERSION}",
            )
        payload = data[end + 1 :]
        if len(payload) != header["payload_bytes"]:
            raise CheckpointRejectedError(
                DiscardReason.CORRUPT,
                f"payload of {len(payload)} bytes, the header says {header['payload_bytes']}",
            )
        if hashlib.sha256(payload).hexdigest() != header["payload_sha256"]:
            raise CheckpointRejectedError(DiscardReason.CORRUPT, "payload checksum differs")
        return MarketCheckpoint(
            identity=MarketIdentity(
                _int(header["chain_id"]), _str(header["protocol"]), _str(header["market"])
            ),
            block=_int(header["block"]),
            block_hash=_str(header["block_hash"]),
            timestamp=_int(header["timestamp"]),
            payload_version=_int(header["payload_version"]),
            payload=payload,
            written_at=float(header["written_at"]),
        )
    except (ValueError, TypeError, KeyError) as exc:
        raise CheckpointRejectedError(
            DiscardReason.CORRUPT, f"header unreadable: {type(exc).__name__}: {exc}"
        ) from None


def _int(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"expected an integer in the header, got {type(value).__name__}")
    return value


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string in the header, got {type(value).__name__}")
    return value


class FileCheckpointStore:
    """One checkpoint file, replaced atomically on each save."""

    def __init__(self, path: str, key: str = "checkpoint_path") -> None:
        self.path = Path(path)
        directory = self.path.parent
        if not directory.is_dir():
            raise ConfigError(
                f"{key}: directory {directory} does not exist; create it (a volume in "
                f"production) or point {key} elsewhere"
            )
        if self.path.is_dir():
            raise ConfigError(f"{key}: {self.path} is a directory; name a file in it")

    @property
    def location(self) -> str:
        """The file's path."""
        return str(self.path)

    async def load(self) -> MarketCheckpoint | None:
        """The file's checkpoint, None when there is no file."""
        try:
            data = await asyncio.to_thread(self.path.read_bytes)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise CheckpointRejectedError(
                DiscardReason.UNREADABLE, f"{self.path}: {exc.strerror}"
            ) from None
        return await asyncio.to_thread(decode_file, data)

    async def save(self, checkpoint: MarketCheckpoint) -> int:
        """Write a temporary file, fsync it, rename it over the old one, fsync the directory."""
        return await asyncio.to_thread(self._write, checkpoint)

    def _write(self, checkpoint: MarketCheckpoint) -> int:
        data = encode_file(checkpoint)
        try:
            write_atomic(self.path, data)
        except OSError as exc:
            raise CheckpointWriteError(f"{self.path}: {exc.strerror or exc}") from None
        return len(data)


def write_atomic(path: Path, data: bytes) -> None:
    """``data`` at ``path`` all or nothing (readers see the old file or the new one)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)  # the rename itself survives a power loss
    finally:
        os.close(fd)


class HttpCheckpointSource:
    """Another keeper's ``/checkpoint`` (its ops endpoint): how a standby starts warm."""

    def __init__(self, url: str, timeout_s: float = HTTP_TIMEOUT_S) -> None:
        self.url = url
        self.timeout_s = timeout_s

    @property
    def location(self) -> str:
        """The URL without credentials or query."""
        u = URL(self.url)
        return str(u.with_user(None).with_query(None).with_fragment(None))

    async def load(self) -> MarketCheckpoint | None:
        """The served checkpoint, None if it has none yet (404)."""
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.get(self.url) as response,
            ):
                if response.status == 404:
                    return None
                if response.status != 200:
                    raise CheckpointRejectedError(
                        DiscardReason.UNREADABLE, f"{self.location}: HTTP {response.status}"
                    )
                data = await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise CheckpointRejectedError(
                DiscardReason.UNREADABLE, f"{self.location}: {type(exc).__name__}"
            ) from None
        return await asyncio.to_thread(decode_file, data)


def open_source(spec: str, key: str = "checkpoint_source") -> CheckpointSource:
    """A source from a setting: an http(s):// URL, a file:// URL or a path."""
    if spec.startswith(("http://", "https://")):
        return HttpCheckpointSource(spec)
    if spec.startswith("file://"):
        return FileCheckpointStore(URL(spec).path, key)
    return FileCheckpointStore(spec, key)
