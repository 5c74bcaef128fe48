"""The HTTP transport: JSON-RPC over our own aiohttp session, with a redacted identity.

web3's ``AsyncHTTPProvider`` keeps its sessions in a cache guarded by a ``threading.Lock``
that every request acquires through a thread pool. A request cancelled while it waits for
that lock (a shutdown deadline, a timeout around a read) releases the lock another request
holds, and the thread then takes it for good: every later request, and the interpreter's exit
that joins the pool, blocks forever (seen: a SIGTERM'd keeper that never exited). Requests here
go straight through one aiohttp session per provider instead: no thread, no lock, nothing a
cancellation can leave behind. The class stays an ``AsyncHTTPProvider`` for ``AsyncWeb3``.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import aiohttp
from web3 import AsyncHTTPProvider, AsyncWeb3

from keeper.chain.redact import redact_url

_HEADERS = {"Content-Type": "application/json", "User-Agent": "keeper"}


class RedactedHTTPProvider(AsyncHTTPProvider):
    """An HTTP JSON-RPC endpoint whose str/repr never show the URL's secret parts."""

    def __init__(self, url: str, timeout_s: float) -> None:
        # exception_retry_configuration=None: web3 would otherwise replay failed requests,
        # eth_sendRawTransaction included. Retries live in keeper.chain.client only.
        super().__init__(url, exception_retry_configuration=None)
        self.label = redact_url(url)
        self._url = url
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self._ids = itertools.count(1)

    def __str__(self) -> str:
        return f"RPC connection {self.label}"

    def __repr__(self) -> str:
        return f"<RedactedHTTPProvider {self.label}>"

    def _open(self) -> aiohttp.ClientSession:
        """The session, opened on first use (inside the running loop)."""
        if self._session is None or self._session.closed:
            # Connections kept alive and reused. web3 opened one per request (force_close):
            # hundreds a second at a busy keeper, each left in TIME_WAIT for a minute, and the
            # machine's ephemeral ports ran out (connections refused, seen at 20,000 in 18 s).
            # A reused connection the node has dropped fails like any lost connection: a read
            # is retried, a send is unconfirmed and tracked by its hash.
            self._session = aiohttp.ClientSession(
                timeout=self._timeout,
                raise_for_status=True,
                connector=aiohttp.TCPConnector(limit=64, keepalive_timeout=10),
            )
        return self._session

    async def _post(self, body: bytes) -> Any:
        """POST one JSON-RPC body; the decoded answer (aiohttp and JSON errors propagate)."""
        async with self._open().post(self._url, data=body, headers=_HEADERS) as response:
            raw = await response.read()
        return json.loads(raw)

    def _body(self, method: str, params: Any) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "method": method, "params": params, "id": next(self._ids)}

    async def make_request(self, method: Any, params: Any) -> Any:
        """One JSON-RPC request; the answer as the node sent it (errors are the caller's)."""
        return await self._post(json.dumps(self._body(method, params)).encode())

    async def make_batch_request(self, batch_requests: list[tuple[Any, Any]]) -> Any:
        """One JSON-RPC batch; its items in the order of the requests (matched by id)."""
        bodies = [self._body(method, params) for method, params in batch_requests]
        answer = await self._post(json.dumps(bodies).encode())
        if not isinstance(answer, list):
            return answer  # a node's error for the whole batch
        order = {body["id"]: i for i, body in enumerate(bodies)}
        if all(isinstance(item, dict) and item.get("id") in order for item in answer):
            answer.sort(key=lambda item: order[item["id"]])
        return answer

    async def disconnect(self) -> None:
        """Close the session (a later request opens a new one)."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()


def make_web3(url: str, timeout_s: float) -> AsyncWeb3[Any]:
    """Build the AsyncWeb3 instance for one endpoint (no middleware beyond web3's defaults)."""
    return AsyncWeb3(RedactedHTTPProvider(url, timeout_s))
