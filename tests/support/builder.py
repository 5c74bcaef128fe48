"""A test double of a block builder's bundle API, not a product feature.

Anvil has no bundle API, and real builders need a full node and a consensus client. This
double serves the parts of the API the keeper uses, on 127.0.0.1 (a free port), in front of an
Anvil with automine off, and is the only thing that mines that Anvil while it runs:

- it checks ``X-Flashbots-Signature`` as the relays do: ``address:signature``, the signature
  an EIP-191 personal signature of the text ``0x<keccak256(body)>``, the recovered address
  equal to the one given; otherwise the relay's error ("error in signature check");
- ``eth_sendBundle`` ``{txs, blockNumber, replacementUuid}`` (the same searcher and UUID
  replace the earlier bundle), ``eth_cancelBundle`` ``[{replacementUuid}]`` and
  ``eth_sendPrivateTransaction`` ``{tx, maxBlockNumber}`` (a one-transaction bundle for every
  block up to that one);
- :meth:`TestBuilder.build` builds the next block: every bundle for it is simulated on its own
  (snapshot, its transactions sent, a block mined, the coinbase's gain measured, reverted);
  those that would revert or not be included are dropped (a bundle that would revert never
  lands and costs nothing); the rest are taken best-paying first, each only if it still lands
  whole on top of those taken; then the block is mined for real with them and the public
  pool's transactions. Transactions of the public pool taken out by a simulation are put back.

Every other JSON-RPC request (single or batch) is passed to the Anvil, held while a block is
being built: whoever reads the chain through this endpoint never sees a simulated block.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Self

import aiohttp
from aiohttp import web
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils.crypto import keccak

from keeper.localnode.anvil import free_port

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

COINBASE = "0x" + "c0" * 20  # the fee recipient of the blocks built here
SIGNATURE_ERROR = -32600
BUNDLE_METHODS = frozenset({"eth_sendBundle", "eth_cancelBundle", "eth_sendPrivateTransaction"})


@dataclass
class Bundle:
    """One bundle as received."""

    seq: int
    searcher: str
    txs: list[str]
    first_block: int
    last_block: int
    uuid: str | None
    method: str

    @property
    def hashes(self) -> list[str]:
        """The transactions' hashes."""
        return ["0x" + keccak(bytes.fromhex(tx.removeprefix("0x"))).hex() for tx in self.txs]


@dataclass
class Built:
    """One block built: its number, the bundles in it, and those dropped as reverting."""

    number: int
    landed: list[Bundle] = field(default_factory=list)
    reverting: list[Bundle] = field(default_factory=list)
    paid: dict[int, int] = field(default_factory=dict)  # bundle seq -> coinbase gain alone


