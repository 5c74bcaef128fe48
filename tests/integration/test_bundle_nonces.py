"""A transaction lost on private channels gives its nonce back: losing is free and the key is
not stuck behind bytes that will never land (tests.support.builder is the builder's test double):
the next transaction takes the nonce, or a self-transfer fills it when later ones wait for it,
and a back-run a crash left open is dropped at the next start once past its last block.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from eth_account import Account
from pydantic import SecretStr

from keeper.chain.client import ChainClient
from keeper.core.outcome import TxPurpose
from keeper.execution.fees import FeePolicy
from keeper.execution.journal_sqlite import SqliteJournal
from keeper.execution.sender import TxSender
from keeper.execution.signer import Signer
from keeper.localnode.anvil import Anvil
from keeper.ops.channel_watch import ChannelWatch
from keeper.ops.metrics import Metrics
from keeper.submission.bundles import BundleChannel
from keeper.submission.channel import BackrunRoute
from keeper.submission.endpoints import BuilderEndpoint
from keeper.submission.mev_share import MevShareChannel
from keeper.submission.signing import SearcherIdentity
from tests.support.builder import TestBuilder

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from eth_account.datastructures import SignedTransaction
    from eth_account.signers.local import LocalAccount

pytestmark = pytest.mark.integration
GWEI = 10**9
# Runtime code that reverts unless slot 0 is zero, then sets it: the first call wins.
FIRST_CALL_WINS = "0x60005415600b57600080fd5b600160005500"
PRIZE = "0x" + "77" * 20


def _bundles(client: ChainClient, builder: TestBuilder, listener: ChannelWatch | None, name: str):
    identity = SearcherIdentity(SecretStr(Account.create().key.hex()))
    endpoints = [BuilderEndpoint(builder.url)]
    return BundleChannel(client, endpoints, identity, listener=listener, poll_s=0.02, name=name)


def _prize_claim(theirs: LocalAccount, chain_id: int) -> SignedTransaction:
    """The rival's claim of the prize, paying more than ours."""
    tx: dict[str, Any] = {
        "type": 2,
        "chainId": chain_id,
        "nonce": 0,
        "to": PRIZE,
        "value": 0,
        "data": "0x",
        "gas": 60_000,
        "maxFeePerGas": 150 * GWEI,
        "maxPriorityFeePerGas": 5 * GWEI,
    }
    return theirs.sign_transaction(tx)


def _sender(
    client: ChainClient,
    ours: LocalAccount,
    journal: SqliteJournal,
    chain_id: int,
    channels: list[BundleChannel],
    backrun_channel: MevShareChannel | None = None,
) -> TxSender:
    """Our sender on these channels only (no public mempool)."""
    return TxSender(
        client,
        Signer(SecretStr(ours.key.hex())),
        journal,
        FeePolicy(Decimal(100), Decimal(2), priority_fee_gwei=Decimal(2)),
        chain_id=chain_id,
        poll_s=0.05,
        channels=channels,
        backrun_channel=backrun_channel,
    )


@dataclass
class _Race:
    """A devnet with the prize contract: our bundle-only sender and the rival's channel."""

    client: ChainClient
    builder: TestBuilder
    journal: SqliteJournal
    chain_id: int
    ours: LocalAccount
    theirs: LocalAccount
    sender: TxSender
    rival: BundleChannel


@contextlib.asynccontextmanager
async def _prize_race(tmp_path: Path) -> AsyncIterator[_Race]:
    """Anvil behind the test builder, the prize contract, both keys funded (channels closed
    after, also on failure).
    """
    with Anvil() as anvil:
        async with TestBuilder(anvil.url) as builder, ChainClient(builder.url) as client:
            chain_id = await client.chain_id()
            ours, theirs = Account.create(), Account.create()
            journal = SqliteJournal(tmp_path / "journal.sqlite", chain_id)
            await client.request("anvil_setCode", [PRIZE, FIRST_CALL_WINS])
            for account in (ours, theirs):
                await client.request("anvil_setBalance", [account.address, hex(10**20)])
            listener = ChannelWatch(Metrics().channels, journal, None)
            channel = _bundles(client, builder, listener, "bundle")
            rival = _bundles(client, builder, None, "rival")
            sender = _sender(client, ours, journal, chain_id, [channel])
            try:
                yield _Race(client, builder, journal, chain_id, ours, theirs, sender, rival)
            finally:
                await channel.close()
                await rival.close()


@pytest.mark.asyncio
async def test_a_transaction_lost_on_private_channels_gives_its_nonce_back(tmp_path):
    """Bundles only: a rival paying more takes the prize in the block ours was sent for, and
    ours would now revert. The sender settles ours as dropped long before its receipt timeout,
    the key's nonce count has not moved (no gas spent), and the next transaction takes the same
    nonce and lands.
    """
    async with _prize_race(tmp_path) as race:
        client, builder, journal, sender = race.client, race.builder, race.journal, race.sender
        ours = race.ours
        rival_tx = _prize_claim(race.theirs, race.chain_id)
        rival_hash = "0x" + bytes(rival_tx.hash).hex()
        await race.rival.submit(bytes(rival_tx.raw_transaction), rival_hash)
        sent = await sender.send(PRIZE, "0x", 60_000, purpose=TxPurpose.LIQUIDATION)
        built = await builder.build()
        assert [b.hashes for b in built.landed] == [[rival_hash]]
        settled = await asyncio.wait_for(sender.settle(sent, timeout_s=600), 60)
        assert settled.status == "dropped" and "given back" in settled.note
        assert await client.get_transaction_count(ours.address, "latest") == 0
        assert [e.status for e in journal.at_nonce(ours.address, sent.nonce)] == ["dropped"] * len(
            sent.hashes
        )
        after = await sender.send(ours.address, "0x", 21_000, purpose=TxPurpose.OTHER)
        assert after.nonce == sent.nonce
        built = await builder.build()
        assert [b.hashes for b in built.landed] == [[after.hashes[-1]]]
        assert (await sender.settle(after, timeout_s=60)).status == "mined"
        assert await client.get_transaction_count(ours.address, "latest") == 1


