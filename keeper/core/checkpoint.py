"""Checkpoints of a market's tracked state: what a warm restart resumes from.

A :class:`~keeper.core.market.LendingMarket` captures its state at a block with ``snapshot()``
(cheap, on the event loop: references to data it never mutates in place) and turns a stored
:class:`MarketCheckpoint` back into its state with ``restore()`` plus a short backfill from the
checkpoint's block to the head. The payload is the protocol's own (versioned) encoding; the
envelope around it, which names the market and the block, is neutral, and so is the store
(``keeper.ops.checkpoint_store``) and the policy of when to write (``keeper.loop.checkpoints``).

A checkpoint that cannot be used raises :class:`CheckpointRejectedError` with a
:class:`DiscardReason`: it is logged and discarded, and the market starts cold.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from keeper.errors import KeeperError

# The envelope's format (the store's header), not the protocol payload's own version.
FORMAT_VERSION = 1


class DiscardReason(StrEnum):
    """Why a checkpoint was not used (the metric label and the log field)."""

    UNREADABLE = "unreadable"  # the file or URL could not be read
    CORRUPT = "corrupt"  # truncated, garbled or its checksum does not match
    FORMAT_VERSION = "format_version"  # an envelope or payload format this keeper does not know
    OTHER_CHAIN = "other_chain"
    OTHER_PROTOCOL = "other_protocol"
    OTHER_MARKET = "other_market"
    OTHER_SETTINGS = "other_settings"  # made with settings that change the state (start_block)
    REORGED = "reorged"  # the chain holds another block at the checkpoint's height
    AHEAD_OF_CHAIN = "ahead_of_chain"  # its block is above the node's head


class CheckpointRejectedError(KeeperError):
    """A checkpoint that cannot be resumed from; the market starts cold instead."""

    def __init__(self, reason: DiscardReason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class MarketIdentity:
    """Which market a checkpoint is of: a checkpoint of any other one is discarded."""

    chain_id: int
    protocol: str  # the market's ``name``, e.g. "aave_v3"
    market: str  # the market's own address (an Aave Pool), lower case


@dataclass(frozen=True)
class MarketCheckpoint:
    """A stored checkpoint: the envelope and the protocol's encoded payload.

    ``written_at`` is wall-clock seconds (the store sets it on save); ``timestamp`` is the
    chain time of ``block``.
    """

    identity: MarketIdentity
    block: int
    block_hash: str
    timestamp: int
    payload_version: int
    payload: bytes
    written_at: float = 0.0


class StateSnapshot(Protocol):
    """A market's state captured at a block, encoded later and off the event loop.

    ``encode`` may run in a worker thread: it reads only what the snapshot captured, which
    the market replaces but never changes in place.
    """

    @property
    def block(self) -> int:
        """The block the state is valid at."""
        ...

    @property
    def block_hash(self) -> str:
        """That block's hash (a reorg below it invalidates the snapshot)."""
        ...

    @property
    def timestamp(self) -> int:
        """That block's timestamp."""
        ...

    @property
    def version(self) -> int:
        """The payload format's version."""
        ...

    def encode(self) -> bytes:
        """The payload (no pickle: the protocol's own versioned text or struct)."""
        ...


class CheckpointWriteError(KeeperError):
    """A checkpoint could not be stored (disk full, permissions): logged; the keeper goes on."""