class TestBuilder:
    """The bundle API over one Anvil (see the module); an async context manager."""

    __test__ = False  # not a pytest class

    def __init__(self, anvil_url: str) -> None:
        self.anvil_url = anvil_url
        self.port = 0
        self.head = 0  # the newest block (this is the Anvil's only miner)
        self.received: list[Bundle] = []
        self.cancelled: list[tuple[str, str]] = []  # (searcher, uuid)
        self.rejected_signatures = 0
        self.blocks: list[Built] = []
        self._live: dict[object, Bundle] = {}
        self._seq = itertools.count()
        self._changed = asyncio.Condition()
        self._build_lock = asyncio.Lock()
        self._idle = asyncio.Event()  # set while no block is being built
        self._idle.set()
        self._readers = 0
        self._no_readers = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._miner: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        """The bundle API's endpoint."""
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> Self:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        await self._rpc("evm_setAutomine", [False])
        await self._rpc("anvil_setCoinbase", [COINBASE])
        self.head = int(await self._rpc("eth_blockNumber", []), 16)
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        self.port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop_mining()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    # -- mining -------------------------------------------------------------------------------

    def start_mining(self, interval_s: float) -> None:
        """Build a block every ``interval_s`` in the background (until :meth:`stop_mining`)."""

        async def mine() -> None:
            while True:
                await self.build()
                await asyncio.sleep(interval_s)

        self._miner = asyncio.create_task(mine(), name="test_builder_miner")

    async def stop_mining(self) -> None:
        """Cancel the background miner and wait for it to end."""
        if self._miner is not None:
            self._miner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._miner
            self._miner = None

    async def wait_for(self, predicate: Any, timeout_s: float = 60.0) -> None:
        """Wait until ``predicate()`` holds (checked at each request and each block)."""
        async with asyncio.timeout(timeout_s), self._changed:
            await self._changed.wait_for(predicate)

    async def build(self) -> Built:
        """Build the next block (see the module)."""
        async with self._build_lock, self._exclusive():
            target = int(await self._rpc("eth_blockNumber", []), 16) + 1
            for key, bundle in list(self._live.items()):
                if bundle.last_block < target:
                    del self._live[key]
            candidates = [b for b in self._live.values() if b.first_block <= target]
            pool = await self._pool()
            built = Built(target)
            scored = []
            for bundle in candidates:
                ok, paid = await self._simulate([bundle], pool)
                if ok:
                    scored.append((paid, bundle))
                    built.paid[bundle.seq] = paid
                else:
                    built.reverting.append(bundle)
                    self._forget(bundle)
            scored.sort(key=lambda pair: (-pair[0], pair[1].seq))
            taken: list[Bundle] = []
            for _, bundle in scored:
                if (await self._simulate([*taken, bundle], pool))[0]:
                    taken.append(bundle)
            ok = await self._apply(taken)
            if ok:
                built.landed = taken
                for bundle in taken:
                    self._forget(bundle)
            self.blocks.append(built)
            self.head = int(await self._rpc("eth_blockNumber", []), 16)
        async with self._changed:
            self._changed.notify_all()
        return built

    @contextlib.asynccontextmanager
    async def _exclusive(self) -> AsyncIterator[None]:
        """No passed-through request runs meanwhile (they wait, then see the built block)."""
        self._idle.clear()
        try:
            async with self._no_readers:
                await self._no_readers.wait_for(lambda: self._readers == 0)
            yield
        finally:
            self._idle.set()

    async def _pass_through(self, body: bytes) -> web.Response:
        await self._idle.wait()
        self._readers += 1
        try:
            assert self._session is not None
            headers = {"Content-Type": "application/json"}
            async with self._session.post(self.anvil_url, data=body, headers=headers) as resp:
                answer = await resp.read()
                status = resp.status
        finally:
            self._readers -= 1
            async with self._no_readers:
                self._no_readers.notify_all()
        return web.Response(body=answer, status=status, content_type="application/json")

    def _forget(self, bundle: Bundle) -> None:
        for key, live in list(self._live.items()):
            if live is bundle:
                del self._live[key]

    async def _pool(self) -> list[str]:
        """The raw transactions of the public pool, in nonce order per sender."""
        content = await self._rpc("txpool_content", [])
        raws = []
        for section in ("pending", "queued"):
            for by_nonce in content.get(section, {}).values():
                for _, tx in sorted(by_nonce.items(), key=lambda kv: int(kv[0])):
                    raw = await self._rpc("eth_getRawTransactionByHash", [tx["hash"]])
                    if raw:
                        raws.append(raw)
        return raws

    async def _simulate(self, bundles: list[Bundle], pool: list[str]) -> tuple[bool, int]:
        """Whether ``bundles`` land whole on the head, and what the coinbase gains (reverted)."""
        snapshot = await self._rpc("evm_snapshot", [])
        try:
            before = int(await self._rpc("eth_getBalance", [COINBASE, "latest"]), 16)
            ok = await self._land(bundles)
            after = int(await self._rpc("eth_getBalance", [COINBASE, "latest"]), 16)
        finally:
            await self._rpc("evm_revert", [snapshot])
            for raw in pool:  # a mined-then-reverted block takes them out of the pool
                await self._rpc("eth_sendRawTransaction", [raw], check=False)
        return ok, after - before

    async def _apply(self, bundles: list[Bundle]) -> bool:
        """Mine the block with ``bundles``; if it does not land whole, mine it without them."""
        snapshot = await self._rpc("evm_snapshot", [])
        pool = await self._pool()
        if await self._land(bundles):
            return True
        await self._rpc("evm_revert", [snapshot])
        for raw in pool:
            await self._rpc("eth_sendRawTransaction", [raw], check=False)
        await self._rpc("evm_mine", [])
        return False

    async def _land(self, bundles: list[Bundle]) -> bool:
        """Send the bundles' transactions and mine; True if all are in and none reverted."""
        for bundle in bundles:
            for raw in bundle.txs:
                if await self._rpc("eth_sendRawTransaction", [raw], check=False) is None:
                    await self._rpc("evm_mine", [])
                    return False
        await self._rpc("evm_mine", [])
        for bundle in bundles:
            for tx_hash in bundle.hashes:
                receipt = await self._rpc("eth_getTransactionReceipt", [tx_hash])
                if receipt is None or int(receipt["status"], 16) != 1:
                    return False
        return True

    # -- the API ------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            call = json.loads(body)
        except ValueError:
            return _error(None, -32700, "parse error", 400)
        if not isinstance(call, dict) or call.get("method") not in BUNDLE_METHODS:
            return await self._pass_through(body)
        searcher = _recover(body, request.headers.get("X-Flashbots-Signature"))
        if searcher is None:
            self.rejected_signatures += 1
            header = request.headers.get("X-Flashbots-Signature", "")
            message = f"error in signature check {header.split(':', 1)[0]}".strip()
            return _error(call.get("id"), SIGNATURE_ERROR, message, 403)
        method, params = call.get("method"), call.get("params") or [{}]
        head = self.head
        result: Any
        if method == "eth_sendBundle":
            spec = params[0]
            block = int(spec["blockNumber"], 16) if spec.get("blockNumber") else head + 1
            result = self._add(searcher, spec.get("txs", []), block, block, spec, method)
        elif method == "eth_sendPrivateTransaction":
            spec = params[0]
            last = int(spec.get("maxBlockNumber", hex(head + 25)), 16)
            result = self._add(searcher, [spec["tx"]], head + 1, last, {}, method)
        elif method == "eth_cancelBundle":
            uuid = str(params[0].get("replacementUuid", ""))
            self._live.pop((searcher, uuid), None)
            self.cancelled.append((searcher, uuid))
            result = True
        else:  # pragma: no cover - BUNDLE_METHODS only
            return _error(call.get("id"), -32601, f"method {method} not supported", 200)
        async with self._changed:
            self._changed.notify_all()
        return web.json_response({"jsonrpc": "2.0", "id": call.get("id"), "result": result})

    def _add(
        self, searcher: str, txs: list[str], first: int, last: int, spec: dict[str, Any], how: str
    ) -> Any:
        uuid = spec.get("replacementUuid")
        bundle = Bundle(next(self._seq), searcher, list(txs), first, last, uuid, how)
        self.received.append(bundle)
        key: object = (searcher, uuid) if uuid else bundle.seq
        if txs:
            self._live[key] = bundle
        else:  # beaverbuild's cancel: the UUID with no transactions
            self._live.pop(key, None)
        if how == "eth_sendPrivateTransaction":
            return bundle.hashes[0]
        return {"bundleHash": "0x" + keccak("".join(txs).encode()).hex()}

    async def _rpc(self, method: str, params: list[Any], *, check: bool = True) -> Any:
        assert self._session is not None
        payload = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        async with self._session.post(self.anvil_url, json=payload) as resp:
            answer = await resp.json()
        if "error" in answer:
            if check:
                raise AssertionError(f"{method}: {answer['error']}")
            return None
        return answer.get("result")


def _recover(body: bytes, header: str | None) -> str | None:
    """The searcher address of a correctly signed body, else None."""
    if not header or ":" not in header:
        return None
    address, signature = header.split(":", 1)
    message = encode_defunct(text="0x" + keccak(body).hex())
    try:
        recovered = Account.recover_message(message, signature=signature)
    except (ValueError, TypeError):
        return None
    return recovered if recovered.lower() == address.lower() else None


def _error(call_id: object, code: int, message: str, status: int) -> web.Response:
    payload = {"jsonrpc": "2.0", "id": call_id, "error": {"code": code, "message": message}}
    return web.json_response(payload, status=status)
