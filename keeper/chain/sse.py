"""A server-sent event stream of JSON objects (the MEV-Share hint stream), kept connected.

The stream is read line by line: ``data:`` lines up to a blank line make one event, comment
lines (``:ping``) only show the stream is alive. A connection that fails, ends, or stays
silent longer than ``idle_timeout_s`` is opened again after a backoff (doubling up to
``max_backoff_s``, reset once connected): a broken stream never stops the keeper, and a hint
missed meanwhile only means its update is acted on by the standard path. An event that is not
a JSON object is counted and skipped. The URL may carry a key: only its redacted form is
logged.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import aiohttp
import structlog

from keeper.chain.redact import redact_url

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

log = structlog.get_logger(__name__)


class EventStream:
    """One SSE endpoint; :meth:`run` hands each JSON object event to a callback."""

    def __init__(
        self,
        url: str,
        *,
        name: str = "event_stream",
        idle_timeout_s: float = 30.0,
        connect_timeout_s: float = 10.0,
        first_backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        on_state: Callable[[bool], None] | None = None,
    ) -> None:
        self.url = url
        self.name = name
        self.idle_timeout_s = idle_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.first_backoff_s = first_backoff_s
        self.max_backoff_s = max_backoff_s
        self.on_state = on_state  # told of each connect (True) and loss (False)
        self.connected = False
        self.connections = 0  # successful connections so far (reconnects = this - 1)
        self.events = 0
        self.malformed = 0

    async def run(
        self, on_event: Callable[[dict[str, Any]], Awaitable[None]], stop: asyncio.Event
    ) -> None:
        """Read the stream until ``stop``, reconnecting as needed."""
        reader = asyncio.ensure_future(self._forever(on_event))
        stopper = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({reader, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (reader, stopper):
                task.cancel()
            await asyncio.gather(reader, stopper, return_exceptions=True)
            self._set(connected=False)
        if reader.done() and not reader.cancelled() and reader.exception() is not None:
            raise reader.exception()  # type: ignore[misc]  # a bug in a callback: surfaced

    def _set(self, *, connected: bool) -> None:
        self.connected = connected
        if self.on_state is not None:
            self.on_state(connected)

    async def _forever(self, on_event: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        backoff = self.first_backoff_s
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=self.connect_timeout_s, sock_read=self.idle_timeout_s
        )
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                try:
                    await self._read(session, on_event)
                    why = "the stream ended"
                except (aiohttp.ClientError, TimeoutError) as exc:
                    why = type(exc).__name__  # never str(exc): it may quote the URL
                if self.connected:
                    backoff = self.first_backoff_s
                self._set(connected=False)
                log.warning(
                    "event_stream_lost",
                    stream=self.name,
                    url=redact_url(self.url),
                    reason=why,
                    retry_in_s=backoff,
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)

    async def _read(
        self,
        session: aiohttp.ClientSession,
        on_event: Callable[[dict[str, Any]], Awaitable[None]],
    ) -> None:
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        async with session.get(self.url, headers=headers) as resp:
            if resp.status != 200:
                raise aiohttp.ClientResponseError(
                    resp.request_info, (), status=resp.status, message="not 200"
                )
            self._set(connected=True)
            self.connections += 1
            log.info("event_stream_connected", stream=self.name, url=redact_url(self.url))
            data: list[str] = []
            async for raw in resp.content:
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                if line.startswith("data:"):
                    data.append(line[5:].removeprefix(" "))
                elif not line and data:
                    await self._deliver("\n".join(data), on_event)
                    data = []
                # Other fields (event:, id:, retry:) and comments are not used.

    async def _deliver(
        self, text: str, on_event: Callable[[dict[str, Any]], Awaitable[None]]
    ) -> None:
        try:
            event = json.loads(text)
        except ValueError:
            event = None
        if not isinstance(event, dict):
            self.malformed += 1
            log.warning("event_stream_malformed", stream=self.name, length=len(text))
            return
        self.events += 1
        await on_event(event)
