"""The operations endpoint: /healthz, /status and /metrics on aiohttp, 127.0.0.1 by default."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from keeper.errors import ConfigError

if TYPE_CHECKING:
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
            "dry_run": self.dry_run,
            "uptime_s": round(time.time() - self.started_at, 1),
        }


class OpsServer:
    """Serves the status and metrics of one keeper."""

    def __init__(self, status: Status, metrics: Metrics, host: str, port: int) -> None:
        self.status = status
        self.metrics = metrics
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> int:
        """Start listening; return the bound port (useful when 0 asked for a free one)."""
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/status", self._status)
        app.router.add_get("/metrics", self._metrics)
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
        return web.Response(body=self.metrics.render(), content_type="text/plain", charset="utf-8")
