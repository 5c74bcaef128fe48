"""Following the chain head as (number, hash, parent hash), with reorg detection.

Each new block's parent hash must be the hash we hold for the block before it. When it is not,
the tracker walks back until the node's hash and ours agree again: that block is the common
ancestor, and everything above it was orphaned.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from keeper.chain.bloom import bloom_of
from keeper.errors import ChainError, TransientRpcError

if TYPE_CHECKING:
    from keeper.chain.client import ChainClient

HEADER_BATCH = 100


class DeepReorgError(ChainError):
    """The chain changed below the oldest block we remember: rebuild from scratch."""


@dataclass(frozen=True, slots=True)
class Header:
    """What the keeper keeps of a block."""

    number: int
    hash: str
    parent_hash: str
    timestamp: int
    base_fee: int | None = None  # None before London (or on a chain without EIP-1559)
    logs_bloom: int | None = None  # None when the node gave none: the logs are then read

    @classmethod
    def from_rpc(cls, block: dict[str, Any]) -> Header:
        """From an ``eth_getBlockByNumber`` answer."""
        try:
            base_fee = block.get("baseFeePerGas")
            return cls(
                int(block["number"], 16),
                str(block["hash"]),
                str(block["parentHash"]),
                int(block["timestamp"], 16),
                None if base_fee is None else int(base_fee, 16),
                bloom_of(block.get("logsBloom")),
            )
        except (KeyError, TypeError, ValueError):
            raise TransientRpcError(
                "malformed block header", method="eth_getBlockByNumber"
            ) from None


@dataclass(frozen=True, slots=True)
class Advance:
    """New canonical headers since the last call; ``ancestor`` is set after a reorg."""

    headers: list[Header]
    ancestor: int | None = None


class HeadTracker:
    """Remembers the hashes of the last ``depth`` blocks."""

    def __init__(self, client: ChainClient, depth: int = 256) -> None:
        self.client = client
        self.depth = depth
        self._hashes: OrderedDict[int, str] = OrderedDict()
        self.head: Header | None = None

    def _remember(self, header: Header) -> None:
        self._hashes[header.number] = header.hash
        self._hashes.move_to_end(header.number)
        while len(self._hashes) > self.depth:
            self._hashes.popitem(last=False)
        self.head = header

    def snapshot(self) -> tuple[OrderedDict[int, str], Header | None]:
        """What the tracker holds now, for :meth:`restore`."""
        return OrderedDict(self._hashes), self.head

    def hash_of(self, number: int) -> str | None:
        """The hash held for block ``number`` (None if it is not remembered)."""
        return self._hashes.get(number)

    def restore(self, snapshot: tuple[OrderedDict[int, str], Header | None]) -> None:
        """Go back to a :meth:`snapshot`.

        The blocks of an advance whose state could not be applied are then read again by the
        next advance, not taken as followed.
        """
        self._hashes, self.head = OrderedDict(snapshot[0]), snapshot[1]

    async def headers(self, first: int, last: int) -> list[Header]:
        """Headers ``first..last`` in batches; raises if any is missing."""
        out: list[Header] = []
        for start in range(first, last + 1, HEADER_BATCH):
            numbers = range(start, min(last, start + HEADER_BATCH - 1) + 1)
            answers = await self.client.batch(
                [("eth_getBlockByNumber", [hex(n), False]) for n in numbers]
            )
            for n, answer in zip(numbers, answers, strict=True):
                if not isinstance(answer, dict):
                    raise TransientRpcError(
                        f"block {n} not available", method="eth_getBlockByNumber"
                    )
                out.append(Header.from_rpc(answer))
        return out

    async def start(self, number: int) -> Header:
        """Begin at block ``number``."""
        (header,) = await self.headers(number, number)
        self._hashes.clear()
        self._remember(header)
        return header

    async def advance(self, target: int, head: Header | None = None) -> Advance:
        """Bring the tracker to block ``target`` (the node's head).

        ``head``: the header of ``target`` when the caller already has it (a ``newHeads``
        notification, a poll of the latest header); the usual case, the next block on top of
        ours, then costs no request.
        """
        if head is not None:
            if head.number != target:
                raise ValueError("head is not the header of target")
            followed = self._follow_known(head)
            if followed is not None:
                return followed
        if self.head is None:
            return Advance([await self.start(target)])
        return await self._read_advance(self.head, target, head)

    async def _read_advance(self, ours: Header, target: int, head: Header | None) -> Advance:
        """The advance from ``ours`` to ``target`` from headers read now (a gap, a reorg)."""
        ancestor: int | None = None
        first = ours.number + 1
        known: list[Header] = []  # headers already read for this advance
        if target <= ours.number:
            (same,) = [head] if head is not None else await self.headers(target, target)
            if same.hash == self._hashes.get(target):
                return Advance([])
            first = target  # the head moved back or sideways: find where we agree
            ancestor = await self._common_ancestor(target - 1)
        else:
            (next_header,) = await self.headers(first, first)
            if next_header.parent_hash != self._hashes.get(ours.number):
                ancestor = await self._common_ancestor(ours.number)
            else:
                known = [next_header]
        if ancestor is not None:
            for n in [n for n in self._hashes if n > ancestor]:
                del self._hashes[n]
            first = ancestor + 1
        new = known + await self.headers(first + len(known), target)
        previous = self._hashes.get(first - 1)
        for header in new:
            if previous is not None and header.parent_hash != previous:
                # The chain moved while we read it; the next call starts over from what we hold.
                raise TransientRpcError(
                    "chain changed during header fetch", method="eth_getBlockByNumber"
                )
            previous = header.hash
        for header in new:
            self._remember(header)
        return Advance(new, ancestor)

    def _follow_known(self, head: Header) -> Advance | None:
        """The advance to ``head`` when it needs no request (the next block, or ours); else None."""
        if self.head is None:
            self._hashes.clear()
            self._remember(head)
            return Advance([head])
        if head.number == self.head.number + 1 and head.parent_hash == self.head.hash:
            self._remember(head)
            return Advance([head])
        if head.number <= self.head.number and head.hash == self._hashes.get(head.number):
            return Advance([])
        return None

    async def _common_ancestor(self, start: int) -> int:
        """The highest block at or below ``start`` whose hash the node and we agree on."""
        number = start
        floor = min(self._hashes, default=start)
        while number >= floor:
            ours = self._hashes.get(number)
            (theirs,) = await self.headers(number, number)
            if ours is not None and theirs.hash == ours:
                return number
            number -= 1
        raise DeepReorgError(f"reorg below block {floor}, the oldest block remembered")
