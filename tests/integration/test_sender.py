"""The journaled sender: stuck transactions are replaced; crashes leave no double send, no gap."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from decimal import Decimal

import pytest
from pydantic import SecretStr

from keeper.chain.client import ChainClient
from keeper.core.outcome import TxPurpose
from keeper.execution.fees import FeePolicy, is_valid_replacement
from keeper.execution.journal_sqlite import SqliteJournal
from keeper.execution.sender import TxSender
from keeper.execution.signer import Signer
from keeper.protocols.aave_v3.market import ERC20
from tests.integration.conftest import KEEPER_ADDRESS, KEEPER_KEY

pytestmark = pytest.mark.integration
GWEI = 10**9


async def _sender(client: ChainClient, journal_path, max_fee_gwei: int = 500) -> TxSender:
    chain_id = await client.chain_id()
    return TxSender(
        client,
        Signer(SecretStr(KEEPER_KEY)),
        SqliteJournal(journal_path, chain_id),
        FeePolicy(Decimal(max_fee_gwei), Decimal(5)),
        chain_id=chain_id,
        stuck_blocks=2,
        poll_s=0.05,
    )


def _approve(devnet, amount: int) -> tuple[str, str]:
    token = devnet.world.asset("USDC").address
    return token, ERC20.encode("approve", devnet.world.market.pool, amount)


@pytest.mark.asyncio
async def test_stuck_transaction_is_replaced_and_one_per_nonce_is_mined(devnet, tmp_path):
    """Automine off; after our transaction is sent the base fee jumps above its max fee: the
    sender replaces it at the same nonce with both caps raised by >= 12.5%, and exactly one
    transaction of that nonce is mined.
    """
    async with ChainClient(devnet.url) as client:
        sender = await _sender(client, tmp_path / "j.sqlite")
        await client.request("evm_setAutomine", [False])
        nonce = await client.get_transaction_count(KEEPER_ADDRESS, "latest")
        token, data = _approve(devnet, 777)
        sent = await sender.send(token, data, 100_000, purpose=TxPurpose.APPROVE)
        await client.request("anvil_setNextBlockBaseFeePerGas", [hex(40 * GWEI)])
        await client.request("evm_mine", [])  # our transaction cannot pay this base fee
        settling = asyncio.create_task(sender.settle(sent, timeout_s=60))
        for _ in range(200):
            if len(sent.hashes) > 1:
                break
            await asyncio.sleep(0.05)
        assert len(sent.hashes) > 1, "the sender must replace a priced-out transaction"
        await client.request("evm_mine", [])
        settled = await asyncio.wait_for(settling, 30)
        assert settled.status == "mined" and settled.tx_hash == sent.hashes[-1]
        for old, new in zip(sent.fees, sent.fees[1:], strict=False):
            assert is_valid_replacement(old, new)
        assert await client.get_transaction_count(KEEPER_ADDRESS, "latest") == nonce + 1
        statuses = [e.status for e in sender.journal.at_nonce(KEEPER_ADDRESS, nonce)]
        assert statuses.count("mined") == 1
        assert set(statuses) == {"mined", "replaced"}
        for tx_hash in sent.hashes[:-1]:
            assert await client.get_receipt(tx_hash) is None


def _crash(devnet, journal, when: str) -> int:
    token, _ = _approve(devnet, 0)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.support.crash_send",
            devnet.url,
            KEEPER_KEY,
            str(journal),
            token,
            devnet.world.market.pool,
            when,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return proc.returncode


@pytest.mark.asyncio
@pytest.mark.parametrize("when", ["before", "after"])
async def test_crash_leaves_no_double_send_and_no_gap(devnet, tmp_path, when):
    """A process signs and journals a transaction, then is killed before its broadcast (or
    after it, with the transaction still pending). On restart the journal is reconciled: the
    same signed bytes are (re)broadcast, exactly one transaction is mined for that nonce, and
    the next transaction takes the next nonce.
    """
    journal = tmp_path / "j.sqlite"
    async with ChainClient(devnet.url) as client:
        nonce = await client.get_transaction_count(KEEPER_ADDRESS, "latest")
        if when == "after":
            await client.request("evm_setAutomine", [False])
        assert _crash(devnet, journal, when) == 9
        if when == "before":
            assert await client.get_transaction_count(KEEPER_ADDRESS, "pending") == nonce
        else:
            assert await client.get_transaction_count(KEEPER_ADDRESS, "pending") == nonce + 1
            await client.request("evm_setAutomine", [True])
            await client.request("evm_mine", [])
        sender = await _sender(client, journal)
        settled = await sender.reconcile(timeout_s=30)
        assert [s.status for s in settled] == ["mined"]
        assert await client.get_transaction_count(KEEPER_ADDRESS, "latest") == nonce + 1
        token, data = _approve(devnet, 5)
        sent = await sender.send(token, data, 100_000, purpose=TxPurpose.APPROVE)
        assert sent.nonce == nonce + 1
        assert (await sender.settle(sent, timeout_s=30)).status == "mined"
        entries = sender.journal.entries(KEEPER_ADDRESS)
        assert [(e.nonce, e.status) for e in entries] == [(nonce, "mined"), (nonce + 1, "mined")]
        assert await client.get_transaction_count(KEEPER_ADDRESS, "latest") == nonce + 2


@pytest.mark.asyncio
async def test_a_timed_out_transaction_is_still_tracked_block_by_block(devnet, tmp_path):
    """A settle that times out leaves the transaction open in the journal; the per-block check
    replaces it once it is stuck and settles it when it is mined: nothing is lost track of.
    """
    async with ChainClient(devnet.url) as client:
        sender = await _sender(client, tmp_path / "j.sqlite")
        await client.request("evm_setAutomine", [False])
        nonce = await client.get_transaction_count(KEEPER_ADDRESS, "latest")
        token, data = _approve(devnet, 4242)
        sent = await sender.send(token, data, 100_000, purpose=TxPurpose.APPROVE)
        await client.request("anvil_setNextBlockBaseFeePerGas", [hex(40 * GWEI)])
        await client.request("evm_mine", [])
        first = await sender.settle(sent, timeout_s=0.01)
        assert first.status == "timeout"
        open_now = sender.journal.open_entries(KEEPER_ADDRESS)
        assert open_now and {e.nonce for e in open_now} == {nonce}
        settled = []
        for _ in range(8):
            settled = await sender.check_open()
            if settled:
                break
            await client.request("evm_mine", [])
        assert [s.status for s in settled] == ["mined"]
        assert settled[0].replacements >= 1
        assert sender.journal.open_entries(KEEPER_ADDRESS) == []
        assert await client.get_transaction_count(KEEPER_ADDRESS, "latest") == nonce + 1


@pytest.mark.asyncio
async def test_journaled_bytes_priced_out_at_restart_are_replaced_never_left_as_a_gap(
    devnet, tmp_path
):
    """A process journals a transaction and dies before its broadcast; meanwhile the base fee
    rises above its max fee. On restart (or an HA takeover) the journal's bytes are refused as
    underpriced: they stay open (dropping them would leave their nonce unused, a gap behind
    which every later transaction waits), the settle replaces them at the same nonce with
    higher fees, and that nonce is mined; the next transaction takes the next nonce.
    """
    journal = tmp_path / "j.sqlite"
    async with ChainClient(devnet.url) as client:
        nonce = await client.get_transaction_count(KEEPER_ADDRESS, "latest")
        assert _crash(devnet, journal, "before") == 9
        await client.request("anvil_setNextBlockBaseFeePerGas", [hex(40 * GWEI)])
        await client.request("evm_mine", [])
        sender = await _sender(client, journal)
        settled = await sender.reconcile(timeout_s=30)
        assert [s.status for s in settled] == ["mined"] and settled[0].replacements >= 1
        assert await client.get_transaction_count(KEEPER_ADDRESS, "latest") == nonce + 1
        statuses = [e.status for e in sender.journal.at_nonce(KEEPER_ADDRESS, nonce)]
        assert statuses[0] == "replaced" and statuses.count("mined") == 1, statuses
        token, data = _approve(devnet, 5)
        sent = await sender.send(token, data, 100_000, purpose=TxPurpose.APPROVE)
        assert sent.nonce == nonce + 1
