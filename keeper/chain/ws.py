"""JSON-RPC over WebSocket, with a ``newHeads`` subscription, on aiohttp.

One connection carries requests, batches and the subscription. A dropped connection fails the
requests in flight with TransientRpcError (the client's retry layer decides what to repeat) and
the next request reconnects and re-subscribes.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from typing import Any

import aiohttp

from keeper.chain.heads import Header
from keeper.chain.redact import redact_url
from keeper.errors import TransientRpcError


class WebSocketTransport:
    """The request interface of web3's providers (make_request / make_batch_request) over WS."""

    def __init__(self, url: str, timeout_s: float) -> None:
        self._url = url
        self.label = redact_url(url)
        self.timeout_s = timeout_s
        self._ids = itertools.count(1)
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._connect_lock = asyncio.Lock()
        self._want_heads = False
        self._heads_sub: str | None = None
        self.heads: asyncio.Queue[Header] = asyncio.Queue(maxsize=1024)
        self._want_pending = False
        self._pending_sub: str | None = None
        # One queue per listener (the back-run stage, the bidding watch): each sees every hash.
        self._pending_listeners: list[asyncio.Queue[str]] = []

    def __repr__(self) -> str:
        return f"<WebSocketTransport {self.label}>"

    async def _connection(self) -> aiohttp.ClientWebSocketResponse:
        async with self._connect_lock:
            if self._ws is not None and not self._ws.closed:
                return self._ws
            if self._session is None or self._session.closed:
                self._session = aiohttp.ClientSession()
            try:
                self._ws = await self._session.ws_connect(
                    self._url,
                    timeout=aiohttp.ClientWSTimeout(ws_close=self.timeout_s),
                    max_msg_size=256 * 1024 * 1024,
                    heartbeat=30,
                )
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                raise TransientRpcError(
                    f"websocket connect failed ({type(exc).__name__})", method="connect"
                ) from None
            self._reader = asyncio.create_task(self._read(self._ws))
            if self._want_heads or self._want_pending:
                self._heads_sub = self._pending_sub = None
                asyncio.get_running_loop().call_soon(
                    lambda: asyncio.ensure_future(self._resubscribe())
                )
            return self._ws

    async def _resubscribe(self) -> None:
        with contextlib.suppress(TransientRpcError):
            if self._want_heads:
                await self.subscribe_new_heads()
            if self._want_pending:
                await self.subscribe_pending_transactions()

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        try:
            async for message in ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    continue
                self._dispatch(json.loads(message.data))
        except (aiohttp.ClientError, ValueError):
            pass
        finally:
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(TransientRpcError("websocket closed", method="websocket"))
            self._pending.clear()

    def _dispatch(self, data: Any) -> None:
        if isinstance(data, list):
            ids = [
                i
                for i in (item.get("id") for item in data if isinstance(item, dict))
                if isinstance(i, int)
            ]
            future = self._pending.pop(min(ids), None) if ids else None
            if future is not None and not future.done():
                future.set_result(data)
            return
        if not isinstance(data, dict):
            return
        if data.get("method") == "eth_subscription":
            params = data.get("params", {})
            if self._pending_sub is not None and params.get("subscription") == self._pending_sub:
                tx_hash = params.get("result")
                if isinstance(tx_hash, str):
                    self._announce_pending(tx_hash)
                return
            if params.get("subscription") == self._heads_sub:
                result = params.get("result")
                # A malformed notification is dropped: the follower's fallback poll covers it.
                with contextlib.suppress(asyncio.QueueFull, TransientRpcError):
                    if isinstance(result, dict):
                        self.heads.put_nowait(Header.from_rpc(result))
            return
        future = self._pending.pop(data.get("id"), None)  # type: ignore[arg-type]
        if future is not None and not future.done():
            future.set_result(data)

    async def _send(self, payload: Any, key: int) -> Any:
        ws = await self._connection()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            await ws.send_str(json.dumps(payload))
            return await asyncio.wait_for(future, self.timeout_s)
        except (aiohttp.ClientError, ConnectionError) as exc:
            raise TransientRpcError(
                f"websocket send failed ({type(exc).__name__})", method="websocket"
            ) from None
        finally:
            self._pending.pop(key, None)

    async def make_request(self, method: str, params: Any) -> Any:
        """One request; the answer as a JSON-RPC response dict."""
        key = next(self._ids)
        return await self._send(
            {"jsonrpc": "2.0", "id": key, "method": method, "params": params}, key
        )

    async def make_batch_request(self, calls: list[tuple[str, Any]]) -> Any:
        """A batch; the answers in request order (or a single error response)."""
        keys = [next(self._ids) for _ in calls]
        payload = [
            {"jsonrpc": "2.0", "id": k, "method": m, "params": p}
            for k, (m, p) in zip(keys, calls, strict=True)
        ]
        answer = await self._send(payload, keys[0])
        if isinstance(answer, list):
            order = {k: i for i, k in enumerate(keys)}
            return sorted(answer, key=lambda a: order.get(a.get("id"), len(order)))
        return answer

    async def subscribe_new_heads(self) -> None:
        """Ask for newHeads notifications (again after a reconnect)."""
        self._want_heads = True
        answer = await self.make_request("eth_subscribe", ["newHeads"])
        if not isinstance(answer, dict) or "result" not in answer:
            raise TransientRpcError("newHeads subscription refused", method="eth_subscribe")
        self._heads_sub = str(answer["result"])

    def _announce_pending(self, tx_hash: str) -> None:
        for listener in self._pending_listeners:
            with contextlib.suppress(asyncio.QueueFull):  # a flood drops, never blocks
                listener.put_nowait(tx_hash)

    def listen_pending(self) -> asyncio.Queue[str]:
        """A new queue receiving every pending transaction hash from now on."""
        queue: asyncio.Queue[str] = asyncio.Queue(maxsize=4096)
        self._pending_listeners.append(queue)
        return queue

    def unlisten_pending(self, queue: asyncio.Queue[str]) -> None:
        """Stop filling ``queue``."""
        if queue in self._pending_listeners:
            self._pending_listeners.remove(queue)

    async def subscribe_pending_transactions(self) -> None:
        """Ask for the hashes of transactions entering the node's pool.

        Again after a reconnect; raises TransientRpcError when the node does not offer them.
        """
        self._want_pending = True
        answer = await self.make_request("eth_subscribe", ["newPendingTransactions"])
        if not isinstance(answer, dict) or "result" not in answer:
            raise TransientRpcError(
                "newPendingTransactions subscription refused", method="eth_subscribe"
            )
        self._pending_sub = str(answer["result"])

    async def disconnect(self) -> None:
        """Close the connection and the session."""
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._session is not None:
            await self._session.close()
