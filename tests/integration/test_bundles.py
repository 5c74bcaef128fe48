"""Bundles and private transactions through the test builder (tests.support.builder) on Anvil.

Each test runs its own Anvil with automine off; the test builder is its only miner (blocks are
built when the test asks, :meth:`TestBuilder.build`), and everything reads the chain through
the builder's endpoint, so no one sees its simulations.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

import pytest
from eth_account import Account
from pydantic import SecretStr

from keeper.chain.client import ChainClient
from keeper.localnode.anvil import Anvil
from keeper.ops.channel_watch import ChannelWatch
from keeper.ops.metrics import Metrics
from keeper.submission.bundles import BundleChannel
from keeper.submission.channel import ChannelRefusedError, Delivery
from keeper.submission.endpoints import BuilderEndpoint
from keeper.submission.events import ChannelEvent, ChannelResult
from keeper.submission.private_tx import PrivateTxChannel
from keeper.submission.signing import SearcherIdentity
from tests.support.builder import TestBuilder

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from eth_account.signers.local import LocalAccount

pytestmark = pytest.mark.integration
GWEI = 10**9
# Runtime code that reverts unless slot 0 is zero, then sets it: the first call wins.
FIRST_CALL_WINS = "0x60005415600b57600080fd5b600160005500"
ALWAYS_REVERTS = "0x60006000fd"
PRIZE = "0x" + "77" * 20
TRAP = "0x" + "66" * 20


class Recorder:
    """A channel listener that keeps every event and wakes waiters (counts via metrics too)."""

    def __init__(self, metrics: Metrics) -> None:
        self.events: list[ChannelEvent] = []
        self.watch = ChannelWatch(metrics.channels, None, None)
        self._changed = asyncio.Event()

    def on_channel_event(self, event: ChannelEvent) -> None:
        self.events.append(event)
        self.watch.on_channel_event(event)
        self._changed.set()

    def ended(self, tx_hash: str) -> ChannelResult | None:
        final = [e.result for e in self.events if e.tx_hash == tx_hash and e.result in _ENDS]
        return final[-1] if final else None

    async def wait(self, predicate, timeout_s: float = 60.0) -> None:
        async with asyncio.timeout(timeout_s):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()


_ENDS = {
    ChannelResult.INCLUDED,
    ChannelResult.LOST,
    ChannelResult.STALE,
    ChannelResult.CANCELLED,
    ChannelResult.NONCE_USED,
    ChannelResult.REPLACED,
}


@contextlib.asynccontextmanager
async def _chain() -> AsyncIterator[tuple[TestBuilder, ChainClient]]:
    with Anvil() as anvil:
        async with TestBuilder(anvil.url) as builder, ChainClient(builder.url) as client:
            yield builder, client


async def _funded(client: ChainClient) -> LocalAccount:
    account: LocalAccount = Account.create()
    await client.request("anvil_setBalance", [account.address, hex(10**20)])
    return account


async def _signed(
    client: ChainClient, account, to: str, *, tip_gwei: int = 1, nonce: int | None = None
) -> tuple[bytes, str]:
    if nonce is None:
        nonce = await client.get_transaction_count(account.address, "latest")
    signed = account.sign_transaction(
        {
            "type": 2,
            "chainId": await client.chain_id(),
            "nonce": nonce,
            "to": to,
            "value": 0,
            "data": "0x",
            "gas": 60_000,
            "maxFeePerGas": (50 + tip_gwei) * GWEI,  # Anvil orders a block by max fee
            "maxPriorityFeePerGas": tip_gwei * GWEI,
        }
    )
    return bytes(signed.raw_transaction), "0x" + bytes(signed.hash).hex()


def _channel(client: ChainClient, builder: TestBuilder, recorder: Recorder, **kw) -> BundleChannel:
    identity = SearcherIdentity(SecretStr(Account.create().key.hex()))
    return BundleChannel(
        client, [BuilderEndpoint(builder.url)], identity, listener=recorder, poll_s=0.02, **kw
    )


@pytest.mark.asyncio
async def test_a_bundle_lands_in_its_target_block_or_is_resent_for_the_next():
    """A bundle for block N+1 lands in N+1 when the builder takes it. Another bundle whose
    target block is built without it (another builder's block) is sent again for the next
    block, with the same replacementUuid, and lands there; both end as included.
    """
    metrics = Metrics()
    recorder = Recorder(metrics)
    async with _chain() as (builder, client):
        account = await _funded(client)
        channel = _channel(client, builder, recorder)
        try:
            raw, tx_hash = await _signed(client, account, PRIZE)
            head = await client.block_number()
            assert await channel.submit(raw, tx_hash) is Delivery.ACCEPTED
            assert builder.received[-1].first_block == head + 1
            built = await builder.build()
            assert built.number == head + 1 and [b.hashes for b in built.landed] == [[tx_hash]]
            receipt = await client.receipt(tx_hash)
            assert receipt is not None and receipt.block_number == head + 1
            await recorder.wait(lambda: recorder.ended(tx_hash) is ChannelResult.INCLUDED)

            raw2, hash2 = await _signed(client, account, PRIZE)
            assert await channel.submit(raw2, hash2) is Delivery.ACCEPTED
            first = builder.received[-1]
            await builder._rpc("evm_mine", [])  # another builder's block, without it
            builder.head += 1
            await builder.wait_for(
                lambda: any(
                    b.hashes == [hash2] and b.first_block == first.first_block + 1
                    for b in builder.received
                )
            )
            resent = builder.received[-1]
            assert resent.uuid == first.uuid
            built = await builder.build()
            assert [b.hashes for b in built.landed] == [[hash2]]
            await recorder.wait(lambda: recorder.ended(hash2) is ChannelResult.INCLUDED)
            assert any(
                e.result is ChannelResult.RESENT and e.tx_hash == hash2 for e in recorder.events
            )
            sent = metrics.registry.get_sample_value(
                "keeper_channel_included_total", {"channel": "bundle"}
            )
            assert sent == 2
        finally:
            await channel.close()


@pytest.mark.asyncio
async def test_a_cancelled_bundle_never_lands():
    """A bundle cancelled (eth_cancelBundle with its replacementUuid) before its block is
    built is not in that block nor any later one; our nonce is unchanged.
    """
    recorder = Recorder(Metrics())
    async with _chain() as (builder, client):
        account = await _funded(client)
        channel = _channel(client, builder, recorder)
        try:
            raw, tx_hash = await _signed(client, account, PRIZE)
            await channel.submit(raw, tx_hash)
            uuid = builder.received[-1].uuid
            assert await channel.cancel(tx_hash)
            assert builder.cancelled and builder.cancelled[-1][1] == uuid
            for _ in range(3):
                built = await builder.build()
                assert built.landed == []
            assert await client.receipt(tx_hash) is None
            assert await client.get_transaction_count(account.address, "latest") == 0
            assert recorder.ended(tx_hash) is ChannelResult.CANCELLED
        finally:
            await channel.close()


@pytest.mark.asyncio
async def test_a_bundle_that_would_revert_never_lands_and_costs_nothing():
    """A bundle whose transaction reverts is dropped by the builder: never mined, our balance
    and nonce unchanged; the channel sees it would revert and withdraws it.
    """
    recorder = Recorder(Metrics())
    async with _chain() as (builder, client):
        await client.request("anvil_setCode", [TRAP, ALWAYS_REVERTS])
        account = await _funded(client)
        balance = await client.get_balance(account.address)
        channel = _channel(client, builder, recorder)
        try:
            raw, tx_hash = await _signed(client, account, TRAP)
            await channel.submit(raw, tx_hash)
            built = await builder.build()
            assert built.landed == [] and [b.hashes for b in built.reverting] == [[tx_hash]]
            await recorder.wait(lambda: recorder.ended(tx_hash) is not None)
            assert recorder.ended(tx_hash) is ChannelResult.LOST
            await builder.build()
            assert await client.receipt(tx_hash) is None
            assert await client.get_balance(account.address) == balance
            assert await client.get_transaction_count(account.address, "latest") == 0
            assert builder.cancelled  # withdrawn
        finally:
            await channel.close()


@pytest.mark.asyncio
@pytest.mark.parametrize("rival_tip_gwei", [5, 1])
async def test_against_a_competing_searcher_the_better_payer_wins(rival_tip_gwei):
    """Our bundle (tip 2 gwei) and a rival searcher's (tip 5, or 1 gwei) race for one prize
    (the first call wins; the second would revert). The builder takes the better payer: a
    rival paying more lands and ours is lost, recorded as such (keeper_channel_lost); a rival
    paying less loses and ours is included.
    """
    metrics = Metrics()
    recorder = Recorder(metrics)
    async with _chain() as (builder, client):
        await client.request("anvil_setCode", [PRIZE, FIRST_CALL_WINS])
        ours, theirs = await _funded(client), await _funded(client)
        channel = _channel(client, builder, recorder)
        rival = _channel(client, builder, Recorder(Metrics()), name="rival")
        try:
            raw, tx_hash = await _signed(client, ours, PRIZE, tip_gwei=2)
            rival_raw, rival_hash = await _signed(client, theirs, PRIZE, tip_gwei=rival_tip_gwei)
            await rival.submit(rival_raw, rival_hash)
            await channel.submit(raw, tx_hash)
            built = await builder.build()
            winner = rival_hash if rival_tip_gwei > 2 else tx_hash
            assert [b.hashes for b in built.landed] == [[winner]]
            await recorder.wait(lambda: recorder.ended(tx_hash) is not None)
            lost = metrics.registry.get_sample_value(
                "keeper_channel_lost_total", {"channel": "bundle", "rival": "unknown"}
            )
            if winner == rival_hash:
                assert recorder.ended(tx_hash) is ChannelResult.LOST and lost == 1
                assert await client.get_transaction_count(ours.address, "latest") == 0
            else:
                assert recorder.ended(tx_hash) is ChannelResult.INCLUDED and lost is None
        finally:
            await channel.close()
            await rival.close()


@pytest.mark.asyncio
async def test_a_bad_signature_is_refused_as_a_relay_does_and_a_private_tx_lands():
    """A request signed over the bare hex digest (the hexbytes pitfall) is refused with the
    relay's "error in signature check": the channel raises ChannelRefusedError and nothing
    is followed. eth_sendPrivateTransaction (signed right) lands in the next block built.
    """
    recorder = Recorder(Metrics())
    async with _chain() as (builder, client):
        account = await _funded(client)
        raw, tx_hash = await _signed(client, account, PRIZE)

        class BareHexIdentity(SearcherIdentity):
            def signature(self, body: bytes) -> str:
                from eth_account.messages import encode_defunct
                from eth_utils.crypto import keccak

                signed = self._account.sign_message(encode_defunct(text=keccak(body).hex()))
                return "0x" + bytes(signed.signature).hex()

        bad = BundleChannel(
            client,
            [BuilderEndpoint(builder.url)],
            BareHexIdentity(SecretStr(Account.create().key.hex())),
            listener=recorder,
        )
        private = PrivateTxChannel(
            client,
            [BuilderEndpoint(builder.url)],
            SearcherIdentity(SecretStr(Account.create().key.hex())),
            listener=recorder,
            poll_s=0.02,
        )
        try:
            with pytest.raises(ChannelRefusedError, match="error in signature check"):
                await bad.submit(raw, tx_hash)
            assert builder.rejected_signatures == 1 and not bad.followed
            assert await private.submit(raw, tx_hash) is Delivery.ACCEPTED
            built = await builder.build()
            assert [b.hashes for b in built.landed] == [[tx_hash]]
            await recorder.wait(lambda: recorder.ended(tx_hash) is ChannelResult.INCLUDED)
        finally:
            await bad.close()
            await private.close()


@pytest.mark.asyncio
async def test_a_keeper_with_only_the_bundle_channel_liquidates_and_journals_it(devnet, tmp_path):
    """public_mempool = false and one builder: after a -35% WBTC shock the keeper liquidates
    every account it plans, each transaction reaching the chain as a bundle the builder
    applied (none through the public pool), and the journal lists the bundle channel (and
    only it) for each of them.
    """
    from keeper.execution.journal_sqlite import SqliteJournal
    from tests.integration.helpers import keeper_settings, run_through_shock

    async with TestBuilder(devnet.url) as builder:
        builder.start_mining(0.3)
        settings = keeper_settings(
            devnet,
            tmp_path,
            rpc_url=builder.url,
            public_mempool=False,
            bundle_builders=[builder.url],
            searcher_key=Account.create().key.hex(),
            ops_port=0,
        )
        reports, _ = await run_through_shock(
            settings, builder.url, devnet.world.market.pool_addresses_provider, "WBTC", -35
        )
        await builder.stop_mining()
    outcomes = [o for r in reports for o in r.outcomes]
    assert outcomes, "the WBTC shock must create liquidations"
    assert all(o.status == "liquidated" for o in outcomes), [o.reason for o in outcomes]
    landed = {h for built in builder.blocks for b in built.landed for h in b.hashes}
    journal = SqliteJournal(settings.journal_path, 31337)
    try:
        mined = [e for e in journal.entries(journal_sender(settings)) if e.status == "mined"]
        assert mined
        for entry in mined:
            assert entry.tx_hash in landed
            channels = journal.channels_of(entry.tx_hash)
            assert [c.channel for c in channels] == ["bundle"], channels
            assert channels[0].last_result == "included"
    finally:
        journal.close()


def journal_sender(settings) -> str:
    """The keeper's address."""
    from keeper.execution.signer import Signer
    from keeper.keys import resolve_key

    return Signer(resolve_key(settings)).address


@pytest.mark.asyncio
async def test_a_failing_builder_never_blocks_the_others():
    """Two builders, one not listening: the bundle reaches the live one and lands; the dead
    one's failure is counted (keeper_channel_endpoint_errors) and the delivery still counts
    as sent, not as a channel failure.
    """
    from keeper.localnode.anvil import free_port

    metrics = Metrics()
    recorder = Recorder(metrics)
    dead = f"http://127.0.0.1:{free_port()}"
    async with _chain() as (builder, client):
        account = await _funded(client)
        channel = BundleChannel(
            client,
            [BuilderEndpoint(dead), BuilderEndpoint(builder.url)],
            SearcherIdentity(SecretStr(Account.create().key.hex())),
            listener=recorder,
            poll_s=0.02,
        )
        try:
            raw, tx_hash = await _signed(client, account, PRIZE)
            assert await channel.submit(raw, tx_hash) is Delivery.ACCEPTED
            built = await builder.build()
            assert [b.hashes for b in built.landed] == [[tx_hash]]
            await recorder.wait(lambda: recorder.ended(tx_hash) is ChannelResult.INCLUDED)
            errors = metrics.registry.get_sample_value(
                "keeper_channel_endpoint_errors_total", {"channel": "bundle", "endpoint": dead}
            )
            assert errors is not None and errors >= 1
            failing = metrics.registry.get_sample_value(
                "keeper_channel_consecutive_failures", {"channel": "bundle"}
            )
            assert failing == 0
        finally:
            await channel.close()
