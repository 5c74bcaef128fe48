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
- :meth:`TestBuilder.build` builds the next block atomically: every live bundle for it is
  applied at once (snapshot, their transactions sent with ``eth_sendRawTransaction``, a block
  mined); if one of them reverted or was not included, the chain goes back to the snapshot,
  those bundles are dropped (a bundle that would revert never lands and costs nothing), and
  the rest are tried again, until what remains lands whole. Two or more ``eth_sendBundle``
  bundles for one block are ranked by what they pay the coinbase (priority fees plus direct
  transfers, each simulated alone: tests.support.block_order) and land in that order, first in
  the block: the better payer goes first and the other, reverting behind it, is dropped; other
  transactions are in Anvil's order (by max fee). Transactions of the public pool are in every
  block; those a reverted attempt took out are put back;
- MEV-Share (tests.support.mev_share, :attr:`TestBuilder.mev_share`): hints of private
  transactions on an event stream (every GET request), ``mev_sendBundle`` back-runs of them,
  and the best-paying back-run landing right behind its held transaction.

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
from tests.support import block_order
from tests.support.mev_share import MevShare, MevShareError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

COINBASE = "0x" + "c0" * 20  # the fee recipient of the blocks built here
SIGNATURE_ERROR = -32600
BUNDLE_METHODS = frozenset(
    {"eth_sendBundle", "eth_cancelBundle", "eth_sendPrivateTransaction", "mev_sendBundle"}
)


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
    backrun_of: str | None = None  # mev_sendBundle: the hash of the held transaction

    @property
    def hashes(self) -> list[str]:
        """The transactions' hashes."""
        return ["0x" + keccak(bytes.fromhex(tx.removeprefix("0x"))).hex() for tx in self.txs]


@dataclass
class Built:
    """One block built: its number, the bundles in it, those dropped as reverting, and the
    back-runs outbid by another back-run of the same held transaction.
    """

    number: int
    landed: list[Bundle] = field(default_factory=list)
    reverting: list[Bundle] = field(default_factory=list)
    outbid: list[Bundle] = field(default_factory=list)
    why: dict[int, str] = field(default_factory=dict)  # bundle seq -> why it did not land


class TestBuilder:
    """The bundle API over one Anvil (see the module); an async context manager."""

    __test__ = False  # not a pytest class

    def __init__(self, anvil_url: str) -> None:
        self.anvil_url = anvil_url
        self.coinbase = COINBASE
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
        self._last_error = ""
        self.mev_share = MevShare(self)

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
        app.router.add_get("/{tail:.*}", self.mev_share.stream)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        self.port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop_mining()
        self.mev_share.drop_subscribers()
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

    def withhold(self, tx_hash: str) -> None:
        """The held private transaction ``tx_hash`` never lands, nor its back-runs."""
        self.mev_share.withhold(tx_hash)

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
            remaining = [b for b in self._live.values() if b.first_block <= target]
            built = Built(target)
            while remaining:  # until what is left lands whole; then that is the block
                pool = await self._pool()
                pairs = await self.mev_share.pairs(target, remaining, pool, built)
                ranked = await block_order.rank(self, remaining, pool)
                snapshot = await self._rpc("evm_snapshot", [])
                failed = await self._land(remaining, pairs, ranked)
                if not failed:
                    built.landed = remaining + [backrun for _, backrun in pairs]
                    break
                await self._restore(snapshot, pool)
                for bundle, why in failed:
                    built.reverting.append(bundle)
                    built.why[bundle.seq] = why
                    self._forget(bundle)
                    self.mev_share.drop(bundle)
                    remaining = [b for b in remaining if b is not bundle]
            else:
                await self._rpc("evm_mine", [])
            for bundle in built.landed:
                self._forget(bundle)
            self.mev_share.after_build(target + 1, list(self._live.values()))
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

    async def _restore(self, snapshot: str, pool: list[str]) -> None:
        """Back to ``snapshot`` with exactly ``pool`` in the pool.

        Anvil's revert leaves a transaction that was not mined (a nonce gap: queued) in the
        pool, and drops those that were: the pool is emptied and filled again, so a bundle
        that did not land leaves no trace.
        """
        await self._rpc("evm_revert", [snapshot])
        await self._rpc("anvil_dropAllTransactions", [])
        for raw in pool:
            await self._rpc("eth_sendRawTransaction", [raw], check=False)

    async def _land(
        self, bundles: list[Bundle], pairs: list[tuple[Bundle, Bundle]], ranked: list[Bundle]
    ) -> list[tuple[Bundle, str]]:
        """Send the bundles' transactions and mine (first in the block ``pairs``, held
        transactions and their back-runs, then ``ranked``): the bundles not all in, or reverted.
        """
        failed: list[tuple[Bundle, str]] = []
        leading = {id(held) for held, _ in pairs} | {id(b) for b in ranked}
        for bundle in bundles:
            for raw in bundle.txs if id(bundle) not in leading else []:
                if await self._rpc("eth_sendRawTransaction", [raw], check=False) is None:
                    failed.append((bundle, f"refused: {self._last_error}"))
                    break
        await self._rpc("evm_mine", [])
        first = [*(b for pair in pairs for b in pair), *ranked]
        await block_order.mine_first(self, [raw for bundle in first for raw in bundle.txs])
        refused = {id(b) for b, _ in failed}
        for bundle in bundles:
            if id(bundle) in refused:
                continue
            for tx_hash in bundle.hashes:
                receipt = await self._rpc("eth_getTransactionReceipt", [tx_hash])
                if receipt is None or int(receipt["status"], 16) != 1:
                    failed.append((bundle, "not included" if receipt is None else "reverted"))
                    break
        return failed + await self.mev_share.check(pairs)

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
            self.mev_share.hold(self.received[-1], spec)
        elif method == "mev_sendBundle":
            try:
                result = self.mev_share.send_bundle(searcher, params[0], head)
            except MevShareError as exc:
                return _error(call.get("id"), exc.code, str(exc), 400)
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
        bundle = self._new_bundle(searcher, txs, first, last, how, uuid)
        key: object = (searcher, uuid) if uuid else bundle.seq
        if txs:
            self._live[key] = bundle
        else:  # beaverbuild's cancel: the UUID with no transactions
            self._live.pop(key, None)
        if how == "eth_sendPrivateTransaction":
            return bundle.hashes[0]
        return {"bundleHash": "0x" + keccak("".join(txs).encode()).hex()}

    def _new_bundle(
        self,
        searcher: str,
        txs: list[str],
        first: int,
        last: int,
        how: str,
        uuid: str | None = None,
    ) -> Bundle:
        bundle = Bundle(next(self._seq), searcher, list(txs), first, last, uuid, how)
        self.received.append(bundle)
        return bundle

    async def _rpc(self, method: str, params: list[Any], *, check: bool = True) -> Any:
        assert self._session is not None
        payload = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        async with self._session.post(self.anvil_url, json=payload) as resp:
            answer = await resp.json()
        if "error" in answer:
            self._last_error = str(answer["error"])
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
