"""The MEV-Share parts of the test builder (tests.support.builder): a test double, not a product
feature.

Chainlink SVR price updates reach Ethereum builders privately through Flashbots MEV-Share;
searchers see a hint of each on MEV-Share's server-sent event stream and back-run it with
``mev_sendBundle`` ``[the update's hash, their transaction]``. This module gives the test
builder (:class:`tests.support.builder.TestBuilder`, its ``mev_share`` attribute) that much:

- ``eth_sendPrivateTransaction`` ``{tx, maxBlockNumber, preferences: {privacy: {hints}}}``: the
  transaction is held privately as before (it lands on its own in the next block built, up to
  ``maxBlockNumber``) and, when hints are given, a hint is published on the event stream;
- the event stream: **every GET request** to the builder's endpoint (e.g. ``GET /events``) is a
  ``text/event-stream`` response; each event is a ``data: <json>`` line and a blank line, the
  JSON as MEV-Share sends it, ``{"hash", "logs": [], "txs": [{"to", "functionSelector",
  "callData"}]}`` with only the fields of the hints given (``contract_address``,
  ``function_selector``, ``calldata``;
  ``hash`` always; ``txs`` is ``[]`` without a transaction hint) and ``:ping`` comments every
  :attr:`MevShare.ping_s`. Events published while nobody listens are lost, as on the real stream;
- ``mev_sendBundle`` ``{version: "v0.1", inclusion: {block, maxBlock?}, body: [{hash}, {tx,
  canRevert}]}`` (signed like the other methods): a back-run of a transaction the builder holds
  (any other hash, or another body shape, is refused with JSON-RPC error -32602, HTTP 400);
  answers ``{"bundleHash"}``;
- building a block: a held transaction with back-runs for that block lands first in it, followed
  immediately by the back-run paying the coinbase most (simulated on its own behind the held
  transaction: the coinbase's balance change minus the held transaction's own priority fee), then
  the rest of the block (tests.support.block_order: Anvil orders by fee only). A back-run that
  reverts never lands (the next one is tried; without any the held transaction lands alone);
  losers are in ``Built.outbid`` (reasons in ``Built.why``), reverting ones in
  ``Built.reverting``;
- test hooks: :meth:`MevShare.publish_raw` (any text, e.g. a malformed event),
  :meth:`MevShare.drop_subscribers` (closes every stream, to test reconnects),
  :meth:`MevShare.wait_for_subscribers`, :meth:`MevShare.withhold` (a held transaction that never
  lands, nor its back-runs: an SVR update that does not make it).

Not modelled: refunds (``validity``), bundle privacy and hints of bundles, ``canRevert: true``
(treated as false), bundles without a hash or with more than one back-run, ``logs`` hints (logs
are always ``[]``). A public-pool transaction that becomes invalid behind a back-run is dropped.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import rlp  # type: ignore[import-untyped]
from aiohttp import web
from eth_account.typed_transactions.typed_transaction import TypedTransaction
from eth_utils.crypto import keccak
from hexbytes import HexBytes

from tests.support.block_order import simulate

if TYPE_CHECKING:
    from tests.support.builder import Built, Bundle, TestBuilder

INVALID_PARAMS = -32602
HINTS = ("calldata", "contract_address", "function_selector", "hash")  # those served


class MevShareError(Exception):
    """A request the double refuses: a JSON-RPC error (code, message)."""

    def __init__(self, message: str, code: int = INVALID_PARAMS) -> None:
        super().__init__(message)
        self.code = code


class MevShare:
    """MEV-Share over one test builder (see the module)."""

    __test__ = False

    def __init__(self, builder: TestBuilder, ping_s: float = 1.0) -> None:
        self.ping_s = ping_s
        self.held: dict[str, Bundle] = {}  # tx hash -> its eth_sendPrivateTransaction bundle
        self.withheld: set[str] = set()
        self.backruns: list[Bundle] = []  # live mev_sendBundle back-runs
        self.events: list[dict[str, Any]] = []  # every hint published
        self._builder = builder
        self._subscribers: list[asyncio.Queue[str | None]] = []
        self._listening = asyncio.Condition()

    # -- the event stream ---------------------------------------------------------------------

    @property
    def subscribers(self) -> int:
        """How many clients are listening now."""
        return len(self._subscribers)

    async def wait_for_subscribers(self, count: int = 1, timeout_s: float = 10.0) -> None:
        """Wait until at least ``count`` clients listen."""
        async with asyncio.timeout(timeout_s), self._listening:
            await self._listening.wait_for(lambda: len(self._subscribers) >= count)

    def publish(self, event: dict[str, Any]) -> None:
        """Send one event to every client listening now."""
        self.events.append(event)
        self.publish_raw(f"data: {json.dumps(event)}\n\n")

    def publish_raw(self, text: str) -> None:
        """Send ``text`` as is to every client listening now (e.g. a malformed event)."""
        for queue in self._subscribers:
            queue.put_nowait(text)

    def drop_subscribers(self) -> None:
        """Close every stream (the clients see the connection end)."""
        for queue in self._subscribers:
            queue.put_nowait(None)
        self._subscribers.clear()

    async def stream(self, request: web.Request) -> web.StreamResponse:
        """The event stream (every GET request)."""
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._subscribers.append(queue)
        async with self._listening:
            self._listening.notify_all()
        try:
            while True:
                try:
                    text = await asyncio.wait_for(queue.get(), self.ping_s)
                except TimeoutError:
                    text = ":ping\n\n"
                if text is None:
                    break
                await response.write(text.encode())
        except ConnectionResetError:
            pass
        finally:
            if queue in self._subscribers:
                self._subscribers.remove(queue)
        return response

    # -- requests -----------------------------------------------------------------------------

    def hold(self, bundle: Bundle, spec: dict[str, Any]) -> None:
        """A private transaction received: held, and its hint published if it asks for one."""
        tx_hash = bundle.hashes[0]
        self.held[tx_hash] = bundle
        preferences = spec.get("preferences") or {}
        hints = (preferences.get("privacy") or {}).get("hints") or []
        if hints:
            self.publish(hint(bundle.txs[0], tx_hash, [str(h) for h in hints]))

    def send_bundle(self, searcher: str, spec: Any, head: int) -> dict[str, str]:
        """``mev_sendBundle``: a back-run of a held transaction (raises MevShareError)."""
        if not isinstance(spec, dict) or spec.get("version") != "v0.1":
            raise MevShareError('only version "v0.1" bundles are served')
        body = spec.get("body")
        inclusion = spec.get("inclusion") or {}
        if "block" not in inclusion:
            raise MevShareError("inclusion.block is required")
        if (
            not isinstance(body, list)
            or len(body) != 2
            or not isinstance(body[0], dict)
            or not isinstance(body[1], dict)
            or "hash" not in body[0]
            or "tx" not in body[1]
        ):
            raise MevShareError("body must be [{hash}, {tx}]: one back-run of a held transaction")
        target = str(body[0]["hash"]).lower()
        if target not in self.held:
            raise MevShareError(f"unknown transaction hash {target}")
        first = int(inclusion["block"], 16)
        last = int(inclusion.get("maxBlock", inclusion["block"]), 16)
        if last < first or last <= head:
            raise MevShareError(f"inclusion blocks {first}..{last} are past (head {head})")
        raw = str(body[1]["tx"])
        bundle = self._builder._new_bundle(searcher, [raw], first, last, "mev_sendBundle")
        bundle.backrun_of = target
        self.backruns.append(bundle)
        return {"bundleHash": "0x" + keccak((target + raw).encode()).hex()}

    def withhold(self, tx_hash: str) -> None:
        """The held transaction ``tx_hash`` never lands, nor any back-run of it."""
        bundle = self.held[tx_hash.lower()]
        self._builder._forget(bundle)
        self.withheld.add(tx_hash.lower())

    # -- building -----------------------------------------------------------------------------

    async def pairs(
        self, target: int, remaining: list[Bundle], pool: list[str], built: Built
    ) -> list[tuple[Bundle, Bundle]]:
        """Each held transaction of ``remaining`` with its best valid back-run for ``target``."""
        for lost in built.outbid:
            built.why.pop(lost.seq, None)
        built.outbid.clear()
        chosen = []
        for held in remaining:
            tx_hash = held.hashes[0] if held.method == "eth_sendPrivateTransaction" else ""
            candidates = [
                b
                for b in self.backruns
                if b.backrun_of == tx_hash and b.first_block <= target <= b.last_block
            ]
            paid: list[tuple[int, Bundle]] = []
            for backrun in candidates:
                pays, why = await self._simulate(held, backrun, pool)
                if pays is None:
                    built.reverting.append(backrun)
                    built.why[backrun.seq] = why
                    self.drop(backrun)
                else:
                    paid.append((pays, backrun))
            paid.sort(key=lambda pb: (-pb[0], pb[1].seq))
            if paid:
                best = paid[0][0]
                chosen.append((held, paid[0][1]))
                for pays, backrun in paid[1:]:
                    built.outbid.append(backrun)
                    built.why[backrun.seq] = f"outbid: pays the coinbase {pays} wei, winner {best}"
        return chosen

    async def _simulate(
        self, held: Bundle, backrun: Bundle, pool: list[str]
    ) -> tuple[int | None, str]:
        """What the back-run pays the coinbase right behind ``held``, or None and why not."""
        raws, hashes = held.txs + backrun.txs, held.hashes + backrun.hashes
        sim = await simulate(self._builder, raws, hashes, pool)
        ours, theirs = sim.receipts
        if ours is None or theirs is None:
            return None, "not included behind the held transaction"
        if int(ours["status"], 16) != 1:
            return None, "the held transaction reverts"
        if int(theirs["status"], 16) != 1:
            return None, "reverted behind the held transaction"
        return sim.paid - sim.tip(0), ""

    async def check(self, pairs: list[tuple[Bundle, Bundle]]) -> list[tuple[Bundle, str]]:
        """The back-runs of ``pairs`` not right behind their held transaction, and why."""
        failed = []
        for held, backrun in pairs:
            ours = await self._builder._rpc("eth_getTransactionReceipt", [held.hashes[0]])
            theirs = await self._builder._rpc("eth_getTransactionReceipt", [backrun.hashes[0]])
            if ours is None or theirs is None or int(theirs["status"], 16) != 1:
                failed.append((backrun, "reverted or not included when landing"))
            elif int(theirs["transactionIndex"], 16) != int(ours["transactionIndex"], 16) + 1:
                failed.append((backrun, "not right behind the held transaction"))
        return failed

    def drop(self, bundle: Bundle) -> None:
        """Forget a back-run."""
        self.backruns = [b for b in self.backruns if b is not bundle]

    def after_build(self, next_block: int, live: list[Bundle]) -> None:
        """Forget held transactions gone (landed, expired, dropped) and their back-runs."""
        for tx_hash, bundle in list(self.held.items()):
            gone = not any(b is bundle for b in live)
            if (tx_hash in self.withheld and bundle.last_block < next_block) or (
                gone and tx_hash not in self.withheld
            ):
                del self.held[tx_hash]
                self.withheld.discard(tx_hash)
        self.backruns = [
            b for b in self.backruns if b.backrun_of in self.held and b.last_block >= next_block
        ]


def hint(raw: str, tx_hash: str, hints: list[str]) -> dict[str, Any]:
    """The MEV-Share event of one private transaction, with the fields its hints allow."""
    to, data = _to_and_data(bytes.fromhex(raw.removeprefix("0x")))
    tx: dict[str, str] = {}
    if "contract_address" in hints and to:
        tx["to"] = to
    if "function_selector" in hints and len(data) >= 4:
        tx["functionSelector"] = "0x" + data[:4].hex()
    if "calldata" in hints:
        tx["callData"] = "0x" + data.hex()
    return {"hash": tx_hash, "logs": [], "txs": [tx] if tx else []}


def _to_and_data(raw: bytes) -> tuple[str, bytes]:
    """The recipient (``""`` for a creation) and the input of a signed transaction."""
    if raw and raw[0] >= 0xC0:  # legacy: rlp [nonce, gasPrice, gas, to, value, data, v, r, s]
        fields = rlp.decode(raw)
        to_bytes, data = bytes(fields[3]), bytes(fields[5])
        return ("0x" + to_bytes.hex() if to_bytes else ""), data
    tx = TypedTransaction.from_bytes(HexBytes(raw)).as_dict()
    to = tx.get("to")
    return ("0x" + bytes(to).hex() if to else ""), bytes(tx.get("data", b""))
