"""The node client: raw JSON-RPC over our HTTP transport or WebSocket, retried in this layer only.

Reads are retried on transient failures (timeouts, dropped connections, 429, 5xx) for a bounded
time with jittered exponential backoff. With several endpoints, a transient failure moves the
client to the next one (the retry then goes there); after ``failback_s`` it tries the preferred
endpoint again. ``eth_sendRawTransaction`` is never retried here: a send whose answer was lost
may still have reached the mempool, and only the executor (it knows the nonce and the hash)
may decide what to do next.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import time
from typing import TYPE_CHECKING, Any, Self

import aiohttp
import structlog
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_delay,
    wait_exponential_jitter,
)

from keeper.chain import parse
from keeper.chain.endpoints import Endpoints
from keeper.chain.heads import Header
from keeper.chain.rpc_errors import classify as _classify
from keeper.chain.subscriptions import Subscriptions
from keeper.chain.transports import Transport, open_transport
from keeper.chain.types import PendingTx, Receipt
from keeper.errors import ContractRevertError, RpcError, TransientRpcError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Sequence

    from web3 import AsyncWeb3

log = structlog.get_logger(__name__)
BlockId = int | str


def _block_param(block: BlockId) -> str:
    return hex(block) if isinstance(block, int) else block


class ChainClient:
    """A node behind one or more endpoints of the same chain.

    Every request has a deadline; reads retry for ``retry_s`` seconds, failing over between
    endpoints.
    """

    def __init__(
        self,
        url: str | Sequence[str],
        *,
        timeout_s: float = 10.0,
        retry_s: float = 20.0,
        failback_s: float = 60.0,
    ) -> None:
        urls = [url] if isinstance(url, str) else list(url)
        if not urls:
            raise ValueError("ChainClient needs at least one URL")
        built = [open_transport(u, timeout_s) for u in urls]
        self._providers: list[Transport] = [p for p, _ in built]
        self.w3: AsyncWeb3[Any] | None = built[0][1]
        self._provider = self._providers[0]  # the one that streams heads, if any
        self.endpoints = Endpoints(self._providers, failback_s)
        self._closed = False
        self.subscriptions = Subscriptions(self._provider)
        self._retry_s = retry_s
        self.calls: collections.Counter[str] = collections.Counter()
        # Observability hook: (method, seconds, ok) after every request or batch.
        self.on_request: Callable[[str, float, bool], None] | None = None

    @property
    def label(self) -> str:
        """The endpoint in use, redacted (no credentials, no path)."""
        return self.endpoints.label

    @property
    def failovers(self) -> int:
        """Moves to another endpoint since start."""
        return self.endpoints.failovers

    @property
    def labels(self) -> list[str]:
        """Every endpoint, redacted, the preferred one first."""
        return [p.label for p in self._providers]

    async def endpoint_chain_ids(self) -> list[tuple[str, int | RpcError]]:
        """Each endpoint's chain id (or why it could not be read), without failover."""
        out: list[tuple[str, int | RpcError]] = []
        for provider in self._providers:
            try:
                raw = await self._request_via(provider, "eth_chainId", [])
                out.append((provider.label, int(raw, 16)))
            except RpcError as exc:
                out.append((provider.label, exc))
            except (TypeError, ValueError):
                out.append((provider.label, RpcError("malformed chain id", method="eth_chainId")))
        return out

    def _observe(self, method: str, started: float, ok: bool) -> None:
        if self.on_request is not None:
            self.on_request(method, time.perf_counter() - started, ok)

    @property
    def streams_heads(self) -> bool:
        """True when new heads arrive by subscription (a ws:// endpoint)."""
        return self.subscriptions.streams

    async def next_head(self, timeout_s: float) -> Header | None:
        """Wait up to ``timeout_s`` for a new head (see :class:`Subscriptions`)."""
        return await self.subscriptions.next_head(timeout_s)

    async def pending_transactions(self) -> asyncio.Queue[str] | None:
        """Hashes of transactions entering the node's pool (WebSocket only), or None."""
        return await self.subscriptions.pending_transactions()

    def __repr__(self) -> str:
        return f"<ChainClient {', '.join(self.labels)}>"

    def _check_open(self, method: str) -> None:
        """A request after ``close`` would open a session nobody closes: refuse it."""
        if self._closed:
            raise RpcError("the client is closed", method=method)

    async def close(self) -> None:
        """Close every endpoint's session; later requests are refused."""
        self._closed = True
        for provider in self._providers:
            await provider.disconnect()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- transport -------------------------------------------------------------------------

    def _retrying(self) -> AsyncRetrying:
        """The one retry policy: transient errors only, jittered backoff, bounded in time."""
        return AsyncRetrying(
            retry=retry_if_exception_type(TransientRpcError),
            stop=stop_after_delay(self._retry_s),
            wait=wait_exponential_jitter(multiplier=0.1, max=2.0, jitter=0.1),
            reraise=True,
        )

    async def _post_once(self, method: str, params: Sequence[Any]) -> Any:
        started = time.perf_counter()
        try:
            result = await self._post_raw(method, params)
        except RpcError as exc:
            self._observe(method, started, isinstance(exc, ContractRevertError))
            raise
        self._observe(method, started, True)
        return result

    async def _post_raw(self, method: str, params: Sequence[Any]) -> Any:
        self._check_open(method)  # a retry after close would open a session again
        self.calls[method] += 1
        provider = self.endpoints.current()
        try:
            return await self._request_via(provider, method, params)
        except TransientRpcError as exc:
            self.endpoints.fail_over(provider, exc)
            raise

    @contextlib.asynccontextmanager
    async def _over(self, provider: Transport, method: str, what: str) -> AsyncIterator[None]:
        """Node failures of one request (or batch) through ``provider`` as our errors."""
        try:
            yield
        except TimeoutError:
            raise TransientRpcError(f"{what} timed out", method=method) from None
        except aiohttp.ClientResponseError as exc:
            err_cls = TransientRpcError if exc.status == 429 or exc.status >= 500 else RpcError
            raise err_cls(f"HTTP {exc.status}", method=method, code=exc.status) from None
        except (aiohttp.ClientError, ConnectionError) as exc:
            # The OS's reason (refused, no ports left, ...) but never the URL: it can hold a key.
            reason = exc.os_error.strerror if isinstance(exc, aiohttp.ClientConnectorError) else ""
            raise TransientRpcError(
                f"connection failed ({type(exc).__name__}{': ' + reason if reason else ''})",
                method=method,
            ) from None
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise TransientRpcError(f"unreadable {what} answer", method=method) from None
        finally:
            # A request in flight when the client closed may have opened a session after the
            # close had shut them all (web3 opens one on first use): shut that one too.
            if self._closed:
                await provider.disconnect()

    async def _request_via(self, provider: Transport, method: str, params: Sequence[Any]) -> Any:
        async with self._over(provider, method, "request"):
            response = await provider.make_request(method, list(params))
        if not isinstance(response, dict):
            raise TransientRpcError("malformed answer", method=method)
        if response.get("error"):
            raise _classify(method, dict(response["error"]))
        if "result" not in response:
            raise TransientRpcError("answer without result", method=method)
        return response["result"]

    async def request(
        self,
        method: str,
        params: Sequence[Any] = (),
        *,
        retry: bool = True,
        parse: Callable[[Any], Any] | None = None,
    ) -> Any:
        """Send one JSON-RPC request; transient failures are retried when ``retry``.

        ``parse`` turns the result into what the caller expects; a result it cannot take (a
        wrong type from a broken node or proxy) counts as a transient failure, so it is
        retried like one instead of surfacing as a TypeError in the caller.
        """
        self._check_open(method)

        async def once() -> Any:
            result = await self._post_once(method, params)
            if parse is None:
                return result
            try:
                return parse(result)
            except (TypeError, ValueError, AttributeError):
                self._observe(method, time.perf_counter(), False)
                raise TransientRpcError("malformed result", method=method) from None

        if not retry or self._retry_s == 0:
            return await once()
        async for attempt in self._retrying():
            with attempt:
                return await once()
        raise AssertionError("unreachable")  # pragma: no cover

    async def _batch_once(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        started = time.perf_counter()
        try:
            result = await self._batch_raw(calls)
        except RpcError:
            self._observe("batch", started, False)
            raise
        self._observe("batch", started, True)
        return result

    async def _batch_raw(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        self._check_open("batch")
        for method, _ in calls:
            self.calls[method] += 1
        self.calls["<batch>"] += 1
        provider = self.endpoints.current()
        try:
            return await self._batch_via(provider, calls)
        except TransientRpcError as exc:
            self.endpoints.fail_over(provider, exc)
            raise

    async def _batch_via(
        self, provider: Transport, calls: Sequence[tuple[str, Sequence[Any]]]
    ) -> list[Any]:
        async with self._over(provider, "batch", "batch"):
            raw = await provider.make_batch_request(
                [(method, list(params)) for method, params in calls]
            )
        return parse.parse_batch(calls, raw)

    async def batch(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        """Send calls as one JSON-RPC batch; each item is its result or an :class:`RpcError`.

        A transient failure of the whole batch is retried; per-item errors are returned, not
        raised, so one reverting call does not sink its neighbours.
        """
        self._check_open("batch")
        if not calls:
            return []
        async for attempt in self._retrying():
            with attempt:
                return await self._batch_once(calls)
        raise AssertionError("unreachable")  # pragma: no cover

    # -- typed helpers -----------------------------------------------------------------------

    async def chain_id(self) -> int:
        """The node's chain id."""
        return int(await self.request("eth_chainId", parse=parse.quantity))

    async def block_number(self) -> int:
        """The node's head block number."""
        return int(await self.request("eth_blockNumber", parse=parse.quantity))

    async def get_block(self, block: BlockId = "latest") -> dict[str, Any]:
        """A block header (no transaction bodies)."""
        result: dict[str, Any] = await self.request(
            "eth_getBlockByNumber", [_block_param(block), False], parse=parse.header
        )
        return result

    async def latest_header(self) -> Header:
        """The head block's header: one request that both finds a new block and describes it."""
        return Header.from_rpc(await self.get_block("latest"))

    async def get_logs(
        self, *, address: str | list[str], topics: list[Any], from_block: int, to_block: int
    ) -> list[dict[str, Any]]:
        """Logs in an inclusive block range."""
        return await self._logs(address, topics, fromBlock=hex(from_block), toBlock=hex(to_block))

    async def block_logs(
        self, *, address: str | list[str], topics: list[Any], block_hash: str
    ) -> list[dict[str, Any]]:
        """Logs of the one block ``block_hash`` (never of another block at its height)."""
        return await self._logs(address, topics, blockHash=block_hash)

    async def _logs(
        self, address: str | list[str], topics: list[Any], **where: str
    ) -> list[dict[str, Any]]:
        flt = {"address": address, "topics": topics, **where}
        logs: list[dict[str, Any]] = await self.request("eth_getLogs", [flt], parse=parse.logs)
        return logs

    async def call(
        self, to: str, data: str, block: BlockId = "latest", sender: str | None = None
    ) -> bytes:
        """``eth_call``; raises ContractRevertError on a revert."""
        tx: dict[str, Any] = {"to": to, "data": data}
        if sender is not None:
            tx["from"] = sender
        return bytes(await self.request("eth_call", [tx, _block_param(block)], parse=parse.data))

    async def get_balance(self, address: str, block: BlockId = "latest") -> int:
        """Native balance in wei."""
        params = [address, _block_param(block)]
        return int(await self.request("eth_getBalance", params, parse=parse.quantity))

    async def get_transaction_count(self, address: str, block: BlockId = "pending") -> int:
        """The account's nonce at ``block``."""
        params = [address, _block_param(block)]
        return int(await self.request("eth_getTransactionCount", params, parse=parse.quantity))

    async def estimate_gas(self, tx: dict[str, Any]) -> int:
        """``eth_estimateGas``; raises ContractRevertError when the transaction would revert."""
        return int(await self.request("eth_estimateGas", [tx], parse=parse.quantity))

    async def max_priority_fee(self) -> int:
        """The node's suggested tip in wei."""
        return int(await self.request("eth_maxPriorityFeePerGas", parse=parse.quantity))

    async def send_raw_transaction(self, raw: bytes) -> str:
        """Broadcast a signed transaction. Never retried here (see module docstring)."""
        return str(await self.request("eth_sendRawTransaction", ["0x" + raw.hex()], retry=False))

    async def get_receipt(self, tx_hash: str) -> dict[str, Any] | None:
        """The receipt, or None while the transaction is not mined."""
        result = await self.request("eth_getTransactionReceipt", [tx_hash], parse=parse.receipt)
        return result if isinstance(result, dict) else None

    async def receipt(self, tx_hash: str) -> Receipt | None:
        """The typed receipt, or None while the transaction is not mined."""
        raw = await self.get_receipt(tx_hash)
        return None if raw is None else Receipt.from_rpc(raw)

    async def pending_tx(self, tx_hash: str) -> PendingTx | None:
        """A transaction the node knows (in its pool or mined), or None."""
        raw = await self.request("eth_getTransactionByHash", [tx_hash])
        return PendingTx.from_rpc(raw) if isinstance(raw, dict) else None

    async def wait_receipt(
        self, tx_hash: str, *, timeout_s: float, poll_s: float = 0.25
    ) -> Receipt | None:
        """Poll for the typed receipt until ``timeout_s``; None if it did not come."""
        raw = await self.wait_for_receipt(tx_hash, timeout_s=timeout_s, poll_s=poll_s)
        return None if raw is None else Receipt.from_rpc(raw)

    async def wait_for_receipt(
        self, tx_hash: str, *, timeout_s: float, poll_s: float = 0.25
    ) -> dict[str, Any] | None:
        """Poll for a receipt until ``timeout_s``; None if it did not come (raw JSON)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        delay = min(0.005, poll_s)  # a fast first look: local and fast chains mine at once
        while True:
            receipt = await self.get_receipt(tx_hash)
            if receipt is not None:
                return receipt
            if loop.time() >= deadline:
                return None
            await asyncio.sleep(delay)
            delay = min(delay * 2, poll_s)
