"""New heads as headers: pushed over WebSocket, polled over HTTP when the next block is due.

A node provider bills every request, and a keeper that polls ``eth_blockNumber`` ten times a
block spends most of its budget asking "anything new?". Over WebSocket the ``newHeads``
notification carries the header itself: following the head costs nothing. Over HTTP one
request, ``eth_getBlockByNumber("latest")``, both finds a new block and describes it, and the
:class:`PollPacer` times it for when the next block is due on a chain that mines on a clock, so
a block costs about one poll; on a chain that does not (a devnet mining per transaction), or
once a block is late, it polls every ``poll_interval_s`` as before.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from keeper.chain.client import ChainClient
    from keeper.chain.heads import Header

WINDOW = 16  # recent heads the pacer learns the chain's rhythm from
MIN_SPAN = 4  # heads needed before the rhythm is trusted
PHASE_FROM = 4  # the last sightings the due time is projected from (a slow clock drifts)
RETRY_STEPS = (0.0, 0.25, 0.5, 1.0)  # after 0, 1, 2, 3+ polls that found nothing, x interval
PROBE_EVERY = 4
PROBE_SHARE = 0.25  # of a poll interval
# Over WebSocket a head is also polled once when none was announced for this many block
# intervals (a dropped subscription, a node that stopped announcing).
SILENCE_BLOCKS = 3


class PollPacer:
    """When to poll for the next head, from when the recent ones were seen. Pure.

    A chain mines on a clock when the timestamps of its recent heads step forward (at most one
    in four shares a second with the one before: a devnet mining per transaction, or a chain
    faster than a block a second, shares more); its interval is their median step. The next
    block is due at the earliest time the last few sightings allow:
    ``min(seen_k + (n - n_k) x interval)``.
    Every ``PROBE_EVERY``-th block is polled a little before that, so that a node whose clock
    runs fast is followed rather than lagged behind. A poll that finds nothing is repeated soon
    (a quarter, then half a poll interval later: the block is a few milliseconds late), then
    every ``poll_interval_s``.
    """

    def __init__(self, poll_interval_s: float) -> None:
        self.poll_interval_s = poll_interval_s
        self._seen: deque[tuple[int, int, float]] = deque(maxlen=WINDOW)  # number, ts, seen at

    def seen(self, header: Header, at: float) -> None:
        """A new head was seen at ``at`` (monotonic seconds)."""
        if self._seen and header.number <= self._seen[-1][0]:
            self._seen.clear()  # the head went back (a reorg): learn the rhythm again
        self._seen.append((header.number, header.timestamp, at))

    def interval(self) -> float | None:
        """Seconds between blocks, when the chain mines on a clock; else None."""
        seen = list(self._seen)
        if len(seen) < MIN_SPAN:
            return None
        steps = [(b[1] - a[1]) / (b[0] - a[0]) for a, b in itertools.pairwise(seen)]
        # One block in four may share its second with the one before: a node mining near a
        # second's boundary on a loaded machine gives one block the next second and the
        # following block the same one. A devnet mining per transaction shares far more.
        forward = sum(step > 0 for step in steps)
        if forward * 4 < len(steps) * 3:
            return None
        # The median step, not the average: one long gap (the first block after the node
        # was restarted from a state, or stalled) would otherwise stretch the rhythm to
        # minutes and the next poll with it.
        interval = statistics.median(steps)
        return interval if interval > 0 else None

    def due(self) -> float | None:
        """When the next block is due (monotonic seconds), or None when it cannot be told."""
        interval = self.interval()
        if interval is None:
            return None
        following = self._seen[-1][0] + 1
        recent = list(self._seen)[-PHASE_FROM:]
        return min(at + (following - number) * interval for number, _, at in recent)

    def first_poll(self) -> float | None:
        """When to poll first for the next block: when it is due, or a little earlier.

        Every ``PROBE_EVERY``-th block a little earlier: a block that is already there moves
        the due time earlier, so a node whose clock runs fast is followed, not lagged behind.
        """
        due = self.due()
        if due is None:
            return None
        if (self._seen[-1][0] + 1) % PROBE_EVERY == 0:
            return due - PROBE_SHARE * self.poll_interval_s
        return due

    def delay(self, now: float, misses: int) -> float:
        """Seconds to wait before the next poll, after ``misses`` polls that found nothing.

        Until the first poll's time: wait for it. Then poll again a quarter and half a poll
        interval later, then every ``poll_interval_s`` (with no rhythm: every interval).
        """
        first = self.first_poll()
        if first is None:
            return self.poll_interval_s
        if misses == 0:
            return max(0.0, first - now)
        return self.poll_interval_s * RETRY_STEPS[min(misses, len(RETRY_STEPS) - 1)]

    def arrival_interval(self) -> float | None:
        """Seconds between heads as they were seen (median), whatever their timestamps say."""
        seen = list(self._seen)
        if len(seen) < MIN_SPAN:
            return None
        return statistics.median((b[2] - a[2]) / (b[0] - a[0]) for a, b in itertools.pairwise(seen))

    def silence_s(self) -> float:
        """How long a WebSocket may stay silent before the head is polled once.

        Three block intervals: by the timestamps, else by when the heads arrived (a chain
        faster than a block a second, or a loaded devnet giving two blocks one second).
        """
        interval = self.interval()
        if interval is None:
            interval = self.arrival_interval()
        blocks = SILENCE_BLOCKS * interval if interval is not None else 0.0
        return max(self.poll_interval_s, blocks)


class HeadSource:
    """The next new head of the node, as a header (see the module docstring)."""

    def __init__(
        self,
        client: ChainClient,
        poll_interval_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.pacer = PollPacer(poll_interval_s)
        self._clock = clock
        self.last: Header | None = None
        self.polls = 0  # head polls sent (HTTP, or WebSocket fallback)
        self._heard = clock()  # when the last head was announced or polled (WebSocket)
        self._last_polled = False  # the last head came from a poll, not the stream

    def _is_new(self, header: Header) -> bool:
        last = self.last
        return last is None or header.hash != last.hash

    def _stale(self, announced: Header) -> bool:
        """An announcement older than a head a poll already found: the queue catching up.

        Taking it would process a block twice and make the pacer forget the chain's rhythm,
        and a WebSocket keeper would then poll at its poll interval for good. The stream
        announces in order, so an announcement older than the last announced head is the
        node's own rollback and is taken; so is any head a poll finds.
        """
        last = self.last
        return self._last_polled and last is not None and announced.number < last.number

    def _accept(self, header: Header, *, polled: bool) -> Header:
        self.last = header
        self._last_polled = polled
        self._heard = self._clock()
        self.pacer.seen(header, self._clock())
        return header

    def forget(self) -> None:
        """Take the node's current head as new again (the caller lost track of it)."""
        self.last = None

    async def next(self, timeout_s: float) -> Header | None:
        """The next head different from the last one, or None after ``timeout_s``.

        Raises the client's RpcError when a poll fails (the caller skips and comes back).
        """
        deadline = self._clock() + timeout_s
        if self.client.streams_heads:
            return await self._announced(deadline)
        misses = 0
        while True:
            now = self._clock()
            wait = self.pacer.delay(now, misses)
            if now + wait > deadline:
                await asyncio.sleep(max(0.0, deadline - now))
                return None
            await asyncio.sleep(wait)
            self.polls += 1
            header = await self.client.latest_header()
            if self._is_new(header):
                return self._accept(header, polled=True)
            misses += 1

    async def _announced(self, deadline: float) -> Header | None:
        """Announced heads; one poll only once the stream was silent for ``silence_s``.

        The silence is counted from the last head heard (announced or polled), across calls:
        a caller that asks with a short timeout, again and again, must not turn the fallback
        into polling at its own pace (ten polls a block on a 0.1 s retry).
        """
        while True:
            now = self._clock()
            quiet_until = self._heard + self.pacer.silence_s()
            polled = now >= quiet_until
            if polled:
                self.polls += 1
                self._heard = now
                header: Header | None = await self.client.latest_header()
            elif now >= deadline:
                return None
            else:
                header = await self.client.next_head(min(deadline, quiet_until) - now)
                if header is not None and self._stale(header):
                    continue
            if header is not None and self._is_new(header):
                return self._accept(header, polled=polled)
