"""Alerts to chat webhooks: Slack-, Discord- and Telegram-compatible JSON.

``alert()`` only enqueues; a background task delivers with a short deadline, so a slow or failing
webhook never blocks the keeper. The same alert (kind + key) within ``dedup_s`` is sent once;
at most ``per_minute`` alerts leave per minute; the rest are counted and dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import aiohttp
import structlog

from keeper.chain.redact import redact_url
from keeper.errors import ConfigError

if TYPE_CHECKING:
    from pydantic import SecretStr

log = structlog.get_logger(__name__)
Format = Literal["slack", "discord", "telegram"]
_QUEUE = 256


@dataclass(frozen=True)
class Webhook:
    """One destination: its payload format and its URL (a secret: it carries a token)."""

    format: Format
    url: str

    def payload(self, text: str) -> dict[str, Any]:
        """The JSON body this service expects."""
        if self.format == "discord":
            return {"content": text}
        if self.format == "telegram":
            return {"text": text, "disable_web_page_preview": True}
        return {"text": text}


def parse_webhooks(entries: list[SecretStr]) -> list[Webhook]:
    """``format:url`` entries (e.g. ``slack:https://hooks.slack.com/...``)."""
    hooks = []
    for entry in entries:
        fmt, sep, url = entry.get_secret_value().partition(":")
        if not sep or fmt not in ("slack", "discord", "telegram") or "://" not in url:
            raise ConfigError(
                "alert_webhooks: each entry is format:url with format slack, discord or "
                "telegram (for telegram, the sendMessage URL with ?chat_id=...)"
            )
        hooks.append(Webhook(fmt, url))  # type: ignore[arg-type]
    return hooks


class Alerts:
    """Deduplicated, rate-limited, non-blocking delivery to every configured webhook."""

    def __init__(
        self,
        hooks: list[Webhook],
        *,
        dedup_s: float = 600.0,
        per_minute: int = 20,
        timeout_s: float = 5.0,
        prefix: str = "keeper",
    ) -> None:
        self.hooks = hooks
        self.dedup_s = dedup_s
        self.per_minute = per_minute
        self.timeout_s = timeout_s
        self.prefix = prefix
        self.sent = 0
        self.suppressed = 0
        self.failed = 0
        self._last: dict[tuple[str, str], float] = {}
        self._times: deque[float] = deque()
        # One queue and one task per webhook: a slow or dead one delays only itself.
        self._queues: list[asyncio.Queue[str]] = [asyncio.Queue(maxsize=_QUEUE) for _ in hooks]
        self._tasks: list[asyncio.Task[None]] = []

    def alert(self, kind: str, key: str, text: str) -> bool:
        """Queue an alert; False when deduplicated, rate-limited or there is no webhook."""
        log.info("alert", kind=kind, key=key, text=text)  # in the logs even without a webhook
        if not self.hooks:
            return False
        now = time.monotonic()
        last = self._last.get((kind, key))
        if last is not None and now - last < self.dedup_s:
            self.suppressed += 1
            return False
        while self._times and now - self._times[0] > 60:
            self._times.popleft()
        if len(self._times) >= self.per_minute:
            self.suppressed += 1
            log.warning("alert_rate_limited", kind=kind)
            return False
        self._last[(kind, key)] = now
        self._times.append(now)
        for queue in self._queues:
            try:
                queue.put_nowait(f"[{self.prefix}] {text}")
            except asyncio.QueueFull:
                self.suppressed += 1
        return True

    async def start(self) -> None:
        """Start delivering in the background."""
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._deliver(hook, queue))
                for hook, queue in zip(self.hooks, self._queues, strict=True)
            ]

    async def stop(self, drain_s: float = 3.0) -> None:
        """Deliver what is queued (for at most ``drain_s`` in all), then stop."""
        if not self._tasks:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(q.join() for q in self._queues)), drain_s)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def _deliver(self, hook: Webhook, queue: asyncio.Queue[str]) -> None:
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                text = await queue.get()
                try:
                    await self._post(session, hook, text)
                finally:
                    queue.task_done()

    async def _post(self, session: aiohttp.ClientSession, hook: Webhook, text: str) -> None:
        try:
            async with session.post(hook.url, json=hook.payload(text)) as resp:
                if resp.status >= 300:
                    raise aiohttp.ClientResponseError(resp.request_info, (), status=resp.status)
            self.sent += 1
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.failed += 1
            status = getattr(exc, "status", None)
            # The URL carries the webhook's token: only its host is logged.
            log.warning(
                "alert_delivery_failed",
                webhook=redact_url(hook.url),
                format=hook.format,
                error=type(exc).__name__,
                status=status,
            )
