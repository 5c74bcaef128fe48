"""Predictive mode on Morpho: a pending feed update behind a market's oracle is back-run."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import pytest
from structlog.testing import capture_logs

from keeper.app import run_keeper
from keeper.chain.client import ChainClient
from keeper.devnet.artifacts import own_artifact
from keeper.devnet.deployer import codec_of
from keeper.devnet.morpho_world import ADMIN
from keeper.localnode.anvil import DEV_ACCOUNTS, DEV_KEYS
from keeper.protocols.morpho_blue.receipts import liquidate_logs
from keeper.settings import load_settings
from tests.integration.morpho_chain import ERC20, send

if TYPE_CHECKING:
    from pathlib import Path

    from keeper.loop.report import BlockReport
    from tests.integration.conftest import MorphoDevnet

pytestmark = pytest.mark.integration
FEED = codec_of(own_artifact("ManualAggregator"))
KEEPER, KEEPER_KEY = DEV_ACCOUNTS[1], DEV_KEYS[1]


@pytest.mark.asyncio
async def test_a_pending_feed_update_is_backrun_into_its_block(
    morpho_feed_devnet: MorphoDevnet, tmp_path: Path
) -> None:
    """Automine off, a Morpho keeper over WebSocket in predictive mode: a WBTC / USD -12%
    update (behind the WBTC/USDC market's oracle) waits in the node's pool; the keeper
    decodes it, finds the positions it makes liquidatable at the oracle's new price, and
    sends their liquidations behind it. The next block holds the update and then ours, and
    each succeeds.
    """
    d = morpho_feed_devnet.world.deployment
    feed = d.feeds["WBTC / USD"]
    url = morpho_feed_devnet.url
    settings = load_settings(
        rpc_url=url.replace("http://", "ws://"),
        protocol="morpho_blue",
        morpho=d.morpho,
        start_block=d.block,
        private_key=KEEPER_KEY,
        journal_path=str(tmp_path / "journal.sqlite"),
        poll_interval_s=0.05,
        ops_port=None,
        min_profit_usd=0,
        predictive=True,
    )
    reports: list[BlockReport] = []
    async with ChainClient(url) as client:
        for token in d.tokens.values():
            mint = ERC20.encode("mint(address,uint256)", KEEPER, 10**9 * 10**token.decimals)
            await send(client, ADMIN, token.address, mint)
        stop = asyncio.Event()
        with capture_logs() as logs:
            task = asyncio.create_task(run_keeper(settings, stop, reports.append))
            try:
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline and not (
                    reports and any(e["event"] == "pending_watch_on" for e in logs)
                ):
                    await asyncio.sleep(0.05)
                assert reports, "the keeper never reported a block"
                await client.request("evm_setAutomine", [False])
                raw = await client.call(feed.aggregator, FEED.encode("latestRoundData"))
                answer = int(FEED.decode("latestRoundData", raw)[1])
                update = await client.request(
                    "eth_sendTransaction",
                    [
                        {
                            "from": ADMIN,
                            "to": feed.aggregator,
                            "data": FEED.encode("setAnswer", answer * 88 // 100),
                        }
                    ],
                )
                sent: list[str] = []
                stable_since = time.monotonic()
                while time.monotonic() < deadline:  # until every back-run is in the pool
                    pool = await client.request("txpool_content", [])
                    now = sorted(  # ours to Morpho (approvals of the loan token aside)
                        tx["hash"]
                        for sender, txs in pool.get("pending", {}).items()
                        if sender.lower() == KEEPER.lower()
                        for tx in txs.values()
                        if str(tx.get("to") or "").lower() == d.morpho.lower()
                    )
                    if now != sent:
                        sent, stable_since = now, time.monotonic()
                    elif sent and time.monotonic() - stable_since > 1.5:
                        break
                    await asyncio.sleep(0.05)
                assert sent, "no back-run reached the pool"
                assert await client.get_receipt(update) is None, "nothing was mined meanwhile"
                await client.request("evm_mine", [])
                await client.request("evm_setAutomine", [True])
                mined = await client.wait_for_receipt(update, timeout_s=30, poll_s=0.01)
                assert mined is not None
                block = int(mined["blockNumber"], 16)
                for tx_hash in sent:
                    ours = await client.wait_for_receipt(tx_hash, timeout_s=30, poll_s=0.01)
                    assert ours is not None and int(ours["blockNumber"], 16) == block
                    assert int(ours["status"], 16) == 1
                    assert int(ours["transactionIndex"], 16) > int(mined["transactionIndex"], 16)
            finally:
                await client.request("evm_setAutomine", [True])
                stop.set()
                await asyncio.wait_for(task, 60)
        events = await liquidate_logs(client, d.morpho, block, block)
        assert len(events) == len(sent)
        assert {e.caller for e in events} == {KEEPER}
        assert {e.id for e in events} == {d.market("WBTC/USDC").id}
    pending = [e for e in logs if e["event"] == "pending_oracle_update"]
    assert pending and pending[0]["accounts"] >= len(sent)
