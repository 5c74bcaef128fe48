"""The MEV-Share parts of the test builder (tests.support.mev_share), on a real Anvil.

Each test deploys a ManualAggregator and an SvrForwarder (the aggregator's transmitter) on its
own Anvil, then runs the test builder in front of it: an SVR update is ``forward(aggregator,
transmitSecondary(report))`` sent by the node's account as a private transaction.
"""

from __future__ import annotations

import contextlib
import json
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from eth_account import Account
from pydantic import SecretStr

from keeper.chain.client import ChainClient
from keeper.devnet.artifacts import own_artifact
from keeper.devnet.deployer import Deployer
from keeper.localnode.anvil import DEV_ACCOUNTS, Anvil
from keeper.submission.signing import SearcherIdentity
from tests.support.builder import TestBuilder
from tests.support.ocr2 import report
from tests.support.svr_node import ALL_HINTS, FEED, FORWARDER, Svr

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from eth_account.signers.local import LocalAccount

pytestmark = pytest.mark.integration
# Runtime code that sends msg.value to block.coinbase: CALL(gas, COINBASE, CALLVALUE, 0, 0, 0, 0).
PAYS_COINBASE = "0x600060006000600034415af100"
ALWAYS_REVERTS = "0x60006000fd"
PAYER = "0x" + "71" * 20
TRAP = "0x" + "66" * 20
PRIZE = "0x" + "77" * 20


@contextlib.asynccontextmanager
async def _svr() -> AsyncIterator[Svr]:
    with Anvil() as anvil:
        node: LocalAccount = Account.create()
        async with ChainClient(anvil.url) as setup:
            dep = Deployer(setup)
            await dep.impersonate_all()
            await dep.set_balance(node.address, 10**20)
            aggregator = await dep.deploy(
                DEV_ACCOUNTS[0], own_artifact("ManualAggregator"), [8, "ETH / USD", 3_000 * 10**8]
            )
            forwarder = await dep.deploy(node.address, own_artifact("SvrForwarder"))
            await dep.call_fn(DEV_ACCOUNTS[0], aggregator, FEED, "setTransmitter", forwarder)
            for address, code in ((PAYER, PAYS_COINBASE), (TRAP, ALWAYS_REVERTS)):
                await setup.request("anvil_setCode", [address, code])
        identity = SearcherIdentity(SecretStr(Account.create().key.hex()))
        async with (
            TestBuilder(anvil.url) as builder,
            ChainClient(builder.url) as client,
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http,
        ):
            builder.mev_share.ping_s = 0.2
            yield Svr(builder, client, http, aggregator, forwarder, node, identity)


async def _next_line(resp: aiohttp.ClientResponse, *, pings: bool = False) -> str:
    """The next non-blank line of an event stream (pings skipped unless asked); "" at its end."""
    while True:
        line = (await resp.content.readline()).decode()
        if not line:
            return ""
        if line.strip() and (pings or line.strip() != ":ping"):
            return line.strip()


@pytest.mark.asyncio
async def test_a_private_svr_update_with_hints_is_published_on_the_event_stream():
    """A private forward(aggregator, transmitSecondary) with all four hints appears on the GET
    event stream (text/event-stream, ``data: {hash, logs, txs: [{to, functionSelector,
    callData}]}``, :ping comments between events); one with the hash hint only has ``txs: []``;
    one without preferences publishes nothing. Each lands in the next block as a private
    transaction, and the aggregator's answer is the report's median observation.
    """
    async with _svr() as svr, svr.http.get(svr.builder.url + "/events") as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        await svr.builder.mev_share.wait_for_subscribers(1)
        tx_hash = await svr.update([2_900 * 10**8, 2_950 * 10**8, 3_010 * 10**8], ALL_HINTS)
        event = json.loads((await _next_line(stream)).removeprefix("data: "))
        tx = (await svr.client.request("eth_getTransactionByHash", [tx_hash])) or {}
        assert tx == {}  # private: not in the public pool
        assert event["hash"] == tx_hash and event["logs"] == []
        (hinted,) = event["txs"]
        assert hinted["to"] == svr.forwarder.lower()
        assert hinted["functionSelector"] == "0x6fadcf72"
        assert hinted["callData"].startswith("0x6fadcf72")
        assert FEED.selector("transmitSecondary") in hinted["callData"]
        assert await _next_line(stream, pings=True) == ":ping"
        await svr.builder.build()
        assert await svr.answer() == 2_950 * 10**8

        hash_only = await svr.update([2_800 * 10**8], ["hash"])
        event = json.loads((await _next_line(stream)).removeprefix("data: "))
        assert event == {"hash": hash_only, "logs": [], "txs": []}
        await svr.builder.build()
        published = len(svr.builder.mev_share.events)
        await svr.update([2_700 * 10**8])
        assert len(svr.builder.mev_share.events) == published
        built = await svr.builder.build()
        assert len(built.landed) == 1 and await svr.answer() == 2_700 * 10**8


