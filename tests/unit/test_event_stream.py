"""The MEV-Share event stream client: events parsed, bad ones skipped, reconnects, no URL leak."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import TYPE_CHECKING, Any

import pytest
from aiohttp import web
from structlog.testing import capture_logs

from keeper.chain.sse import EventStream
from keeper.localnode.anvil import free_port

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


class StreamServer:
    """A real SSE server on 127.0.0.1: each connection gets the next script, then ends."""

    def __init__(self, scripts: list[list[str]]) -> None:
        self.scripts = scripts
        self.connections = 0
        self.port = free_port()
        self.release = asyncio.Event()  # ends the held connections

    async def handle(self, request: web.Request) -> web.StreamResponse:
        script = self.scripts[min(self.connections, len(self.scripts) - 1)]
        self.connections += 1
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for chunk in script:
            if chunk != "HOLD":
                await resp.write(chunk.encode())
            await asyncio.sleep(0.01)
        if script and script[-1] == "HOLD":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.release.wait(), 60)
        return resp


@contextlib.asynccontextmanager
async def _served(server: StreamServer) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_get("/{tail:.*}", server.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", server.port).start()
    try:
        yield f"http://127.0.0.1:{server.port}/stream?apikey=SECRET"
    finally:
        server.release.set()
        await runner.cleanup()


def _event(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload)}\n\n"


@pytest.mark.asyncio
async def test_events_are_delivered_bad_ones_skipped_and_a_lost_stream_reopened():
    """Two connections: JSON object events are delivered in order (pings and other fields
    ignored, a multi-line data field joined), a malformed one and a non-object are counted
    and skipped, the ended stream is opened again; the URL's key is never logged.
    """
    first = [
        ":ping\n\n",
        _event({"hash": "0x01"}),
        "event: message\ndata: not json\n\n",
        "data: [1, 2]\n\n",
        'data: {"hash":\ndata: "0x02"}\n\n',
    ]
    second = [_event({"hash": "0x03"}), "HOLD"]
    server = StreamServer([first, second])
    got: list[dict[str, Any]] = []
    stop = asyncio.Event()

    async def on_event(event: dict[str, Any]) -> None:
        got.append(event)
        if len(got) == 3:
            stop.set()

    async with _served(server) as url:
        stream = EventStream(url, name="test", first_backoff_s=0.05)
        with capture_logs() as logs:
            await asyncio.wait_for(stream.run(on_event, stop), 20)
    assert [e["hash"] for e in got] == ["0x01", "0x02", "0x03"]
    assert stream.malformed == 2 and stream.events == 3
    assert stream.connections == 2 and not stream.connected
    assert any(e["event"] == "event_stream_lost" for e in logs)
    assert "SECRET" not in repr(logs)


@pytest.mark.asyncio
async def test_an_unreachable_stream_is_retried_until_stopped():
    """Nothing listens on the port: the stream backs off and tries again, never raising, and
    stops when asked.
    """
    stream = EventStream(
        f"http://127.0.0.1:{free_port()}/", first_backoff_s=0.01, max_backoff_s=0.02
    )
    stop = asyncio.Event()

    async def never(event: dict[str, Any]) -> None:
        raise AssertionError(event)

    with capture_logs() as logs:
        task = asyncio.create_task(stream.run(never, stop))
        await asyncio.sleep(0.3)
        stop.set()
        await asyncio.wait_for(task, 5)
    lost = [e for e in logs if e["event"] == "event_stream_lost"]
    assert len(lost) >= 3 and stream.connections == 0


@pytest.mark.asyncio
async def test_a_callback_bug_surfaces():
    """A callback that raises (a bug, not the stream's failure) ends run() with that error."""
    server = StreamServer([[_event({"hash": "0x01"}), "HOLD"]])

    async def broken(event: dict[str, Any]) -> None:
        raise KeyError(event["hash"])

    async with _served(server) as url:
        stream = EventStream(url)
        with pytest.raises(KeyError):
            await asyncio.wait_for(stream.run(broken, asyncio.Event()), 10)
