"""Predictive mode: a pending oracle update is back-run into the same block."""

from __future__ import annotations

import asyncio
import time

import pytest
from structlog.testing import capture_logs

from keeper.chain.client import ChainClient
from keeper.devnet.scenarios import FEED
from keeper.protocols.aave_v3.connect import connect
from tests.integration.conftest import KEEPER_ADDRESS
from tests.integration.helpers import keeper_for, keeper_settings, liquidation_events

pytestmark = pytest.mark.integration


@pytest.mark.asyncio
async def test_a_pending_oracle_update_is_backrun_in_the_same_block(devnet, tmp_path):
    """Automine off, keeper over WebSocket in predictive mode: a WETH -30% update waits in the
    node's pool; the keeper decodes it, finds the accounts it makes liquidatable at the new
    price and sends their liquidations behind it before any block is mined. The next block
    holds the update and our liquidations, ours after it, and they succeed.
    """
    settings = keeper_settings(
        devnet,
        tmp_path,
        rpc_url=devnet.url.replace("http://", "ws://"),
        min_profit_usd=1,
        predictive=True,
    )
    async with ChainClient(devnet.url) as chain:
        await chain.request("evm_setAutomine", [False])
        client, chain_id, market = await connect(settings)
        keeper = keeper_for(settings, client, chain_id, market)
        stop = asyncio.Event()
        with capture_logs() as logs:
            task = asyncio.create_task(keeper.run(stop))
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not (
                keeper.prepared and any(e["event"] == "pending_watch_on" for e in logs)
            ):
                await asyncio.sleep(0.05)
            weth = devnet.world.asset("WETH")
            (answer,) = FEED.decode(
                "latestAnswer", await chain.call(weth.feed, FEED.encode("latestAnswer"))
            )
            (owner,) = FEED.decode("owner", await chain.call(weth.feed, FEED.encode("owner")))
            await chain.request("anvil_impersonateAccount", [owner])
            update = await chain.request(
                "eth_sendTransaction",
                [
                    {
                        "from": owner,
                        "to": weth.feed,
                        "data": FEED.encode("setAnswer", int(answer) * 70 // 100),
                    }
                ],
            )
            sent: list[str] = []
            stable_since = time.monotonic()
            while time.monotonic() < deadline + 30:  # until every back-run is in the pool
                now = [
                    e.tx_hash
                    for e in keeper.journal.entries(KEEPER_ADDRESS)
                    if e.purpose == "liquidation"
                ]
                if now != sent:
                    sent, stable_since = now, time.monotonic()
                elif sent and time.monotonic() - stable_since > 1.0:
                    break
                await asyncio.sleep(0.05)
            assert await chain.get_receipt(update) is None, "nothing was mined meanwhile"
            await chain.request("evm_mine", [])
            oracle_receipt = await chain.get_receipt(update)
            assert oracle_receipt is not None
            block = int(oracle_receipt["blockNumber"], 16)
            for tx_hash in sent:
                ours = await chain.get_receipt(tx_hash)
                assert ours is not None and int(ours["blockNumber"], 16) == block
                assert int(ours["status"], 16) == 1
                assert int(ours["transactionIndex"], 16) > int(
                    oracle_receipt["transactionIndex"], 16
                )
            events = await liquidation_events(chain, devnet.world.market.pool, block)
            ours_in_block = [e for e in events if e["liquidator"] == KEEPER_ADDRESS]
            assert len(ours_in_block) == len(sent) >= 3
            await chain.request("evm_setAutomine", [True])
            stop.set()
            await asyncio.wait_for(task, 30)
        pending = [e for e in logs if e["event"] == "pending_oracle_update"]
        assert pending and pending[0]["accounts"] >= len(sent)
        keeper.journal.close()
        await client.close()
