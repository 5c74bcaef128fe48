"""A bare JSON-RPC client over HTTP for the baseline bot, and its JSON-line log."""

from __future__ import annotations

import itertools
import json
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import aiohttp


class RpcFailedError(Exception):
    """A JSON-RPC error answer."""


@dataclass
class Rpc:
    """A bare JSON-RPC client over HTTP (one session, keep-alive)."""

    url: str
    session: aiohttp.ClientSession
    ids: itertools.count[int] = field(default_factory=itertools.count)
    requests: int = 0

    async def call(self, method: str, params: list[Any]) -> Any:
        """One request; raises RpcFailedError on an error answer."""
        self.requests += 1
        body = {"jsonrpc": "2.0", "id": next(self.ids), "method": method, "params": params}
        async with self.session.post(self.url, json=body) as resp:
            answer = await resp.json(content_type=None)
        if answer.get("error"):
            raise RpcFailedError(f"{method}: {answer['error']}")
        return answer["result"]

    async def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        """One batch; each item is its result or an RpcFailedError."""
        self.requests += 1
        body = [
            {"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)
        ]
        async with self.session.post(self.url, json=body) as resp:
            answer = await resp.json(content_type=None)
        by_id = {a["id"]: a for a in answer}
        return [
            RpcFailedError(str(by_id[i]["error"])) if by_id[i].get("error") else by_id[i]["result"]
            for i in range(len(calls))
        ]

    async def eth_call(self, to: str, data: str, block: str = "latest", sender: str = "") -> bytes:
        """eth_call, decoded to bytes."""
        tx = {"to": to, "data": data}
        if sender:
            tx["from"] = sender
        return bytes.fromhex((await self.call("eth_call", [tx, block]))[2:])


def emit(event: str, **fields: Any) -> None:
    """One JSON line on stdout."""
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()
