"""The node client retries reads on transient failures, never retries sends, and never puts
the URL's secret parts into an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import threading

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from keeper.chain.client import ChainClient
from keeper.errors import ContractRevertError, RpcError, TransientRpcError


class FakeNode:
    """A JSON-RPC server on 127.0.0.1 answering from a script of (status, body) per method."""

    def __init__(self) -> None:
        self.script: dict[str, list[tuple[int, object]]] = {}
        self.seen: list[str] = []

    async def handle(self, request: web.Request) -> web.Response:
        """Answer a single call from the script, or a batch with 0x1 each."""
        body = await request.json()
        if isinstance(body, list):
            self.seen.append("batch")
            return web.json_response(
                [{"jsonrpc": "2.0", "id": c["id"], "result": "0x1"} for c in body]
            )
        method = body["method"]
        self.seen.append(method)
        if method == "eth_slow":
            await asyncio.sleep(0.5)
        status, payload = (
            self.script.get(method, [(200, {"result": "0x10"})]).pop(0)
            if self.script.get(method)
            else (200, {"result": "0x10"})
        )
        if status != 200:
            return web.Response(status=status, text="busy")
        return web.json_response({"jsonrpc": "2.0", "id": body["id"], **payload})  # type: ignore[dict-item]


@pytest_asyncio.fixture
async def node():
    fake = FakeNode()
    app = web.Application()
    app.router.add_post("/{tail:.*}", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield fake, f"http://127.0.0.1:{port}/secret-path-TOKEN"
    await runner.cleanup()


@pytest.mark.asyncio
async def test_reads_retry_on_503_then_succeed(node):
    """Two 503s, then an answer: the read succeeds after three attempts."""
    fake, url = node
    fake.script["eth_blockNumber"] = [(503, None), (503, None), (200, {"result": "0x2a"})]
    async with ChainClient(url, retry_s=5) as client:
        assert await client.block_number() == 42
    assert fake.seen.count("eth_blockNumber") == 3


@pytest.mark.asyncio
async def test_send_raw_transaction_is_never_retried(node):
    """A 503 on eth_sendRawTransaction surfaces at once: one request only."""
    fake, url = node
    fake.script["eth_sendRawTransaction"] = [(503, None), (200, {"result": "0xab"})]
    async with ChainClient(url, retry_s=5) as client:
        with pytest.raises(TransientRpcError) as err:
            await client.send_raw_transaction(b"\x01\x02")
    assert fake.seen.count("eth_sendRawTransaction") == 1
    assert "TOKEN" not in str(err.value)


@pytest.mark.asyncio
async def test_errors_are_classified_and_redacted(node):
    """A revert is a ContractRevertError with its data; other JSON-RPC errors are RpcError;
    a dead node is a TransientRpcError; no message carries the URL's secret part.
    """
    fake, url = node
    fake.script["eth_call"] = [
        (200, {"error": {"code": 3, "message": "execution reverted: 45", "data": "0x08c3"}})
    ]
    fake.script["eth_getLogs"] = [(200, {"error": {"code": -32602, "message": "bad params"}})]
    async with ChainClient(url, retry_s=0.5) as client:
        with pytest.raises(ContractRevertError) as revert:
            await client.call("0x" + "00" * 20, "0x")
        assert revert.value.data == "0x08c3"
        with pytest.raises(RpcError) as bad:
            await client.get_logs(address="0x" + "00" * 20, topics=[], from_block=0, to_block=1)
        assert not isinstance(bad.value, TransientRpcError)
    async with ChainClient("http://127.0.0.1:9/other-TOKEN", retry_s=0.3) as dead:
        with pytest.raises(TransientRpcError) as gone:
            await dead.block_number()
    for exc in (revert.value, bad.value, gone.value):
        assert "TOKEN" not in str(exc) and "TOKEN" not in repr(exc)


@pytest.mark.asyncio
async def test_batch_returns_per_item_results(node):
    """A batch answers one result per call, in order."""
    fake, url = node
    async with ChainClient(url) as client:
        out = await client.batch([("eth_chainId", []), ("eth_blockNumber", [])])
    assert out == ["0x1", "0x1"]
    assert fake.seen == ["batch"]
    assert json.dumps(out)


@pytest.mark.asyncio
async def test_reads_fail_over_to_the_next_endpoint_and_come_back(node):
    """A dead preferred endpoint: reads go to the fallback; after failback_s the preferred one
    is tried again. Endpoint labels never carry the URL's path (a token).
    """
    _, url = node
    dead = "http://127.0.0.1:9/dead-TOKEN"  # port 9 (discard) is closed on loopback
    client = ChainClient([dead, url], timeout_s=2, retry_s=5, failback_s=2.0)
    try:
        assert await client.block_number() == 0x10
        port = url.split(":")[2].split("/")[0]
        assert client.failovers == 1 and f":{port}/" in client.label
        assert "TOKEN" not in client.label and "TOKEN" not in repr(client)
        assert await client.block_number() == 0x10  # stays on the fallback
        assert client.failovers == 1
        await asyncio.sleep(2.1)
        assert await client.block_number() == 0x10  # preferred again, fails, over again
        assert client.failovers == 2
        ids = await client.endpoint_chain_ids()
        assert isinstance(ids[0][1], RpcError) and ids[1][1] == 0x10
    finally:
        await client.close()


@pytest.mark.asyncio
async def test_a_closed_client_refuses_requests_instead_of_opening_a_new_session():
    """After ``close`` a request (say, a background task's last one) fails with RpcError: it
    never opens a session that nobody would close.
    """
    client = ChainClient("http://127.0.0.1:9", retry_s=0)
    await client.close()
    with pytest.raises(RpcError, match="closed"):
        await client.request("eth_blockNumber")
    with pytest.raises(RpcError, match="closed"):
        await client.batch([("eth_blockNumber", [])])


@pytest.mark.asyncio
async def test_a_request_in_flight_at_close_leaves_no_session_open(node):
    """A read still waiting for the node when the client closes ends in an error, is not
    retried on a fresh session, and leaves no HTTP session open behind it.
    """
    fake, url = node
    client = ChainClient(url, retry_s=5)
    await client.block_number()  # the session exists
    pending = asyncio.ensure_future(client.request("eth_slow"))
    await asyncio.sleep(0.1)
    await client.close()
    with pytest.raises(RpcError):
        await pending
    gc.collect()
    sessions = [o for o in gc.get_objects() if isinstance(o, aiohttp.ClientSession)]
    assert all(s.closed for s in sessions)
    assert fake.seen.count("eth_slow") == 1


@pytest.mark.asyncio
async def test_requests_cancelled_at_any_point_leave_the_client_usable_and_start_no_thread(node):
    """Reads cancelled at every point of their way (a shutdown deadline, a timeout around a
    read) leave nothing held: the next read answers, and no request ever ran on a thread (web3's
    own HTTP provider takes a lock through a thread pool per request; one cancelled at the wrong
    moment left the lock taken for good, and the keeper could never exit).
    """
    _, url = node
    before = set(threading.enumerate())
    async with ChainClient(url, retry_s=0) as client:
        for round_ in range(40):
            reads = [client.block_number() for _ in range(4)]
            with contextlib.suppress(TimeoutError, RpcError):
                await asyncio.wait_for(asyncio.gather(*reads), round_ * 0.0005)
        assert await asyncio.wait_for(client.block_number(), 10) == 0x10
    assert set(threading.enumerate()) <= before
