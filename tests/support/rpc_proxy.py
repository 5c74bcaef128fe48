"""A JSON-RPC proxy on 127.0.0.1 between the keeper and Anvil that can refuse requests."""

from __future__ import annotations

import json
from typing import Any, Self

import aiohttp
from aiohttp import web

from keeper.localnode.anvil import free_port


class RpcProxy:
    """Forwards JSON-RPC (single and batch) to ``upstream``; refuses wide eth_getLogs ranges."""

    def __init__(
        self,
        upstream: str,
        *,
        max_log_range: int | None = None,
        unsupported: frozenset[str] = frozenset(),
        fail_calls: dict[str, int] | None = None,
    ) -> None:
        self.upstream = upstream
        self.max_log_range = max_log_range
        self.unsupported = unsupported  # answered "method not found", like an older node
        # eth_call selector -> how many of the next calls to it fail with a node error
        self.fail_calls = dict(fail_calls or {})
        self.refused = 0
        self.forwarded: list[str] = []
        self.log_ranges: list[tuple[int, int]] = []  # (fromBlock, toBlock) of eth_getLogs sent
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        """The proxy's endpoint."""
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> Self:
        self._session = aiohttp.ClientSession()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        self.port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    def _failed_call(self, request: dict[str, Any]) -> bool:
        if request.get("method") != "eth_call":
            return False
        data = str(request["params"][0].get("data") or request["params"][0].get("input") or "")
        left = self.fail_calls.get(data[:10], 0)
        if left <= 0:
            return False
        self.fail_calls[data[:10]] = left - 1
        return True

    def _refusal(self, request: dict[str, Any]) -> dict[str, Any] | None:
        if self._failed_call(request):
            self.refused += 1
            return {
                "jsonrpc": "2.0",
                "id": request.get("id"),
                "error": {"code": -32603, "message": "internal error (injected by the test proxy)"},
            }
        if request.get("method") in self.unsupported:
            self.refused += 1
            return {
                "jsonrpc": "2.0",
                "id": request.get("id"),
                "error": {"code": -32601, "message": "the method does not exist"},
            }
        if request.get("method") != "eth_getLogs" or self.max_log_range is None:
            return None
        flt = request["params"][0]
        if "blockHash" in flt:
            return None  # one block
        span = int(flt["toBlock"], 16) - int(flt["fromBlock"], 16) + 1
        if span <= self.max_log_range:
            return None
        self.refused += 1
        return {
            "jsonrpc": "2.0",
            "id": request.get("id"),
            "error": {
                "code": -32005,
                "message": f"query exceeds max block range {self.max_log_range}",
            },
        }

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        items = body if isinstance(body, list) else [body]
        refusals = [self._refusal(item) for item in items]
        if not isinstance(body, list) and refusals[0] is not None:
            return web.json_response(refusals[0])
        to_send = [item for item, refusal in zip(items, refusals, strict=True) if refusal is None]
        self.forwarded.extend(str(item.get("method")) for item in to_send)
        self.log_ranges.extend(
            _log_range(item) for item in to_send if item.get("method") == "eth_getLogs"
        )
        answers: list[Any] = []
        if to_send:
            assert self._session is not None
            payload = to_send if isinstance(body, list) else to_send[0]
            async with self._session.post(self.upstream, json=payload) as resp:
                answer = json.loads(await resp.text())
            answers = answer if isinstance(answer, list) else [answer]
        if not isinstance(body, list):
            return web.json_response(answers[0])
        by_id = {a.get("id"): a for a in answers}
        out = [
            refusal or by_id[item.get("id")] for item, refusal in zip(items, refusals, strict=True)
        ]
        return web.json_response(out)


def _log_range(request: dict[str, Any]) -> tuple[int, int]:
    """The blocks an ``eth_getLogs`` asks for; a one-block query by hash counts as (-1, -1)."""
    flt = request["params"][0]
    if "blockHash" in flt:
        return (-1, -1)
    return (int(flt["fromBlock"], 16), int(flt["toBlock"], 16))
