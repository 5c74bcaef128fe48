"""Following the head for few requests: the poll pacer, the head source, a known header."""

from __future__ import annotations

from typing import Any

import pytest

from keeper.chain.head_source import HeadSource, PollPacer
from keeper.chain.heads import Header, HeadTracker
from tests.unit.test_chain_following import FakeChain


def _header(number: int, timestamp: int, fork: str = "a") -> Header:
    parent = f"0x{fork}{number - 1:063x}"
    return Header(number, f"0x{fork}{number:063x}", parent, timestamp)


def test_the_pacer_waits_for_the_next_block_of_a_chain_on_a_clock():
    """Heads one second apart (timestamps): the next poll waits until one second after the
    earliest sighting allows, then polls at once; a miss is retried a quarter, then half a
    poll interval later, then every interval.
    """
    pacer = PollPacer(poll_interval_s=0.1)
    for n, at in enumerate([10.05, 11.02, 12.03, 13.02]):
        pacer.seen(_header(101 + n, 1_000 + n), at)  # the next, 105, is no probe
    assert pacer.interval() == 1.0
    due = pacer.due()
    assert due == pytest.approx(14.02)  # min(10.05 + 4, 11.02 + 3, 12.03 + 2, 13.02 + 1)
    assert pacer.delay(13.5, misses=0) == pytest.approx(0.52)
    assert pacer.delay(14.1, misses=0) == 0.0
    assert pacer.delay(14.1, misses=1) == pytest.approx(0.025)
    assert pacer.delay(14.1, misses=2) == pytest.approx(0.05)
    assert pacer.delay(14.1, misses=7) == pytest.approx(0.1)


def test_the_pacer_probes_early_every_fourth_block():
    """Every fourth block is polled a quarter of a poll interval before it is due."""
    pacer = PollPacer(poll_interval_s=0.2)
    for n in range(4):
        pacer.seen(_header(n, 1_000 + n), 50.0 + n)
    assert pacer.first_poll() == pytest.approx(54.0 - 0.05)  # block 4 is a probe
    pacer.seen(_header(4, 1_004), 54.0)
    assert pacer.first_poll() == pytest.approx(55.0)


def test_no_rhythm_means_polling_every_interval():
    """Too few heads, heads sharing a second (mined per transaction) or a reorg: every poll
    interval, as without a pacer.
    """
    pacer = PollPacer(poll_interval_s=0.1)
    for n in range(3):
        pacer.seen(_header(n, 1_000 + n), float(n))
    assert pacer.due() is None and pacer.delay(5.0, misses=0) == 0.1
    pacer.seen(_header(3, 1_002), 3.0)  # the same second as block 2
    assert pacer.interval() is None
    clock = PollPacer(poll_interval_s=0.1)
    for n in range(4, 8):
        clock.seen(_header(n, 1_000 + n), float(n))
    assert clock.interval() == 1.0
    clock.seen(_header(5, 1_005, fork="b"), 9.0)  # the head went back
    assert clock.interval() is None


def test_one_long_gap_does_not_stretch_the_rhythm():
    """A first head minutes older than the next ones (a node started from a saved state, or
    one that stalled) leaves the interval at the chain's real one second: the next poll is
    due one second after the last head, not minutes later.
    """
    pacer = PollPacer(poll_interval_s=0.1)
    pacer.seen(_header(1226, 1_000), 0.0)
    for n, at in enumerate([0.5, 1.5, 2.5]):
        pacer.seen(_header(1227 + n, 1_600 + n), at)
    assert pacer.interval() == 1.0
    assert pacer.due() == pytest.approx(3.5)


class _PollingNode:
    """A test double of the client over HTTP: the latest header from a script of heads."""

    streams_heads = False

    def __init__(self, heads: list[Header]) -> None:
        self.heads = heads
        self.polls = 0

    async def latest_header(self) -> Header:
        self.polls += 1
        return self.heads[min(self.polls, len(self.heads)) - 1]


@pytest.mark.asyncio
async def test_the_head_source_returns_only_new_heads_and_gives_up_at_its_timeout():
    """Polls repeat while the head is the same; a new hash is returned; with no new head
    within the timeout, None.
    """
    a, b = _header(7, 1_007), _header(8, 1_008)
    node = _PollingNode([a, a, a, b])
    source = HeadSource(node, poll_interval_s=0.001)  # type: ignore[arg-type]
    assert await source.next(5.0) == a
    assert await source.next(5.0) == b and node.polls == 4
    assert await source.next(0.01) is None
    source.forget()
    assert await source.next(5.0) == b  # after a restart the current head counts as new


class _AnnouncingNode(_PollingNode):
    """A test double of the client over WebSocket: heads announced, or silence."""

    streams_heads = True

    def __init__(self, announced: list[Header | None], latest: Header) -> None:
        super().__init__([latest])
        self.announced = announced

    async def next_head(self, timeout_s: float) -> Header | None:
        del timeout_s
        return self.announced.pop(0) if self.announced else None


@pytest.mark.asyncio
async def test_over_websocket_heads_cost_no_request_and_silence_costs_one_poll():
    """Announced heads are returned without a request; a silent subscription is covered by one
    poll of the latest header.
    """
    a, b = _header(3, 1_003), _header(4, 1_004)
    node = _AnnouncingNode([a, None], latest=b)
    source = HeadSource(node, poll_interval_s=0.001)  # type: ignore[arg-type]
    assert await source.next(5.0) == a and node.polls == 0
    assert await source.next(5.0) == b and node.polls == 1