@pytest.mark.asyncio
async def test_a_backrun_lands_right_behind_the_update_before_the_rest_of_the_block():
    """A back-run bundle [update hash, tx] for the next block lands in the same block as the
    update, at the next transaction index, both first, ahead of a public transaction that pays
    a higher fee (Anvil alone would order by fee); the bundle is in Built.landed.
    """
    async with _svr() as svr:
        searcher, public = await svr.funded(), await svr.funded()
        update = await svr.update([2_500 * 10**8], ALL_HINTS)
        raw, ours = await svr.signed(searcher, PRIZE, tip_gwei=20)
        status, answer = await svr.backrun(update, raw)
        assert status == 200 and answer["result"]["bundleHash"].startswith("0x")
        pub_raw, pub_hash = await svr.signed(public, PRIZE, tip_gwei=100)
        await svr.client.request("eth_sendRawTransaction", [pub_raw])
        built = await svr.builder.build()
        receipts = [await svr.receipt(h) for h in (update, ours, pub_hash)]
        assert all(r is not None and r["status"] == "0x1" for r in receipts)
        assert {r["blockNumber"] for r in receipts if r} == {hex(built.number)}
        assert [r["transactionIndex"] for r in receipts if r] == ["0x0", "0x1", "0x2"]
        assert [b.hashes for b in built.landed] == [[update], [ours]]
        assert built.landed[1].backrun_of == update
        assert await svr.answer() == 2_500 * 10**8


@pytest.mark.asyncio
async def test_competing_backruns_the_best_coinbase_payer_wins_and_reverting_ones_never_land():
    """Three back-runs of one update: a higher priority fee (5 gwei), a direct coinbase payment
    (1 gwei tip plus 0.01 ETH to block.coinbase) and one that reverts (50 gwei). The direct
    payer lands right behind the update; the fee payer is recorded in Built.outbid with its
    reason, the reverting one in Built.reverting; neither is mined, in that block or later.
    """
    async with _svr() as svr:
        fee, direct, bad = await svr.funded(), await svr.funded(), await svr.funded()
        update = await svr.update([2_500 * 10**8], ALL_HINTS)
        fee_raw, fee_hash = await svr.signed(fee, PRIZE, tip_gwei=5)
        direct_raw, direct_hash = await svr.signed(direct, PAYER, tip_gwei=1, value=10**16)
        bad_raw, bad_hash = await svr.signed(bad, TRAP, tip_gwei=50)
        for raw in (fee_raw, direct_raw, bad_raw):
            assert (await svr.backrun(update, raw))[0] == 200
        balance = await svr.client.get_balance(svr.builder.coinbase)
        built = await svr.builder.build()
        winner = await svr.receipt(direct_hash)
        assert winner is not None and winner["transactionIndex"] == "0x1"
        assert await svr.client.get_balance(svr.builder.coinbase) - balance > 10**16
        assert [b.hashes for b in built.outbid] == [[fee_hash]]
        assert built.why[built.outbid[0].seq].startswith("outbid")
        assert [b.hashes for b in built.reverting] == [[bad_hash]]
        await svr.builder.build()
        assert await svr.receipt(fee_hash) is None and await svr.receipt(bad_hash) is None


@pytest.mark.asyncio
async def test_an_update_whose_only_backrun_reverts_lands_alone():
    """With no valid back-run (the only one reverts) the update still lands on its own in the
    next block; the back-run is in Built.reverting and never mined.
    """
    async with _svr() as svr:
        bad = await svr.funded()
        update = await svr.update([2_400 * 10**8], ALL_HINTS)
        raw, bad_hash = await svr.signed(bad, TRAP)
        assert (await svr.backrun(update, raw))[0] == 200
        built = await svr.builder.build()
        assert [b.hashes for b in built.landed] == [[update]]
        assert [b.hashes for b in built.reverting] == [[bad_hash]]
        assert await svr.receipt(bad_hash) is None and await svr.answer() == 2_400 * 10**8


@pytest.mark.asyncio
async def test_a_withheld_update_never_lands_nor_its_backruns():
    """builder.withhold(hash): the update is never mined (an SVR update that does not land),
    nor the back-run sent for it (blocks head+1..head+3), over three blocks; the answer stays.
    """
    async with _svr() as svr:
        searcher = await svr.funded()
        update = await svr.update([1_000 * 10**8], ALL_HINTS)
        svr.builder.withhold(update)
        raw, ours = await svr.signed(searcher, PRIZE)
        head = svr.builder.head
        assert (await svr.backrun(update, raw, head + 1, head + 3))[0] == 200
        for _ in range(3):
            built = await svr.builder.build()
            assert built.landed == []
        assert await svr.receipt(update) is None and await svr.receipt(ours) is None
        assert await svr.answer() == 3_000 * 10**8


