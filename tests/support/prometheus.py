"""A real Prometheus server (Debian's `prometheus`) for tests: the shipped config, pointed at a
keeper on a loopback port, on a free loopback port of its own; stopped on exit, pass or fail.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import aiohttp
import pytest

from keeper.localnode.anvil import free_port

if TYPE_CHECKING:
    from types import TracebackType

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"


def prometheus_binary() -> str:
    """The prometheus binary; skipped without it, except in CI, which installs it."""
    found = shutil.which("prometheus")
    if found is None:
        reason = "prometheus not installed (Debian package prometheus; .ci/run installs it in CI)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return found


def scrape_config(target: str) -> str:
    """deploy/prometheus/prometheus.yml scraping ``target`` and evaluating every second."""
    shipped = (DEPLOY / "prometheus.yml").read_text()
    config = (
        shipped.replace('"keeper:9464"', f'"{target}"')
        .replace("scrape_interval: 5s", "scrape_interval: 1s")
        .replace("evaluation_interval: 15s", "evaluation_interval: 1s")
    )
    if config.count(target) != 1 or "interval: 1s" not in config or "alerts.yml" not in config:
        raise AssertionError(f"the shipped prometheus.yml changed shape:\n{shipped}")
    return config


class Prometheus:
    """``async with Prometheus(dir, "127.0.0.1:PORT") as prom``: ready when entered."""

    def __init__(self, workdir: Path, target: str) -> None:
        self.workdir = workdir
        self.target = target
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / "prometheus.log"
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        binary = prometheus_binary()
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "prometheus.yml").write_text(scrape_config(self.target))
        shutil.copy(DEPLOY / "alerts.yml", self.workdir / "alerts.yml")
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [
                    binary,
                    f"--config.file={self.workdir / 'prometheus.yml'}",
                    f"--storage.tsdb.path={self.workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--log.level=warn",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._session = aiohttp.ClientSession()
        try:
            await self._ready(60)
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def _ready(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                break
            try:
                async with self.session.get(f"{self.url}/-/ready") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
        raise AssertionError(f"prometheus not ready:\n{self.log.read_text()[-2000:]}")

    @property
    def session(self) -> aiohttp.ClientSession:
        """The HTTP session to the server's API."""
        if self._session is None:
            raise AssertionError("not started")
        return self._session

    async def api(self, path: str, **params: str) -> Any:
        """GET /api/v1/<path>: the `data` of a success; raises on an error answer."""
        async with self.session.get(f"{self.url}/api/v1/{path}", params=params) as resp:
            body = await resp.json()
        if body.get("status") != "success":
            raise AssertionError(f"{path} {params}: {body}")
        return body["data"]

    async def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result vector (scalars and strings as a one-element list)."""
        data = await self.api("query", query=expr)
        result = data["result"]
        return result if data["resultType"] in ("vector", "matrix") else [result]

    async def until(self, expr: str, seconds: float = 60) -> list[dict[str, Any]]:
        """Wait until ``expr`` returns data; return it."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if result := await self.query(expr):
                return result
            await asyncio.sleep(0.5)
        raise AssertionError(f"no data for {expr} in {seconds}s:\n{self.log.read_text()[-2000:]}")

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                await asyncio.to_thread(self.proc.wait, 20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                await asyncio.to_thread(self.proc.wait)