@pytest.mark.asyncio
async def test_a_known_next_header_is_followed_without_a_request():
    """Given the header of the next block on top of ours, the tracker takes it as is; the same
    head again is no advance; a header that does not extend ours is checked by reading.
    """
    chain = FakeChain(6)
    calls: list[Any] = []
    real_batch = chain.batch

    async def counted(batch: list[Any]) -> list[Any]:
        calls.append(batch)
        answers: list[Any] = await real_batch(batch)
        return answers

    chain.batch = counted  # type: ignore[method-assign]
    heads = HeadTracker(chain)  # type: ignore[arg-type]
    await heads.start(4)
    calls.clear()
    five = Header.from_rpc(chain.blocks[5])
    assert (await heads.advance(5, five)).headers == [five] and calls == []
    assert (await heads.advance(5, five)).headers == [] and calls == []
    chain.reorg(5, 7, "b")
    six = Header.from_rpc(chain.blocks[6])
    advance = await heads.advance(6, six)
    assert advance.ancestor == 4 and [h.number for h in advance.headers] == [5, 6]
    assert calls  # the replaced block was found by reading


class _SilentNode(_PollingNode):
    """A test double of the client over WebSocket whose stream stays silent, on a fake clock."""

    streams_heads = True

    def __init__(self, latest: Header, clock: list[float]) -> None:
        super().__init__([latest])
        self.clock = clock

    async def next_head(self, timeout_s: float) -> Header | None:
        self.clock[0] += timeout_s
        return None


@pytest.mark.asyncio
async def test_short_waits_over_websocket_do_not_turn_the_fallback_into_polling():
    """A caller asking for the next head with 0.1 s timeouts, again and again, over a stream
    that announced nothing: the head is polled once per silence (three block intervals
    once the rhythm is known, here the one-poll-interval floor of 1 s), not once per call.
    """
    clock = [100.0]
    node = _SilentNode(_header(9, 1_009), clock)
    source = HeadSource(node, poll_interval_s=1.0, clock=lambda: clock[0])  # type: ignore[arg-type]
    source.last = _header(9, 1_009)  # already seen: polls find nothing new
    for _ in range(30):  # 3 s of 0.1 s waits
        assert await source.next(0.1) is None
    assert 2 <= node.polls <= 3


class _LaggingStream(_PollingNode):
    """A test double of the client over WebSocket, on a fake clock: a script of announcements
    (None: silence until the timeout) and the node's latest header for the fallback poll.
    """

    streams_heads = True

    def __init__(self, announced: list[Header | None], latest: Header, clock: list[float]) -> None:
        super().__init__([latest])
        self.announced = announced
        self.clock = clock

    async def next_head(self, timeout_s: float) -> Header | None:
        head = self.announced.pop(0) if self.announced else None
        if head is None:
            self.clock[0] += timeout_s
        return head


@pytest.mark.asyncio
async def test_a_stale_announcement_after_a_later_poll_is_not_a_new_head():
    """A silent stream is covered by a poll that finds block 4; the announcement of block 3,
    still queued, then arrives: it is not returned (no block twice, the pacer keeps the
    chain's rhythm). A different block 4 (a reorg at the same height) is new, and so is an
    older block announced after an announced one (the node's own rollback).
    """
    clock = [100.0]
    heads = [_header(n, 1_000 + n) for n in range(1, 5)]
    node = _LaggingStream([*heads[:3], None, heads[2]], latest=heads[3], clock=clock)
    source = HeadSource(node, poll_interval_s=0.5, clock=lambda: clock[0])  # type: ignore[arg-type]
    for head in heads[:3]:
        assert await source.next(5.0) == head
    assert await source.next(5.0) == heads[3] and node.polls == 1
    assert await source.next(0.1) is None  # block 3 again, stale: skipped
    assert source.last == heads[3] and source.pacer.interval() == 1.0
    rival = _header(4, 1_004, fork="b")
    back = _header(2, 1_005, fork="b")
    node.announced = [rival, back]
    assert await source.next(5.0) == rival
    assert await source.next(5.0) == back


def test_without_a_timestamp_rhythm_the_silence_follows_the_arrivals():
    """Heads that share a second (a chain faster than a block a second) but arrive every
    quarter second: the WebSocket fallback polls after three arrival intervals, not at the
    poll interval.
    """
    pacer = PollPacer(poll_interval_s=0.1)
    for n in range(6):
        pacer.seen(_header(n, 1_000 + n // 4), 10.0 + 0.25 * n)
    assert pacer.interval() is None
    assert pacer.silence_s() == pytest.approx(0.75)


def test_one_block_sharing_a_second_keeps_the_rhythm():
    """A clocked chain where one block of the window got the same second as the one before
    (a node mining near a second's boundary on a loaded machine) still has its one-second
    rhythm, and the WebSocket fallback waits three blocks, not one poll interval.
    """
    pacer = PollPacer(poll_interval_s=0.1)
    stamps = [1_000, 1_001, 1_002, 1_003, 1_003, 1_005, 1_006, 1_007, 1_008]
    for n, stamp in enumerate(stamps):
        pacer.seen(_header(n, stamp), float(n))
    assert pacer.interval() == 1.0
    assert pacer.silence_s() == pytest.approx(3.0)