@pytest.mark.asyncio
async def test_backruns_of_unknown_hashes_bad_bodies_and_bad_signatures_are_refused():
    """mev_sendBundle of a hash the builder does not hold, or with another body shape or
    version, is a JSON-RPC error -32602 (HTTP 400); one signed over the bare hex digest is
    refused with the relay's "error in signature check" (HTTP 403). None is kept.
    """

    class BareHexIdentity(SearcherIdentity):
        def signature(self, body: bytes) -> str:
            from eth_account.messages import encode_defunct
            from eth_utils.crypto import keccak

            signed = self._account.sign_message(encode_defunct(text=keccak(body).hex()))
            return "0x" + bytes(signed.signature).hex()

    async with _svr() as svr:
        searcher = await svr.funded()
        raw, _ = await svr.signed(searcher, PRIZE)
        status, answer = await svr.backrun("0x" + "ab" * 32, raw)
        assert status == 400 and answer["error"]["code"] == -32602
        assert "unknown transaction hash" in answer["error"]["message"]
        update = await svr.update([2_000 * 10**8], ["hash"])
        bad_version: dict[str, Any] = {"version": "v0.2", "inclusion": {"block": "0x5"}, "body": []}
        no_tx = {"version": "v0.1", "inclusion": {"block": "0x5"}, "body": [{"hash": update}]}
        for spec in (bad_version, no_tx):
            status, answer = await svr.call("mev_sendBundle", [spec])
            assert status == 400 and answer["error"]["code"] == -32602
        bare = BareHexIdentity(SecretStr(Account.create().key.hex()))
        body = [{"hash": update}, {"tx": raw, "canRevert": False}]
        block = {"block": hex(svr.builder.head + 1)}
        spec = {"version": "v0.1", "inclusion": block, "body": body}
        status, answer = await svr.call("mev_sendBundle", [spec], identity=bare)
        assert status == 403 and "error in signature check" in answer["error"]["message"]
        assert svr.builder.rejected_signatures == 1 and svr.builder.mev_share.backruns == []


@pytest.mark.asyncio
async def test_stream_hooks_raw_lines_dropped_subscribers_and_lost_events():
    """publish_raw reaches every subscriber as is; drop_subscribers ends every stream; an event
    published while nobody listens is lost, and a client that reconnects gets the next one.
    """
    async with _svr() as svr:
        url = svr.builder.url + "/events"
        async with svr.http.get(url) as one, svr.http.get(url) as two:
            await svr.builder.mev_share.wait_for_subscribers(2)
            svr.builder.mev_share.publish_raw("data: {not json\n\n")
            assert await _next_line(one) == await _next_line(two) == "data: {not json"
            svr.builder.mev_share.drop_subscribers()
            assert await _next_line(one) == ""
            assert svr.builder.mev_share.subscribers == 0
        lost = await svr.update([1_900 * 10**8], ["hash"])
        async with svr.http.get(url) as again:
            await svr.builder.mev_share.wait_for_subscribers(1)
            await svr.builder.build()
            seen = await svr.update([1_800 * 10**8], ["hash"])
            event = json.loads((await _next_line(again)).removeprefix("data: "))
            assert event["hash"] == seen != lost


@pytest.mark.asyncio
async def test_the_devnet_svr_contracts_guard_their_callers():
    """Only the owner or the transmitter may transmit, only the forwarder's owner may forward
    (a revert inside is passed up), and an empty report reverts; transmit (the standard path)
    by the owner sets the median like transmitSecondary.
    """
    async with _svr() as svr:
        stranger = await svr.funded()
        nothing = report([])
        empty = FEED.encode("transmitSecondary", [b"\x00" * 32] * 3, nothing, [], [], b"\x00" * 32)
        for sender, to, data in (
            (stranger, svr.aggregator, empty),
            (stranger, svr.forwarder, FORWARDER.encode("forward", svr.aggregator, b"")),
            (
                svr.node,
                svr.forwarder,
                FORWARDER.encode("forward", svr.aggregator, bytes.fromhex(empty[2:])),
            ),
        ):
            raw, tx_hash = await svr.signed(sender, to, data)
            await svr.client.request("eth_sendRawTransaction", [raw])
            await svr.builder.build()
            receipt = await svr.receipt(tx_hash)
            assert receipt is not None and receipt["status"] == "0x0"
        good = report([7, 8, 9])
        data = FEED.encode("transmit", [b"\x00" * 32] * 3, good, [], [], b"\x00" * 32)
        await svr.client.request("anvil_impersonateAccount", [DEV_ACCOUNTS[0]])
        tx = {"from": DEV_ACCOUNTS[0], "to": svr.aggregator, "data": data, "gas": hex(300_000)}
        tx_hash = await svr.client.request("eth_sendTransaction", [tx])
        await svr.builder.build()
        receipt = await svr.receipt(tx_hash)
        assert receipt is not None and receipt["status"] == "0x1" and await svr.answer() == 8
