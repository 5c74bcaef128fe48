"""A JSON-RPC proxy on 127.0.0.1 that injects faults between the keeper and Anvil.

Faults are rules: for a method (or "*" for every method, "batch" for JSON-RPC batches) and a
rate, the proxy answers an HTTP error, hangs past the client's deadline, adds latency, resets the
connection, forwards the request and drops the answer, answers unreadable JSON or a result of
the wrong type, or answers a JSON-RPC error (geth's exact strings) without forwarding. Rules can
change while the keeper runs. The proxy also forwards WebSocket connections (path /ws) and can
drop them all at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal, Self

import aiohttp
from aiohttp import web

from keeper.localnode.anvil import free_port

Kind = Literal[
    "status", "hang", "latency", "reset", "drop_answer", "malformed", "wrong_type", "error"
]
GETH_ERRORS = {
    "underpriced": "replacement transaction underpriced",
    "nonce_low": "nonce too low",
    "known": "already known",
    "below_base_fee": "max fee per gas less than block base fee",
}


@dataclass
class Fault:
    """One rule: ``kind`` for ``method`` at ``rate`` (0..1)."""

    method: str
    kind: Kind
    rate: float = 1.0
    status: int = 500  # kind "status"
    seconds: float = 0.0  # kind "hang" / "latency"
    message: str = ""  # kind "error"
    limit: int | None = None  # stop after this many injections


class FaultProxy:
    """Forwards to ``upstream`` unless a rule fires; counts what it injected."""

    def __init__(self, upstream: str, *, seed: int = 7) -> None:
        self.upstream = upstream
        self.faults: list[Fault] = []
        self.injected: Counter[str] = Counter()
        self.forwarded: Counter[str] = Counter()
        # Every JSON-RPC item that reached the proxy, by method (a batch's items one by one,
        # WebSocket messages too): what a node provider bills.
        self.items: Counter[str] = Counter()
        # The same items in the order they arrived (method and params), when ``record`` is set.
        self.record = False
        self.log: list[dict[str, Any]] = []
        self.port = 0
        self._rng = random.Random(seed)
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._sockets: set[web.WebSocketResponse] = set()
        self._fired: Counter[int] = Counter()

    @property
    def url(self) -> str:
        """HTTP endpoint."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        """WebSocket endpoint."""
        return f"ws://127.0.0.1:{self.port}/ws"

    def clear(self) -> None:
        """Remove every rule: the fault clears."""
        self.faults = []

    async def __aenter__(self) -> Self:
        self._session = aiohttp.ClientSession()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/ws", self._websocket)
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handler_cancellation=True)
        await self._runner.setup()
        self.port = self.port or free_port()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.drop_websockets()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    def _rule(self, method: str) -> Fault | None:
        for index, fault in enumerate(self.faults):
            if fault.method not in (method, "*"):
                continue
            if fault.limit is not None and self._fired[index] >= fault.limit:
                continue
            if self._rng.random() < fault.rate:
                self._fired[index] += 1
                self.injected[f"{method}:{fault.kind}"] += 1
                return fault
        return None

    async def _forward(self, body: Any) -> Any:
        assert self._session is not None
        try:
            async with self._session.post(self.upstream, json=body) as resp:
                return await resp.json(content_type=None)
        except aiohttp.ClientError:
            raise web.HTTPBadGateway(text="upstream down") from None

    async def _handle(self, request: web.Request) -> web.StreamResponse:  # noqa: PLR0911 - a branch per fault kind
        body = await request.json()
        self._count(body)
        method = "batch" if isinstance(body, list) else str(body.get("method"))
        fault = self._rule(method)
        if fault is None:
            self.forwarded[method] += 1
            return web.json_response(await self._forward(body))
        if fault.kind == "status":
            return web.Response(status=fault.status, text="injected")
        if fault.kind == "hang":
            await asyncio.sleep(fault.seconds)
            return web.Response(status=504, text="too late")
        if fault.kind == "latency":
            await asyncio.sleep(fault.seconds)
            return web.json_response(await self._forward(body))
        if fault.kind == "reset":
            return self._reset(request)
        if fault.kind == "drop_answer":
            await self._forward(body)
            self.forwarded[method] += 1
            return self._reset(request)
        if fault.kind == "malformed":
            return web.Response(text='{"jsonrpc": "2.0", "id": 1, "result": ', status=200)
        if fault.kind == "wrong_type":
            answer = await self._forward(body)
            if isinstance(answer, dict):
                answer["result"] = {"unexpected": ["shape"]}
            elif isinstance(answer, list):
                answer = {"unexpected": "a dict instead of a batch"}
            return web.json_response(answer)
        request_id = body.get("id") if isinstance(body, dict) else None
        error = {"code": -32000, "message": fault.message}
        return web.json_response({"jsonrpc": "2.0", "id": request_id, "error": error})

    def _count(self, body: Any) -> None:
        for item in body if isinstance(body, list) else [body]:
            if isinstance(item, dict):
                self.items[str(item.get("method"))] += 1
                if self.record:
                    self.log.append(item)

    @staticmethod
    def _reset(request: web.Request) -> web.StreamResponse:
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=500)

    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        client = web.WebSocketResponse(max_msg_size=256 * 1024 * 1024)
        await client.prepare(request)
        self._sockets.add(client)
        assert self._session is not None
        upstream_url = self.upstream.replace("http://", "ws://", 1)
        try:
            async with self._session.ws_connect(upstream_url, max_msg_size=256 * 1024 * 1024) as up:

                async def pump_up() -> None:
                    async for message in client:
                        if message.type == aiohttp.WSMsgType.TEXT:
                            with contextlib.suppress(ValueError):
                                self._count(json.loads(message.data))
                            await up.send_str(message.data)

                async def pump_down() -> None:
                    async for message in up:
                        if message.type == aiohttp.WSMsgType.TEXT and not client.closed:
                            await client.send_str(message.data)

                tasks = [asyncio.create_task(pump_up()), asyncio.create_task(pump_down())]
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            self._sockets.discard(client)
            with contextlib.suppress(Exception):
                await client.close()
        return client

    async def drop_websockets(self) -> int:
        """Close every WebSocket connection (subscriptions die with them)."""
        sockets = list(self._sockets)
        for ws in sockets:
            with contextlib.suppress(Exception):
                await ws.close()
        return len(sockets)