@pytest.mark.asyncio
async def test_a_lost_nonce_with_later_ones_out_is_filled_by_a_self_transfer(tmp_path):
    """Bundles only: ours at nonce 0 loses its race while nonce 1 is already out. The nonce
    cannot be given back (nonce 1 waits for it): a 21,000-gas self-transfer takes nonce 0
    instead, journaled as a cancel, and nonce 1 then lands; the key is never stuck.
    """
    async with _prize_race(tmp_path) as race:
        client, builder, journal, sender = race.client, race.builder, race.journal, race.sender
        ours = race.ours
        rival_tx = _prize_claim(race.theirs, race.chain_id)
        await race.rival.submit(bytes(rival_tx.raw_transaction), "0x" + bytes(rival_tx.hash).hex())
        lost = await sender.send(PRIZE, "0x", 60_000, purpose=TxPurpose.LIQUIDATION)
        later = await sender.send(race.theirs.address, "0x", 21_000, purpose=TxPurpose.OTHER)
        assert (lost.nonce, later.nonce) == (0, 1)
        await builder.build()
        settled = await asyncio.wait_for(sender.settle(lost, timeout_s=600), 60)
        assert settled.status == "dropped" and "self-transfer" in settled.note
        fillers = [e for e in journal.at_nonce(ours.address, 0) if e.purpose == TxPurpose.CANCEL]
        assert len(fillers) == 1 and fillers[0].to.lower() == ours.address.lower()
        for _ in range(5):
            await builder.build()
            if await client.get_transaction_count(ours.address, "latest") == 2:
                break
        assert (await sender.settle(later, timeout_s=60)).status == "mined"
        receipt = await client.receipt(fillers[0].tx_hash)
        assert receipt is not None and receipt.ok and receipt.gas_used == 21_000
        await sender.check_open()
        assert not journal.open_entries(ours.address)


@pytest.mark.asyncio
async def test_a_backrun_left_open_by_a_crash_is_dropped_at_start_once_past_its_last_block(
    tmp_path,
):
    """A back-run (mev_sendBundle behind a private transaction that never lands) is journaled
    and sent, then the keeper stops before it settles. At the next start, past the back-run's
    last block, reconciling drops it without sending it anywhere (it only ever was a back-run)
    and the next transaction takes its nonce and lands.
    """
    with Anvil() as anvil:
        async with TestBuilder(anvil.url) as builder, ChainClient(builder.url) as client:
            chain_id = await client.chain_id()
            ours, other = Account.create(), Account.create()
            for account in (ours, other):
                await client.request("anvil_setBalance", [account.address, hex(10**20)])
            held = other.sign_transaction(
                {"type": 2, "chainId": chain_id, "nonce": 0, "to": other.address, "value": 0}
                | {"data": "0x", "gas": 21_000, "maxFeePerGas": 10 * GWEI}
                | {"maxPriorityFeePerGas": GWEI}
            )
            held_hash = "0x" + bytes(held.hash).hex()
            private = _bundles(client, builder, None, "private")
            identity = SearcherIdentity(SecretStr(Account.create().key.hex()))
            path = tmp_path / "journal.sqlite"

            def sender_on(journal: SqliteJournal) -> tuple[TxSender, MevShareChannel]:
                mev = MevShareChannel(
                    client,
                    [BuilderEndpoint(builder.url)],
                    identity,
                    listener=ChannelWatch(Metrics().channels, journal, None),
                    poll_s=0.02,
                )
                return _sender(client, ours, journal, chain_id, [private], mev), mev

            first_journal = SqliteJournal(path, chain_id)
            first, mev = sender_on(first_journal)
            await private.pool.fan_out(
                lambda _e: (
                    "eth_sendPrivateTransaction",
                    [{"tx": "0x" + bytes(held.raw_transaction).hex(), "maxBlockNumber": "0xffff"}],
                )
            )
            builder.withhold(held_hash)
            head = await client.block_number()
            route = BackrunRoute(held_hash, head + 1)
            sent = await first.send(
                ours.address, "0x", 21_000, purpose=TxPurpose.OTHER, route=route
            )
            assert [b.method for b in builder.received][-1] == "mev_sendBundle"
            await mev.close()
            first_journal.close()
            for _ in range(3):
                await builder.build()
            journal = SqliteJournal(path, chain_id)
            second, mev = sender_on(journal)
            received = len(builder.received)
            try:
                settled = await second.reconcile(timeout_s=30)
                assert [s.status for s in settled] == ["dropped"]
                assert "past its last block" in settled[0].note
                assert len(builder.received) == received, "nothing was sent again"
                after = await second.send(ours.address, "0x", 21_000, purpose=TxPurpose.OTHER)
                assert after.nonce == sent.nonce
                await builder.build()
                assert (await second.settle(after, timeout_s=60)).status == "mined"
            finally:
                await mev.close()
                await private.close()
                journal.close()
