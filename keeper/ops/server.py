"""The operations endpoint (aiohttp, 127.0.0.1 by default): /healthz, /status, /metrics, /radar.

And /checkpoint: the newest checkpoint file, for a standby to start warm from.
"""

from __future__ import annotations

import base64
import html
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from keeper.errors import ConfigError, KeeperError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

    from keeper.ops.metrics import Metrics


@dataclass
class Status:
    """What /status reports and /healthz judges."""

    started_at: float = field(default_factory=time.time)
    head_block: int = -1
    head_timestamp: int = 0
    last_step_at: float = 0.0
    accounts: int = 0
    candidates: int = 0
    stages: dict[str, bool] = field(default_factory=dict)
    breakers: dict[str, str] = field(default_factory=dict)
    dry_run: bool = False
    max_head_age_s: float = 120.0
    # Liquidatable accounts a reserve's grace period holds back: account -> until (timestamp).
    waiting: dict[str, int] = field(default_factory=dict)
    shadow: dict[str, Any] | None = None  # shadow mode's live summary (keeper.shadow.book)
    # High availability (keeper.loop.role): single, active or standby; the lease's key,
    # this keeper's holder id, its epoch (None: not held) and whether it sends.
    role: str = "single"
    lease: dict[str, Any] | None = None

    def healthy(self) -> tuple[bool, list[str]]:
        """Healthy while the head is fresh and every stage is alive."""
        problems = [f"stage {name} down" for name, ok in self.stages.items() if not ok]
        if self.last_step_at == 0.0:
            problems.append("no block processed yet")
        elif time.time() - self.last_step_at > self.max_head_age_s:
            problems.append(f"no new head for {time.time() - self.last_step_at:.0f}s")
        return not problems, problems

    def as_json(self) -> dict[str, Any]:
        """The /status body."""
        ok, problems = self.healthy()
        return {
            "healthy": ok,
            "problems": problems,
            "head_block": self.head_block,
            "head_age_s": round(time.time() - self.head_timestamp, 1)
            if self.head_timestamp
            else None,
            "accounts": self.accounts,
            "candidates": self.candidates,
            "stages": self.stages,
            "breakers": self.breakers,
            "waiting": {a: {"grace_period_until": t} for a, t in sorted(self.waiting.items())},
            "dry_run": self.dry_run,
            "role": self.role,
            **({"lease": self.lease} if self.lease is not None else {}),
            **({"shadow": self.shadow} if self.shadow is not None else {}),
            "uptime_s": round(time.time() - self.started_at, 1),
        }


class OpsServer:
    """Serves the status and metrics of one keeper.

    ``radar``, when given, returns a PNG and a few facts for ``/radar`` and ``/radar.png``; the
    server only shows them, so it stays free of chain and plotting code.
    """

    def __init__(
        self,
        status: Status,
        metrics: Metrics,
        host: str,
        port: int,
        radar: Callable[[], Awaitable[tuple[bytes, dict[str, str]]]] | None = None,
        checkpoint_file: Path | None = None,
    ) -> None:
        self.status = status
        self.metrics = metrics
        self.host = host
        self.port = port
        self.radar = radar
        self.checkpoint_file = checkpoint_file
        self._runner: web.AppRunner | None = None

    async def start(self) -> int:
        """Start listening; return the bound port (useful when 0 asked for a free one)."""
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/status", self._status)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/radar", self._radar_page)
        app.router.add_get("/radar.png", self._radar_png)
        app.router.add_get("/checkpoint", self._checkpoint)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            raise ConfigError(
                f"ops_port: cannot listen on {self.host}:{self.port} ({exc.strerror}); choose a "
                "free port, 0 for any, or leave ops_port unset to disable"
            ) from None
        for sock in getattr(site._server, "sockets", None) or ():  # noqa: SLF001 - bound port
            self.port = int(sock.getsockname()[1])
        return self.port

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()

    async def _healthz(self, _request: web.Request) -> web.Response:
        ok, problems = self.status.healthy()
        return web.json_response({"healthy": ok, "problems": problems}, status=200 if ok else 503)

    async def _status(self, _request: web.Request) -> web.Response:
        return web.json_response(self.status.as_json())

    async def _metrics(self, _request: web.Request) -> web.Response:
        self.metrics.observe_status(self.status)
        return web.Response(body=self.metrics.render(), content_type="text/plain", charset="utf-8")

    async def _checkpoint(self, _request: web.Request) -> web.StreamResponse:
        # The file is replaced by a rename: an open one stays whole while it is sent.
        path = self.checkpoint_file
        if path is None or not path.is_file():
            return web.Response(status=404, text="no checkpoint\n")
        return web.FileResponse(path, headers={"Content-Type": "application/octet-stream"})

    async def _radar(self) -> tuple[bytes, dict[str, str]] | web.Response:
        if self.radar is None:
            return web.Response(status=404, text="radar not enabled\n")
        try:
            return await self.radar()
        except KeeperError as exc:  # no block yet, or matplotlib missing: say which
            return web.Response(status=503, text=f"radar unavailable: {exc}\n")

    async def _radar_png(self, _request: web.Request) -> web.Response:
        got = await self._radar()
        if isinstance(got, web.Response):
            return got
        return web.Response(body=got[0], content_type="image/png")

    async def _radar_page(self, _request: web.Request) -> web.Response:
        got = await self._radar()
        if isinstance(got, web.Response):
            return got
        png, facts = got
        rows = "".join(
            f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in facts.items()
        )
        image = base64.b64encode(png).decode("ascii")
        body = (
            "<!doctype html><html><head><meta charset='utf-8'><title>keeper radar</title>"
            "<style>body{font-family:sans-serif;margin:1em}th{text-align:left;padding-right:1em}"
            "img{max-width:100%}</style></head><body><h1>Liquidation radar</h1>"
            f"<table>{rows}</table>"
            f"<p><img alt='liquidatable debt by price drop, and health factors' "
            f"src='data:image/png;base64,{image}'></p>"
            "<p><a href='/radar.png'>/radar.png</a> &middot; <a href='/status'>/status</a></p>"
            "</body></html>"
        )
        return web.Response(text=body, content_type="text/html", charset="utf-8")
