"""The keeper's own process is killed (SIGKILL) at the two worst moments, then restarted."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from keeper.chain.client import ChainClient
from keeper.devnet.scenarios import shock_price
from tests.reliability.harness import Keeper, assert_clean, liquidatable, run_to_clean_end
from tests.reliability.test_chain_faults import _sent, shock_price_unmined

pytestmark = [pytest.mark.integration, pytest.mark.reliability]


def _statuses(journal) -> list[tuple[int, str, str]]:
    with sqlite3.connect(journal) as db:
        return list(db.execute("SELECT nonce, purpose, status FROM txs ORDER BY nonce"))


@pytest.mark.asyncio
async def test_killed_between_signing_and_broadcast_then_restarted(devnet, tmp_path):
    """The process dies after journaling its first liquidation, before broadcasting it. On
    restart the journal's signed bytes are broadcast (the same transaction, never a second
    one for the nonce) and every account is liquidated, with no gap.
    """
    async with ChainClient(devnet.url) as chain:
        keeper = await Keeper.start(
            devnet.url, tmp_path, ["-m", "tests.support.killing_keeper", "2", "run"]
        )
        shock = await shock_price(chain, devnet.world.market.pool_addresses_provider, "WETH", -30)
        wanted = await liquidatable(chain, devnet, shock.block)
        assert keeper.daemon.proc is not None
        assert await asyncio.wait_for(keeper.daemon.proc.wait(), 60) == 9
        assert _statuses(keeper.journal)[-1][1:] == ("liquidation", "signed")
        await keeper.restart()
        try:
            await keeper.daemon.wait_event("journal_reconciled", 30)
            found = await run_to_clean_end(chain, devnet, keeper, shock.block, wanted=wanted)
            assert_clean(found)
        finally:
            code, _ = await keeper.daemon.stop()
        assert code == 0


@pytest.mark.asyncio
async def test_killed_between_broadcast_and_receipt_then_restarted(devnet, tmp_path):
    """Automine off: SIGKILL while our liquidation waits in the pool; it is mined while the
    keeper is down. On restart the journal finds its receipt, nothing is sent twice, and the
    remaining accounts are liquidated.
    """
    async with ChainClient(devnet.url) as chain:
        await chain.request("evm_setAutomine", [False])
        keeper = await Keeper.start(devnet.url, tmp_path)
        await shock_price_unmined(chain, devnet, "WETH", -30)
        await chain.request("evm_mine", [])
        shock_block = await chain.block_number()
        wanted = await liquidatable(chain, devnet, shock_block)
        sent = await _sent(keeper, "liquidation")
        assert keeper.daemon.proc is not None
        keeper.daemon.proc.kill()
        await keeper.daemon.proc.wait()
        await chain.request("evm_mine", [])
        receipt = await chain.get_receipt(sent["tx_hash"])
        assert receipt is not None and int(receipt["status"], 16) == 1
        await chain.request("evm_setAutomine", [True])
        await keeper.restart()
        try:
            reconciled = await keeper.daemon.wait_event("journal_reconciled", 30)
            assert "mined" in reconciled["outcomes"]
            found = await run_to_clean_end(chain, devnet, keeper, shock_block, wanted=wanted)
            assert_clean(found)
        finally:
            code, _ = await keeper.daemon.stop()
        assert code == 0
